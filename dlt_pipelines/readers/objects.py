"""Fetching objects in batches and reading them into canonical events and rejected rows."""

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from dlt_pipelines.errors import BadObjectError, one_line
from dlt_pipelines.listing import SourceObject
from dlt_pipelines.readers.formats import PARQUET_MAGIC, read_table
from dlt_pipelines.readers.layouts import EVENTS, FILLS, Layout
from dlt_pipelines.readers.normalise import Fitted, Normalised, fit_layout, normalise
from dlt_pipelines.settings import LINEAGE_SCHEMA, QUARANTINE_SCHEMA, ROWS_PER_ITEM

EMPTY_OBJECT = "the object has no rows (an hourly object always has events)"
# Rows dated at most this much past the accepted window were rejected for a clock that is behind,
# not for a corrupt time: their object is read again on later runs until they are accepted.
CLOCK_RETRY_AHEAD = timedelta(days=7)


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
class ObjectSummary:
    """What reading one object gave, for the ledger and the log."""

    layout: str
    rows: int
    rejected: int = 0
    repaired: int = 0  # times corrected from milliseconds stored as nanoseconds
    first_rejection: str | None = None  # "row N: reason"
    kind: str = EVENTS  # what its rows are: EVENTS or FILLS
    early: int = 0  # of `rejected`: rows a clock up to CLOCK_RETRY_AHEAD later accepts


@dataclass
class BatchRead:
    """The canonical events, TWAP slice fills and rejected rows of a batch of objects, and what
    each object did."""

    events: pa.Table | None = None
    fills: pa.Table | None = None
    rejected: pa.Table = dataclasses.field(default_factory=QUARANTINE_SCHEMA.empty_table)
    objects: dict[SourceObject, ObjectSummary] = dataclasses.field(default_factory=dict)
    failed: dict[SourceObject, str] = dataclasses.field(default_factory=dict)


def read_batch(
    tables: Mapping[SourceObject, pa.Table], layouts: Sequence[Layout], now: datetime
) -> BatchRead:
    """Objects' rows, in any layout, as canonical events: the objects of one layout are read
    together (a fixed number of vectorised passes per batch, not per object)."""
    batch = BatchRead()
    groups: dict[str, list[tuple[SourceObject, Fitted]]] = {}
    for obj, table in tables.items():
        try:
            fitted = fit_layout(table, layouts)
            # An hour of fills may hold no TWAP slice; an hour of statuses always has events.
            if fitted.view.num_rows == 0 and fitted.layout.kind == EVENTS:
                raise BadObjectError(EMPTY_OBJECT)
        except BadObjectError as exc:
            batch.failed[obj] = str(exc)
            continue
        groups.setdefault(fitted.layout.name, []).append((obj, _with_lineage(obj, fitted)))
    parts = [part for members in groups.values() for part in _read_group(members, now)]
    events, left_out = combine(
        {objects: read.events for objects, fitted, read in parts if fitted.layout.kind == EVENTS}
    )
    batch.events = events
    fills = [read.events for _, fitted, read in parts if fitted.layout.kind == FILLS]
    batch.fills = pa.concat_tables(fills) if fills else None
    for objects, error in left_out.items():
        batch.failed.update(dict.fromkeys(objects, error))
    kept = [part for part in parts if part[0] not in left_out]
    rejected = [read.rejected for _, _, read in kept if read.rejected.num_rows]
    if rejected:
        batch.rejected = pa.concat_tables(rejected)
    for objects, fitted, read in kept:
        batch.objects.update(_summaries(objects, fitted, read, now))
    return batch


def read_events(
    obj: SourceObject, data: bytes, layouts: Sequence[Layout], now: datetime
) -> BatchRead:
    """One object's bytes, in any supported format and layout, as canonical events; raises
    BadObjectError when the object cannot be read."""
    batch = read_batch({obj: read_table(data)}, layouts, now)
    if obj in batch.failed:
        raise BadObjectError(batch.failed[obj])
    return batch


def _read_group(
    members: list[tuple[SourceObject, Fitted]], now: datetime
) -> list[tuple[tuple[SourceObject, ...], Fitted, Normalised]]:
    """The objects of one layout read as one table, or one by one when their columns' types
    differ."""
    if len(members) > 1:
        try:
            fitted = Fitted(
                members[0][1].layout,
                pa.concat_tables([f.rows for _, f in members], promote_options="permissive"),
                pa.concat_tables([f.view for _, f in members], promote_options="permissive"),
            )
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            pass
        else:
            return [(tuple(obj for obj, _ in members), fitted, normalise(fitted, now))]
    return [((obj,), fitted, normalise(fitted, now)) for obj, fitted in members]


def _summaries(
    objects: tuple[SourceObject, ...], fitted: Fitted, read: Normalised, now: datetime
) -> dict[SourceObject, ObjectSummary]:
    def per_object(keys: pa.ChunkedArray | pa.Array) -> dict[str, int]:
        counts = pc.value_counts(keys).to_pylist()
        return {each["values"]: each["counts"] for each in counts}

    rows = per_object(read.events.column("object_key"))
    rejected = per_object(read.rejected.column("object_key"))
    repaired = per_object(pc.filter(fitted.view.column("object_key"), read.repaired))
    early = per_object(_early_rows(fitted, read, now)) if read.rejected.num_rows else {}
    first: dict[str, str] = {}
    for rejection in read.rejected.select(["object_key", "object_row", "reason"]).to_pylist():
        # A loop over the rejected rows only.
        first.setdefault(
            rejection["object_key"], f"row {rejection['object_row']}: {rejection['reason']}"
        )
    return {
        obj: ObjectSummary(
            fitted.layout.name,
            rows.get(obj.key, 0),
            rejected.get(obj.key, 0),
            repaired.get(obj.key, 0),
            first.get(obj.key),
            fitted.layout.kind,
            early.get(obj.key, 0),
        )
        for obj in objects
    }


