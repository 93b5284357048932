-- Every TWAP in the event history has exactly one latest event, numbered last, without gaps
-- (every TWAP the build changed, on an hourly build: see macro tested_rows).
with

events as (

    select * from {{ ref('fct_twap_status_events') }}
    where {{ tested_rows('twap_id') }}

),

per_twap as (

    select
        twap_id,
        count(*) as event_count,
        max(event_number) as last_event_number,
        sum(case when is_latest_status then 1 else 0 end) as latest_events,
        max(case when is_latest_status then event_number end) as latest_event_number

    from events
    group by twap_id

)

select *
from per_twap
where
    latest_events <> 1
    or last_event_number <> event_count
    or latest_event_number <> event_count
