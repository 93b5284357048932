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
                coalesce(sum(row_count), 0),
                max(loaded_at),
                max(last_attempt_at)
            from {LEDGER}
            """
        )
        loaded, failed, rows, last_loaded, last_attempt = cursor.fetchone()
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


def _time(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S %Z}" if value else "never"
