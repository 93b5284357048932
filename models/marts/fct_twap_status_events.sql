-- The deduplicated event history: one row per (twap_id, status, event_time).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='twap_id',
        on_schema_change='fail',
        indexes=[
            {'columns': ['twap_id']},
            {'columns': ['wallet']},
            {'columns': ['coin', 'event_time']},
            {'columns': ['status']},
            {'columns': ['load_id']},
        ],
        post_hook="{{ delete_vanished_twaps() }}",
    )
}}

with

events as (

    select *
    from {{ ref('int_twap_status_events__deduplicated') }}
    where not is_deleted

),

-- Incremental: the events of the TWAPs that changed since the last build; else all of them.
twap_events as (

    {{ rows_of_changed_keys('events', 'twap_id', 'load_id') }}

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
        object_key,
        load_id

    from twap_events

)

select * from history
