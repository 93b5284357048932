with

source as (

    select * from {{ source('hyperliquid', 'twap_fills') }}

),

renamed as (

    select
        twap_id,
        tid,
        lower(wallet) as wallet,
        cast(coin as {{ text_type() }}) as coin,
        case upper(side)
            when 'B' then 'buy'
            when 'A' then 'sell'
        end as side,
        cast(px as {{ amount_type() }}) as px,
        cast(sz as {{ amount_type() }}) as sz,
        cast(px as {{ amount_type() }}) * cast(sz as {{ amount_type() }}) as notional,
        cast(fee as {{ amount_type() }}) as fee,
        cast(fee_token as {{ text_type() }}) as fee_token,
        fill_time,
        crossed,
        cast(hash as {{ text_type() }}) as tx_hash,
        oid,
        cast(object_key as {{ text_type() }}) as object_key,
        cast(_dlt_load_id as {{ text_type() }}) as load_id,
        object_row

    from source

)

select * from renamed
