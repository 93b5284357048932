"""One run at a time (twap/run/lock.py): a second run is refused at once, or after --wait, with
exit status 4 and the holder named; the lock is free again when the first ends. In-process:
no pipeline runs."""

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from twap.database import Database
from twap.errors import EXIT_LOCKED, TwapError
from twap.run.lock import lake_lock, run_lock
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
