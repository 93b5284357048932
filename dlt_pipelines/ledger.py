"""The per-object ingest ledger in the destination: what every object is, was and did.

The ledger is written by one SQL transaction *after* dlt has committed the raw rows of a run.
A crash in between leaves the ledger behind raw, never ahead: the next run re-reads those
objects, and delete-insert on `object_key` makes that re-read idempotent.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dlt.destinations.sql_client import SqlClientBase

from dlt_pipelines.settings import EVENTS_TABLE, LEDGER_TABLE

LOADED, FAILED = "loaded", "failed"

_COLUMNS = """
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
    first_seen_at timestamptz not null,
    last_attempt_at timestamptz not null,
    loaded_at timestamptz,
    rejected_rows bigint,
    repaired_times bigint
"""
# Columns added since the first ledgers were made: added to an existing ledger on its next run.
_ADDED_COLUMNS = ("rejected_rows bigint", "repaired_times bigint")

# Indexes on raw that keep a run O(new data): delete-insert looks rows up by object key, dbt's
# incremental models by load id and TWAP id.
RAW_INDEXES = ("object_key", "_dlt_load_id", "twap_id")


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
    in_raw: bool  # raw holds rows of some version of the object


def known_objects(client: SqlClientBase) -> dict[str, KnownObject]:
    """Object key -> the version and status the ledger holds (empty before the first run)."""
    if not _table_exists(client, LEDGER_TABLE):
        return {}
    rows = client.execute_sql(
        f"""
        select object_key, object_version, status, loaded_version is not null
        from {_name(client, LEDGER_TABLE)}
        """
    )
    return {key: KnownObject(*values) for key, *values in rows or []}


def raw_matches_ledger(client: SqlClientBase) -> bool:
    """False when raw holds rows of a load the ledger never recorded (a run crashed after its
    rows were committed): the objects of that run then have rows in raw but not in the ledger."""
    if not _table_exists(client, EVENTS_TABLE):
        return True
    ledger = "''"
    if _table_exists(client, LEDGER_TABLE):
        ledger = f"(select coalesce(max(load_id), '') from {_name(client, LEDGER_TABLE)})"
    # max() reads one entry of the index on _dlt_load_id: O(1) however large raw grows.
    rows = client.execute_sql(
        f"select coalesce(max(_dlt_load_id), '') <= {ledger} from {_name(client, EVENTS_TABLE)}"
    )
    return rows[0][0]


def record(
    client: SqlClientBase, entries: Sequence[LedgerEntry], load_id: str | None, at: datetime
) -> None:
    """Upsert one ledger row per entry in one transaction.

    `attempts` counts tries at the current version. A failed entry keeps the row count, version
    and load id of what raw still holds from the object (its last loaded version, if any).
    """
    with client.begin_transaction():
        client.execute_sql(f"create schema if not exists {client.fully_qualified_dataset_name()}")
        ledger = _name(client, LEDGER_TABLE)
        client.execute_sql(f"create table if not exists {ledger} ({_COLUMNS})")
        for column in _ADDED_COLUMNS:
            client.execute_sql(f"alter table {ledger} add column if not exists {column}")
        if _table_exists(client, EVENTS_TABLE):
            _create_raw_indexes(client)
        if not entries:
            return
        client.execute_sql(
            f"""
            insert into {ledger} as l (
                object_key, object_version, size_bytes, modified_at, status, error, attempts,
                row_count, loaded_version, load_id, first_seen_at, last_attempt_at, loaded_at,
                rejected_rows, repaired_times
            )
            select
                e.key, e.version, e.size_bytes, e.modified_at, e.status, e.error, 1,
                e.row_count, loaded.version, loaded.load_id, %(at)s, %(at)s, loaded.at,
                e.rejected_rows, e.repaired_times
            from unnest(
                %(keys)s::text[], %(versions)s::text[], %(sizes)s::bigint[],
                %(modified)s::timestamptz[], %(statuses)s::text[], %(errors)s::text[],
                %(rows)s::bigint[], %(rejected)s::bigint[], %(repaired)s::bigint[]
            ) as e(
                key, version, size_bytes, modified_at, status, error, row_count, rejected_rows,
                repaired_times
            )
            -- Only a loaded entry changes what raw holds from the object.
            left join lateral (
                select e.version, %(load_id)s::text as load_id, %(at)s::timestamptz as at
                where e.status = 'loaded'
            ) as loaded on true
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
                loaded_version = coalesce(excluded.loaded_version, l.loaded_version),
                load_id = coalesce(excluded.load_id, l.load_id),
                last_attempt_at = excluded.last_attempt_at,
                loaded_at = coalesce(excluded.loaded_at, l.loaded_at)
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
            load_id=load_id,
            at=at,
        )


def _create_raw_indexes(client: SqlClientBase) -> None:
    events = _name(client, EVENTS_TABLE)
    # Built once, after the first (bulk) load: sorting in memory is several times faster.
    client.execute_sql("set local maintenance_work_mem = '256MB'")
    for column in RAW_INDEXES:
        index = client.escape_column_name(f"{EVENTS_TABLE}_{column}_idx".lstrip("_"))
        client.execute_sql(
            f"create index if not exists {index} on {events} ({client.escape_column_name(column)})"
        )


def _table_exists(client: SqlClientBase, table: str) -> bool:
    rows = client.execute_sql(
        "select 1 from information_schema.tables where table_schema = %s and table_name = %s",
        client.fully_qualified_dataset_name(quote=False),
        table,
    )
    return bool(rows)


def _name(client: SqlClientBase, table: str) -> str:
    return client.make_qualified_table_name(table)
