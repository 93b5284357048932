"""Realistic sample data: hourly parquet objects of TWAP status events in the canonical form,
and the last hours' fills in the node's `node_fills_by_block` form.

Each TWAP gets an `activated` event at its start and, unless it is still running at the end of
the window, one terminal event (`finished`, `terminated` or `error`) that usually lands in a
later hourly object. Amounts are decimal strings; wallets are heavy-tailed; a few events are
repeated in the next hour's object, as overlapping vendor files do.

Fills (`fill_hours` before the end of the window, as a node that started writing them then):
a slice every 30 seconds from the TWAP's start, the slices' sizes adding up exactly to the
executed size of its terminal event, at prices that wander; each slice beside its counterparty
(the same trade id, no twapId) and, now and then, a trade of other orders.
"""

import json
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_START = date(2026, 7, 1)
FIRST_TWAP_ID = 2_000_000
NANOS = 1_000_000_000

# coin, price in USD, size decimals, weight: perps, spot pairs (`@index`) and HIP-3 (`dex:SYMBOL`).
COINS = (
    ("BTC", Decimal("95000"), 5, 18),
    ("ETH", Decimal("3500"), 4, 14),
    ("HYPE", Decimal("42"), 2, 22),
    ("SOL", Decimal("180"), 2, 8),
    ("FARTCOIN", Decimal("1.2"), 1, 4),
    ("kPEPE", Decimal("0.012"), 0, 3),
    ("@107", Decimal("42"), 2, 12),
    ("@142", Decimal("1.0"), 2, 4),
    ("xyz:NVDA", Decimal("180"), 3, 4),
    ("xyz:CRCL", Decimal("60"), 2, 2),
)
# (minutes, weight): most TWAPs run 15 minutes to a few hours.
DURATIONS = (
    (5, 12),
    (10, 10),
    (15, 12),
    (30, 14),
    (60, 16),
    (120, 12),
    (240, 10),
    (480, 7),
    (1440, 7),
)
ERRORS = (
    "Insufficient margin to place order.",
    "Reduce only order would increase position.",
    "Order price cannot be more than 95% away from the reference price",
)
SLICE_SECONDS = 30
# Fills: trade and order ids above any event's, a block every 100 ms, other orders' trades
# beside one slice in this many.
FIRST_TID = 900_000_000_000_000
FIRST_OID = 200_000_000_000
FIRST_BLOCK = 600_000_000
BLOCK_MS = 100
OTHER_TRADE_EVERY = 5
ZERO_HASH = "0x" + "0" * 64


@dataclass(frozen=True)
class SampleSummary:
    objects: int
    events: int
    twaps: int
    fill_objects: int = 0
    fills: int = 0  # TWAP slice fills (each also has its counterparty's fill beside it)


def generate(
    out: Path,
    days: int,
    *,
    seed: int = 7,
    start: date | datetime = DEFAULT_START,
    twaps_per_day: int = 2500,
    wallets: int = 3000,
    duplicate_rate: float = 0.003,
    fill_hours: int = 0,
) -> SampleSummary:
    """Write `days` days of hourly objects under `out/YYYY/MM/DD/HH.parquet`, from midnight UTC
    of `start` or from `start` itself when it is a time (then whole hours, as objects are), and
    the fills of the window's last `fill_hours` hours under
    `out/node_fills_by_block/hourly/YYYYMMDD/H` (plain JSON lines). The status events are the
    same whatever `fill_hours` is."""
    rng = random.Random(seed)
    if isinstance(start, datetime):
        window_start = _hour(start.astimezone(UTC))
    else:
        window_start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    window_end = window_start + timedelta(days=days)
    wallet_pool = [f"0x{rng.getrandbits(160):040x}" for _ in range(wallets)]
    # Zipf-like: a few wallets place most TWAPs.
    wallet_weights = [1 / (rank + 1) ** 1.1 for rank in range(wallets)]
    count = days * twaps_per_day
    starts = sorted(rng.uniform(0, days * 86400) for _ in range(count))
    by_hour: dict[datetime, list[dict]] = defaultdict(list)
    fills_from = max(window_start, window_end - timedelta(hours=fill_hours))
    blocks: dict[int, list[list]] = defaultdict(list)
    fills = 0
    for index, offset in enumerate(starts):
        started = window_start + timedelta(milliseconds=int(offset * 1000))
        twap = _twap_events(rng, FIRST_TWAP_ID + index, started, wallet_pool, wallet_weights)
        if fill_hours:
            fills += _add_fills(blocks, twap, wallet_pool, seed, (fills_from, window_end))
        for event in twap:
            if event["event_time"] >= window_end:
                continue
            hour = _hour(event["event_time"])
            by_hour[hour].append(event)
            if rng.random() < duplicate_rate:
                by_hour[hour + timedelta(hours=1)].append(event)
    objects = events = 0
    for hour, rows in sorted(by_hour.items()):
        if hour >= window_end:
            continue
        path = out / f"{hour:%Y/%m/%d/%H}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_to_table(rows), path)
        objects += 1
        events += len(rows)
    fill_objects = _write_fill_hours(out, blocks, fills_from, window_end)
    return SampleSummary(objects, events, count, fill_objects, fills)


