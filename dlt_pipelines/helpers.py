"""Listing, fetching and reading the source objects."""

import dataclasses
import posixpath
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from dlt_pipelines.errors import BadObjectError, one_line
from dlt_pipelines.formats import PARQUET_MAGIC, not_data_reason, read_table
from dlt_pipelines.layouts import Layout
from dlt_pipelines.normalise import Normalised, normalise_events
from dlt_pipelines.settings import LINEAGE_SCHEMA, QUARANTINE_SCHEMA, ROWS_PER_ITEM

EMPTY_OBJECT = "the object has no rows (an hourly object always has events)"


@dataclass(frozen=True)
class SourceObject:
    """One listed object: its URL (`key`) and what identifies its content (`version`)."""

    key: str
    path: str
    version: str
    size_bytes: int | None
    modified_at: datetime | None


@dataclass
class Listing:
    objects: list[SourceObject]
    skipped: Counter[str] = dataclasses.field(
        default_factory=Counter
    )  # why a file is not data -> files


def list_objects(fs: AbstractFileSystem, bucket_url: str, file_glob: str) -> Listing:
    """List the files under `bucket_url` matching `file_glob` with one listing, sorted by key,
    leaving out files that are not data (dot-files, sync temporaries, markers, checksums).

    Raises FileNotFoundError when `bucket_url` itself does not exist.
    """
    root = fs._strip_protocol(bucket_url).rstrip("/")
    if not fs.exists(root):
        raise FileNotFoundError(root)
    found = fs.glob(posixpath.join(root, file_glob), detail=True)
    listing = Listing([])
    for path, info in found.items():
        if info["type"] != "file":
            continue
        why = not_data_reason(posixpath.relpath(path, root))
        if why is None:
            listing.objects.append(_source_object(fs, path, info))
        else:
            listing.skipped[why] += 1
    listing.objects.sort(key=lambda obj: obj.key)
    return listing


def _source_object(fs: AbstractFileSystem, path: str, info: dict) -> SourceObject:
    modified = info.get("LastModified") or info.get("mtime")
    if isinstance(modified, int | float):
        modified = datetime.fromtimestamp(modified, UTC)
    etag = info.get("ETag") or info.get("etag")
    # Object stores give an ETag; local files are identified by size and modification time.
    version = etag.strip('"') if etag else f"{info.get('size')}:{modified and modified.isoformat()}"
    return SourceObject(
        # The full URL: two sources with the same layout never share keys.
        key=fs.unstrip_protocol(path),
        path=path,
        version=version,
        size_bytes=info.get("size"),
        modified_at=modified,
    )


