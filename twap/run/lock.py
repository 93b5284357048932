"""One run at a time: a PostgreSQL session advisory lock per database, a file lock per lake.

Either lock lives as long as its connection or process, so a crashed or killed run never leaves
it behind. A database session can also end under a live run (a connection reaper, a failover):
the lock's session is kept from idling out, and every commit of a run (the ledger's, the build's
publish) first checks that the run still holds the lock, so a run that lost it stops instead.
"""

import os
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager

from filelock import FileLock, Timeout

from dlt_pipelines.ledger.postgres import HOLDS_RUN_LOCK, RUN_LOCK, RunLockSession
from twap.database import Database
from twap.errors import EXIT_LOCKED, TwapError
from twap.settings import Settings

# 'twap' in ASCII: the key every `twap` command that writes takes.
RUN_LOCK_KEY = 0x74776170
WAIT_STEP_SECONDS = 0.5
# The lock's session never times out on the server, and TCP keepalives (from the server's side)
# keep firewalls and NAT from dropping it while it idles through a long build. Only the settings
# the server knows are set (idle_session_timeout is PostgreSQL 14+).
KEEP_ALIVE = """
    select set_config(name, value, false)
    from (values
        ('idle_session_timeout', '0'),
        ('tcp_keepalives_idle', '60'),
        ('tcp_keepalives_interval', '10'),
        ('tcp_keepalives_count', '6')
    ) as wanted (name, value)
    where name in (select name from pg_settings)
"""


@contextmanager
def run_lock(database: Database, command: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold the run lock while the block runs; waits up to `wait_seconds` for another run.

    Raises TwapError (exit status EXIT_LOCKED) naming the other run when the lock stays taken.
    """
    with closing(database.connect()) as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            # Shown in pg_stat_activity, so whoever finds the lock taken sees who holds it.
            cursor.execute("set application_name = %s", (f"twap {command} (pid {os.getpid()})",))
            cursor.execute(KEEP_ALIVE)
            deadline = time.monotonic() + wait_seconds
            while not _try_lock(cursor):
                if time.monotonic() >= deadline:
                    raise locked_out(database.display, _holder(cursor) or "it has just finished")
                time.sleep(WAIT_STEP_SECONDS)
            cursor.execute(
                "select pid, backend_start from pg_stat_activity where pid = pg_backend_pid()"
            )
            pid, since = cursor.fetchone()
        token = RUN_LOCK.set(RunLockSession(RUN_LOCK_KEY, pid, since))
        try:
            yield
        finally:
            RUN_LOCK.reset(token)


def check_run_lock(database: Database, before: str) -> None:
    """Raise the one line of a lost lock (exit status EXIT_LOCKED) unless this run's lock
    session still holds the run lock; nothing when no run lock is held here."""
    held = RUN_LOCK.get()
    if held is None:
        return
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(HOLDS_RUN_LOCK, (held.pid, held.since, held.key))
        if not cursor.fetchone()[0]:
            raise lost_lock(database, before)


def lost_lock(database: Database, before: str) -> TwapError:
    """The one line (exit status EXIT_LOCKED) of a run whose lock's session ended under it,
    naming the run that holds the lock now, if any."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        holder = _holder(cursor) or "no run"
    where = database.display
    return TwapError(
        f"lost the run lock on {where}: its database session ended (a connection reaper, "
        f"idle_session_timeout or a failover); stopped before {before}, which was not committed "
        f"(now holding the lock: {holder}); the next run repairs what this one left",
        exit_code=EXIT_LOCKED,
    )


@contextmanager
def lake_lock(settings: Settings, command: str, wait_seconds: float = 0.0) -> Iterator[None]:
    """One `twap` run at a time on this home's lake (`--warehouse spark`): an exclusive lock on
    `lake.lock`, which names its holder. (On a shared lake, schedule one writer.)"""
    settings.home.mkdir(parents=True, exist_ok=True)
    path = settings.home / "lake.lock"
    holder = f"twap {command} (pid {os.getpid()})\n".encode()

    def name_holder(fd: int) -> None:
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder, 0)

    lock = FileLock(
        path,
        timeout=wait_seconds,
        poll_interval=WAIT_STEP_SECONDS,
        # A kernel lock, kept with its holder's name: never a marker file that a crash leaves.
        fallback_to_soft=False,
        preserve_lock_file=True,
        on_acquired=name_holder,
    )
    try:
        lock.acquire()
    except Timeout:
        raise locked_out(str(path), path.read_text().strip() or "another run") from None
    try:
        yield
    finally:
        lock.release()


def locked_out(where: str, holder: str) -> TwapError:
    """The one line (exit status EXIT_LOCKED) when another run keeps the lock."""
    return TwapError(
        f"another run holds the run lock on {where}: {holder}; nothing was done "
        "(try again when it has finished, or pass --wait SECONDS)",
        exit_code=EXIT_LOCKED,
    )


def _try_lock(cursor) -> bool:
    cursor.execute("select pg_try_advisory_lock(%s)", (RUN_LOCK_KEY,))
    return cursor.fetchone()[0]


def _holder(cursor) -> str | None:
    cursor.execute(
        """
        select activity.application_name, activity.client_addr, activity.backend_start
        from pg_locks as locks
        join pg_stat_activity as activity on activity.pid = locks.pid
        where locks.locktype = 'advisory' and locks.granted
            and locks.classid = 0 and locks.objid = %s and locks.objsubid = 1
        """,
        (RUN_LOCK_KEY,),
    )
    row = cursor.fetchone()
    if row is None:
        return None
    name, address, since = row
    return f"{name or 'unknown client'} from {address or 'local socket'} since {since:%Y-%m-%d %H:%M:%S %Z}"
