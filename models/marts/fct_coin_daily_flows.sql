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

-- fct_twaps is named in each CTE that reads it: Postgres materializes a CTE used twice in full,
-- which would hide its indexes from the per-day filters.
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

started_twaps as (

    select
        twaps.*,
        day_keys.flow_date

    from day_keys
    inner join {{ ref('fct_twaps') }} as twaps
        on
            day_keys.coin = twaps.coin
            and twaps.started_at >= cast(day_keys.flow_date as timestamp) at time zone 'UTC'
            and twaps.started_at
            < cast(day_keys.flow_date + 1 as timestamp) at time zone 'UTC'

),

ended_twaps as (

    select
        twaps.*,
        day_keys.flow_date

    from day_keys
    inner join {{ ref('fct_twaps') }} as twaps
        on
            day_keys.coin = twaps.coin
            and twaps.status_at >= cast(day_keys.flow_date as timestamp) at time zone 'UTC'
            and twaps.status_at
            < cast(day_keys.flow_date + 1 as timestamp) at time zone 'UTC'
    where twaps.status <> 'activated'

),

{% else %}

started_twaps as (

    select
        *,
        {{ utc_date('started_at') }} as flow_date

    from {{ ref('fct_twaps') }}

),

ended_twaps as (

    select
        *,
        {{ utc_date('status_at') }} as flow_date

    from {{ ref('fct_twaps') }}
    where status <> 'activated'

),

{% endif %}

contributions as (

    select
        coin,
        flow_date,
        1 as started_count,
        0 as finished_count,
        0 as terminated_count,
        0 as errored_count,
        0 as bought_notional,
        0 as sold_notional,
        last_load_id

    from started_twaps

    union all

    select
        coin,
        flow_date,
        0 as started_count,
        case when status = 'finished' then 1 else 0 end as finished_count,
        case when status = 'terminated' then 1 else 0 end as terminated_count,
        case when status = 'error' then 1 else 0 end as errored_count,
        case when side = 'buy' then executed_notional else 0 end as bought_notional,
        case when side = 'sell' then executed_notional else 0 end as sold_notional,
        last_load_id

    from ended_twaps

),

daily as (

    select
        coin,
        flow_date,
        sum(started_count) as twaps_started,
        sum(finished_count) as twaps_finished,
        sum(terminated_count) as twaps_terminated,
        sum(errored_count) as twaps_errored,
        sum(bought_notional) as executed_notional_bought,
        sum(sold_notional) as executed_notional_sold,
        max(last_load_id) as last_load_id

    from contributions
    group by coin, flow_date

),

{% if is_incremental() %}

-- Changed days with nothing left to count come out as zeros; the post-hook removes them.
flow_keys as (

    select
        coin,
        flow_date

    from day_keys

),

{% else %}

flow_keys as (

    select
        coin,
        flow_date

    from daily

),

{% endif %}

flows as (

    select
        flow_keys.coin,
        flow_keys.flow_date,
        coalesce(daily.twaps_started, 0) as twaps_started,
        coalesce(daily.twaps_finished, 0) as twaps_finished,
        coalesce(daily.twaps_terminated, 0) as twaps_terminated,
        coalesce(daily.twaps_errored, 0) as twaps_errored,
        coalesce(daily.executed_notional_bought, 0) as executed_notional_bought,
        coalesce(daily.executed_notional_sold, 0) as executed_notional_sold,
        coalesce(daily.executed_notional_bought, 0)
        - coalesce(daily.executed_notional_sold, 0) as executed_notional_net,
        daily.last_load_id

    from flow_keys
    left join daily
        on flow_keys.coin = daily.coin and flow_keys.flow_date = daily.flow_date

)

select * from flows
