-- Overlapping source objects repeat events: one row per (twap_id, status, event_time) remains.
with

events as (

    select * from {{ ref('stg_hyperliquid__twap_status_events') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by twap_id, status, event_time
            order by load_id desc, object_key desc, object_row asc
        ) as copy_rank

    from events

),

deduplicated as (

    select
        twap_id,
        event_time,
        status,
        status_description,
        wallet,
        coin,
        market_type,
        side,
        size,
        executed_size,
        executed_notional,
        minutes,
        reduce_only,
        randomize,
        started_at,
        object_key,
        load_id

    from ranked
    where copy_rank = 1

)

select * from deduplicated
