-- dim_wallets and fct_coin_daily_flows count every TWAP once and its executed notional once.
with

twaps as (

    select * from {{ ref('fct_twaps') }}

),

wallets as (

    select * from {{ ref('dim_wallets') }}

),

flows as (

    select * from {{ ref('fct_coin_daily_flows') }}

),

from_twaps as (

    select
        count(*) as twaps,
        -- A TWAP whose start the source does not give counts on no day's starts.
        count(started_at) as started,
        sum(case when status <> 'activated' then 1 else 0 end) as ended,
        sum(case when status <> 'activated' then executed_notional else 0 end) as ended_notional

    from twaps

),

from_wallets as (

    select
        sum(twap_count) as twaps,
        sum(twap_count - active_count) as ended

    from wallets

),

from_flows as (

    select
        sum(twaps_started) as twaps,
        sum(twaps_finished + twaps_terminated + twaps_errored) as ended,
        sum(executed_notional_bought + executed_notional_sold) as ended_notional

    from flows

)

select
    from_twaps.twaps,
    from_wallets.twaps as wallet_twaps,
    from_twaps.started,
    from_flows.twaps as flow_started,
    from_twaps.ended,
    from_wallets.ended as wallet_ended,
    from_flows.ended as flow_ended,
    from_twaps.ended_notional,
    from_flows.ended_notional as flow_ended_notional

from from_twaps
cross join from_wallets
cross join from_flows
where
    from_wallets.twaps <> from_twaps.twaps
    or from_flows.twaps <> from_twaps.started
    or from_wallets.ended <> from_twaps.ended
    or from_flows.ended <> from_twaps.ended
    or from_flows.ended_notional <> from_twaps.ended_notional
