"""Export the marts (and the ingest ledger) from PostgreSQL to one SQLite file for Datasette.

ADBC streams arrow batches out of PostgreSQL; each batch is converted column-wise with
pyarrow.compute and inserted with executemany. The file is built under a temporary name and
swapped in with an atomic rename, so readers see the old file or the new one, never a mix.
"""

import logging
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
import pyarrow.compute as pc

from twap.database import Database
from twap.errors import TwapError, one_line

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedTable:
    name: str
    source: str
    primary_key: str
    indexes: tuple[str, ...] = ()


PUBLISHED_TABLES = (
    PublishedTable("fct_twaps", "marts.fct_twaps", "twap_id", ("wallet", "coin", "status")),
    PublishedTable("ingest_objects", "raw.twap_ingest_objects", "object_key", ("status",)),
)


def publish(database: Database, target: Path) -> dict[str, int]:
    """Write every published table to `target`; returns the row count of each."""
    target.parent.mkdir(parents=True, exist_ok=True)
    building = target.with_name(f".{target.name}.{os.getpid()}.building")
    building.unlink(missing_ok=True)
    counts = {}
    try:
        with adbc.connect(database.url) as source, closing(sqlite3.connect(building)) as sink:
            sink.execute("pragma journal_mode = off")
            sink.execute("pragma synchronous = off")
            for table in PUBLISHED_TABLES:
                started = time.monotonic()
                counts[table.name] = _copy_table(source, sink, table)
                logger.info(
                    "published %s: %d rows in %.1fs",
                    table.name,
                    counts[table.name],
                    time.monotonic() - started,
                )
            sink.commit()
        os.replace(building, target)
    except adbc.Error as exc:
        raise TwapError(
            f"cannot read the marts from {database.display}: {one_line(exc)} "
            "(did `twap build` run?)"
        ) from exc
    finally:
        building.unlink(missing_ok=True)
    return counts


def _copy_table(source: adbc.Connection, sink: sqlite3.Connection, table: PublishedTable) -> int:
    with source.cursor() as cursor:
        cursor.execute(f"select * from {table.source}")
        reader = cursor.fetch_record_batch()
        columns = [f'"{field.name}" {_sqlite_type(field.type)}' for field in reader.schema]
        key = f'primary key ("{table.primary_key}")'
        sink.execute(f'create table "{table.name}" ({", ".join([*columns, key])})')
        insert = f'insert into "{table.name}" values ({", ".join("?" * len(reader.schema))})'
        rows = 0
        for batch in reader:
            values = [_sqlite_values(column).to_pylist() for column in batch.columns]
            sink.executemany(insert, zip(*values, strict=True))
            rows += batch.num_rows
    for column in table.indexes:
        sink.execute(f'create index "idx_{table.name}_{column}" on "{table.name}" ("{column}")')
    return rows


def _sqlite_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return "INTEGER"
    if pa.types.is_floating(kind) or _is_numeric(kind):
        return "REAL"
    return "TEXT"


def _sqlite_values(column: pa.Array) -> pa.Array:
    """Numerics become REAL, timestamps ISO 8601 text in UTC, booleans 0/1."""
    kind = column.type
    if _is_numeric(kind):
        return pc.cast(column.storage, pa.float64())
    if isinstance(kind, pa.ExtensionType):
        return column.storage
    if pa.types.is_timestamp(kind):
        return pc.strftime(column, "%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_boolean(kind):
        return pc.cast(column, pa.int8())
    return column


def _is_numeric(kind: pa.DataType) -> bool:
    """PostgreSQL numeric arrives from ADBC as an opaque extension type holding its text."""
    return isinstance(kind, pa.OpaqueType) and kind.type_name == "numeric"
