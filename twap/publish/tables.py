"""Export the marts, the ingest ledger and the dbt test results from PostgreSQL to one SQLite
file for Datasette, as a new version (see twap/publish/versions.py).

PostgreSQL converts the columns to what SQLite stores (see _sqlite_ready), ADBC fetches them as
arrow tables (two at a time, while SQLite writes the previous one) and ADBC's SQLite driver
bulk-inserts them: no Python object per value. The version is complete (data, indexes,
metadata, health figures) before the publish path is switched to it in one rename.

An hourly publish is a delta: the new version is a copy of the served one in which the rows of
the keys rebuilt since (the build log's `dbt_build_keys`) are replaced, in one transaction, and
the small tables are written anew. A full publish writes everything: the first one, after a
full refresh, when the tables' layout changed, or with `twap publish --full`.

From Spark (twap/publish/from_spark.py) only the reading differs, and every publish is a full one.
"""

import functools
import hashlib
import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import adbc_driver_postgresql.dbapi as adbc
import adbc_driver_sqlite.dbapi as adbc_sqlite
import pyarrow as pa

from dlt_pipelines.settings import DATASET_NAME, LEDGER_TABLE
from twap.build.build_log import BUILD_KEYS, Build, builds_since, finished_build, forget_keys
from twap.build.dbt_results import read_test_results
from twap.database import Database
from twap.errors import TwapError, one_line
from twap.publish.metadata import DbtRelation, build_metadata, read_manifest
from twap.publish.versions import Publication, Version
from twap.publish.views import create_views

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedTable:
    name: str
    primary_key: tuple[str, ...]
    # Each index is a list of columns or expressions; filters, facets, sorts and keysets use them.
    indexes: tuple[tuple[str, ...], ...] = ()
    relation: DbtRelation | None = None
    # The columns people may sort by (Datasette's sortable_columns), the first (`-` for
    # descending) the default order. Each leads an index and is NOT NULL: Datasette's
    # descending keyset page on a nullable column adds `or column is null`, which SQLite
    # answers by sorting the whole table; and `column is not null` costs nothing.
    sort_keys: tuple[str, ...] = ()
    # The kind of rebuilt key (`twap_id`, `wallet` or `coin_day`) that selects the rows a delta
    # replaces; None for a table written whole every time.
    changed_by: str | None = None

    @property
    def sort_columns(self) -> list[str]:
        return [key.removeprefix("-") for key in self.sort_keys]

    @property
    def default_sort(self) -> dict[str, str]:
        """Datasette's `sort` or `sort_desc` metadata for the default order."""
        first = self.sort_keys[0]
        return {"sort_desc": first[1:]} if first.startswith("-") else {"sort": first}

    @property
    def all_indexes(self) -> tuple[tuple[str, ...], ...]:
        """The indexes, plus one per sort column but a single-column key: the column
        descending, then the key.

        Datasette orders a first page by the sort column alone (later pages add the key), so
        ties there come in the index's order: key order, whatever order a delta wrote the rows
        in. A descending first page reads it forward; an ascending one is asked as a keyset
        page (twap/site/workarounds.py), in key order too."""
        unique = [self.primary_key[0]] if len(self.primary_key) == 1 else []
        sorted_by = [key for key in self.sort_columns if key not in unique]
        # A plain index on a sort column could be read backwards for a descending page, ties
        # in reverse key order: the sort index serves its filters instead.
        kept = tuple(index for index in self.indexes if index not in {(k,) for k in sorted_by})
        extra = [
            (f'"{key}" desc', *[f'"{pk}"' for pk in self.primary_key if pk != key])
            for key in sorted_by
        ]
        return kept + tuple(extra)

    @property
    def source(self) -> str:
        schema = DATASET_NAME if self.relation and self.relation.kind == "source" else "marts"
        return f"{schema}.{self.relation.name if self.relation else self.name}"


def _mart(
    name: str,
    primary_key: tuple[str, ...],
    indexes: tuple[tuple[str, ...], ...],
    sort_keys: tuple[str, ...],
    changed_by: str | None = None,
) -> PublishedTable:
    """A published table that is the dbt model of the same name."""
    return PublishedTable(
        name, primary_key, indexes, DbtRelation("model", name), sort_keys, changed_by
    )


