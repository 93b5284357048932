-- An ended TWAP's loaded fills add up to its final status's executed size (0.01% of tolerance
-- for rounding). Its final status stays the authority: missing fills are a coverage fact, not a
-- disagreement, so only two things are flagged: fills adding up to more than the final
-- executed size, and a TWAP whose whole life (start to final status) lies inside the loaded
-- fills' coverage (first to last fill loaded) whose fills add up to something else. A TWAP that
-- began before the first fill loaded (or ended after the last) has partial fills by coverage.
-- It warns (of the TWAPs the build changed, on an hourly build: see macro tested_rows).
{{ config(severity='warn') }}

with

coverage as (

    select
        min(fill_time) as covered_from,
        max(fill_time) as covered_to

    from {{ ref('fct_twap_fills') }}

)

select
    twaps.twap_id,
    twaps.status,
    twaps.started_at,
    twaps.status_at,
    twaps.executed_size,
    twaps.fills_executed_size,
    twaps.fill_count

from {{ ref('fct_twaps') }} as twaps
cross join coverage
where
    {{ tested_rows('twap_id') }}
    and {{ is_ended('twaps.status') }}
    and twaps.fill_count > 0
    and abs(twaps.fills_executed_size - twaps.executed_size) > twaps.executed_size * 0.0001
    and (
        twaps.fills_executed_size > twaps.executed_size
        or (
            twaps.started_at >= coverage.covered_from
            and twaps.status_at <= coverage.covered_to
        )
    )