def _add_fills(
    blocks: dict[int, list[list]],
    twap: list[dict],
    wallets: list[str],
    seed: int,
    window: tuple[datetime, datetime],
) -> int:
    """The slices of one TWAP (its `activated` and terminal events) that fall in `window`, each
    with its counterparty and sometimes another trade, added to `blocks` (block number ->
    `[user, fill]` events); returns the TWAP's slice fills added.

    A generator of its own per TWAP: the status events do not depend on the fills."""
    activated, terminal = twap
    rng = random.Random(f"{seed}:{activated['twap_id']}")
    twap_id, side = activated["twap_id"], activated["side"]
    step = Decimal(1).scaleb(Decimal(activated["sz"]).as_tuple().exponent)
    elapsed = (terminal["event_time_ns"] - _nanos(activated["started_at"])) / NANOS
    done = min(int(elapsed // SLICE_SECONDS), max(activated["minutes"] * 60 // SLICE_SECONDS, 1))
    if done == 0:
        return 0
    executed = Decimal(terminal["executed_sz"])
    base = (executed / done).quantize(step, rounding=ROUND_DOWN)
    extra = int((executed - base * done) / step)  # one more step for the first `extra` slices
    price = next(p for coin, p, _, _ in COINS if coin == activated["coin"])
    price *= Decimal(str(round(rng.uniform(0.97, 1.03), 5)))
    # Only the slices inside the window: slice n (from 0) is at the start plus (n + 1) * 30 s.
    started = activated["started_at"]
    first = max(math.ceil((window[0] - started).total_seconds() / SLICE_SECONDS) - 1, 0)
    last = min(math.ceil((window[1] - started).total_seconds() / SLICE_SECONDS) - 1, done)
    added = 0
    for number in range(first, last):
        price *= Decimal(str(round(1 + rng.gauss(0, 0.0006), 6)))
        size = base + step if number < extra else base
        at = started + timedelta(seconds=SLICE_SECONDS * (number + 1))
        if size <= 0 or not window[0] <= at < window[1]:
            continue
        ms = int(at.timestamp() * 1000) // BLOCK_MS * BLOCK_MS
        block = FIRST_BLOCK + ms // BLOCK_MS
        tid = FIRST_TID + twap_id * 10_000 + number
        px = _price_text(price)
        slice_fill = _fill(activated["coin"], px, size, side, ms, tid, twap_id, rng)
        other_side = "A" if side == "B" else "B"
        counterparty = {
            **_fill(activated["coin"], px, size, other_side, ms, tid, None, rng),
            "crossed": False,
        }
        blocks[block] += [[activated["wallet"], slice_fill], [rng.choice(wallets), counterparty]]
        if number % OTHER_TRADE_EVERY == 0:
            # Other orders trading the same coin at the same time: no twapId on either side.
            other_tid = tid + FIRST_TID
            for each_side in ("B", "A"):
                other = _fill(activated["coin"], px, step, each_side, ms, other_tid, None, rng)
                blocks[block].append([rng.choice(wallets), other])
        added += 1
    return added


def _fill(
    coin: str,
    px: str,
    size: Decimal,
    side: str,
    ms: int,
    tid: int,
    twap_id: int | None,
    rng: random.Random,
) -> dict:
    """One fill as the node writes it (its fields in the node's order)."""
    notional = Decimal(px) * size
    buy = side == "B"
    return {
        "coin": coin,
        "px": px,
        "sz": format(size, "f"),
        "side": side,
        "time": ms,
        "startPosition": "0.0",
        "dir": ("Open Long" if buy else "Open Short") if ":" not in coin else "Buy",
        "closedPnl": "0.0",
        # TWAP slices carry an all-zero hash (they are not transactions of their own).
        "hash": ZERO_HASH if twap_id is not None else f"0x{rng.getrandbits(256):064x}",
        "oid": FIRST_OID + rng.getrandbits(32),
        "crossed": True,
        "fee": format((notional * Decimal("0.00045")).quantize(Decimal("0.000001")), "f"),
        "tid": tid,
        "feeToken": "USDC",
        "twapId": twap_id,
    }


def _price_text(price: Decimal) -> str:
    """A price with 5 significant figures, as Hyperliquid quotes them."""
    return format(price.quantize(Decimal(1).scaleb(price.adjusted() - 4)).normalize(), "f")


def _write_fill_hours(
    out: Path, blocks: dict[int, list[list]], start: datetime, end: datetime
) -> int:
    """One object per hour from `start` to `end`, one block per line, as the node writes
    `node_fills_by_block/hourly/{YYYYMMDD}/{H}` (an hour with no fills still has its file)."""
    by_hour: dict[datetime, list[int]] = defaultdict(list)
    for block in sorted(blocks):
        moment = datetime.fromtimestamp((block - FIRST_BLOCK) * BLOCK_MS / 1000, UTC)
        by_hour[_hour(moment)].append(block)
    hour, written = start, 0
    while hour < end:
        path = out / "node_fills_by_block" / "hourly" / f"{hour:%Y%m%d}" / str(hour.hour)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as lines:
            for block in by_hour.get(hour, []):
                moment = datetime.fromtimestamp((block - FIRST_BLOCK) * BLOCK_MS / 1000, UTC)
                line = {
                    "local_time": (moment + timedelta(milliseconds=40)).isoformat()[:-6],
                    "block_time": moment.isoformat()[:-6],
                    "block_number": block,
                    "events": blocks[block],
                }
                lines.write(json.dumps(line, separators=(",", ":")) + "\n")
        hour += timedelta(hours=1)
        written += 1
    return written


def _twap_events(
    rng: random.Random, twap_id: int, started: datetime, wallets: list[str], weights: list[float]
) -> list[dict]:
    coin, price, decimals, _ = rng.choices(COINS, weights=[c[3] for c in COINS])[0]
    minutes = rng.choices([d for d, _ in DURATIONS], weights=[w for _, w in DURATIONS])[0]
    notional = Decimal(str(round(rng.lognormvariate(9.0, 1.4), 2)))
    step = Decimal(1).scaleb(-decimals)
    size = max((notional / price).quantize(step), step)
    common = {
        "twap_id": twap_id,
        "wallet": rng.choices(wallets, weights=weights)[0],
        "coin": coin,
        "side": rng.choice("BA"),
        "sz": format(size, "f"),
        "minutes": minutes,
        "reduce_only": rng.random() < 0.15,
        "randomize": rng.random() < 0.4,
        "started_at": started,
    }
    activated = {
        **common,
        "event_time_ns": _nanos(started) + rng.randrange(0, 2_000_000),
        "status": "activated",
        "status_description": None,
        "executed_sz": "0.0",
        "executed_ntl": "0.0",
    }
    outcome = rng.choices(("finished", "terminated", "error"), weights=(78, 17, 5))[0]
    duration = minutes * 60
    elapsed = (
        duration + rng.uniform(0, 3)
        if outcome == "finished"
        else rng.uniform(0.05, 0.95) * duration
    )
    slices = max(duration // SLICE_SECONDS, 1)
    done = slices if outcome == "finished" else min(int(elapsed // SLICE_SECONDS), slices)
    executed = (size * done / slices).quantize(step)
    fill_price = price * Decimal(str(round(rng.uniform(0.97, 1.03), 5)))
    terminal = {
        **common,
        "event_time_ns": _nanos(started) + int(elapsed * NANOS),
        "status": outcome,
        "status_description": rng.choice(ERRORS) if outcome == "error" else None,
        "executed_sz": format(executed, "f"),
        "executed_ntl": format((executed * fill_price).quantize(Decimal("0.000001")), "f"),
    }
    for event in (activated, terminal):
        event["event_time"] = datetime.fromtimestamp(event["event_time_ns"] / NANOS, UTC)
    return [activated, terminal]


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp()) * NANOS + moment.microsecond * 1000


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _to_table(rows: list[dict]) -> pa.Table:
    column = {name: [row[name] for row in rows] for name in rows[0]}
    return pa.table(
        {
            "twap_id": pa.array(column["twap_id"], pa.int64()),
            "event_time": pa.array(column["event_time_ns"], pa.int64()).cast(
                pa.timestamp("ns", "UTC")
            ),
            "status": pa.array(column["status"], pa.string()),
            "status_description": pa.array(column["status_description"], pa.string()),
            "wallet": pa.array(column["wallet"], pa.string()),
            "coin": pa.array(column["coin"], pa.string()),
            "side": pa.array(column["side"], pa.string()),
            "sz": pa.array(column["sz"], pa.string()),
            "executed_sz": pa.array(column["executed_sz"], pa.string()),
            "executed_ntl": pa.array(column["executed_ntl"], pa.string()),
            "minutes": pa.array(column["minutes"], pa.int64()),
            "reduce_only": pa.array(column["reduce_only"], pa.bool_()),
            "randomize": pa.array(column["randomize"], pa.bool_()),
            "started_at": pa.array(column["started_at"], pa.timestamp("ms", "UTC")),
        }
    )
