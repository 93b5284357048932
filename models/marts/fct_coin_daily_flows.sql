-- One row per coin and UTC day: see doc `coin_daily_flows`.
{{
    config(
        materialized='incremental',
        unique_key=['coin', 'flow_date'],
        indexes=[
            {'columns': ['coin', 'flow_date'], 'unique': true},
            {'columns': ['flow_date']},
        ],
    )
}}
-- depends_on: {{ ref('int_twaps__changed') }}

-- One index range scan of fct_twaps per coin day, in a lateral subquery (its aggregate keeps
-- the planner from turning it into a join over the whole table).
with

{% if is_incremental() and finished_build_exists() %}

-- Every day a changed TWAP counted in before or counts in now.
day_keys as (

    {{ changed_keys('coin_day') }}

),

{% else %}

day_keys as (

    select
        coin,
        {{ utc_date('started_at') }} as flow_date

    from {{ ref('fct_twaps') }}
    where started_at is not null

    union

    select
        coin,
        {{ utc_date('status_at') }} as flow_date

    from {{ ref('fct_twaps') }}
    where {{ is_ended('status') }}

),

{% endif %}

day_bounds as (

    select
        coin,
        flow_date,
        {{ utc_midnight('flow_date') }} as day_start,
        {{ utc_midnight('flow_date', 1) }} as day_end

    from day_keys

),

started as (

    select
        day_bounds.coin,
        day_bounds.flow_date,
        day_started.twaps_started

    from day_bounds
    cross join lateral (
        select count(*) as twaps_started
        from {{ ref('fct_twaps') }} as twaps
        where
            twaps.coin = day_bounds.coin
            and twaps.started_at >= day_bounds.day_start
            and twaps.started_at < day_bounds.day_end
    ) as day_started

),

ended as (

    select
        day_bounds.coin,
        day_bounds.flow_date,
        day_ended.twaps_finished,
        day_ended.twaps_terminated,
        day_ended.twaps_errored,
        day_ended.executed_notional_bought,
        day_ended.executed_notional_sold

    from day_bounds
    cross join lateral (
        select
            sum(case when twaps.status = 'finished' then 1 else 0 end) as twaps_finished,
            -- Stopped at its own stop price: ended before its time, as a cancelled one.
            sum(
                case when twaps.status in ('terminated', 'stopped') then 1 else 0 end
            ) as twaps_terminated,
            sum(case when twaps.status = 'error' then 1 else 0 end) as twaps_errored,
            sum(
                case when twaps.side = 'buy' then twaps.executed_notional else 0 end
            ) as executed_notional_bought,
            sum(
                case when twaps.side = 'sell' then twaps.executed_notional else 0 end
            ) as executed_notional_sold

        from {{ ref('fct_twaps') }} as twaps
        where
            twaps.coin = day_bounds.coin
            and twaps.status_at >= day_bounds.day_start
            and twaps.status_at < day_bounds.day_end
            and {{ is_ended('twaps.status') }}
    ) as day_ended

),

flows as (

    select
        started.coin,
        started.flow_date,
        started.twaps_started,
        coalesce(ended.twaps_finished, 0) as twaps_finished,
        coalesce(ended.twaps_terminated, 0) as twaps_terminated,
        coalesce(ended.twaps_errored, 0) as twaps_errored,
        coalesce(ended.executed_notional_bought, 0) as executed_notional_bought,
        coalesce(ended.executed_notional_sold, 0) as executed_notional_sold,
        coalesce(ended.executed_notional_bought, 0)
        - coalesce(ended.executed_notional_sold, 0) as executed_notional_net

    from started
    inner join ended
        on started.coin = ended.coin and started.flow_date = ended.flow_date

),

-- A changed day with nothing left to count is not appended again.
counted_flows as (

    select *
    from flows
    where twaps_started + twaps_finished + twaps_terminated + twaps_errored > 0

)

{{ with_kept_rows('counted_flows') }}
