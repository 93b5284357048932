"""The dlt source: a listing resource piped into the events transformer, as dlt's own
`filesystem(...) | read_parquet()`; the source's arguments come from dlt config and secrets."""

import logging
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration import resolve_type
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.configuration.specs.aws_credentials import AwsCredentialsWithoutDefaults
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource
from dlt.sources.config import configspec
from dlt.sources.credentials import FilesystemConfiguration, FileSystemCredentials
from fsspec import AbstractFileSystem

from dlt_pipelines.errors import BadObjectError, one_line
from dlt_pipelines.ledger.rules import FAILED, KEEP, LOADED, MIRROR, KnownObject, LedgerEntry
from dlt_pipelines.listing import Selection, SourceObject, list_objects, open_filesystem, select
from dlt_pipelines.readers.formats import read_table
from dlt_pipelines.readers.layouts import FILLS, Layout, layouts_from_config
from dlt_pipelines.readers.objects import (
    BatchRead,
    ObjectSummary,
    batched,
    fetch_objects,
    read_batch,
    read_spool,
    spool_rows,
)
from dlt_pipelines.settings import (
    BATCH_BYTES,
    DEFAULT_FILE_GLOB,
    EVENTS_TABLE,
    FILLS_TABLE,
    LARGE_OBJECT_BYTES,
    OBJECTS_PER_BATCH,
    PIPELINE_NAME,
    QUARANTINE_TABLE,
    ROWS_PER_ITEM,
    S3_CONNECT_TIMEOUT,
    S3_MAX_ATTEMPTS,
    S3_READ_TIMEOUT,
)

logger = logging.getLogger(__name__)
PROGRESS_EVERY_SECONDS = 5.0


@configspec
class AnonymousS3Credentials(AwsCredentialsWithoutDefaults):
    """Where a public bucket is (endpoint, region); no keys, the requests go unsigned."""

    aws_access_key_id: str | None = None
    aws_secret_access_key: TSecretStrValue | None = None


@configspec
class TwapSourceConfiguration(FilesystemConfiguration):
    """`sources.hyperliquid_twap.*`: the bucket URL, its credentials and how to read it."""

    credentials: FileSystemCredentials | AbstractFileSystem = None
    file_glob: str = DEFAULT_FILE_GLOB
    # The user's own layouts (README, Reading real data), tried before the known ones.
    layouts: dict[str, Any] | None = None
    objects_per_batch: int = OBJECTS_PER_BATCH
    large_object_bytes: int = LARGE_OBJECT_BYTES
    # S3 only: the payer's credentials are still needed with requester-pays; none when anonymous.
    requester_pays: bool = False
    anonymous: bool = False
    max_attempts: int = S3_MAX_ATTEMPTS
    connect_timeout: float = S3_CONNECT_TIMEOUT
    read_timeout: float = S3_READ_TIMEOUT
    # Rows of objects missing from the listing: kept (the default) or removed ("mirror").
    on_vanished: str = KEEP

    @resolve_type("credentials")
    def resolve_credentials_type(self) -> type[CredentialsConfiguration]:
        # Local paths need no credentials; object stores get their own, S3 no keys if anonymous.
        if self.anonymous and self.protocol == "s3":
            return AnonymousS3Credentials
        credentials = self.PROTOCOL_CREDENTIALS.get(self.protocol)
        return credentials | AbstractFileSystem if credentials else CredentialsConfiguration | None


@dlt.source(name=PIPELINE_NAME, spec=TwapSourceConfiguration)
def hyperliquid_twap(
    bucket_url: str = dlt.config.value,
    credentials: FileSystemCredentials | AbstractFileSystem = dlt.secrets.value,
    file_glob: str = DEFAULT_FILE_GLOB,
    layouts: dict[str, Any] | None = None,
    objects_per_batch: int = OBJECTS_PER_BATCH,
    large_object_bytes: int = LARGE_OBJECT_BYTES,
    requester_pays: bool = False,
    anonymous: bool = False,
    max_attempts: int = S3_MAX_ATTEMPTS,
    connect_timeout: float = S3_CONNECT_TIMEOUT,
    read_timeout: float = S3_READ_TIMEOUT,
    on_vanished: str = KEEP,
    kwargs: dict[str, Any] | None = None,
    client_kwargs: dict[str, Any] | None = None,
    known: Mapping[str, KnownObject] | None = None,
) -> DltResource:
    """TWAP status events from the objects under `bucket_url`, in any known format and layout
    (or one of the user's `layouts`); rejected rows go to their own table.

    `object_listing(...) | twap_status_events(...)`, as dlt's `filesystem(...) | read_parquet()`.
    Every argument but `known` comes from config (`sources.hyperliquid_twap.*`); `known` is the
    ledger's view of the objects (object key -> what it holds; none: every object is new).
    """
    if on_vanished not in (KEEP, MIRROR):
        raise ValueError(f"on_vanished must be '{KEEP}' or '{MIRROR}', not {on_vanished!r}")
    # Opening makes no request: listing errors come from the resource, through dlt.
    fs = open_filesystem(
        bucket_url,
        credentials,
        requester_pays=requester_pays,
        anonymous=anonymous,
        max_attempts=max_attempts,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        kwargs=kwargs,
        client_kwargs=client_kwargs,
    )
    listing = object_listing(bucket_url, fs, file_glob, known, on_vanished)
    return listing | twap_status_events(layouts, objects_per_batch, large_object_bytes)


