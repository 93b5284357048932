with

source as (

    select * from {{ source('hyperliquid', 'twap_status_events') }}

),

renamed as (

    select
        twap_id,
        event_time,
        -- Hyperliquid's spelling (`waitingForTrigger`), as the reader wrote it.
        trim(status) as status,
        cast(status_description as {{ text_type() }}) as status_description,
        lower(wallet) as wallet,
        cast(coin as {{ text_type() }}) as coin,
        case
            when coin like '@%' then 'spot'
            when coin like '%:%' then 'hip3'
            else 'perp'
        end as market_type,
        case upper(side)
            when 'B' then 'buy'
            when 'A' then 'sell'
        end as side,
        cast(sz as {{ amount_type() }}) as size,
        cast(executed_sz as {{ amount_type() }}) as executed_size,
        cast(executed_ntl as {{ amount_type() }}) as executed_notional,
        minutes,
        reduce_only,
        randomize,
        started_at,
        cast(object_key as {{ text_type() }}) as object_key,
        cast(object_version as {{ text_type() }}) as object_version,
        object_row,
        cast(_dlt_load_id as {{ text_type() }}) as load_id

    from source

)

select * from renamed
