-- One row per TWAP with its latest status: see doc `latest_status_rule`.
{{
    config(
        materialized='incremental',
        unique_key='twap_id',
        indexes=[
            {'columns': ['twap_id'], 'unique': true},
            {'columns': ['wallet']},
            {'columns': ['coin', 'started_at']},
            {'columns': ['coin', 'status_at']},
            {'columns': ['status']},
        ],
    )
}}
-- depends_on: {{ ref('int_twaps__changed') }}

with

twap_events as (

    select * from {{ ref('int_twap_status_events__deduplicated') }}
    {% if is_incremental() %}
    -- Incremental: the events of the TWAPs changed since the last successful build.
    where {{ is_changed('twap_id') }}
    {% endif %}

),

-- Each TWAP's latest event with its first time and count, in one pass over its events: a join
-- of the events back to their own summary went quadratic on a large hour.
summarised as (

    select
        *,
        min(event_time) over (partition by twap_id) as first_seen_at,
        count(*) over (partition by twap_id) as event_count

    from twap_events

),

latest as (

    select *
    from summarised
    where is_latest_status

),

-- The fills loaded for the TWAPs rebuilt (doc `remaining`).
fill_totals as (

    select
        twap_id,
        count(*) as fill_count,
        count(distinct oid) as slice_count,
        sum(size) as fills_executed_size,
        sum(notional) as fills_executed_notional,
        min(fill_time) as first_fill_at,
        max(fill_time) as last_fill_at

    from {{ ref('fct_twap_fills') }}
    {% if is_incremental() %}
    where {{ is_changed('twap_id') }}
    {% endif %}
    group by twap_id

),

-- The data's own clock: its newest status event or fill, never the wall clock, so the same
-- objects always give the same figures.
clock as (

    select max(newest) as as_of
    from (
        select max(event_time) as newest from {{ ref('fct_twap_status_events') }}
        union all
        select max(fill_time) as newest from {{ ref('fct_twap_fills') }}
    ) as newest_rows

),

twaps as (

    select
        latest.twap_id,
        latest.wallet,
        latest.coin,
        latest.market_type,
        latest.side,
        latest.size,
        latest.minutes,
        latest.reduce_only,
        latest.randomize,
        latest.started_at,
        {{ add_minutes('latest.started_at', 'latest.minutes') }} as expected_end_at,
        latest.first_seen_at,
        latest.status,
        latest.status_description,
        latest.event_time as status_at,
        latest.executed_size,
        latest.executed_notional,
        latest.executed_notional / nullif(latest.executed_size, 0) as avg_price,
        latest.executed_size / nullif(latest.size, 0) as fill_ratio,
        coalesce(fill_totals.fill_count, 0) as fill_count,
        coalesce(fill_totals.slice_count, 0) as slice_count,
        fill_totals.fills_executed_size,
        fill_totals.fills_executed_notional,
        fill_totals.fills_executed_notional
        / nullif(fill_totals.fills_executed_size, 0) as fills_avg_price,
        fill_totals.first_fill_at,
        fill_totals.last_fill_at,
        last_fill.price as coin_last_fill_price,
        last_ended.avg_price as coin_reference_price,
        case when latest.status = 'activated' then clock.as_of end as as_of,
        latest.status = 'activated' as is_active,
        latest.event_count

    from latest
    left join fill_totals on latest.twap_id = fill_totals.twap_id
    cross join clock
    -- A running TWAP's coin: its latest fill, and the average price of its most recently ended
    -- TWAP that executed anything (doc `reference_price`); an index scan each, none for the
    -- TWAPs not running.
    left join lateral (
        select fills.price
        from {{ ref('fct_twap_fills') }} as fills
        where latest.status = 'activated' and fills.coin = latest.coin
        order by fills.fill_time desc, fills.tid desc
        limit 1
    ) as last_fill on true
    left join lateral (
        select events.executed_notional / events.executed_size as avg_price
        from {{ ref('fct_twap_status_events') }} as events
        where
            latest.status = 'activated'
            and events.coin = latest.coin
            and events.is_latest_status
            and {{ is_ended('events.status') }}
            and events.executed_size > 0
        order by events.event_time desc, events.twap_id desc
        limit 1
    ) as last_ended on true

),

{{ remaining_figures('twaps') }},

final as (

    select
        twap_id,
        wallet,
        coin,
        market_type,
        side,
        size,
        minutes,
        reduce_only,
        randomize,
        started_at,
        expected_end_at,
        first_seen_at,
        status,
        status_description,
        status_at,
        executed_size,
        executed_notional,
        avg_price,
        fill_ratio,
        fill_count,
        slice_count,
        fills_executed_size,
        fills_executed_notional,
        fills_avg_price,
        first_fill_at,
        last_fill_at,
        executed_source,
        executed_size_so_far,
        executed_notional_so_far,
        remaining_size,
        reference_price,
        reference_price_source,
        remaining_notional_estimate,
        minutes_left,
        net_next_hour,
        net_next_day,
        as_of,
        is_active,
        event_count

    from remaining

)

{{ with_kept_rows('final') }}
