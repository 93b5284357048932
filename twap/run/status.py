"""`twap status`: what the ingest ledger says, for people and for monitoring (exit status 3)."""

from contextlib import closing

from dlt_pipelines.ledger.rules import (
    CURRENT,
    EARLY,
    EARLY_ROWS,
    FAILED,
    VANISHED,
    VANISHED_SINCE,
    summary_sql,
)
from dlt_pipelines.readers.layouts import STATUSES
from dlt_pipelines.settings import (
    DATASET_NAME,
    EVENTS_TABLE,
    FILLS_TABLE,
    LEDGER_TABLE,
    QUARANTINE_TABLE,
)
from twap.database import Database
from twap.errors import EXIT_OBJECTS_FAILED

LEDGER = f"{DATASET_NAME}.{LEDGER_TABLE}"
QUARANTINE = f"{DATASET_NAME}.{QUARANTINE_TABLE}"
EVENTS = f"{DATASET_NAME}.{EVENTS_TABLE}"
FILLS = f"{DATASET_NAME}.{FILLS_TABLE}"


SUMMARY = summary_sql(LEDGER)
# The current rows of the objects that hold fills: one index probe per ledger entry (raw's
# (object_key, _dlt_load_id) index), so the hourly run never scans the fills.
CURRENT_FILLS = f"""
    select coalesce(sum(l.row_count), 0)
    from {LEDGER} as l
    where {CURRENT} and exists (
        select from {FILLS} as f where f.object_key = l.object_key and f._dlt_load_id = l.load_id
    )
"""


def current_events(database: Database) -> int:
    """How many status event rows raw holds for the current versions of the loaded objects
    (0 before any)."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if not _ledger_exists(cursor):
            return 0
        return int(_summary(cursor)[3]) - _current_fills(cursor)


def print_status(database: Database) -> int:
    """Print the ledger summary, every failed object and every object whose current version has
    rejected rows (with the first reason); 3 when there is any, else 0."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if not _ledger_exists(cursor):
            print(nothing_loaded(database.display))
            return 0
        loaded, failed, vanished, rows, rejected, repaired, last_loaded, last_attempt = _summary(
            cursor
        )
        print(f"database:       {database.display}")
        print(f"objects:        {loaded + failed} ({loaded} loaded, {failed} failed)")
        print(f"vanished:       {vanished} (no longer listed by the source)")
        fills = _current_fills(cursor)
        print(f"current rows:   {rows} ({rows - fills} status events, {fills} TWAP slice fills)")
        print(f"rows rejected:  {rejected}")
        print(f"times repaired: {repaired} (milliseconds stored as nanoseconds)")
        print(f"last load:      {_time(last_loaded)}")
        print(f"last attempt:   {_time(last_attempt)}")
        cursor.execute(
            f"""
            select object_key, attempts, loaded_version is not null, error
            from {LEDGER}
            where status = '{FAILED}'
            order by object_key
            """
        )
        for key, attempts, kept, error in cursor.fetchall():
            note = "; its last loaded version stays current" if kept else ""
            print(f"failed: {key} (attempt {attempts}{note}): {error}")
        cursor.execute(
            f"""
            select object_key, {VANISHED_SINCE}, {CURRENT}
            from {LEDGER} as l
            where {VANISHED}
            order by object_key
            """
        )
        for key, since, kept in cursor.fetchall():
            rows = "its rows stay" if kept else "its rows were removed"
            print(f"vanished: {key} (missing since {_time(since)}; {rows})")
        for key, count, row, reason in _rejected(cursor):
            print(f"rejected: {key}: {count} rows, e.g. row {row}: {reason}")
        cursor.execute(
            f"select object_key, {EARLY_ROWS} from {LEDGER} as l where {EARLY} order by object_key"
        )
        for key, early in cursor.fetchall():
            print(
                f"retrying: {key}: {early} rows dated after the run were rejected (is this "
                "machine's clock behind?); the object is read again each run until they are accepted"
            )
        for word, events in _unknown_statuses(cursor):
            print(
                f"unknown status: {word!r} in {events} current events "
                "(kept and published as written; neither running nor ended)"
            )
    return EXIT_OBJECTS_FAILED if failed or rejected else 0


def _rejected(cursor) -> list[tuple]:
    """Each object with rejected rows in the load raw holds from it, and its first reason."""
    cursor.execute("select to_regclass(%s) is not null", (QUARANTINE,))
    if not cursor.fetchone()[0]:
        return []
    cursor.execute(
        f"""
        select distinct on (l.object_key) l.object_key, l.rejected_rows, q.object_row, q.reason
        from {LEDGER} as l
        join {QUARANTINE} as q
            on q.object_key = l.object_key and q._dlt_load_id = l.load_id
        where l.rejected_rows > 0
        order by l.object_key, q.object_row
        """
    )
    return cursor.fetchall()


def _unknown_statuses(cursor) -> list[tuple[str, int]]:
    """Status words no one has given a meaning yet, with their current events. A scan of raw:
    this command is run by people and monitors, not by the hourly run."""
    cursor.execute(
        f"""
        select e.status, count(*)
        from {EVENTS} as e
        join {LEDGER} as l on l.object_key = e.object_key and l.load_id = e._dlt_load_id
        where e.status <> all(%s)
        group by e.status
        order by e.status
        """,
        (list(STATUSES),),
    )
    return cursor.fetchall()


def nothing_loaded(where: str) -> str:
    return f"nothing loaded yet into {where} (run `twap load` or `twap run`)"


def _ledger_exists(cursor) -> bool:
    cursor.execute("select to_regclass(%s) is not null", (LEDGER,))
    return cursor.fetchone()[0]


def _current_fills(cursor) -> int:
    """Current TWAP slice fills; 0 for a ledger made before fills were read (no fills table)."""
    cursor.execute("select to_regclass(%s) is not null", (FILLS,))
    if not cursor.fetchone()[0]:
        return 0
    cursor.execute(CURRENT_FILLS)
    return int(cursor.fetchone()[0])


def _summary(cursor) -> tuple:
    cursor.execute(SUMMARY)
    return cursor.fetchone()


def _time(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value else "never"
