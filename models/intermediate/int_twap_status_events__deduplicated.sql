-- The current events, one row per (twap_id, status, event_time), ordered within their TWAP.
-- A view: the marts read it for the TWAPs they rebuild, and Postgres pushes a filter on
-- twap_id through every window below (all are partitioned by it) down to raw's index.
with

events as (

    select * from {{ ref('stg_hyperliquid__twap_status_events') }}

),

objects as (

    select * from {{ ref('stg_hyperliquid__ingest_objects') }}

),

-- Only the rows of each object's current load count: the ledger is raw's commit log.
current_events as (

    select events.*
    from events
    inner join objects
        on
            events.object_key = objects.object_key
            and events.load_id = objects.current_load_id

),

-- Of copies of one event the one from the greatest object key and row is kept, whatever
-- order the objects were loaded in.
ranked_copies as (

    select
        *,
        row_number() over (
            partition by twap_id, status, event_time
            order by object_key desc, object_row desc
        ) as copy_rank

    from current_events

),

deduplicated as (

    select *
    from ranked_copies
    where copy_rank = 1

),

ordered as (

    select
        *,
        row_number() over twap_order as event_number,
        lag(status) over twap_order as previous_status,
        count(*) over (partition by twap_id) as twap_event_count,
        min(case when status = 'activated' then event_time end)
            over (partition by twap_id) as activated_at

    from deduplicated
    -- Ascending reverse of the latest-status rule: on a tie the highest rank comes last.
    window twap_order as (
        partition by twap_id
        order by
            event_time asc,
            {{ status_rank('status') }} asc,
            status desc
    )

),

final as (

    select
        twap_id,
        event_number,
        status,
        event_time,
        previous_status,
        event_number = twap_event_count as is_latest_status,
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
        -- A source without start times: the TWAP started when it was activated.
        coalesce(started_at, activated_at) as started_at,
        object_key,
        object_row

    from ordered

)

select * from final
