-- One TWAP slice fill, with the TWAP's executed size after it. A build replaces a changed
-- TWAP's fills together: its unique_key is the key a build deletes and appends.
{{
    config(
        materialized='incremental',
        unique_key='twap_id',
        indexes=[
            {'columns': ['twap_id', 'fill_time']},
            {'columns': ['coin', 'fill_time']},
            {'columns': ['fill_time']},
            {'columns': ['wallet']},
        ],
    )
}}
-- depends_on: {{ ref('int_twaps__changed') }}

with

twap_fills as (

    select * from {{ ref('int_twap_fills__deduplicated') }}
    {% if is_incremental() %}
    -- Incremental: the fills of the TWAPs changed since the last successful build.
    where {{ is_changed('twap_id') }}
    {% endif %}

),

-- The TWAP's wallet, for a fill whose form does not name it (the info API's saved answers).
twaps as (

    select
        twap_id,
        wallet

    from {{ ref('int_twap_status_events__deduplicated') }}
    where is_latest_status
    {% if is_incremental() %}
        and {{ is_changed('twap_id') }}
    {% endif %}

),

fills as (

    select
        twap_fills.twap_id,
        twap_fills.tid,
        coalesce(twap_fills.wallet, twaps.wallet) as wallet,
        twap_fills.coin,
        twap_fills.side,
        twap_fills.fill_time,
        twap_fills.price,
        twap_fills.size,
        twap_fills.notional,
        twap_fills.fee,
        twap_fills.fee_token,
        twap_fills.crossed,
        twap_fills.tx_hash,
        twap_fills.oid,
        -- The TWAP's executed size once this fill is in, in the order of time then trade id.
        sum(twap_fills.size) over (
            partition by twap_fills.twap_id
            order by twap_fills.fill_time asc, twap_fills.tid asc
            rows between unbounded preceding and current row
        ) as executed_size_after,
        twap_fills.object_key

    from twap_fills
    left join twaps on twap_fills.twap_id = twaps.twap_id

)

{{ with_kept_rows('fills') }}
