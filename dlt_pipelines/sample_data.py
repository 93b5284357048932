"""Realistic sample data: hourly parquet objects of TWAP status events in the canonical form.

Each TWAP gets an `activated` event at its start and, unless it is still running at the end of
the window, one terminal event (`finished`, `terminated` or `error`) that usually lands in a
later hourly object. Amounts are decimal strings; wallets are heavy-tailed; a few events are
repeated in the next hour's object, as overlapping vendor files do.
"""

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
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


@dataclass(frozen=True)
class SampleSummary:
    objects: int
    events: int
    twaps: int


def generate(
    out: Path,
    days: int,
    *,
    seed: int = 7,
    start: date | datetime = DEFAULT_START,
    twaps_per_day: int = 2500,
    wallets: int = 3000,
    duplicate_rate: float = 0.003,
) -> SampleSummary:
    """Write `days` days of hourly objects under `out/YYYY/MM/DD/HH.parquet`, from midnight UTC
    of `start` or from `start` itself when it is a time (then whole hours, as objects are),
    never past the start of the current hour (the pipeline rejects events from the future)."""
    rng = random.Random(seed)
    if isinstance(start, datetime):
        window_start = _hour(start.astimezone(UTC))
    else:
        window_start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    window_end = min(window_start + timedelta(days=days), _hour(datetime.now(UTC)))
    seconds = max((window_end - window_start).total_seconds(), 0)
    wallet_pool = [f"0x{rng.getrandbits(160):040x}" for _ in range(wallets)]
    # Zipf-like: a few wallets place most TWAPs.
    wallet_weights = [1 / (rank + 1) ** 1.1 for rank in range(wallets)]
    count = round(seconds / 86400 * twaps_per_day)
    starts = sorted(rng.uniform(0, seconds) for _ in range(count))
    by_hour: dict[datetime, list[dict]] = defaultdict(list)
    for index, offset in enumerate(starts):
        started = window_start + timedelta(milliseconds=int(offset * 1000))
        for event in _twap_events(rng, FIRST_TWAP_ID + index, started, wallet_pool, wallet_weights):
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
    return SampleSummary(objects=objects, events=events, twaps=count)


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
