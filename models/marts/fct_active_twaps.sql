-- TWAPs still running (latest status `activated`; one waiting for its trigger exerts no pressure
-- yet), with what is left of each as fct_twaps defines it (doc `remaining`) and their coin's
-- totals.
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

    select
        twap_id,
        wallet,
        coin,
        market_type,
        side,
        size,
        minutes,
        started_at,
        expected_end_at,
        status_at,
        executed_source,
        executed_size_so_far,
        executed_notional_so_far,
        fill_count,
        last_fill_at,
        remaining_size,
        reference_price,
        reference_price_source,
        remaining_notional_estimate,
        minutes_left,
        net_next_hour,
        net_next_day,
        as_of

    from {{ ref('fct_twaps') }}
    where status = 'activated'

),

coin_totals as (

    select
        *,
        sum(case when side = 'buy' then remaining_notional_estimate else 0 end)
            over (partition by coin) as coin_buy_notional_estimate,
        sum(case when side = 'sell' then remaining_notional_estimate else 0 end)
            over (partition by coin) as coin_sell_notional_estimate,
        sum(net_next_hour) over (partition by coin) as coin_net_next_hour,
        sum(net_next_day) over (partition by coin) as coin_net_next_day

    from active

),

active_twaps as (

    select
        *,
        coin_buy_notional_estimate - coin_sell_notional_estimate as coin_net_notional_estimate

    from coin_totals

)

select * from active_twaps