PUBLISHED_TABLES = (
    _mart(
        "fct_twaps",
        ("twap_id",),
        # Besides filters and keysets, the first column of each index is a default facet: its
        # count is a scan of that index, not of the table (~4x faster on a year).
        (
            ("wallet", "twap_id"),
            ("coin", "side", "status"),
            ("status",),
            ("side",),
            ("market_type",),
        ),
        ("-status_at", "twap_id", "size"),
        "twap_id",
    ),
    _mart(
        "fct_twap_status_events",
        ("twap_id", "event_number"),
        (("wallet",), ("coin", "side", "status"), ("status",)),
        ("-event_time", "twap_id"),
        "twap_id",
    ),
    _mart(
        "dim_wallets",
        ("wallet",),
        (("executed_notional_bought + executed_notional_sold", "wallet"),),
        ("-twap_count", "last_twap_at", "wallet"),
        "wallet",
    ),
    _mart("fct_coin_daily_flows", ("coin", "flow_date"), (), ("-flow_date", "coin"), "coin_day"),
    # A TWAP's fills in time order, for its page (the primary key's index).
    _mart(
        "fct_twap_fills",
        ("twap_id", "tid"),
        (("twap_id", "fill_time"), ("coin", "fill_time"), ("wallet",)),
        ("-fill_time", "twap_id", "tid"),
        "twap_id",
    ),
    # Newest first, as the active_twaps query (the remaining notional may be unknown: null).
    _mart("fct_active_twaps", ("twap_id",), (("coin", "twap_id"),), ("-twap_id", "coin")),
    PublishedTable(
        "ingest_objects",
        ("object_key",),
        (("status",), ("loaded_at",)),
        DbtRelation("source", LEDGER_TABLE, "hyperliquid"),
        ("-last_attempt_at", "object_key"),
    ),
)
# PostgreSQL types that arrive as arrow types SQLite takes as they are.
AS_IS_TYPES = {
    "bigint",
    "integer",
    "smallint",
    "double precision",
    "real",
    "text",
    "character varying",
}
COLUMNS_SQL = """
select column_name, data_type from information_schema.columns
where table_schema = $1 and table_name = $2 order by ordinal_position
"""
FETCH_THREADS = 2
# Reusable versions tried as the base of a delta, newest first (each costs a query).
REUSE_TRIED = 2
TEST_RESULTS = PublishedTable(
    "dbt_test_results", ("test_id",), (("status",), ("model",)), sort_keys=("status", "test_id")
)


@dataclass(frozen=True)
class Published:
    """The row count of each published table, and the rows a delta wrote (None: all of them)."""

    counts: dict[str, int]
    written: dict[str, int] | None


def publish(database: Database, pointer: Path, dbt_target: Path, full: bool = False) -> Published:
    """Publish a new version behind `pointer` from PostgreSQL: an earlier version's file with
    the keys rebuilt since replaced, or every row anew when `full` or no earlier version will do."""
    build = finished_build(database)
    publication = Publication(pointer)
    layout = _layout(database)
    base, builds = (None, None) if full else _delta_base(database, publication, build, layout)

    def write(version: Version, tests: pa.Table) -> tuple[dict[str, int], dict[str, int] | None]:
        if base is None or builds is None:
            fetch = functools.partial(_fetch, database.url)
            return write_database(fetch, database.display, version, tests), None
        base_counts = base.read_publication()["tables"]
        if base == publication.current():
            shutil.copyfile(base.database, version.database)
        else:
            publication.take_over(base, version)
        return _write_delta(database, version, tests, builds, base_counts)

    published = publish_version(publication, dbt_target, build, layout, write)
    forget_keys(database, [v.read_publication().get("build") for v in publication.versions()])
    return published


