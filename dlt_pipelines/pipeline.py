"""The pipelines (PostgreSQL and lake) and one load run; also a plain dlt script.

    python -m dlt_pipelines.pipeline   # reads .dlt/config.toml, secrets.toml and env vars

Configure the source under `[sources.hyperliquid_twap]` (`bucket_url`, `credentials`) and the
destination under `[destination.postgres.credentials]`, as for any dlt pipeline. The lake target
(`make_lake_pipeline`) loads the same way into parquet files.
"""

import logging
import os
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import dlt
import pyarrow as pa
from dlt.common.pipeline import LoadInfo

from dlt_pipelines.ledger import postgres
from dlt_pipelines.ledger.lake import LakeLedger
from dlt_pipelines.ledger.rules import (
    CHANGED,
    FAILED,
    KEEP,
    LOADED,
    NEW,
    RETRIED,
    KnownObject,
    LedgerEntry,
    Run,
)
from dlt_pipelines.settings import DATASET_NAME, EVENTS_TABLE, LAKE_PIPELINE_NAME, PIPELINE_NAME
from dlt_pipelines.source import hyperliquid_twap

logger = logging.getLogger(__name__)

# Telemetry off unless asked for; arrow loads carry `_dlt_load_id` (needed downstream by dbt).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
# dlt's ADBC COPY job reads a whole load file into memory: small files, few at once, keep it flat.
os.environ.setdefault("DATA_WRITER__FILE_MAX_ITEMS", "100000")
os.environ.setdefault("LOAD__WORKERS", "2")
# The PostgreSQL pipeline's load files live only until they are COPYed, on local disk: written
# uncompressed they cost 40% less to write and to read back (the lake's files stay compressed).
os.environ.setdefault(f"{PIPELINE_NAME.upper()}__DATA_WRITER__COMPRESSION", "none")
# Arrow's default allocator (mimalloc) gives every batch's fresh memory back to the kernel and
# faults it in again: reading 1M rows cost twice the CPU of the system allocator, mostly in the
# kernel. Unless the user chose one (ARROW_DEFAULT_MEMORY_POOL), the system allocator is used.
if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
    pa.set_memory_pool(pa.system_memory_pool())


def make_pipeline(credentials: Any = None, pipelines_dir: Path | None = None) -> dlt.Pipeline:
    """The TWAP pipeline writing to dataset `raw` of a postgres destination.

    `credentials` is a connection string or dlt credentials; None resolves them from config.
    """
    return dlt.pipeline(
        pipeline_name=PIPELINE_NAME,
        destination=dlt.destinations.postgres(credentials=credentials),
        dataset_name=DATASET_NAME,
        pipelines_dir=str(pipelines_dir) if pipelines_dir else None,
    )


def make_lake_pipeline(lake_url: str, pipelines_dir: str | None = None) -> dlt.Pipeline:
    """The TWAP pipeline writing parquet files to dataset `raw` under `lake_url` (a local path,
    `file://` or `s3://` URL)."""
    return dlt.pipeline(
        pipeline_name=LAKE_PIPELINE_NAME,
        destination=dlt.destinations.filesystem(bucket_url=lake_url),
        dataset_name=DATASET_NAME,
        pipelines_dir=pipelines_dir,
    )


class Ledger(Protocol):
    """Where a pipeline's ledger lives: its SQL destination (ledger/postgres.py) or its lake
    (ledger/lake.py); both apply the rules of ledger/rules.py."""

    def prepare(self, aborted_loads: Collection[str] = ()) -> None: ...

    def known(self) -> dict[str, KnownObject]: ...

    def record(self, run: Run) -> None: ...


@dataclass
class SqlLedger:
    """The ledger in the pipeline's SQL destination, each call in its own connection."""

    pipeline: dlt.Pipeline

    def prepare(self, aborted_loads: Collection[str] = ()) -> None:
        with self.pipeline.sql_client() as client:
            postgres.prepare(client, aborted_loads)

    def known(self) -> dict[str, KnownObject]:
        with self.pipeline.sql_client() as client:
            return postgres.known_objects(client)

    def record(self, run: Run) -> None:
        with self.pipeline.sql_client() as client:
            postgres.record(client, run)


