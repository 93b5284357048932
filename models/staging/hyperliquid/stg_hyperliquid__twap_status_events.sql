with

source as (

    select * from {{ source('hyperliquid', 'twap_status_events') }}

),

renamed as (

    select
        twap_id,
        event_time,
        lower(trim(status)) as status,
        status_description,
        lower(wallet) as wallet,
        coin,
        case
            when coin like '@%' then 'spot'
            when coin like '%:%' then 'hip3'
            else 'perp'
        end as market_type,
        case upper(side)
            when 'B' then 'buy'
            when 'A' then 'sell'
        end as side,
        cast(sz as numeric) as size,
        cast(executed_sz as numeric) as executed_size,
        cast(executed_ntl as numeric) as executed_notional,
        minutes,
        reduce_only,
        randomize,
        started_at,
        object_key,
        object_version,
        object_row,
        _dlt_load_id as load_id

    from source

)

select * from renamed
