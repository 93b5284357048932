with

source as (

    select * from {{ source('hyperliquid', 'twap_ingest_commits') }}

),

renamed as (

    select
        seq as commit_seq,
        cast(object_key as {{ text_type() }}) as object_key,
        cast(load_id as {{ text_type() }}) as load_id,
        cast(previous_load_id as {{ text_type() }}) as previous_load_id,
        committed_at

    from source

)

select * from renamed