def ledger_of(pipeline: dlt.Pipeline) -> Ledger:
    """The ledger of `pipeline`: files beside raw on a lake, tables beside raw otherwise."""
    if pipeline.destination.destination_name == "filesystem":
        return LakeLedger(pipeline)
    return SqlLedger(pipeline)


@dataclass(frozen=True)
class IngestStats:
    """What one extraction did: what the listing found and what each object read gave (the
    ledger entries of the run), from the events resource's dlt metrics."""

    listed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # files that are not data, by why
    why: dict[str, str] = field(default_factory=dict)  # object key -> NEW, CHANGED or RETRIED
    rows: int = 0  # status events
    entries: list[LedgerEntry] = field(default_factory=list)
    # Known objects missing from this listing, and vanished ones listed again.
    vanished: list[str] = field(default_factory=list)
    reappeared: list[str] = field(default_factory=list)
    on_vanished: str = KEEP
    fills: int = 0  # TWAP slice fills
    fills_rejected: int = 0  # of the rows rejected (`rejected`), those of fills objects

    @classmethod
    def of(cls, metrics: Mapping[str, Any]) -> "IngestStats":
        """From the metrics `source.twap_status_events` kept."""
        return cls(
            metrics["listed"],
            Counter(metrics["skipped"]),
            metrics["why"],
            metrics["rows"],
            [LedgerEntry(**entry) for entry in metrics["attempts"]],
            metrics["vanished"],
            metrics["reappeared"],
            metrics["on_vanished"],
            metrics["fills"],
            metrics["fills_rejected"],
        )

    @property
    def new(self) -> int:
        return sum(why == NEW for why in self.why.values())

    @property
    def changed(self) -> int:
        return sum(why == CHANGED for why in self.why.values())

    @property
    def retried(self) -> int:
        return sum(why == RETRIED for why in self.why.values())

    @property
    def selected(self) -> int:
        return len(self.why)

    @property
    def loaded(self) -> int:
        return sum(entry.status == LOADED for entry in self.entries)

    @property
    def failed(self) -> dict[str, str]:
        """Object key -> error of every object that failed in this run."""
        return {e.key: e.error or "" for e in self.entries if e.status == FAILED}

    @property
    def rejected(self) -> dict[str, int]:
        """Object key -> rows rejected, of every object read in this run that had some."""
        return {e.key: e.rejected for e in self.entries if e.rejected}

    @property
    def events_rejected(self) -> int:
        return sum(self.rejected.values()) - self.fills_rejected

    @property
    def repaired(self) -> int:
        return sum(entry.repaired for entry in self.entries)

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"


@dataclass
class LoadResult:
    stats: IngestStats
    info: LoadInfo | None


def load(pipeline: dlt.Pipeline, **source_args: Any) -> LoadResult:
    """Extract new, changed and previously failed objects, append them to raw in one load
    package, then commit what happened to each object in the ledger (ledger/rules.py)."""
    aborted: list[str] = []
    if pipeline.has_pending_data:
        # Left by an interrupted run: whatever of it reached raw is named by no ledger row.
        aborted = [
            *pipeline.list_extracted_load_packages(),
            *pipeline.list_normalized_load_packages(),
        ]
        logger.warning("dropping the pending load package of an interrupted run")
        pipeline.abort_packages()
    book = ledger_of(pipeline)
    book.prepare(aborted)
    started_at = datetime.now(UTC)
    if pipeline.first_run:
        # A new local pipeline takes dlt's state and schemas from the destination, as `run` does.
        pipeline.sync_destination()
    source = hyperliquid_twap(**source_args, known=book.known())
    pipeline.extract(source, loader_file_format="parquet")
    stats = IngestStats.of(source.resources[EVENTS_TABLE].custom_metrics)
    info = None
    if stats.selected:
        pipeline.normalize()
        info = pipeline.load()
    else:
        # Nothing to read: the empty package is dropped, nothing reaches the destination.
        pipeline.abort_packages()
    load_id = info.loads_ids[-1] if info and info.loads_ids else None
    book.record(
        Run(stats.entries, load_id, started_at, stats.vanished, stats.reappeared, stats.on_vanished)
    )
    return LoadResult(stats=stats, info=info)


if __name__ == "__main__":
    result = load(make_pipeline())
    print(result.info)
