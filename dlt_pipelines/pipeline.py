"""The pipeline factory and one load run; also a plain dlt script.

    python -m dlt_pipelines.pipeline   # reads .dlt/config.toml, secrets.toml and env vars

Configure the source under `[sources.hyperliquid_twap]` (`bucket_url`, `credentials`) and the
destination under `[destination.postgres.credentials]`, as for any dlt pipeline. The lake target
(`dlt_pipelines.lake.make_lake_pipeline`) loads the same way into parquet files.
"""

import logging
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import dlt
from dlt.common.pipeline import LoadInfo

from dlt_pipelines import ledger
from dlt_pipelines.lake import LakeLedger
from dlt_pipelines.ledger import KEEP, KnownObject, LedgerEntry
from dlt_pipelines.settings import DATASET_NAME, PIPELINE_NAME
from dlt_pipelines.source import IngestStats, hyperliquid_twap

logger = logging.getLogger(__name__)

# Telemetry off unless asked for; arrow loads carry `_dlt_load_id` (needed downstream by dbt).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")
# dlt's ADBC COPY job reads a whole load file into memory: small files, few at once, keep it flat.
os.environ.setdefault("DATA_WRITER__FILE_MAX_ITEMS", "100000")
os.environ.setdefault("LOAD__WORKERS", "2")


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


class Ledger(Protocol):
    """Where a pipeline's ledger lives: its SQL destination (ledger.py) or its lake (lake.py)."""

    def prepare(self, aborted_loads: Collection[str] = ()) -> None: ...

    def known(self) -> dict[str, KnownObject]: ...

    def record(
        self,
        entries: Sequence[LedgerEntry],
        load_id: str | None,
        at: datetime,
        vanished: Collection[str] = (),
        reappeared: Collection[str] = (),
        on_vanished: str = KEEP,
    ) -> None: ...


@dataclass
class SqlLedger:
    """The ledger in the pipeline's SQL destination, each call in its own connection."""

    pipeline: dlt.Pipeline

    def prepare(self, aborted_loads: Collection[str] = ()) -> None:
        with self.pipeline.sql_client() as client:
            ledger.prepare(client, aborted_loads)

    def known(self) -> dict[str, KnownObject]:
        with self.pipeline.sql_client() as client:
            return ledger.known_objects(client)

    def record(self, entries: Sequence[LedgerEntry], *args: Any, **kwargs: Any) -> None:
        with self.pipeline.sql_client() as client:
            ledger.record(client, entries, *args, **kwargs)


def ledger_of(pipeline: dlt.Pipeline) -> Ledger:
    """The ledger of `pipeline`: files beside raw on a lake, tables beside raw otherwise."""
    if pipeline.destination.destination_name == "filesystem":
        return LakeLedger(pipeline)
    return SqlLedger(pipeline)


@dataclass
class LoadResult:
    stats: IngestStats
    info: LoadInfo | None


def load(pipeline: dlt.Pipeline, **source_args: Any) -> LoadResult:
    """Extract new, changed and previously failed objects, append them to raw in one load
    package, then commit what happened to each object in the ledger (see ledger.py)."""
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
    known = book.known()
    stats = IngestStats()
    started_at = datetime.now(UTC)
    source = hyperliquid_twap(**source_args, known=known, stats=stats)
    # Nothing to read: no dlt run at all (no load package, no state sync).
    info = pipeline.run(source, loader_file_format="parquet") if stats.selected else None
    book.record(
        stats.entries,
        info.loads_ids[-1] if info and info.loads_ids else None,
        started_at,
        vanished=stats.vanished,
        reappeared=stats.reappeared,
        on_vanished=stats.on_vanished,
    )
    return LoadResult(stats=stats, info=info)


if __name__ == "__main__":
    result = load(make_pipeline())
    print(result.info)
