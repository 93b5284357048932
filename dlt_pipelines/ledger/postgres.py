"""The ingest ledger in PostgreSQL, beside raw: the commit log of raw.

Raw is append-only: every load adds rows tagged with its dlt load id, and nothing in raw counts
by itself. An object's rows count (are *current*) only once the ledger names the load that
holds them. The ledger is written in one transaction after dlt has committed a load, so a crash
anywhere leaves rows nobody names, which stay invisible downstream and are deleted later.

    twap_ingest_objects   one row per object: what it is (version, size), what its last attempt
                          did, and `load_id`, the load whose rows are its current content
    twap_ingest_commits   one row per change of what is current, numbered by a database
                          sequence (never a clock): object, new load, previous load

dbt finds what changed since its last finished build by that sequence (`seq`). Rows that a
commit made non-current are deleted once a finished build has taken in that commit.
"""

from __future__ import annotations

from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dlt_pipelines.ledger.rules import (
    CURRENT,
    EARLY,
    ENTRY_COLUMNS,
    FAILED,
    LOADED,
    VANISHED,
    KnownObject,
    Run,
    apply_run,
)
from dlt_pipelines.settings import (
    BUILD_LOG_SCHEMA,
    BUILD_LOG_TABLE,
    COMMITS_TABLE,
    EVENTS_TABLE,
    FILL_SCHEMA,
    FILLS_TABLE,
    LEDGER_TABLE,
    LINEAGE_SCHEMA,
)

# Only for annotations: the run lock (twap/run/lock.py) is taken by commands that never load dlt.
if TYPE_CHECKING:
    from dlt.destinations.sql_client import SqlClientBase

# Each entry column's type, and the constraints of those that have some.
_TYPES = {
    "object_key": "text",
    "object_version": "text",
    "size_bytes": "bigint",
    "modified_at": "timestamptz",
    "status": "text",
    "error": "text",
    "attempts": "integer",
    "row_count": "bigint",
    "loaded_version": "text",
    "load_id": "text",
    "commit_seq": "bigint",
    "first_seen_at": "timestamptz",
    "last_attempt_at": "timestamptz",
    "loaded_at": "timestamptz",
    "vanished_at": "timestamptz",
    "rejected_rows": "bigint",
    "repaired_times": "bigint",
    "early_rows": "bigint",
}
_CONSTRAINTS = {
    "object_key": "primary key",
    "object_version": "not null",
    "status": f"not null check (status in ('{LOADED}', '{FAILED}'))",
    "attempts": "not null",
    "first_seen_at": "not null",
    "last_attempt_at": "not null",
}
_LEDGER_COLUMNS = ", ".join(
    f"{c} {_TYPES[c]} {_CONSTRAINTS.get(c, '')}".strip() for c in ENTRY_COLUMNS
)
# Columns added since the first ledgers were made: added to an existing ledger on its next run.
_ADDED_COLUMNS = ("commit_seq", "vanished_at", "rejected_rows", "repaired_times", "early_rows")
_COMMIT_COLUMNS = """
    seq bigint generated always as identity primary key,
    object_key text not null,
    load_id text,
    previous_load_id text,
    committed_at timestamptz not null default now(),
    cleaned boolean not null default false
"""


@dataclass(frozen=True)
class RunLockSession:
    """The database session holding a run's advisory lock (`key`): its backend `pid`, and
    `since`, when that backend started (a reused pid is another session)."""

    key: int
    pid: int
    since: datetime


# Set by whoever holds a run lock around a load (`twap`'s run lock): the ledger then commits,
# and deletes rows, only while that session still holds the lock.
RUN_LOCK: ContextVar[RunLockSession | None] = ContextVar("twap_run_lock", default=None)
# Whether `%s` (pid, backend start, key) still holds the advisory lock: the fence of a commit.
HOLDS_RUN_LOCK = """
    select exists (
        select 1 from pg_locks as locks
        join pg_stat_activity as activity on activity.pid = locks.pid
        where locks.locktype = 'advisory' and locks.granted
            and locks.classid = 0 and locks.objsubid = 1
            and locks.pid = %s and activity.backend_start = %s and locks.objid = %s
    )
"""


