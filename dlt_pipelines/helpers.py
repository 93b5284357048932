"""Listing, fetching and reading the source objects."""

import posixpath
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from dlt_pipelines.normalise import BadObjectError, normalise_events
from dlt_pipelines.settings import LINEAGE_SCHEMA, ROWS_PER_ITEM

EMPTY_OBJECT = "the object has no rows (an hourly object always has events)"


@dataclass(frozen=True)
class SourceObject:
    """One listed object: its URL (`key`) and what identifies its content (`version`)."""

    key: str
    path: str
    version: str
    size_bytes: int | None
    modified_at: datetime | None


def list_objects(fs: AbstractFileSystem, bucket_url: str, file_glob: str) -> list[SourceObject]:
    """List the objects under `bucket_url` matching `file_glob` with one listing, sorted by key.

    Raises FileNotFoundError when `bucket_url` itself does not exist.
    """
    root = fs._strip_protocol(bucket_url).rstrip("/")
    if not fs.exists(root):
        raise FileNotFoundError(root)
    found = fs.glob(posixpath.join(root, file_glob), detail=True)
    objects = [
        _source_object(fs, path, info) for path, info in found.items() if info["type"] == "file"
    ]
    return sorted(objects, key=lambda obj: obj.key)


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


def read_events(obj: SourceObject, data: bytes) -> pa.Table:
    """Parse one object's parquet bytes into canonical events with lineage columns."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise BadObjectError(f"not a readable parquet file: {one_line(exc)}") from exc
    events = _with_lineage(normalise_events(table), obj)
    if events.num_rows == 0:
        raise BadObjectError(EMPTY_OBJECT)
    return events


def spool_events(fs: AbstractFileSystem, obj: SourceObject, spool: Path) -> int:
    """Read a large object batch by batch into canonical events in the local parquet file
    `spool`, so memory holds one batch, not the object; returns the number of rows.

    The whole object is read before any of it is loaded, so a fault half-way loses nothing.
    """
    rows = 0
    writer: pq.ParquetWriter | None = None
    try:
        with fs.open(obj.path, "rb") as stream:
            for batch in pq.ParquetFile(stream).iter_batches(batch_size=ROWS_PER_ITEM):
                events = _with_lineage(normalise_events(pa.Table.from_batches([batch])), obj, rows)
                if writer is None:
                    writer = pq.ParquetWriter(spool, events.schema)
                writer.write_table(events.cast(writer.schema))
                rows += events.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, BadObjectError):
            raise
        raise BadObjectError(f"cannot read: {type(exc).__name__}: {one_line(exc)}") from exc
    finally:
        if writer is not None:
            writer.close()
    if rows == 0:
        raise BadObjectError(EMPTY_OBJECT)
    return rows


def read_spool(spool: Path) -> Iterator[pa.Table]:
    """The events `spool_events` wrote, one arrow table per batch."""
    for batch in pq.ParquetFile(spool).iter_batches(batch_size=ROWS_PER_ITEM):
        yield pa.Table.from_batches([batch])


def _with_lineage(events: pa.Table, obj: SourceObject, first_row: int = 0) -> pa.Table:
    rows = events.num_rows
    ones = pa.repeat(pa.scalar(1, pa.int64()), rows)
    lineage = [
        pa.repeat(pa.scalar(obj.key, pa.string()), rows),
        pa.repeat(pa.scalar(obj.version, pa.string()), rows),
        pc.add(pc.cumulative_sum(ones), first_row - 1),
    ]
    for field, column in zip(LINEAGE_SCHEMA, lineage, strict=True):
        events = events.append_column(field, column)
    return events


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


def one_line(exc: BaseException | str, limit: int = 300) -> str:
    """A message (or an exception's) folded onto one line (its type name when it has none)."""
    return " ".join(str(exc).split())[:limit] or type(exc).__name__
