"""An independent, plain-Python computation of each TWAP's latest status from parquet objects."""

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SIDES = {"B": "buy", "A": "sell"}
ENDED = {"finished", "terminated", "error", "stopped"}


def _rank(status: str) -> int:
    """As dbt's macro status_rank: ended, then running, then waiting, then an unknown word."""
    return 3 if status in ENDED else {"activated": 2, "waitingForTrigger": 1}.get(status, 0)


@dataclass(frozen=True)
class Latest:
    status: str
    status_at_us: int
    wallet: str
    side: str
    executed_size: Decimal
    event_count: int


def read_events(root: Path) -> list[dict]:
    """Every event of every canonical-form object under `root`, event time in epoch µs."""
    events = []
    for path in sorted(root.rglob("*.parquet")):
        table = pq.read_table(path)
        # PostgreSQL keeps microseconds: truncate the nanoseconds the same way.
        micros = table.column("event_time").cast(pa.int64()).to_pylist()
        for row, time_us in zip(
            table.drop(["event_time", "started_at"]).to_pylist(), micros, strict=True
        ):
            events.append({**row, "time_us": time_us // 1000})
    return events


def latest_by_twap(events: list[dict]) -> dict[int, Latest]:
    distinct = {(e["twap_id"], e["status"], e["time_us"]): e for e in events}
    by_twap: dict[int, list[dict]] = {}
    for event in distinct.values():
        by_twap.setdefault(event["twap_id"], []).append(event)
    result = {}
    for twap_id, twap_events in by_twap.items():
        # Latest event time first; on a tie the highest rank (macro status_rank), then by name.
        last = min(twap_events, key=lambda e: (-e["time_us"], -_rank(e["status"]), e["status"]))
        result[twap_id] = Latest(
            status=last["status"],
            status_at_us=last["time_us"],
            wallet=last["wallet"].lower(),
            side=SIDES[last["side"]],
            executed_size=Decimal(last["executed_sz"]),
            event_count=len(twap_events),
        )
    return result