class RunLockLost(Exception):
    """The run lock's session ended before a commit: nothing of it was written."""


def check_run_lock(client: SqlClientBase, before: str) -> None:
    """Raise RunLockLost unless the session in RUN_LOCK (if any) still holds the lock."""
    held = RUN_LOCK.get()
    if held is None:
        return
    if not client.execute_sql(HOLDS_RUN_LOCK, held.pid, held.since, held.key)[0][0]:
        raise RunLockLost(before)


# Indexes on raw that keep a run O(new data): current rows are found by load and object, the
# rows of one load (and raw's load ids, by a skip scan) by the same index's leading column,
# dbt's changed TWAPs by id.
RAW_INDEXES = (("_dlt_load_id", "object_key"), ("twap_id",))
# Indexes raw had before: one on (object_key, _dlt_load_id) and one on _dlt_load_id, which the
# first of RAW_INDEXES serves alone at a third less to build; dropped once it exists.
OBSOLETE_RAW_INDEXES = (("object_key", "_dlt_load_id"), ("_dlt_load_id",))
# Raw's tables of rows the ledger names (events, TWAP slice fills), each by object and load.
RAW_TABLES = (EVENTS_TABLE, FILLS_TABLE)
# The fills table as dlt creates it from FILL_SCHEMA (its own types), made before any fill
# loads so that dbt's source always resolves: most deployments load statuses long before fills.
_DLT_TYPES = {pa.int64(): "bigint", pa.string(): "varchar", pa.bool_(): "boolean"}
_FILL_COLUMNS = ", ".join(
    [
        *(
            f"{field.name} {_DLT_TYPES.get(field.type, 'timestamp with time zone')}"
            for field in (*FILL_SCHEMA, *LINEAGE_SCHEMA)
        ),
        "_dlt_load_id varchar not null",
    ]
)


def known_objects(client: SqlClientBase) -> dict[str, KnownObject]:
    """Object key -> what the ledger holds of it (empty before the first run)."""
    if not _table_exists(client, LEDGER_TABLE):
        return {}
    rows = client.execute_sql(
        f"""
        select object_key, object_version, status, {CURRENT}, {VANISHED}, {EARLY}
        from {_name(client, LEDGER_TABLE)} as l
        """
    )
    return {key: KnownObject(*values) for key, *values in rows or []}


def prepare(client: SqlClientBase, aborted_loads: Collection[str] = ()) -> None:
    """Create the ledger tables (idempotent) and delete raw rows nothing will read again,
    those of `aborted_loads` (packages of an interrupted run) included."""
    with client.begin_transaction():
        client.execute_sql(f"create schema if not exists {client.fully_qualified_dataset_name()}")
        ledger = _name(client, LEDGER_TABLE)
        client.execute_sql(f"create table if not exists {ledger} ({_LEDGER_COLUMNS})")
        # Only what is missing: ALTER TABLE locks the ledger against readers even as a no-op.
        present = _columns(client, LEDGER_TABLE)
        for column in _ADDED_COLUMNS:
            if column not in present:
                client.execute_sql(f"alter table {ledger} add column {column} {_TYPES[column]}")
        client.execute_sql(
            f"create table if not exists {_name(client, COMMITS_TABLE)} ({_COMMIT_COLUMNS})"
        )
        client.execute_sql(
            f"create index if not exists {COMMITS_TABLE}_load_id_idx "
            f"on {_name(client, COMMITS_TABLE)} (load_id)"
        )
        if not _table_exists(client, FILLS_TABLE):
            client.execute_sql(f"create table {_name(client, FILLS_TABLE)} ({_FILL_COLUMNS})")
    if _table_exists(client, "_dlt_loads"):
        delete_unreachable_rows(client, aborted_loads)


