"""`twap status`: what the ingest ledger says, for people and for monitoring (exit status 3)."""

from contextlib import closing

from dlt_pipelines.settings import DATASET_NAME, LEDGER_TABLE
from twap.database import Database
from twap.errors import EXIT_OBJECTS_FAILED

LEDGER = f"{DATASET_NAME}.{LEDGER_TABLE}"


def print_status(database: Database) -> int:
    """Print the ledger summary and every failed object; 3 when any object is failed, else 0."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (LEDGER,))
        if not cursor.fetchone()[0]:
            print(f"nothing loaded yet into {database.display} (run `twap load` or `twap run`)")
            return 0
        cursor.execute(
            f"""
            select
                count(*) filter (where status = 'loaded'),
                count(*) filter (where status = 'failed'),
                count(*) filter (where vanished_at is not null),
                coalesce(sum(row_count) filter (where load_id is not null), 0),
                max(loaded_at),
                max(last_attempt_at)
            from {LEDGER}
            """
        )
        loaded, failed, vanished, rows, last_loaded, last_attempt = cursor.fetchone()
        print(f"database:       {database.display}")
        print(f"objects:        {loaded + failed} ({loaded} loaded, {failed} failed)")
        print(f"vanished:       {vanished} (no longer listed by the source)")
        print(f"current rows:   {rows}")
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
            note = "; its last loaded version stays current" if kept else ""
            print(f"failed: {key} (attempt {attempts}{note}): {error}")
        cursor.execute(
            f"""
            select object_key, vanished_at, load_id is not null from {LEDGER}
            where vanished_at is not null
            order by object_key
            """
        )
        for key, since, kept in cursor.fetchall():
            rows = "its rows stay" if kept else "its rows were removed"
            print(f"vanished: {key} (missing since {_time(since)}; {rows})")
    return EXIT_OBJECTS_FAILED if failed else 0


def _time(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value else "never"
