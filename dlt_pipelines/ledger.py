"""The ingest ledger: the commit log of raw.

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

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from dlt.destinations.sql_client import SqlClientBase

from dlt_pipelines.settings import (
    BUILD_LOG_SCHEMA,
    BUILD_LOG_TABLE,
    COMMITS_TABLE,
    EVENTS_TABLE,
    LEDGER_TABLE,
)

LOADED, FAILED = "loaded", "failed"
# What happens to the rows of an object that is no longer listed (see README, Guarantees).
KEEP, MIRROR = "keep", "mirror"

_LEDGER_COLUMNS = """
    object_key text primary key,
    object_version text not null,
    size_bytes bigint,
    modified_at timestamptz,
    status text not null check (status in ('loaded', 'failed')),
    error text,
    attempts integer not null,
    row_count bigint,
    loaded_version text,
    load_id text,
    commit_seq bigint,
    first_seen_at timestamptz not null,
    last_attempt_at timestamptz not null,
    loaded_at timestamptz,
    vanished_at timestamptz,
    rejected_rows bigint,
    repaired_times bigint
"""
# Columns added since the first ledgers were made: added to an existing ledger on its next run.
_ADDED_COLUMNS = (
    "commit_seq bigint",
    "vanished_at timestamptz",
    "rejected_rows bigint",
    "repaired_times bigint",
)
_COMMIT_COLUMNS = """
    seq bigint generated always as identity primary key,
    object_key text not null,
    load_id text,
    previous_load_id text,
    committed_at timestamptz not null default now(),
    cleaned boolean not null default false
"""

# Indexes on raw that keep a run O(new data): current rows are found by object and load, the
# rows of one load by its id, dbt's changed TWAPs by id.
RAW_INDEXES = (("object_key", "_dlt_load_id"), ("_dlt_load_id",), ("twap_id",))


@dataclass(frozen=True)
class LedgerEntry:
    """What one run did with one object version."""

    key: str
    version: str
    size_bytes: int | None
    modified_at: datetime | None
    status: str
    rows: int | None = None
    error: str | None = None
    rejected: int = 0  # rows kept in the quarantine table instead
    repaired: int = 0  # times corrected from milliseconds stored as nanoseconds


@dataclass(frozen=True)
class KnownObject:
    version: str
    status: str
    current: bool  # the ledger names a load holding the object's rows
    vanished: bool  # the object was missing from the last listing


def known_objects(client: SqlClientBase) -> dict[str, KnownObject]:
    """Object key -> what the ledger holds of it (empty before the first run)."""
    if not _table_exists(client, LEDGER_TABLE):
        return {}
    rows = client.execute_sql(
        f"""
        select object_key, object_version, status, load_id is not null, vanished_at is not null
        from {_name(client, LEDGER_TABLE)}
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
            if column.split()[0] not in present:
                client.execute_sql(f"alter table {ledger} add column {column}")
        client.execute_sql(
            f"create table if not exists {_name(client, COMMITS_TABLE)} ({_COMMIT_COLUMNS})"
        )
        client.execute_sql(
            f"create index if not exists {COMMITS_TABLE}_load_id_idx "
            f"on {_name(client, COMMITS_TABLE)} (load_id)"
        )
    if _table_exists(client, EVENTS_TABLE):
        delete_unreachable_rows(client, aborted_loads)