def delete_unreachable_rows(client: SqlClientBase, aborted_loads: Collection[str] = ()) -> int:
    """Delete raw rows no reader can need; returns how many.

    Those are the rows of loads the ledger never named (a run that crashed after dlt committed
    its rows, or a package aborted now) and the rows a commit made non-current once a finished
    dbt build has taken that commit in (dbt finds changed TWAPs through them until then).
    """
    commits = _name(client, COMMITS_TABLE)
    raw = [_name(client, table) for table in RAW_TABLES if _table_exists(client, table)]
    deleted = 0
    with client.begin_transaction():
        orphans = {load for table in raw for load in _unnamed_loads(client, table)}
        orphans |= set(aborted_loads)
        if orphans:
            # Writers of raw wait until this commits, and it deletes only while the run still
            # holds its lock: never the rows of another run's load in progress.
            for table in raw:
                client.execute_sql(f"lock table {table} in share row exclusive mode")
            check_run_lock(client, "cleaning raw")
        for load_id in orphans:
            for table in raw:
                deleted += _rowcount(
                    client, f"delete from {table} where _dlt_load_id = %s", load_id
                )
        built = built_through(client)
        # Only when there is something to clean: a DELETE locks raw even when it finds nothing.
        to_clean = built is not None and client.execute_sql(
            f"""
            select 1 from {commits}
            where seq <= %s and not cleaned and previous_load_id is not null limit 1
            """,
            built,
        )
        if to_clean:
            for table in raw:
                deleted += _rowcount(
                    client,
                    f"""
                    delete from {table} as e
                    using {commits} as c
                    where
                        c.seq <= %s and not c.cleaned and c.previous_load_id is not null
                        and e.object_key = c.object_key and e._dlt_load_id = c.previous_load_id
                    """,
                    built,
                )
            client.execute_sql(
                f"update {commits} set cleaned = true where seq <= %s and not cleaned", built
            )
    return deleted


def _unnamed_loads(client: SqlClientBase, raw: str) -> set[str]:
    """Loads with rows in raw that no commit names: finished loads the ledger never took in,
    and loads dlt never finished (no `_dlt_loads` row: a run killed or cut off mid-load).

    Raw's load ids are found by a skip scan of its `_dlt_load_id` index (one probe per load),
    so this does not grow with raw's rows; `raw` is a raw table's qualified name."""
    commits = _name(client, COMMITS_TABLE)
    rows = client.execute_sql(
        f"""
        with recursive ids (load_id) as (
            (select _dlt_load_id from {raw} order by _dlt_load_id limit 1)
            union all
            select (
                select e._dlt_load_id from {raw} as e
                where e._dlt_load_id > ids.load_id order by e._dlt_load_id limit 1
            )
            from ids where ids.load_id is not null
        )
        select ids.load_id from ids
        where ids.load_id is not null
            and not exists (select 1 from {commits} as c where c.load_id = ids.load_id)
        """
    )
    return {row[0] for row in rows or []}


def built_through(client: SqlClientBase) -> int | None:
    """The commit sequence number the last finished dbt build took in; None before any."""
    log = f"{client.escape_column_name(BUILD_LOG_SCHEMA)}.{client.escape_column_name(BUILD_LOG_TABLE)}"
    exists = client.execute_sql("select to_regclass(%s) is not null", log)
    if not exists[0][0]:
        return None
    rows = client.execute_sql(f"select max(built_through_seq) from {log} where status = 'success'")
    return rows[0][0]


