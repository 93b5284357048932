"""The dlt source: hourly parquet objects of TWAP status events into `raw`, with a per-object ledger."""

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration import resolve_type
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.storages.fsspec_filesystem import fsspec_filesystem
from dlt.sources import DltResource
from dlt.sources.config import configspec
from dlt.sources.credentials import FilesystemConfiguration, FileSystemCredentials
from fsspec import AbstractFileSystem

from dlt_pipelines.helpers import SourceObject, fetch_objects, list_objects, read_events
from dlt_pipelines.normalise import BadObjectError
from dlt_pipelines.settings import (
    DEFAULT_FILE_GLOB,
    EVENTS_TABLE,
    LEDGER_SCHEMA,
    LEDGER_TABLE,
    OBJECTS_PER_BATCH,
    PIPELINE_NAME,
)

logger = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 5.0


@configspec
class TwapSourceConfiguration(FilesystemConfiguration):
    """`sources.hyperliquid_twap.*`: the bucket URL, its credentials and how to read it."""

    credentials: FileSystemCredentials | AbstractFileSystem = None
    file_glob: str = DEFAULT_FILE_GLOB
    objects_per_batch: int = OBJECTS_PER_BATCH

    @resolve_type("credentials")
    def resolve_credentials_type(self) -> type[CredentialsConfiguration]:
        # Local paths need no credentials; object stores get their protocol's credentials.
        credentials = self.PROTOCOL_CREDENTIALS.get(self.protocol)
        return credentials | AbstractFileSystem if credentials else CredentialsConfiguration | None


@dataclass
class IngestStats:
    """What one extraction did, filled in while it runs."""

    listed: int = 0
    selected: int = 0
    loaded: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    rows: int = 0


@dlt.source(name=PIPELINE_NAME, spec=TwapSourceConfiguration)
def hyperliquid_twap(
    bucket_url: str = dlt.config.value,
    credentials: FileSystemCredentials | AbstractFileSystem = dlt.secrets.value,
    file_glob: str = DEFAULT_FILE_GLOB,
    objects_per_batch: int = OBJECTS_PER_BATCH,
    kwargs: dict[str, Any] | None = None,
    client_kwargs: dict[str, Any] | None = None,
    known_versions: Mapping[str, str] | None = None,
    stats: IngestStats | None = None,
) -> DltResource:
    """TWAP status events from the parquet objects under `bucket_url`.

    `known_versions` maps object keys to the version already loaded (from the ledger); only
    objects that are new or whose version differs are read. `stats` is filled in as it runs.
    """
    if isinstance(credentials, AbstractFileSystem):
        fs = credentials
    else:
        fs = fsspec_filesystem(bucket_url, credentials, kwargs=kwargs, client_kwargs=client_kwargs)[
            0
        ]
    return twap_status_events(
        fs, bucket_url, file_glob, objects_per_batch, known_versions or {}, stats or IngestStats()
    )


@dlt.resource(
    name=EVENTS_TABLE,
    # A re-read object replaces all of its earlier rows in one transaction.
    write_disposition={"disposition": "merge", "strategy": "delete-insert"},
    merge_key="object_key",
)
def twap_status_events(
    fs: AbstractFileSystem,
    bucket_url: str,
    file_glob: str,
    objects_per_batch: int,
    known_versions: Mapping[str, str],
    stats: IngestStats,
) -> Iterator[pa.Table]:
    """Yields one arrow table of canonical events per batch of new or changed objects, and the
    batch's ledger rows (table `twap_ingest_objects`) alongside."""
    listed = list_objects(fs, bucket_url, file_glob)
    todo = [obj for obj in listed if known_versions.get(obj.key) != obj.version]
    stats.listed, stats.selected = len(listed), len(todo)
    logger.info("listed %d objects under %s: %d new or changed", len(listed), bucket_url, len(todo))
    processed_at = datetime.now(UTC)
    last_report = time.monotonic()
    for start in range(0, len(todo), objects_per_batch):
        tables, ledger = [], []
        for obj, data in fetch_objects(fs, todo[start : start + objects_per_batch]):
            try:
                if isinstance(data, Exception):
                    raise BadObjectError(f"cannot fetch: {type(data).__name__}: {data}")
                events = read_events(obj, data)
            except BadObjectError as exc:
                stats.failed[obj.key] = str(exc)
                logger.warning("object %s failed: %s", obj.key, exc)
                ledger.append(_ledger_row(obj, "failed", None, str(exc), processed_at))
                continue
            tables.append(events)
            stats.loaded += 1
            stats.rows += events.num_rows
            ledger.append(_ledger_row(obj, "loaded", events.num_rows, None, processed_at))
        if tables:
            yield pa.concat_tables(tables, promote_options="permissive")
        yield dlt.mark.with_table_name(pa.Table.from_pylist(ledger, LEDGER_SCHEMA), LEDGER_TABLE)
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            done = min(start + objects_per_batch, len(todo))
            logger.info("read %d/%d objects, %d rows", done, len(todo), stats.rows)


def _ledger_row(
    obj: SourceObject, status: str, rows: int | None, error: str | None, processed_at: datetime
) -> dict[str, Any]:
    return {
        "object_key": obj.key,
        "object_version": obj.version,
        "size_bytes": obj.size_bytes,
        "modified_at": obj.modified_at,
        "status": status,
        "row_count": rows,
        "error": error,
        "processed_at": processed_at,
    }
