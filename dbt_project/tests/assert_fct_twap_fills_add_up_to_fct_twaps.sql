-- A TWAP's fills in fct_twap_fills add up to its fill totals in fct_twaps, and its last fill's
-- executed_size_after is their sum (of the TWAPs the build changed, on an hourly build).
with

fills as (

    select
        twap_id,
        count(*) as fill_count,
        sum(size) as fills_executed_size,
        max(executed_size_after) as last_executed_size_after

    from {{ ref('fct_twap_fills') }}
    where {{ tested_rows('twap_id') }}
    group by twap_id

)

select
    fills.twap_id,
    fills.fill_count,
    twaps.fill_count as twap_fill_count

from fills
inner join {{ ref('fct_twaps') }} as twaps on fills.twap_id = twaps.twap_id
where
    fills.fill_count <> twaps.fill_count
    or fills.fills_executed_size <> twaps.fills_executed_size
    or fills.last_executed_size_after <> fills.fills_executed_size
