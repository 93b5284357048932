with

source as (

    select * from {{ source('hyperliquid', 'twap_ingest_objects') }}

),

renamed as (

    select
        cast(object_key as {{ text_type() }}) as object_key,
        cast(load_id as {{ text_type() }}) as current_load_id,
        commit_seq,
        vanished_at

    from source

)

select * from renamed
