-- The deduplicated event history: one row per (twap_id, status, event_time). A build replaces
-- a changed TWAP's events together: its unique_key is the key a build deletes and appends.
{{
    config(
        materialized='incremental',
        unique_key='twap_id',
        indexes=[
            {'columns': ['twap_id']},
            {'columns': ['wallet']},
            {'columns': ['coin', 'event_time']},
            {'columns': ['event_time']},
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

history as (

    select
        twap_id,
        event_number,
        status,
        event_time,
        previous_status,
        is_latest_status,
        status_description,
        wallet,
        coin,
        market_type,
        side,
        size,
        executed_size,
        executed_notional,
        started_at,
        object_key

    from twap_events

)

{{ with_kept_rows('history') }}