@dlt.resource(name="twap_objects")
def object_listing(
    bucket_url: str,
    credentials: FileSystemCredentials | AbstractFileSystem,
    file_glob: str = DEFAULT_FILE_GLOB,
    known: Mapping[str, KnownObject] | None = None,
    on_vanished: str = KEEP,
) -> Iterator[Selection]:
    """One listing of the objects under `bucket_url`, as one Selection: the objects to read
    (new, changed or failed before, by the ledger's rules against `known`) and those that
    came or went. `credentials` may be a filesystem, as for dlt's `filesystem` resource; the
    objects carry it, as dlt's FileItemDict does."""
    fs = open_filesystem(bucket_url, credentials)
    selection = select(fs, list_objects(fs, bucket_url, file_glob), known or {}, on_vanished)
    logger.info("listed %s under %s", selection.summary(), bucket_url)
    yield selection


@dlt.transformer(name=EVENTS_TABLE, write_disposition="append")
def twap_status_events(
    selection: Selection,
    layouts: dict[str, Any] | None = None,
    objects_per_batch: int = OBJECTS_PER_BATCH,
    large_object_bytes: int = LARGE_OBJECT_BYTES,
) -> Iterator[Any]:
    """Arrow tables (of at most ROWS_PER_ITEM rows) of the canonical events of the selected
    objects, and of their TWAP slice fills for the fills table (an object holds one or the
    other, told by its layout); rejected rows go to the quarantine table with their reason.

    Raw is append-only: what counts is decided by the ledger. What the listing found and what
    happened to each object go to the resource's metrics (`dlt.current.resource_metrics()`,
    read back by `IngestStats.of`); the pipeline commits the attempts to the ledger once dlt
    has committed the rows.
    """
    metrics = dlt.current.resource_metrics()
    metrics.update(
        listed=selection.listed,
        skipped=selection.skipped,
        why=selection.why,
        vanished=selection.vanished,
        reappeared=selection.reappeared,
        on_vanished=selection.on_vanished,
        rows=0,
        fills=0,
        fills_rejected=0,
    )
    attempts: list[dict[str, Any]] = metrics.setdefault("attempts", [])
    fs, chosen, now = selection.fs, layouts_from_config(layouts), datetime.now(UTC)
    large = [obj for obj in selection.objects if (obj.size_bytes or 0) > large_object_bytes]
    small = [obj for obj in selection.objects if (obj.size_bytes or 0) <= large_object_bytes]
    yield from _read_large(fs, large, chosen, now, attempts, metrics)
    last_report = time.monotonic()
    done = 0
    for objects, batch in _read_ahead(
        fs, batched(small, objects_per_batch, BATCH_BYTES), chosen, now
    ):
        for obj, error in batch.failed.items():
            attempts.append(_failed(obj, error))
        for obj, summary in batch.objects.items():
            attempts.append(_loaded(obj, summary))
            _count(metrics, summary)
        yield from _quarantined(batch.rejected)
        if batch.events is not None:
            # Items of bounded size make load files of bounded size, COPYed in parallel.
            for offset in range(0, batch.events.num_rows, ROWS_PER_ITEM):
                yield batch.events.slice(offset, ROWS_PER_ITEM)
        if batch.fills is not None:
            for offset in range(0, batch.fills.num_rows, ROWS_PER_ITEM):
                yield _fills(batch.fills.slice(offset, ROWS_PER_ITEM))
        done += len(objects)
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            logger.info(
                "read %d/%d objects, %d rows, %d slice fills",
                done,
                len(small),
                metrics["rows"],
                metrics["fills"],
            )


