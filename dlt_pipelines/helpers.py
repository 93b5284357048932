"""Listing, fetching and reading the source objects."""

import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec import AbstractFileSystem

from dlt_pipelines.normalise import BadObjectError, normalise_events
from dlt_pipelines.settings import LINEAGE_SCHEMA


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
        raise BadObjectError(f"not a readable parquet file: {str(exc).splitlines()[0]}") from exc
    events = normalise_events(table)
    rows = events.num_rows
    ones = pa.repeat(pa.scalar(1, pa.int64()), rows)
    lineage = [
        pa.repeat(pa.scalar(obj.key, pa.string()), rows),
        pa.repeat(pa.scalar(obj.version, pa.string()), rows),
        pc.subtract(pc.cumulative_sum(ones), 1),
    ]
    for field, column in zip(LINEAGE_SCHEMA, lineage, strict=True):
        events = events.append_column(field, column)
    return events
