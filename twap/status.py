"""`twap status`: what the ingest ledger says, for people and for monitoring (exit status 3)."""

from contextlib import closing

from dlt_pipelines.settings import DATASET_NAME, LEDGER_TABLE
from twap.database import Database
from twap.errors import EXIT_OBJECTS_FAILED

LEDGER = f"{DATASET_NAME}.{LEDGER_TABLE}"


SUMMARY = f"""
    select
        count(*) filter (where status = 'loaded'),
        count(*) filter (where status = 'failed'),
        coalesce(sum(row_count), 0),
        max(loaded_at),
        max(last_attempt_at)
    from {LEDGER}
"""


def current_raw_rows(database: Database) -> int:
    """How many rows raw holds for the current versions of the loaded objects (0 before any)."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        return _summary(cursor)[2] if _ledger_exists(cursor) else 0


def print_status(database: Database) -> int:
    """Print the ledger summary and every failed object; 3 when any object is failed, else 0."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if not _ledger_exists(cursor):
            print(nothing_loaded(database.display))
            return 0
        loaded, failed, rows, last_loaded, last_attempt = _summary(cursor)
        print(f"database:       {database.display}")
        print(f"objects:        {loaded + failed} ({loaded} loaded, {failed} failed)")
        print(f"rows in raw:    {rows}")
        print(f"last load:      {_time(last_loaded)}")
        print(f"last attempt:   {_time(last_attempt)}")
        cursor.execute(
            f"""
            select object_key, attempts, loaded_version is not null, error
            from {LEDGER}
            where status = 'failed'
            order by object_key
            """
        )
        for key, attempts, kept, error in cursor.fetchall():
            note = "; its last loaded version stays in raw" if kept else ""
            print(f"failed: {key} (attempt {attempts}{note}): {error}")
    return EXIT_OBJECTS_FAILED if failed else 0


def nothing_loaded(where: str) -> str:
    return f"nothing loaded yet into {where} (run `twap load` or `twap run`)"


def _ledger_exists(cursor) -> bool:
    cursor.execute("select to_regclass(%s) is not null", (LEDGER,))
    return cursor.fetchone()[0]


def _summary(cursor) -> tuple:
    cursor.execute(SUMMARY)
    return cursor.fetchone()


def _time(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value else "never"
