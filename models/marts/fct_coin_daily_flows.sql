-- One row per coin and UTC day: see doc `coin_daily_flows`.
-- depends_on: {{ ref('int_twap_status_events__deduplicated') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['coin', 'flow_date'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['coin', 'flow_date'], 'unique': true},
            {'columns': ['flow_date']},
            {'columns': ['last_load_id']},
        ],
        post_hook="{{ delete_empty_rows(['twaps_started', 'twaps_finished', 'twaps_terminated', 'twaps_errored']) }}",
    )
}}

-- One index range scan of fct_twaps per coin day, in a lateral subquery (its aggregate keeps
-- the planner from turning it into a join over the whole table).
with

{% if is_incremental() %}

changed as (

    {{ changed_events() }}

),

-- Every day a changed TWAP counted in before or counts in now: its start day and event days.
day_keys as (

    select
        coin,
        {{ utc_date('started_at') }} as flow_date

    from changed

    union

    select
        coin,
        {{ utc_date('event_time') }} as flow_date

    from changed

),

{% else %}

day_keys as (

    select
        coin,
        {{ utc_date('started_at') }} as flow_date

    from {{ ref('fct_twaps') }}

    union

    select
        coin,
        {{ utc_date('status_at') }} as flow_date

    from {{ ref('fct_twaps') }}
    where status <> 'activated'

),

{% endif %}

day_bounds as (

    select
        coin,
        flow_date,
        cast(flow_date as timestamp) at time zone 'UTC' as day_start,
        cast(flow_date + 1 as timestamp) at time zone 'UTC' as day_end

    from day_keys

),

started as (

    select
        day_bounds.coin,
        day_bounds.flow_date,
        day_started.twaps_started,
        day_started.last_load_id

    from day_bounds
    cross join lateral (
        select
            count(*) as twaps_started,
            max(twaps.last_load_id) as last_load_id

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
        day_ended.executed_notional_sold,
        day_ended.last_load_id

    from day_bounds
    cross join lateral (
        select
            sum(case when twaps.status = 'finished' then 1 else 0 end) as twaps_finished,
            sum(case when twaps.status = 'terminated' then 1 else 0 end) as twaps_terminated,
            sum(case when twaps.status = 'error' then 1 else 0 end) as twaps_errored,
            sum(
                case when twaps.side = 'buy' then twaps.executed_notional else 0 end
            ) as executed_notional_bought,
            sum(
                case when twaps.side = 'sell' then twaps.executed_notional else 0 end
            ) as executed_notional_sold,
            max(twaps.last_load_id) as last_load_id

        from {{ ref('fct_twaps') }} as twaps
        where
            twaps.coin = day_bounds.coin
            and twaps.status_at >= day_bounds.day_start
            and twaps.status_at < day_bounds.day_end
            and twaps.status <> 'activated'
    ) as day_ended

),

-- Changed days with nothing left to count come out as zeros; the post-hook removes them.
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
        - coalesce(ended.executed_notional_sold, 0) as executed_notional_net,
        case
            when ended.last_load_id is null then started.last_load_id
            when started.last_load_id is null then ended.last_load_id
            when started.last_load_id > ended.last_load_id then started.last_load_id
            else ended.last_load_id
        end as last_load_id

    from started
    inner join ended
        on started.coin = ended.coin and started.flow_date = ended.flow_date

)

select * from flows