def publish_version(
    publication: Publication,
    dbt_target: Path,
    build: Build,
    layout: str | None,
    write: Callable[[Version, pa.Table], tuple[dict[str, int], dict[str, int] | None]],
) -> Published:
    """A new version from the marts of `build`, whichever warehouse holds them: `write` fills
    its file (given the build's dbt test results) and returns the row counts and the rows a
    delta wrote; the views, metadata and health figures are added, then the pointer switched."""
    manifest = read_manifest(dbt_target)
    test_results = read_test_results(dbt_target, manifest, build.invocation_id)
    started = time.monotonic()
    version = publication.new_version()
    try:
        counts, written = write(version, test_results)
        with closing(sqlite3.connect(version.database)) as sink:
            views = create_views(sink)
            metadata = build_metadata(
                manifest,
                version.database.stem,
                _columns(sink, [*counts, *views]),
                {t.name: t.relation for t in PUBLISHED_TABLES if t.relation},
                {t.name: t for t in (*PUBLISHED_TABLES, TEST_RESULTS)},
            )
            publication_facts = {
                "version": version.name,
                # The dbt build whose marts these are (see twap/build/build_log.py).
                "build": build.invocation_id,
                "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "publish_seconds": round(time.monotonic() - started, 2),
                # A delta names the rows it wrote per table; a full publish wrote them all.
                "delta": written,
                "layout": layout,
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
    return Published(counts, written)


def _delta_base(
    database: Database, publication: Publication, build: Build, layout: str
) -> tuple[Version | None, list[int] | None]:
    """The version to update and the builds whose keys to apply: a version no reader uses any
    more (its file is taken over), else the served one (copied), else none (a full publish).
    Either must have the same `layout` (tables and columns), and every build since must have
    kept its keys."""
    served = publication.current()
    candidates = [*publication.reusable()[:REUSE_TRIED], *([served] if served else [])]
    for candidate in candidates:
        facts = candidate.read_publication()
        if facts.get("layout") != layout:
            continue
        builds = builds_since(database, facts.get("build"), build)
        if builds is not None:
            return candidate, builds
    return None, None


def _layout(database: Database) -> str:
    """A digest of every published table's definition and columns: a delta applies only to a
    served version of the same layout."""
    sources = [table.source.split(".") for table in PUBLISHED_TABLES]
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(
            """
            select table_schema, table_name, column_name, data_type
            from information_schema.columns
            where (table_schema, table_name) in %s
            order by table_schema, table_name, ordinal_position
            """,
            (tuple(map(tuple, sources)),),
        )
        columns = cursor.fetchall()
    definitions = [repr(table) for table in (*PUBLISHED_TABLES, TEST_RESULTS)]
    return hashlib.sha256(json.dumps([definitions, columns]).encode()).hexdigest()[:16]


def write_database(
    fetch: Callable[[PublishedTable], pa.Table], source: str, version: Version, tests: pa.Table
) -> dict[str, int]:
    """Every published table into the new version's file, each as `fetch` reads it from
    `source` (converted for SQLite), and the test results."""
    counts = {}
    with _writing(source, version) as (pool, sink):
        # The warehouse reads and converts the next tables while SQLite writes and indexes one.
        fetched = [pool.submit(fetch, table) for table in PUBLISHED_TABLES]
        for table, data in zip(PUBLISHED_TABLES, fetched, strict=True):
            started = time.monotonic()
            counts[table.name] = _write_table(sink, table, data.result().to_reader())
            logger.info(
                "published %s: %d rows in %.1fs",
                table.name,
                counts[table.name],
                time.monotonic() - started,
            )
        counts[TEST_RESULTS.name] = _write_table(sink, TEST_RESULTS, _ordered(tests).to_reader())
        with sink.cursor() as cursor:
            # Statistics, so SQLite picks the right index per filter; sampled, so quick.
            cursor.execute("pragma analysis_limit = 1000")
            cursor.execute("analyze")
    return counts


def _write_delta(
    database: Database,
    version: Version,
    tests: pa.Table,
    builds: list[int],
    base_counts: dict[str, int],
) -> tuple[dict[str, int], dict[str, int]]:
    """Replace, in the file of `version` (an earlier version's, of `base_counts` rows), the
    rows of the keys `builds` rebuilt, and write the tables without such keys anew; returns the
    row count and the rows written of each table."""
    counts, written = dict(base_counts), {}
    keys = f"(select * from {BUILD_KEYS} where build_id = any('{{{','.join(map(str, builds))}}}'))"
    with _writing(database.display, version) as (pool, sink), sink.cursor() as cursor:
        changed = pool.submit(_fetch_keys, database.url, keys)
        fetched = [
            pool.submit(
                _fetch, database.url, table, rows_of(table.changed_by, f"{keys} as keys", True)
            )
            for table in PUBLISHED_TABLES
        ]
        cursor.adbc_ingest("changed_keys", changed.result(), mode="create", temporary=True)
        replaced = [
            (table, data.result) for table, data in zip(PUBLISHED_TABLES, fetched, strict=True)
        ]
        for table, data in [*replaced, (TEST_RESULTS, lambda: _ordered(tests))]:
            where = rows_of(table.changed_by, "temp.changed_keys", False)
            cursor.execute(f'delete from "{table.name}" where {where}')
            cursor.execute("select changes()")
            deleted = cursor.fetchone()[0]
            written[table.name] = cursor.adbc_ingest(table.name, data().to_reader(), mode="append")
            counts[table.name] += written[table.name] - deleted
    logger.info("published the changed keys of %d builds: %s", len(builds), written)
    return counts, written


@contextmanager
def _writing(
    source: str, version: Version
) -> Iterator[tuple[ThreadPoolExecutor, adbc_sqlite.Connection]]:
    """Fetch threads and the new version's SQLite connection, committed at the end."""
    try:
        with (
            ThreadPoolExecutor(FETCH_THREADS) as pool,
            adbc_sqlite.connect(str(version.database)) as sink,
        ):
            yield pool, sink
            sink.commit()
    except adbc.Error as exc:  # both drivers' errors: reading the marts, writing the file
        raise TwapError(
            f"cannot publish from {source} to {version.database}: {one_line(exc)} "
            "(did `twap build` run? is the disk full?)"
        ) from exc


def _ordered(tests: pa.Table) -> pa.Table:
    """In key order, as the marts: ties of a sort column then come in key order too."""
    return tests.sort_by([(key, "ascending") for key in TEST_RESULTS.primary_key])


def rows_of(kind: str | None, keys: str, postgres: bool) -> str:
    """A filter on the rows of the changed keys of `kind` in the relation `keys`; every row
    for a table without such keys. Postgres probes its index through an array of keys."""
    if kind is None:
        return "true"
    if kind == "coin_day":
        return (
            f"(coin, flow_date) in (select coin, event_date from {keys} "
            f"union select coin, start_date from {keys})"
        )
    if postgres:
        return f"{kind} = any(array(select {kind} from {keys}))"
    return f"{kind} in (select {kind} from {keys})"


def _fetch_keys(url: str, keys: str) -> pa.RecordBatchReader:
    """The rebuilt keys, with days as the text SQLite stores them."""
    with adbc.connect(url) as source, source.cursor() as cursor:
        cursor.execute(
            "select distinct twap_id, wallet, coin, event_date::text as event_date, "
            f"start_date::text as start_date from {keys} as keys"
        )
        return cursor.fetch_arrow_table().to_reader()


def _fetch(url: str, table: PublishedTable, where: str = "true") -> pa.Table:
    """The table's rows `where` says (a year of the biggest mart is ~300 MB of arrow),
    converted for SQLite."""
    schema, name = table.source.split(".")
    with adbc.connect(url) as source, source.cursor() as cursor:
        cursor.execute(COLUMNS_SQL, (schema, name))
        select = ", ".join(_sqlite_ready(column, kind) for column, kind in cursor.fetchall())
        # In primary-key order: SQLite appends to its b-trees instead of inserting at random.
        order = ", ".join(table.primary_key)
        cursor.execute(f"select {select} from {table.source} where {where} order by {order}")
        return cursor.fetch_arrow_table()


def _sqlite_ready(column: str, kind: str) -> str:
    """`column` as SQLite stores it, converted by PostgreSQL (in its own process, and in C):
    numerics as REAL, timestamps as ISO 8601 text in UTC, booleans as 0/1, the rest as text."""
    quoted = f'"{column}"'
    if kind in AS_IS_TYPES:
        return quoted
    if kind == "numeric":
        converted = f"{quoted}::float8"
    elif kind == "timestamp with time zone":
        converted = f"""to_char({quoted} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    elif kind == "boolean":
        converted = f"{quoted}::int"
    else:
        converted = f"{quoted}::text"
    return f"{converted} as {quoted}"


def _write_table(
    sink: adbc_sqlite.Connection, table: PublishedTable, reader: pa.RecordBatchReader
) -> int:
    """Create `table` with its primary key, bulk-insert the batches (in C), then index it."""
    not_null = set(table.sort_columns)
    columns = [
        f'"{field.name}" {_sqlite_type(field.type)}{" not null" if field.name in not_null else ""}'
        for field in reader.schema
    ]
    key = f"primary key ({', '.join(table.primary_key)})"
    with sink.cursor() as cursor:
        cursor.execute(f'create table "{table.name}" ({", ".join([*columns, key])})')
        rows = cursor.adbc_ingest(table.name, reader, mode="append")
        for number, index in enumerate(table.all_indexes):
            columns_sql = ", ".join(index)
            cursor.execute(
                f'create index "idx_{table.name}_{number}" on "{table.name}" ({columns_sql})'
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
        "newest_fill_at": one("select max(fill_time) from fct_twap_fills"),
        "last_load_at": one("select max(loaded_at) from ingest_objects"),
        "objects": {"loaded": 0, "failed": 0, **by_status("ingest_objects")},
        "dbt_tests": by_status("dbt_test_results"),
        "dbt_run_at": one("select max(run_at) from dbt_test_results"),
    }


def _sqlite_type(kind: pa.DataType) -> str:
    if pa.types.is_integer(kind):
        return "INTEGER"
    return "REAL" if pa.types.is_floating(kind) else "TEXT"
