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

twap_summary as (

    select
        twap_id,
        min(event_time) as first_seen_at,
        count(*) as event_count

    from twap_events
    group by twap_id

),

latest as (

    select *
    from twap_events
    where is_latest_status

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
        twap_summary.first_seen_at,
        latest.status,
        latest.status_description,
        latest.event_time as status_at,
        latest.executed_size,
        latest.executed_notional,
        latest.executed_notional / nullif(latest.executed_size, 0) as avg_price,
        latest.executed_size / nullif(latest.size, 0) as fill_ratio,
        latest.size - latest.executed_size as remaining_size,
        -- Valued at the TWAP's own average price; unknown until it has executed something.
        (latest.size - latest.executed_size)
        * latest.executed_notional
        / nullif(latest.executed_size, 0) as remaining_notional_estimate,
        latest.status = 'activated' as is_active,
        twap_summary.event_count

    from latest
    inner join twap_summary on latest.twap_id = twap_summary.twap_id

)

{{ with_kept_rows('twaps') }}