def batched(
    objects: Sequence[SourceObject], max_count: int, max_bytes: int
) -> Iterator[list[SourceObject]]:
    """Consecutive runs of `objects`, each of at most `max_count` objects and (unless a single
    object is larger) `max_bytes` bytes."""
    batch: list[SourceObject] = []
    size = 0
    for obj in objects:
        if batch and (len(batch) == max_count or size + (obj.size_bytes or 0) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(obj)
        size += obj.size_bytes or 0
    if batch:
        yield batch


def fetch_objects(
    fs: AbstractFileSystem, objects: Sequence[SourceObject]
) -> Iterator[tuple[SourceObject, bytes | Exception]]:
    """Yield each object with its bytes, or the exception that fetching it raised.

    Object stores fetch the whole batch concurrently (fsspec's async `cat`).
    """
    contents = fs.cat([obj.path for obj in objects], on_error="return")
    by_path = {fs._strip_protocol(path): data for path, data in contents.items()}
    for obj in objects:
        yield obj, by_path.get(fs._strip_protocol(obj.path), FileNotFoundError(obj.path))


@dataclass(frozen=True)
class ObjectRead:
    """What reading one object gave: canonical events and rejected rows, both with lineage."""

    layout: str
    events: pa.Table
    rejected: pa.Table
    repaired: int


def read_events(
    obj: SourceObject, data: bytes, layouts: Sequence[Layout], now: datetime
) -> ObjectRead:
    """One object's bytes, in any supported format and layout, as canonical events."""
    read = _with_lineage(obj, normalise_events(read_table(data), layouts, now))
    if read.events.num_rows + read.rejected.num_rows == 0:
        raise BadObjectError(EMPTY_OBJECT)
    return read


def spool_events(
    fs: AbstractFileSystem, obj: SourceObject, spool: Path, layouts: Sequence[Layout], now: datetime
) -> ObjectRead:
    """Read a large object into canonical events in the local parquet file `spool`; a parquet
    object batch by batch, so memory holds one batch, not the object. Returns what was read,
    with the events left empty (they are in the spool).

    The whole object is read before any of it is loaded, so a fault half-way loses nothing.
    """
    with fs.open(obj.path, "rb") as stream:
        parquet = stream.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    if not parquet:
        # Text formats are read whole: pyarrow parses them in parallel blocks anyway.
        read = read_events(obj, fs.cat_file(obj.path), layouts, now)
        pq.write_table(read.events, spool)
        return ObjectRead(read.layout, read.events.slice(0, 0), read.rejected, read.repaired)
    rows = 0
    parts: list[ObjectRead] = []
    writer: pq.ParquetWriter | None = None
    try:
        with fs.open(obj.path, "rb") as stream:
            for batch in pq.ParquetFile(stream).iter_batches(batch_size=ROWS_PER_ITEM):
                table = pa.Table.from_batches([batch])
                part = _with_lineage(obj, normalise_events(table, layouts, now, rows))
                if writer is None:
                    writer = pq.ParquetWriter(spool, part.events.schema)
                writer.write_table(part.events.cast(writer.schema))
                parts.append(
                    ObjectRead(part.layout, part.events.slice(0, 0), part.rejected, part.repaired)
                )
                rows += table.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, BadObjectError):
            raise
        raise BadObjectError(f"cannot read: {type(exc).__name__}: {one_line(exc)}") from exc
    finally:
        if writer is not None:
            writer.close()
    if rows == 0:
        raise BadObjectError(EMPTY_OBJECT)
    return ObjectRead(
        parts[0].layout,
        parts[0].events,
        pa.concat_tables([part.rejected for part in parts]),
        sum(part.repaired for part in parts),
    )


def read_spool(spool: Path) -> Iterator[pa.Table]:
    """The events `spool_events` wrote, one arrow table per batch."""
    for batch in pq.ParquetFile(spool).iter_batches(batch_size=ROWS_PER_ITEM):
        yield pa.Table.from_batches([batch])


def _with_lineage(obj: SourceObject, read: Normalised) -> ObjectRead:
    """Events and rejected rows with the object's key, version and their row number."""

    def lineage(rows: int, numbers: pa.Array) -> list[pa.Array]:
        return [
            pa.repeat(pa.scalar(obj.key, pa.string()), rows),
            pa.repeat(pa.scalar(obj.version, pa.string()), rows),
            numbers,
        ]

    events = read.events
    for column, array in zip(LINEAGE_SCHEMA, lineage(events.num_rows, read.rows), strict=True):
        events = events.append_column(column, array)
    rejected = read.rejected
    columns = lineage(rejected.num_rows, rejected.column("object_row"))
    columns += [rejected.column("reason"), rejected.column("row")]
    return ObjectRead(
        read.layout,
        events,
        pa.Table.from_arrays(columns, schema=QUARANTINE_SCHEMA),
        read.repaired,
    )


def combine(
    tables: Mapping[SourceObject, pa.Table],
) -> tuple[pa.Table | None, dict[SourceObject, str]]:
    """Concatenate the tables of one batch; returns the batch and the objects left out, with why.

    Canonical columns always agree; an extra column whose type differs between objects is
    turned into text, and an object whose extra column cannot be is left out.
    """
    if not tables:
        return None, {}
    try:
        return pa.concat_tables(list(tables.values()), promote_options="permissive"), {}
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    types: dict[str, set[pa.DataType]] = {}
    for table in tables.values():
        for field in table.schema:
            types.setdefault(field.name, set()).add(field.type)
    clashing = {name for name, kinds in types.items() if len(kinds - {pa.null()}) > 1}
    kept, left_out = [], {}
    for obj, table in tables.items():
        try:
            for name in clashing.intersection(table.column_names):
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, pc.cast(table.column(index), pa.string()))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
            left_out[obj] = (
                f"extra column(s) {', '.join(sorted(clashing))} differ in type from other "
                f"objects and cannot be read as text: {one_line(exc)}"
            )
            continue
        kept.append(table)
    return (pa.concat_tables(kept, promote_options="permissive") if kept else None), left_out