def _early_rows(fitted: Fitted, read: Normalised, now: datetime) -> pa.ChunkedArray:
    """The object keys of the rejected rows that a clock CLOCK_RETRY_AHEAD later accepts
    (rejected only for being dated after the run); only the rejected rows are read again."""

    def row_ids(table: pa.Table) -> pa.ChunkedArray:
        rows = pc.cast(table.column("object_row"), pa.string())
        return pc.binary_join_element_wise(table.column("object_key"), rows, "#")

    mask = pc.is_in(row_ids(fitted.view), value_set=row_ids(read.rejected).combine_chunks())
    rejected = Fitted(fitted.layout, fitted.rows.filter(mask), fitted.view.filter(mask))
    return normalise(rejected, now + CLOCK_RETRY_AHEAD).events.column("object_key")


@dataclass(frozen=True)
class Spooled:
    """What `spool_rows` made of a large object: what it did, its rejected rows and what its
    rows are (EVENTS or FILLS)."""

    summary: ObjectSummary
    rejected: pa.Table
    kind: str


def spool_rows(
    fs: AbstractFileSystem, obj: SourceObject, spool: Path, layouts: Sequence[Layout], now: datetime
) -> Spooled:
    """Read a large object into canonical rows (events or fills) in the local parquet file
    `spool`; a parquet object batch by batch, so memory holds one batch, not the object.

    The whole object is read before any of it is loaded, so a fault half-way loses nothing.
    """
    with fs.open(obj.path, "rb") as stream:
        parquet = stream.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC
    if not parquet:
        # Text formats are read whole: pyarrow parses them in parallel blocks anyway.
        batch = read_events(obj, fs.cat_file(obj.path), layouts, now)
        kind = EVENTS if batch.events is not None else FILLS
        pq.write_table(batch.events if kind == EVENTS else batch.fills, spool)
        return Spooled(batch.objects[obj], batch.rejected, kind)
    rows = 0
    kind = EVENTS
    parts: list[BatchRead] = []
    writer: pq.ParquetWriter | None = None
    try:
        with fs.open(obj.path, "rb") as stream:
            for record_batch in pq.ParquetFile(stream).iter_batches(batch_size=ROWS_PER_ITEM):
                fitted = fit_layout(pa.Table.from_batches([record_batch]), layouts)
                fitted = _with_lineage(obj, fitted, rows)
                kind = fitted.layout.kind
                read = normalise(fitted, now)
                if writer is None:
                    writer = pq.ParquetWriter(spool, read.events.schema)
                writer.write_table(read.events.cast(writer.schema))
                summary = _summaries((obj,), fitted, read, now)[obj]
                parts.append(BatchRead(rejected=read.rejected, objects={obj: summary}))
                rows += fitted.view.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, BadObjectError):
            raise
        raise BadObjectError(f"cannot read: {type(exc).__name__}: {one_line(exc)}") from exc
    finally:
        if writer is not None:
            writer.close()
    if rows == 0 and kind == EVENTS:
        raise BadObjectError(EMPTY_OBJECT)
    summaries = [part.objects[obj] for part in parts]
    rejected = [part.rejected for part in parts if part.rejected.num_rows]
    summary = ObjectSummary(
        summaries[0].layout,
        sum(each.rows for each in summaries),
        sum(each.rejected for each in summaries),
        sum(each.repaired for each in summaries),
        next((each.first_rejection for each in summaries if each.first_rejection), None),
        kind,
        sum(each.early for each in summaries),
    )
    rejected_rows = pa.concat_tables(rejected) if rejected else QUARANTINE_SCHEMA.empty_table()
    return Spooled(summary, rejected_rows, kind)


def read_spool(spool: Path) -> Iterator[pa.Table]:
    """The rows `spool_rows` wrote, one arrow table per batch."""
    for batch in pq.ParquetFile(spool).iter_batches(batch_size=ROWS_PER_ITEM):
        yield pa.Table.from_batches([batch])


def _with_lineage(obj: SourceObject, fitted: Fitted, first_row: int = 0) -> Fitted:
    """The object's key and version and each row's number, appended to every row."""
    rows = fitted.view.num_rows
    ones = pa.repeat(pa.scalar(1, pa.int64()), rows)
    lineage = [
        pa.repeat(pa.scalar(obj.key, pa.string()), rows),
        pa.repeat(pa.scalar(obj.version, pa.string()), rows),
        pc.add(pc.cumulative_sum(ones), first_row - 1),
    ]
    return fitted.with_columns(pa.Table.from_arrays(lineage, schema=LINEAGE_SCHEMA))


def combine(
    tables: Mapping[tuple[SourceObject, ...], pa.Table],
) -> tuple[pa.Table | None, dict[tuple[SourceObject, ...], str]]:
    """Concatenate the tables of one batch (each of some objects); returns the batch and the
    tables left out, with why.

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
    for objects, table in tables.items():
        try:
            for name in clashing.intersection(table.column_names):
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, pc.cast(table.column(index), pa.string()))
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
            left_out[objects] = (
                f"extra column(s) {', '.join(sorted(clashing))} differ in type from other "
                f"objects and cannot be read as text: {one_line(exc)}"
            )
            continue
        kept.append(table)
    return (pa.concat_tables(kept, promote_options="permissive") if kept else None), left_out
