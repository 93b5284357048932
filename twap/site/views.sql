-- SQL views of the published SQLite file, created by `twap publish` after the tables (described
-- in twap/site/metadata.yml); each is dropped first, so the script may run on a file again.
-- Times are relative to the data's own clock, `as_of`: the newest event published, so the same
-- file always gives the same answers.

-- One running TWAP (fct_active_twaps) as of the newest event: how far along it is, what is left,
-- and what it is expected to buy (+) or sell (-) in the next hour and day. A running TWAP
-- executes what remained at its last event evenly until its planned end.
drop view if exists running_twaps;
create view running_twaps as
with

clock as (
    select max(event_time) as as_of from fct_twap_status_events
),

timed as (
    select
        active.*,
        clock.as_of,
        max((julianday(active.expected_end_at) - julianday(clock.as_of)) * 1440, 0)
            as minutes_left,
        -- Minutes over which the remaining size executes (at least what is left, and a second).
        max(
            (julianday(active.expected_end_at) - julianday(active.status_at)) * 1440,
            (julianday(active.expected_end_at) - julianday(clock.as_of)) * 1440,
            1.0 / 60
        ) as execution_minutes,
        case active.side when 'buy' then 1 else -1 end as direction
    from fct_active_twaps as active
    cross join clock
)

select
    timed.twap_id,
    timed.coin,
    timed.market_type,
    timed.side,
    timed.wallet,
    timed.size,
    timed.size * timed.reference_price as order_notional_estimate,
    min(max((julianday(timed.as_of) - julianday(timed.started_at)) * 1440 / timed.minutes, 0), 1)
        as elapsed_share,
    timed.minutes_left,
    timed.minutes,
    timed.started_at,
    timed.expected_end_at,
    twaps.executed_size,
    twaps.avg_price,
    timed.reference_price,
    timed.remaining_notional_estimate * timed.minutes_left / timed.execution_minutes
        as remaining_notional_now,
    timed.direction * timed.remaining_notional_estimate * min(timed.minutes_left, 60)
    / timed.execution_minutes as net_next_hour,
    timed.direction * timed.remaining_notional_estimate * min(timed.minutes_left, 1440)
    / timed.execution_minutes as net_next_day,
    twaps.reduce_only,
    twaps.randomize,
    timed.as_of
from timed
inner join fct_twaps as twaps on timed.twap_id = twaps.twap_id;

-- One coin with running TWAPs: counts, what its buyers and sellers have left, and the net
-- pressure over the next hour and day.
drop view if exists coin_pressure_now;
create view coin_pressure_now as
select
    coin,
    market_type,
    count(*) as running_twaps,
    sum(side = 'buy') as buying_twaps,
    sum(side = 'sell') as selling_twaps,
    coalesce(sum(case when side = 'buy' then remaining_notional_now end), 0)
        as buy_remaining_notional,
    coalesce(sum(case when side = 'sell' then remaining_notional_now end), 0)
        as sell_remaining_notional,
    coalesce(sum(net_next_hour), 0) as net_next_hour,
    coalesce(sum(net_next_day), 0) as net_next_day,
    max(as_of) as as_of
from running_twaps
group by coin, market_type;

-- One TWAP (fct_twaps) with what its order is worth: its size at its average price, or at the
-- coin's reference price before it has executed anything.
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
    twaps.size * coalesce(twaps.avg_price, prices.reference_price) as order_notional_estimate
from fct_twaps as twaps
left join prices on twaps.coin = prices.coin;
