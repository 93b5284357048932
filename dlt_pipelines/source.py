"""The dlt source: objects of TWAP status events, in any format and layout, into `raw`, with a
per-object ledger."""

import logging
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration import resolve_type
from dlt.common.configuration.specs import CredentialsConfiguration
from dlt.common.configuration.specs.aws_credentials import AwsCredentialsWithoutDefaults
from dlt.common.storages.fsspec_filesystem import fsspec_filesystem
from dlt.common.typing import TSecretStrValue
from dlt.sources import DltResource
from dlt.sources.config import configspec
from dlt.sources.credentials import FilesystemConfiguration, FileSystemCredentials
from fsspec import AbstractFileSystem

from dlt_pipelines.errors import BadObjectError, one_line
from dlt_pipelines.formats import read_table
from dlt_pipelines.helpers import (
    ObjectSummary,
    SourceObject,
    batched,
    fetch_objects,
    list_objects,
    read_batch,
    read_spool,
    spool_events,
)
from dlt_pipelines.layouts import Layout, layouts_from_config
from dlt_pipelines.ledger import FAILED, KEEP, LOADED, MIRROR, KnownObject, LedgerEntry
from dlt_pipelines.settings import (
    BATCH_BYTES,
    DEFAULT_FILE_GLOB,
    EVENTS_TABLE,
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


@dataclass
class IngestStats:
    """What one extraction did, filled in while it runs; `entries` become the ledger rows."""

    listed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # files that are not data, by why
    new: int = 0
    changed: int = 0
    retried: int = 0
    rows: int = 0
    entries: list[LedgerEntry] = field(default_factory=list)
    # Known objects missing from this listing, and vanished ones listed again.
    vanished: list[str] = field(default_factory=list)
    reappeared: list[str] = field(default_factory=list)
    on_vanished: str = KEEP

    @property
    def selected(self) -> int:
        return self.new + self.changed + self.retried

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
    def repaired(self) -> int:
        return sum(entry.repaired for entry in self.entries)

    def skipped_text(self) -> str:
        return ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items())) or "none"


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
    stats: IngestStats | None = None,
) -> DltResource:
    """TWAP status events from the objects under `bucket_url`, in any known format and layout
    (or one of the user's `layouts`); rejected rows go to their own table.

    Lists the objects once, here: `known` is the ledger (object key -> what it holds), and only
    new objects, changed ones and ones that failed before are read. `stats` says what was
    listed and selected as soon as the source is made, and what was read as it runs.
    """
    if on_vanished not in (KEEP, MIRROR):
        raise ValueError(f"on_vanished must be '{KEEP}' or '{MIRROR}', not {on_vanished!r}")
    if isinstance(credentials, AbstractFileSystem):
        fs = credentials
    else:
        s3_kwargs, s3_config = s3_options(
            requester_pays, anonymous, max_attempts, connect_timeout, read_timeout
        )
        is_s3 = bucket_url.startswith(("s3://", "s3a://"))
        fs, _ = fsspec_filesystem(
            bucket_url,
            credentials,
            kwargs={**(s3_kwargs if is_s3 else {}), **(kwargs or {})},
            client_kwargs=client_kwargs,
            config_kwargs=s3_config if is_s3 else None,
        )
    stats = stats if stats is not None else IngestStats()
    stats.on_vanished = on_vanished
    listing = list_objects(fs, bucket_url, file_glob)
    stats.skipped = listing.skipped
    todo = select_objects(listing.objects, known or {}, stats)
    logger.info(
        "listed %d objects under %s: %d new, %d changed, %d failed before, %d vanished; skipped %s",
        stats.listed,
        bucket_url,
        stats.new,
        stats.changed,
        stats.retried,
        len(stats.vanished),
        stats.skipped_text(),
    )
    return twap_status_events(
        fs, todo, layouts_from_config(layouts), objects_per_batch, large_object_bytes, stats
    )


def select_objects(
    listed: list[SourceObject], known: Mapping[str, KnownObject], stats: IngestStats
) -> list[SourceObject]:
    """The listed objects to read: new, changed, failed before, or listed again after they
    vanished with their rows removed. Counts them, and the vanished ones, in `stats`."""
    todo = []
    for obj in listed:
        seen = known.get(obj.key)
        if seen is not None and seen.vanished:
            stats.reappeared.append(obj.key)
        if seen is None or (not seen.current and seen.status == LOADED):
            stats.new += 1
        elif seen.version != obj.version:
            stats.changed += 1
        elif seen.status != LOADED:
            stats.retried += 1
        else:
            continue
        todo.append(obj)
    stats.listed = len(listed)
    keys = {obj.key for obj in listed}
    # Newly missing objects; when mirroring, also those missing before whose rows still count.
    stats.vanished = sorted(
        key
        for key, seen in known.items()
        if key not in keys and (not seen.vanished or (stats.on_vanished == MIRROR and seen.current))
    )
    return todo


