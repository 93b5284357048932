"""The pipeline factory and one load run; also a plain dlt script.

    python -m dlt_pipelines.pipeline   # reads .dlt/config.toml, secrets.toml and env vars

Configure the source under `[sources.hyperliquid_twap]` (`bucket_url`, `credentials`) and the
destination under `[destination.postgres.credentials]`, as for any dlt pipeline.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
from dlt.common.pipeline import LoadInfo
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from dlt_pipelines.settings import DATASET_NAME, LEDGER_TABLE, PIPELINE_NAME
from dlt_pipelines.source import IngestStats, hyperliquid_twap

# Telemetry off unless asked for; arrow loads carry `_dlt_load_id` (needed downstream by dbt).
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("NORMALIZE__PARQUET_NORMALIZER__ADD_DLT_LOAD_ID", "true")


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


def loaded_versions(pipeline: dlt.Pipeline) -> dict[str, str]:
    """Object key -> version of every object the ledger records as loaded (empty on first run)."""
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name(LEDGER_TABLE)
            rows = client.execute_sql(
                f"select object_key, object_version from {table} where status = 'loaded'"
            )
    except DatabaseUndefinedRelation:
        return {}
    return dict(rows or [])


@dataclass
class LoadResult:
    stats: IngestStats
    info: LoadInfo | None


def load(pipeline: dlt.Pipeline, **source_args: Any) -> LoadResult:
    """Extract new and changed objects and load them in one load package."""
    stats = IngestStats()
    source = hyperliquid_twap(**source_args, known_versions=loaded_versions(pipeline), stats=stats)
    info = pipeline.run(source, loader_file_format="parquet")
    return LoadResult(stats=stats, info=info)


if __name__ == "__main__":
    result = load(make_pipeline())
    print(result.info)
