-- SQL views of the published SQLite file, created by `twap publish` after the tables (described
-- in twap/site/metadata.yml); each is dropped first, so the script may run on a file again.
-- Times are relative to the data's own clock, `as_of`: the newest event or fill published (as
-- fct_twaps computed it), so the same file always gives the same answers.

-- One running TWAP (fct_active_twaps) as of the data's clock: how far along it is against even
-- execution, and what is left as fct_twaps defines it (doc `remaining`: executed so far from its
-- fills or its last status, remaining notional and the pressure over the next hour and day).
drop view if exists running_twaps;
create view running_twaps as
with

timed as (
    select
        *,
        min(max((julianday(as_of) - julianday(started_at)) * 1440 / minutes, 0), 1)
            as elapsed_share
    from fct_active_twaps
)

select
    active.twap_id,
    active.coin,
    active.market_type,
    active.side,
    active.wallet,
    active.size,
    active.size * active.reference_price as order_notional_estimate,
    active.elapsed_share,
    -- What even execution over its planned minutes would have executed by as_of.
    active.size * active.elapsed_share as expected_size,
    active.minutes_left,
    active.minutes,
    active.started_at,
    active.expected_end_at,
    active.executed_size_so_far as executed_size,
    active.executed_source,
    active.fill_count,
    active.executed_notional_so_far / nullif(active.executed_size_so_far, 0) as avg_price,
    active.reference_price,
    active.reference_price_source,
    active.remaining_size,
    active.remaining_notional_estimate as remaining_notional_now,
    active.net_next_hour,
    active.net_next_day,
    twaps.reduce_only,
    twaps.randomize,
    active.as_of
from timed as active
inner join fct_twaps as twaps on active.twap_id = twaps.twap_id;

-- One coin with running TWAPs: counts, what its buyers and sellers have left, and the net
-- pressure over the next hour and day (fct_active_twaps' coin totals).
drop view if exists coin_pressure_now;
create view coin_pressure_now as
select
    coin,
    market_type,
    count(*) as running_twaps,
    sum(side = 'buy') as buying_twaps,
    sum(side = 'sell') as selling_twaps,
    max(coin_buy_notional_estimate) as buy_remaining_notional,
    max(coin_sell_notional_estimate) as sell_remaining_notional,
    max(coin_net_next_hour) as net_next_hour,
    max(coin_net_next_day) as net_next_day,
    sum(fill_count = 0) as twaps_without_fills,
    max(as_of) as as_of
from fct_active_twaps
group by coin, market_type;

-- One TWAP (fct_twaps) with what its order is worth: its size at the price its remaining is
-- valued at (its own average once ended), or at the coin's running price before it has any.
drop view if exists valued_twaps;
create view valued_twaps as
with

prices as (
    select
        coin,
        max(reference_price) as reference_price
    from fct_active_twaps
    group by coin
)

select
    twaps.*,
    twaps.size * coalesce(twaps.reference_price, twaps.avg_price, prices.reference_price)
        as order_notional_estimate
from fct_twaps as twaps
left join prices on twaps.coin = prices.coin;