def record(client: SqlClientBase, run: Run) -> None:
    """Write what `run` did (`rules.apply_run`) in one transaction, after dlt committed its
    rows: the changed entries, and one commit numbered by the database's sequence each."""
    touched = [*(attempt.key for attempt in run.attempts), *run.reappeared, *run.vanished]
    if not touched:
        return  # a run that read nothing and saw no object come or go
    ledger, commits = _name(client, LEDGER_TABLE), _name(client, COMMITS_TABLE)
    for table in RAW_TABLES:
        if _table_exists(client, table):
            _create_raw_indexes(client, table)
    with client.begin_transaction():
        # One ledger write at a time, and only by the run that still holds the run lock.
        client.execute_sql(f"lock table {ledger} in share row exclusive mode")
        check_run_lock(client, "the ledger commit")
        columns = ", ".join(ENTRY_COLUMNS)
        rows = client.execute_sql(
            f"select {columns} from {ledger} where object_key = any(%s)", touched
        )
        previous = {row[0]: dict(zip(ENTRY_COLUMNS, row, strict=True)) for row in rows or []}
        changes = apply_run(previous, run)
        if changes.commits:
            numbered = client.execute_sql(
                f"""
                insert into {commits} (object_key, load_id, previous_load_id)
                select * from unnest(%s::text[], %s::text[], %s::text[])
                returning object_key, seq
                """,
                [c.object_key for c in changes.commits],
                [c.load_id for c in changes.commits],
                [c.previous_load_id for c in changes.commits],
            )
            for key, seq in numbered:
                changes.entries[key]["commit_seq"] = seq
        _write(client, ledger, list(changes.entries.values()))


def _write(client: SqlClientBase, ledger: str, entries: list[dict[str, Any]]) -> None:
    """Insert or replace `entries` whole, in one statement whatever their number."""
    arrays = ", ".join(f"%({c})s::{_TYPES[c]}[]" for c in ENTRY_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in ENTRY_COLUMNS[1:])
    client.execute_sql(
        f"""
        insert into {ledger} ({", ".join(ENTRY_COLUMNS)})
        select * from unnest({arrays})
        on conflict (object_key) do update set {updates}
        """,
        **{c: [entry[c] for entry in entries] for c in ENTRY_COLUMNS},
    )


def _create_raw_indexes(client: SqlClientBase, table: str) -> None:
    """A raw table's indexes, built once after the first (bulk) load, when sorting in memory
    is fast."""
    relation = _name(client, table)
    present = {
        name
        for (name,) in client.execute_sql(
            "select indexname from pg_indexes where schemaname = %s and tablename = %s",
            client.fully_qualified_dataset_name(quote=False),
            table,
        )
    }
    # Only what is missing: CREATE INDEX locks raw against writers even when it exists.
    missing = [c for c in RAW_INDEXES if _index_name(table, c) not in present]
    obsolete = [c for c in OBSOLETE_RAW_INDEXES if _index_name(table, c) in present]
    if not missing and not obsolete:
        return
    with client.begin_transaction():
        client.execute_sql("set local maintenance_work_mem = '256MB'")
        for columns in missing:
            index = client.escape_column_name(_index_name(table, columns))
            quoted = ", ".join(client.escape_column_name(column) for column in columns)
            client.execute_sql(f"create index if not exists {index} on {relation} ({quoted})")
        for columns in obsolete:
            index = client.escape_column_name(_index_name(table, columns))
            schema = client.fully_qualified_dataset_name()
            client.execute_sql(f"drop index if exists {schema}.{index}")


def _index_name(table: str, columns: tuple[str, ...]) -> str:
    return f"{table}_{'_'.join(columns)}_idx"


def _rowcount(client: SqlClientBase, delete: str, *args: object) -> int:
    """Run a delete statement; the number of rows it deleted."""
    return client.execute_sql(f"with d as ({delete} returning 1) select count(*) from d", *args)[0][
        0
    ]


def _columns(client: SqlClientBase, table: str) -> set[str]:
    rows = client.execute_sql(
        "select column_name from information_schema.columns "
        "where table_schema = %s and table_name = %s",
        client.fully_qualified_dataset_name(quote=False),
        table,
    )
    return {name for (name,) in rows or []}


def _table_exists(client: SqlClientBase, table: str) -> bool:
    rows = client.execute_sql(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        client.fully_qualified_dataset_name(quote=False),
        table,
    )
    return bool(rows)


def _name(client: SqlClientBase, table: str) -> str:
    return client.make_qualified_table_name(table)