@dlt.resource(name=EVENTS_TABLE, write_disposition="append")
def twap_status_events(
    fs: AbstractFileSystem,
    todo: list[SourceObject],
    layouts: tuple[Layout, ...],
    objects_per_batch: int,
    large_object_bytes: int,
    stats: IngestStats,
) -> Iterator[pa.Table]:
    """Yields arrow tables (of at most ROWS_PER_ITEM rows) of the canonical events of `todo`.

    Raw is append-only: what counts is decided by the ledger. Rejected rows go to the
    quarantine table with their reason. What happened to each object (loaded with n rows and
    m rejected, or failed with an error) is appended to `stats.entries`; the caller commits
    those to the ledger once the rows are committed.
    """
    now = datetime.now(UTC)
    large = [obj for obj in todo if (obj.size_bytes or 0) > large_object_bytes]
    small = [obj for obj in todo if (obj.size_bytes or 0) <= large_object_bytes]
    yield from _read_large(fs, large, stats, layouts, now)
    last_report = time.monotonic()
    done = 0
    for objects in batched(small, objects_per_batch, BATCH_BYTES):
        tables: dict[SourceObject, pa.Table] = {}
        for obj, data in fetch_objects(fs, objects):
            try:
                if isinstance(data, Exception):
                    raise BadObjectError(f"cannot fetch: {type(data).__name__}: {one_line(data)}")
                tables[obj] = read_table(data)
            except BadObjectError as exc:
                _failed(stats, obj, str(exc))
        batch = read_batch(tables, layouts, now)
        for obj, error in batch.failed.items():
            _failed(stats, obj, error)
        for obj, summary in batch.objects.items():
            _loaded(stats, obj, summary)
        yield from _quarantined(batch.rejected)
        if batch.events is not None:
            # Items of bounded size make load files of bounded size, COPYed in parallel.
            for offset in range(0, batch.events.num_rows, ROWS_PER_ITEM):
                yield batch.events.slice(offset, ROWS_PER_ITEM)
        done += len(objects)
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            last_report = time.monotonic()
            logger.info("read %d/%d objects, %d rows", done, len(small), stats.rows)


def _read_large(
    fs: AbstractFileSystem,
    objects: list[SourceObject],
    stats: IngestStats,
    layouts: tuple[Layout, ...],
    now: datetime,
) -> Iterator[Any]:
    """Large objects one at a time, each spooled to local disk first and then yielded in
    batches: memory holds one batch whatever the object's size."""
    with tempfile.TemporaryDirectory(prefix="twap-spool-") as spool_dir:
        for obj in objects:
            logger.info("streaming large object %s (%s bytes)", obj.key, obj.size_bytes)
            spool = Path(spool_dir) / "object.parquet"
            try:
                summary, rejected = spool_events(fs, obj, spool, layouts, now)
            except BadObjectError as exc:
                _failed(stats, obj, str(exc))
                continue
            yield from read_spool(spool)
            yield from _quarantined(rejected)
            _loaded(stats, obj, summary)
            spool.unlink()


def _quarantined(rejected: pa.Table) -> Iterator[Any]:
    """Rejected rows, for the quarantine table (appended, never merged)."""
    if rejected.num_rows:
        yield dlt.mark.with_hints(
            rejected,
            dlt.mark.make_hints(table_name=QUARANTINE_TABLE, write_disposition="append"),
            create_table_variant=True,
        )


def _loaded(stats: IngestStats, obj: SourceObject, summary: ObjectSummary) -> None:
    entry = LedgerEntry(
        obj.key,
        obj.version,
        obj.size_bytes,
        obj.modified_at,
        LOADED,
        summary.rows,
        rejected=summary.rejected,
        repaired=summary.repaired,
    )
    stats.entries.append(entry)
    stats.rows += summary.rows
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


def _failed(stats: IngestStats, obj: SourceObject, error: str) -> None:
    stats.entries.append(
        LedgerEntry(obj.key, obj.version, obj.size_bytes, obj.modified_at, FAILED, error=error)
    )
    logger.warning("object %s failed: %s", obj.key, error)


def s3_options(
    requester_pays: bool,
    anonymous: bool,
    max_attempts: int,
    connect_timeout: float,
    read_timeout: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """s3fs keyword arguments and botocore client config for our S3 settings."""
    # One GET per object: s3fs would otherwise HEAD each object to split it into ranges.
    kwargs: dict[str, Any] = {"requester_pays": requester_pays, "max_concurrency": 1}
    if anonymous:
        kwargs["anon"] = True
    config = {
        # Adaptive mode backs off on throttling (503 SlowDown) and rate-limits the client.
        "retries": {"mode": "adaptive", "max_attempts": max_attempts},
        "connect_timeout": connect_timeout,
        "read_timeout": read_timeout,
    }
    return kwargs, config
