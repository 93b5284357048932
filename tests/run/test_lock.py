"""One run at a time (twap/run/lock.py): a second run is refused at once, or after --wait, with
exit status 4 and the holder named; the lock is free again when the first ends. In-process:
no pipeline runs."""

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from pathlib import Path

import pytest

from twap.database import Database
from twap.errors import EXIT_LOCKED, TwapError
from twap.run.lock import RUN_LOCK_KEY, check_run_lock, lake_lock, run_lock
from twap.settings import Settings

Lock = Callable[[str, float], AbstractContextManager[None]]


@pytest.fixture(params=["lake", "database"])
def lock(request: pytest.FixtureRequest, tmp_path: Path) -> Lock:
    if request.param == "lake":
        settings = Settings.from_env(home=str(tmp_path / "home"))
        return lambda command, wait=0.0: lake_lock(settings, command, wait)
    database: Database = request.getfixturevalue("database")
    return lambda command, wait=0.0: run_lock(database, command, wait)


def test_a_second_run_is_refused_naming_the_first(lock: Lock) -> None:
    with lock("run", 0.0):
        started = time.monotonic()
        with pytest.raises(TwapError) as raised, lock("build", 0.0):
            pytest.fail("two runs held the lock")
        assert time.monotonic() - started < 0.5
    assert raised.value.exit_code == EXIT_LOCKED
    message = str(raised.value)
    assert f"twap run (pid {os.getpid()})" in message and "nothing was done" in message
    assert "--wait SECONDS" in message and "\n" not in message
    with lock("publish", 0.0):  # free again
        pass


def test_a_second_run_waits_as_long_as_it_was_told(lock: Lock) -> None:
    with lock("run", 0.0):
        started = time.monotonic()
        with pytest.raises(TwapError), lock("build", 1.0):
            pass
        assert 1.0 <= time.monotonic() - started < 3.0


def terminate_lock_session(database: Database) -> None:
    """End the run lock's database session, as a connection reaper or a failover would, and
    return once it has ended (its locks released)."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(
            "select pg_terminate_backend(pid, 60000) from pg_locks "
            "where locktype = 'advisory' and granted and objid = %s",
            (RUN_LOCK_KEY,),
        )
        assert cursor.fetchall() == [(True,)]


def test_a_run_that_lost_its_lock_stops_at_its_next_commit(database: Database) -> None:
    with run_lock(database, "run"):
        check_run_lock(database, "the build")  # held: goes on
        terminate_lock_session(database)
        # Another run (another process) takes the lock at once ...
        with closing(database.connect()) as other, other.cursor() as cursor:
            cursor.execute("set application_name = 'twap build (pid 1)'")
            cursor.execute("select pg_try_advisory_lock(%s)", (RUN_LOCK_KEY,))
            assert cursor.fetchone() == (True,)
            # ... while the first stops at its next commit, with one line naming both.
            with pytest.raises(TwapError) as raised:
                check_run_lock(database, "the publish")
    assert raised.value.exit_code == EXIT_LOCKED
    message = str(raised.value)
    assert message.startswith(f"lost the run lock on {database.display}: ") and "\n" not in message
    assert "stopped before the publish" in message and "twap build (pid 1)" in message


def test_the_lock_session_does_not_idle_out(database: Database) -> None:
    with closing(database.connect()) as conn:
        conn.autocommit = True
        conn.cursor().execute(
            f"alter database {database.dbname} set idle_session_timeout = '300ms'"
        )
    with run_lock(database, "run"):
        # Longer than the server's idle timeout: a session that kept it would be gone.
        time.sleep(1.0)
        check_run_lock(database, "the build")
