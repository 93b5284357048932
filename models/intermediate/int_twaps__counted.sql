-- What each TWAP counts in its wallet's totals now, and what it counted before this build:
-- the differences `int_wallet_coins` applies. See doc `wallet_differences`.
-- An intermediate model read from a mart: dim_wallets is built from it, not the other way round.
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='delete+insert',
        unique_key='twap_id',
        indexes=[
            {'columns': ['twap_id'], 'unique': true},
            {'columns': ['wallet', 'coin', 'started_at']},
        ],
    )
}}
-- depends_on: {{ ref('int_twaps__changed') }}

with

twaps as (

    select
        twap_id,
        wallet,
        coin,
        status,
        case when side = 'buy' then executed_notional else 0 end as bought_notional,
        case when side = 'sell' then executed_notional else 0 end as sold_notional,
        -- A source without start times: the TWAP's first event stands in for its start.
        coalesce(started_at, first_seen_at) as started_at

    from {{ ref('fct_twaps') }}
    {% if is_incremental() %}
    where {{ is_changed('twap_id') }}
    {% endif %}

),

-- The changed TWAPs' rows as the last build left them (read before they are replaced).
counted as (

    {% if is_incremental() %}
    select
        twap_id,
        wallet,
        coin,
        status,
        bought_notional,
        sold_notional,
        started_at

    from {{ this }}
    where {{ is_changed('twap_id') }}
    {% else %}
    select * from twaps
    where 1 = 0
    {% endif %}

),

-- A TWAP whose rows are gone counts nowhere now (wallet null) and is kept for what it counted;
-- changed again while still gone, it counted nothing before either (previous_wallet null).
counts as (

    select
        coalesce(twaps.twap_id, counted.twap_id) as twap_id,
        twaps.wallet,
        twaps.coin,
        twaps.status,
        twaps.bought_notional,
        twaps.sold_notional,
        twaps.started_at,
        counted.wallet as previous_wallet,
        counted.coin as previous_coin,
        counted.status as previous_status,
        counted.bought_notional as previous_bought_notional,
        counted.sold_notional as previous_sold_notional

    from twaps
    full outer join counted on twaps.twap_id = counted.twap_id

)

select * from counts
