-- fct_twaps agrees with the event history: its status is the latest event's, its count theirs
-- (of the TWAPs the build changed, on an hourly build: see macro tested_rows).
with

twaps as (

    select * from {{ ref('fct_twaps') }}
    where {{ tested_rows('twap_id') }}

),

events as (

    select * from {{ ref('fct_twap_status_events') }}
    where {{ tested_rows('twap_id') }}

),

history as (

    select
        twap_id,
        count(*) as event_count,
        max(case when is_latest_status then status end) as latest_status,
        max(case when is_latest_status then event_time end) as latest_event_time

    from events
    group by twap_id

)

select
    twaps.twap_id,
    twaps.status,
    history.latest_status,
    twaps.event_count,
    history.event_count as history_event_count

from twaps
full outer join history on twaps.twap_id = history.twap_id
where
    history.twap_id is null
    or twaps.twap_id is null
    or twaps.status <> history.latest_status
    or twaps.status_at <> history.latest_event_time
    or twaps.event_count <> history.event_count
