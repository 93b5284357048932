-- TWAPs still running (latest status `activated`; one waiting for its trigger exerts no pressure
-- yet), valued as in doc `reference_price`.
{{
    config(
        materialized='table',
        indexes=[
            {'columns': ['twap_id'], 'unique': true},
            {'columns': ['coin']},
            {'columns': ['wallet']},
        ],
    )
}}

with

active as (

    select *
    from {{ ref('fct_twaps') }}
    where status = 'activated'

),

active_coins as (

    select distinct coin from active

),

-- The average price of the coin's most recent TWAP that ended having executed something
-- (fct_twaps named here again: a CTE used twice would be materialized whole).
reference_prices as (

    select
        active_coins.coin,
        latest_fill.avg_price as reference_price,
        latest_fill.status_at as reference_price_at

    from active_coins
    left join lateral (
        select
            twaps.avg_price,
            twaps.status_at
        from {{ ref('fct_twaps') }} as twaps
        where
            twaps.coin = active_coins.coin
            and {{ is_ended('twaps.status') }}
            and twaps.executed_size > 0
        order by twaps.status_at desc, twaps.twap_id desc
        limit 1
    ) as latest_fill on true

),

valued as (

    select
        active.twap_id,
        active.wallet,
        active.coin,
        active.market_type,
        active.side,
        active.size,
        active.minutes,
        active.started_at,
        active.expected_end_at,
        active.status_at,
        active.remaining_size,
        reference_prices.reference_price,
        reference_prices.reference_price_at,
        active.remaining_size * reference_prices.reference_price as remaining_notional_estimate

    from active
    inner join reference_prices on active.coin = reference_prices.coin

),

pressure as (

    select
        *,
        sum(case when side = 'buy' then remaining_notional_estimate else 0 end)
            over (partition by coin) as coin_buy_notional_estimate,
        sum(case when side = 'sell' then remaining_notional_estimate else 0 end)
            over (partition by coin) as coin_sell_notional_estimate

    from valued

),

active_twaps as (

    select
        *,
        coin_buy_notional_estimate - coin_sell_notional_estimate as coin_net_notional_estimate

    from pressure

)

select * from active_twaps