def _read_ahead(
    fs: AbstractFileSystem,
    batches: Iterable[list[SourceObject]],
    layouts: tuple[Layout, ...],
    now: datetime,
) -> Iterator[tuple[list[SourceObject], BatchRead]]:
    """Each batch of objects with what reading it gave, the next batch fetched and read in a
    thread while dlt writes this one (Arrow's reading and writing release the GIL): at most two
    batches are in memory."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="twap-read") as pool:
        pending: Future[BatchRead] | None = None
        previous: list[SourceObject] = []
        for objects in batches:
            following = pool.submit(_read_small, fs, objects, layouts, now)
            if pending is not None:
                yield previous, pending.result()
            pending, previous = following, objects
        if pending is not None:
            yield previous, pending.result()


def _read_small(
    fs: AbstractFileSystem, objects: list[SourceObject], layouts: tuple[Layout, ...], now: datetime
) -> BatchRead:
    """One batch of objects fetched and read; an object that cannot be fetched or parsed is
    among the batch's failed, with why."""
    tables: dict[SourceObject, pa.Table] = {}
    failed: dict[SourceObject, str] = {}
    for obj, data in fetch_objects(fs, objects):
        try:
            if isinstance(data, Exception):
                raise BadObjectError(f"cannot fetch: {type(data).__name__}: {one_line(data)}")
            tables[obj] = read_table(data)
        except BadObjectError as exc:
            failed[obj] = str(exc)
    batch = read_batch(tables, layouts, now)
    batch.failed = failed | batch.failed
    return batch


def _count(metrics: dict[str, Any], summary: ObjectSummary) -> None:
    """Add an object's rows to the run's status events or slice fills (rejected fills apart:
    the quarantine holds both)."""
    if summary.kind == FILLS:
        metrics["fills"] += summary.rows
        metrics["fills_rejected"] += summary.rejected
    else:
        metrics["rows"] += summary.rows


def _read_large(
    fs: AbstractFileSystem,
    objects: list[SourceObject],
    layouts: tuple[Layout, ...],
    now: datetime,
    attempts: list[dict[str, Any]],
    metrics: dict[str, Any],
) -> Iterator[Any]:
    """Large objects one at a time, each spooled to local disk first and then yielded in
    batches: memory holds one batch whatever the object's size."""
    with tempfile.TemporaryDirectory(prefix="twap-spool-") as spool_dir:
        for obj in objects:
            logger.info("streaming large object %s (%s bytes)", obj.key, obj.size_bytes)
            spool = Path(spool_dir) / "object.parquet"
            try:
                spooled = spool_rows(fs, obj, spool, layouts, now)
            except BadObjectError as exc:
                attempts.append(_failed(obj, str(exc)))
                continue
            for table in read_spool(spool):
                yield _fills(table) if spooled.kind == FILLS else table
            yield from _quarantined(spooled.rejected)
            attempts.append(_loaded(obj, spooled.summary))
            _count(metrics, spooled.summary)
            spool.unlink()


def _fills(fills: pa.Table) -> Any:
    """TWAP slice fills, for the fills table (appended; what counts is the ledger's business)."""
    return dlt.mark.with_hints(
        fills,
        dlt.mark.make_hints(table_name=FILLS_TABLE, write_disposition="append"),
        create_table_variant=True,
    )


def _quarantined(rejected: pa.Table) -> Iterator[Any]:
    """Rejected rows, for the quarantine table (appended, never merged)."""
    if rejected.num_rows:
        yield dlt.mark.with_hints(
            rejected,
            dlt.mark.make_hints(table_name=QUARANTINE_TABLE, write_disposition="append"),
            create_table_variant=True,
        )


def _loaded(obj: SourceObject, summary: ObjectSummary) -> dict[str, Any]:
    """The ledger entry of an object read (as a dict: resource metrics stay plain data)."""
    if summary.rejected:
        logger.warning(
            "object %s (%s layout): %d rows rejected, e.g. %s",
            obj.key,
            summary.layout,
            summary.rejected,
            summary.first_rejection,
        )
    if summary.repaired:
        logger.info("object %s: %d times corrected from ms stored as ns", obj.key, summary.repaired)
    entry = LedgerEntry(
        obj.key,
        obj.version,
        obj.size_bytes,
        obj.modified_at,
        LOADED,
        summary.rows,
        rejected=summary.rejected,
        repaired=summary.repaired,
        early=summary.early,
    )
    return asdict(entry)


def _failed(obj: SourceObject, error: str) -> dict[str, Any]:
    """The ledger entry of an object that could not be read (the run names it once, at its end:
    twap.run.steps.failed_objects_status)."""
    return asdict(
        LedgerEntry(obj.key, obj.version, obj.size_bytes, obj.modified_at, FAILED, error=error)
    )
