-- An ended TWAP's loaded fills add up to its final status's executed size (0.01% of tolerance
-- for rounding). Its final status stays the authority: missing fills are a coverage fact, so
-- this warns (of the TWAPs the build changed, on an hourly build: see macro tested_rows).
{{ config(severity='warn') }}

select
    twap_id,
    status,
    executed_size,
    fills_executed_size,
    fill_count

from {{ ref('fct_twaps') }}
where
    {{ tested_rows('twap_id') }}
    and {{ is_ended('status') }}
    and fill_count > 0
    and abs(fills_executed_size - executed_size) > executed_size * 0.0001