def delete_unreachable_rows(client: SqlClientBase, aborted_loads: Collection[str] = ()) -> int:
    """Delete raw rows no reader can need; returns how many.

    Those are the rows of loads the ledger never named (a run that crashed after dlt committed
    its rows, or a package aborted now) and the rows a commit made non-current once a finished
    dbt build has taken that commit in (dbt finds changed TWAPs through them until then).
    """
    events, commits = _name(client, EVENTS_TABLE), _name(client, COMMITS_TABLE)
    deleted = 0
    with client.begin_transaction():
        # _dlt_loads holds one row per finished load: a scan of it is cheap, raw is not scanned.
        orphans = client.execute_sql(
            f"""
            select loads.load_id from {_name(client, "_dlt_loads")} as loads
            where not exists (select 1 from {commits} as c where c.load_id = loads.load_id)
            """
        )
        for load_id in {row[0] for row in orphans or []} | set(aborted_loads):
            deleted += _rowcount(client, f"delete from {events} where _dlt_load_id = %s", load_id)
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
            deleted += _rowcount(
                client,
                f"""
                delete from {events} as e
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


def built_through(client: SqlClientBase) -> int | None:
    """The commit sequence number the last finished dbt build took in; None before any."""
    log = f"{client.escape_column_name(BUILD_LOG_SCHEMA)}.{client.escape_column_name(BUILD_LOG_TABLE)}"
    exists = client.execute_sql("select to_regclass(%s) is not null", log)
    if not exists[0][0]:
        return None
    rows = client.execute_sql(f"select max(built_through_seq) from {log} where status = 'success'")
    return rows[0][0]


def record(
    client: SqlClientBase,
    entries: Sequence[LedgerEntry],
    load_id: str | None,
    at: datetime,
    vanished: Collection[str] = (),
    reappeared: Collection[str] = (),
    on_vanished: str = KEEP,
) -> None:
    """Write what a run did in one transaction, after dlt committed its rows.

    A loaded entry makes `load_id` the object's current load (one commit); a failed one keeps
    whatever was current. `attempts` counts tries at the current version. Objects missing from
    the listing are marked vanished; with `on_vanished="mirror"` their rows stop being current.
    """
    if not (entries or vanished or reappeared):
        return  # a run that read nothing and saw no object come or go
    ledger, commits = _name(client, LEDGER_TABLE), _name(client, COMMITS_TABLE)
    if _table_exists(client, EVENTS_TABLE):
        _create_raw_indexes(client)
    with client.begin_transaction():
        if entries:
            _upsert(client, ledger, commits, entries, load_id, at)
        if reappeared:
            client.execute_sql(
                f"update {ledger} set vanished_at = null where object_key = any(%s)",
                list(reappeared),
            )
        if vanished:
            client.execute_sql(
                f"update {ledger} set vanished_at = coalesce(vanished_at, %s) where object_key = any(%s)",
                at,
                list(vanished),
            )
            if on_vanished == MIRROR:
                _commit(client, ledger, commits, list(vanished), None)


def _upsert(
    client: SqlClientBase,
    ledger: str,
    commits: str,
    entries: Sequence[LedgerEntry],
    load_id: str | None,
    at: datetime,
) -> None:
    client.execute_sql(
        f"""
        insert into {ledger} as l (
            object_key, object_version, size_bytes, modified_at, status, error, attempts,
            row_count, first_seen_at, last_attempt_at, rejected_rows, repaired_times
        )
        select
            e.key, e.version, e.size_bytes, e.modified_at, e.status, e.error, 1,
            e.row_count, %(at)s, %(at)s, e.rejected_rows, e.repaired_times
        from unnest(
            %(keys)s::text[], %(versions)s::text[], %(sizes)s::bigint[],
            %(modified)s::timestamptz[], %(statuses)s::text[], %(errors)s::text[],
            %(rows)s::bigint[], %(rejected)s::bigint[], %(repaired)s::bigint[]
        ) as e(
            key, version, size_bytes, modified_at, status, error, row_count, rejected_rows,
            repaired_times
        )
        on conflict (object_key) do update set
            object_version = excluded.object_version,
            size_bytes = excluded.size_bytes,
            modified_at = excluded.modified_at,
            status = excluded.status,
            error = excluded.error,
            attempts = case
                when l.object_version = excluded.object_version then l.attempts + 1
                else 1
            end,
            -- A failed attempt leaves what is current (and its row count) as it was.
            row_count = case
                when excluded.status = 'loaded' then excluded.row_count
                else l.row_count
            end,
            rejected_rows = case
                when excluded.status = 'loaded' then excluded.rejected_rows
                else l.rejected_rows
            end,
            repaired_times = case
                when excluded.status = 'loaded' then excluded.repaired_times
                else l.repaired_times
            end,
            last_attempt_at = excluded.last_attempt_at,
            vanished_at = null
        """,
        keys=[e.key for e in entries],
        versions=[e.version for e in entries],
        sizes=[e.size_bytes for e in entries],
        modified=[e.modified_at for e in entries],
        statuses=[e.status for e in entries],
        errors=[e.error for e in entries],
        rows=[e.rows for e in entries],
        rejected=[e.rejected if e.status == LOADED else None for e in entries],
        repaired=[e.repaired if e.status == LOADED else None for e in entries],
        at=at,
    )
    loaded = [e.key for e in entries if e.status == LOADED]
    if loaded:
        _commit(client, ledger, commits, loaded, load_id)
        client.execute_sql(
            f"""
            update {ledger} set loaded_version = object_version, loaded_at = %s
            where object_key = any(%s)
            """,
            at,
            loaded,
        )


def _commit(
    client: SqlClientBase, ledger: str, commits: str, keys: list[str], load_id: str | None
) -> None:
    """Make `load_id` (None: no load) what is current of `keys`, one numbered commit each."""
    client.execute_sql(
        f"""
        with changed as (
            insert into {commits} (object_key, load_id, previous_load_id)
            select l.object_key, %(load_id)s, l.load_id
            from {ledger} as l
            where l.object_key = any(%(keys)s) and l.load_id is distinct from %(load_id)s
            returning object_key, seq
        )
        update {ledger} as l
        set load_id = %(load_id)s, commit_seq = changed.seq
        from changed
        where l.object_key = changed.object_key
        """,
        keys=keys,
        load_id=load_id,
    )
    if load_id is None:
        client.execute_sql(
            f"""
            update {ledger} set loaded_version = null, row_count = 0, rejected_rows = 0
            where object_key = any(%s)
            """,
            keys,
        )


def _create_raw_indexes(client: SqlClientBase) -> None:
    """Raw's indexes, built once after the first (bulk) load, when sorting in memory is fast."""
    events = _name(client, EVENTS_TABLE)
    present = {
        name
        for (name,) in client.execute_sql(
            "select indexname from pg_indexes where schemaname = %s and tablename = %s",
            client.fully_qualified_dataset_name(quote=False),
            EVENTS_TABLE,
        )
    }
    # Only what is missing: CREATE INDEX locks raw against writers even when it exists.
    missing = [c for c in RAW_INDEXES if f"{EVENTS_TABLE}_{'_'.join(c)}_idx" not in present]
    if not missing:
        return
    with client.begin_transaction():
        client.execute_sql("set local maintenance_work_mem = '256MB'")
        for columns in missing:
            index = client.escape_column_name(f"{EVENTS_TABLE}_{'_'.join(columns)}_idx")
            quoted = ", ".join(client.escape_column_name(column) for column in columns)
            client.execute_sql(f"create index if not exists {index} on {events} ({quoted})")


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
