"""Export the marts, the ingest ledger and the dbt test results from PostgreSQL to one SQLite
file for Datasette, as a new version (see twap/publication.py).

ADBC streams arrow batches out of PostgreSQL; each batch is converted column-wise with
pyarrow.compute and inserted with executemany. The version is complete (data, indexes,
metadata, health figures) before the publish path is switched to it in one rename.
"""

import logging
import sqlite3
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import pyarrow as pa
import pyarrow.compute as pc

from twap.database import Database
from twap.dbt_results import read_test_results
from twap.errors import TwapError, one_line
from twap.metadata import DbtRelation, build_metadata, read_manifest
from twap.publication import Publication, Version

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedTable:
    name: str
    primary_key: tuple[str, ...]
    # Each index is a list of columns or expressions; filters, facets, sorts and keysets use them.
    indexes: tuple[tuple[str, ...], ...] = ()
    relation: DbtRelation | None = None

    @property
    def source(self) -> str:
        schema = "raw" if self.relation and self.relation.kind == "source" else "marts"
        return f"{schema}.{self.relation.name if self.relation else self.name}"


def _model(name: str) -> DbtRelation:
    return DbtRelation("model", name)


PUBLISHED_TABLES = (
    PublishedTable(
        "fct_twaps",
        ("twap_id",),
        (
            ("wallet", "twap_id"),
            ("coin",),
            ("status",),
            ("side",),
            ("market_type",),
            ("status_at",),
            ("started_at",),
        ),
        _model("fct_twaps"),
    ),
    PublishedTable(
        "fct_twap_status_events",
        ("twap_id", "event_number"),
        (("wallet",), ("coin",), ("status",), ("event_time",)),
        _model("fct_twap_status_events"),
    ),
    PublishedTable(
        "dim_wallets",
        ("wallet",),
        (("executed_notional_bought + executed_notional_sold", "wallet"),),
        _model("dim_wallets"),
    ),
    PublishedTable(
        "fct_coin_daily_flows",
        ("coin", "flow_date"),
        (("flow_date",),),
        _model("fct_coin_daily_flows"),
    ),
    PublishedTable(
        "fct_active_twaps", ("twap_id",), (("coin", "twap_id"),), _model("fct_active_twaps")
    ),
    PublishedTable(
        "ingest_objects",
        ("object_key",),
        (("status",), ("loaded_at",)),
        DbtRelation("source", "twap_ingest_objects", "hyperliquid"),
    ),
)
TEST_RESULTS = PublishedTable("dbt_test_results", ("test_id",), (("status",), ("model",)))


def publish(database: Database, pointer: Path, dbt_target: Path) -> dict[str, int]:
    """Publish a new version behind `pointer`; returns the row count of each table."""
    publication = Publication(pointer)
    manifest = read_manifest(dbt_target)
    test_results = read_test_results(dbt_target, manifest)
    started = time.monotonic()
    version = publication.new_version()
    try:
        counts = _write_database(database, version, test_results)
        with closing(sqlite3.connect(version.database)) as sink:
            metadata = build_metadata(
                manifest,
                version.database.stem,
                _columns(sink, counts),
                {t.name: t.relation for t in PUBLISHED_TABLES if t.relation},
                pointer,
            )
            publication_facts = {
                "version": version.name,
                "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "publish_seconds": round(time.monotonic() - started, 2),
                "tables": counts,
                **summarise(sink),
            }
        version.write_json(metadata, publication_facts)
        publication.switch(version)
    except BaseException:
        publication.discard(version)
        raise
    removed = publication.clean()
    if removed:
        logger.info("publish: removed %d old versions", len(removed))
    return counts


def _write_database(database: Database, version: Version, tests: pa.Table) -> dict[str, int]:
    counts = {}
    try:
        with (
            adbc.connect(database.url) as source,
            closing(sqlite3.connect(version.database)) as sink,
        ):
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
            counts[TEST_RESULTS.name] = _write_table(
                sink, TEST_RESULTS, tests.schema, tests.to_batches()
            )
            sink.commit()
    except adbc.Error as exc:
        raise TwapError(
            f"cannot read the marts from {database.display}: {one_line(exc)} "
            "(did `twap build` run?)"
        ) from exc
    return counts


def _copy_table(source: adbc.Connection, sink: sqlite3.Connection, table: PublishedTable) -> int:
    # In primary-key order: SQLite appends to its b-trees instead of inserting at random.
    order = ", ".join(table.primary_key)
    with source.cursor() as cursor:
        cursor.execute(f"select * from {table.source} order by {order}")
        reader = cursor.fetch_record_batch()
        return _write_table(sink, table, reader.schema, reader)


def _write_table(
    sink: sqlite3.Connection,
    table: PublishedTable,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
) -> int:
    columns = [f'"{field.name}" {_sqlite_type(field.type)}' for field in schema]
    key = f"primary key ({', '.join(table.primary_key)})"
    sink.execute(f'create table "{table.name}" ({", ".join([*columns, key])})')
    insert = f'insert into "{table.name}" values ({", ".join("?" * len(schema))})'
    rows = 0
    for batch in batches:
        values = [_sqlite_values(column).to_pylist() for column in batch.columns]
        sink.executemany(insert, zip(*values, strict=True))
        rows += batch.num_rows
    for number, index in enumerate(table.indexes):
        sink.execute(
            f'create index "idx_{table.name}_{number}" on "{table.name}" ({", ".join(index)})'
        )
    return rows


def _columns(sink: sqlite3.Connection, tables: Iterable[str]) -> dict[str, list[str]]:
    return {
        table: [row[1] for row in sink.execute(f'pragma table_info("{table}")')] for table in tables
    }


def summarise(sink: sqlite3.Connection) -> dict[str, Any]:
    """What /-/healthz reports besides ages: read from the published file itself."""

    def one(sql: str) -> Any:
        return sink.execute(sql).fetchone()[0]

    def by_status(table: str) -> dict[str, int]:
        return dict(
            sink.execute(f"select status, count(*) from {table} group by status order by 1")
        )

    return {
        "newest_event_at": one("select max(event_time) from fct_twap_status_events"),
        "last_load_at": one("select max(loaded_at) from ingest_objects"),
        "objects": {"loaded": 0, "failed": 0, **by_status("ingest_objects")},
        "dbt_tests": by_status("dbt_test_results"),
        "dbt_run_at": one("select max(run_at) from dbt_test_results"),
    }


def _sqlite_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return "INTEGER"
    if pa.types.is_floating(kind) or _is_numeric(kind):
        return "REAL"
    return "TEXT"


def _sqlite_values(column: pa.Array) -> pa.Array:
    """Numerics become REAL, timestamps ISO 8601 text in UTC, dates ISO text, booleans 0/1."""
    kind = column.type
    if _is_numeric(kind):
        return pc.cast(column.storage, pa.float64())
    if isinstance(kind, pa.ExtensionType):
        return column.storage
    if pa.types.is_timestamp(kind):
        return pc.strftime(column, "%Y-%m-%dT%H:%M:%SZ")
    if pa.types.is_date(kind):
        return pc.cast(column, pa.string())
    if pa.types.is_boolean(kind):
        return pc.cast(column, pa.int8())
    return column


def _is_numeric(kind: pa.DataType) -> bool:
    """PostgreSQL numeric arrives from ADBC as an opaque extension type holding its text."""
    return isinstance(kind, pa.OpaqueType) and kind.type_name == "numeric"
