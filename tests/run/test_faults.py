"""Faults cannot corrupt: after each one the next run repairs everything by itself, and the
marts equal both a full refresh and a fresh pipeline's over the same current source.

Every pause is deterministic: the test holds a lock on the table a step writes next, waits
until the step is blocked on it (pg_locks), then kills the process or restarts the database.
"""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate
from tests.build.test_models import MARTS
from tests.conftest import Twap, make_twap, new_database
from twap.database import Database, embedded_database, stop_embedded
from twap.errors import EXIT_LOCKED, EXIT_OBJECTS_FAILED
from twap.run.lock import RUN_LOCK_KEY

CURRENT_ROWS = """
    select e.object_key, e.object_row from raw.twap_status_events as e
    join raw.twap_ingest_objects as l on e.object_key = l.object_key and e._dlt_load_id = l.load_id
"""
BLOCKED_WITHIN_SECONDS = 120
T = TypeVar("T")


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A day of hourly objects, in hour order."""
    out = tmp_path_factory.mktemp("faults-sample")
    generate(out, days=1, seed=5, twaps_per_day=120, duplicate_rate=0.05)
    return sorted(out.rglob("*.parquet"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "source"
    folder.mkdir()
    return folder


def add(source: Path, objects: list[Path]) -> None:
    for path in objects:
        shutil.copy(path, source / path.name)


def marts(twap: Twap) -> dict[str, list[tuple]]:
    return {
        name: twap.query(f"select * from marts.{name} order by {key}")
        for name, key in MARTS.items()
    }


def published(twap: Twap) -> dict[str, int]:
    """Row counts of the served version (what Datasette shows)."""
    with closing(sqlite3.connect(twap.home / "twap.db")) as db:
        return {name: db.execute(f"select count(*) from {name}").fetchone()[0] for name in MARTS}


def current_raw(twap: Twap) -> dict[str, list[str]]:
    """Raw's current rows (those the ledger names), whichever load wrote them."""
    rows = {}
    for table in ("raw.twap_status_events", "raw.twap_fills"):
        if twap.query("select to_regclass(%s)", (table,)) != [(None,)]:
            rows[table] = [
                row
                for (row,) in twap.query(
                    f"""
                    select (to_jsonb(r) - '_dlt_load_id')::text from {table} as r
                    join raw.twap_ingest_objects as l
                        on r.object_key = l.object_key and r._dlt_load_id = l.load_id
                    order by 1
                    """
                )
            ]
    return {table: found for table, found in rows.items() if found}


@dataclass
class Fresh:
    """What a new pipeline (new database, new home) makes of a source."""

    postgres: Database
    homes: Path
    made: int = 0

    def _run(
        self,
        command: str,
        source: Path,
        env: tuple[tuple[str, str], ...],
        what: Callable[[Twap], T],
    ) -> T:
        with new_database(self.postgres) as database:
            self.made += 1
            other = make_twap(self.homes / f"fresh-{self.made}", database)
            other.env.update(env)
            result = other(command, "--source", str(source), check=False)
            assert result.returncode in (0, EXIT_OBJECTS_FAILED), result.stderr
            return what(other)

    def marts(self, source: Path, *env: tuple[str, str]) -> dict[str, list[tuple]]:
        """Its marts: load, build and publish."""
        return self._run("run", source, env, marts)

    def raw(self, source: Path, *env: tuple[str, str]) -> dict[str, list[str]]:
        """Raw's current rows after its load alone (no dbt: seconds, not a build)."""
        return self._run("load", source, env, current_raw)


@pytest.fixture
def fresh(postgres: Database, tmp_path: Path) -> Fresh:
    return Fresh(postgres, tmp_path)


def assert_repaired(
    twap: Twap, source: Path, fresh: Fresh, *env: tuple[str, str], full_refresh: bool = True
) -> None:
    """The marts equal a fresh pipeline's over the same source.

    With `full_refresh`, in two cheaper halves: raw's current rows equal a fresh load's, and
    the marts equal a full refresh of them (a fresh pipeline's build, dbt being deterministic
    on the same rows). Without, a fresh pipeline's marts, whole: where the test goes on
    incrementally from here, and once end to end."""
    if full_refresh:
        assert current_raw(twap) == fresh.raw(source, *env)
        built = marts(twap)
        twap("build", "--full-refresh")
        assert marts(twap) == built
    else:
        assert marts(twap) == fresh.marts(source, *env)
    assert twap.query(f"select count(*) from ({CURRENT_ROWS}) c") == twap.query(
        f"select count(*) from (select distinct * from ({CURRENT_ROWS}) c) d"
    ), "an object row is current twice"


@contextmanager
def holding(twap: Twap, table: str, mode: str = "share") -> Iterator[None]:
    """Hold `mode` lock on `table` (share: others read it, nobody writes) until the block ends."""
    conn = twap.database.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"lock table {table} in {mode} mode")
        yield
    finally:
        with suppress(psycopg2.Error):  # gone already when the server restarted
            conn.rollback()
        conn.close()


def blocked_backends(twap: Twap) -> list[int]:
    return [
        pid
        for (pid,) in twap.query(
            """
            select pid from pg_stat_activity
            where datname = current_database() and wait_event_type = 'Lock'
            """
        )
    ]


def start_and_block(twap: Twap, table: str, *args: str) -> tuple[subprocess.Popen, list[int]]:
    """Start `twap args` and return it once a statement of it waits for the lock on `table`."""
    process = subprocess.Popen(
        [sys.executable, "-m", "twap.cli", *args],
        env=twap.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + BLOCKED_WITHIN_SECONDS
    while not (waiting := blocked_backends(twap)):
        if process.poll() is not None:
            pytest.fail(
                f"twap {' '.join(args)} ended before reaching {table}: {process.stderr.read()}"
            )
        assert time.monotonic() < deadline, f"twap {' '.join(args)} never blocked on {table}"
        time.sleep(0.05)
    return process, waiting


def kill_at(twap: Twap, table: str, *args: str) -> None:
    """kill -9 `twap args` at the moment it needs to write `table`; its connections die too."""
    with holding(twap, table):
        process, waiting = start_and_block(twap, table, *args)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stderr.close()
        # A killed client's backend notices only when it next talks to it: end it now.
        twap.query(f"select pg_terminate_backend(pid) from unnest(array{waiting}) as pid")


def restart_at(twap: Twap, postgres: Database, table: str, *args: str) -> None:
    """Restart the database server while `twap args` waits to write `table`."""
    home = Path(postgres.host).parent
    with holding(twap, table):
        process, _ = start_and_block(twap, table, *args)
        stop_embedded(home)
    embedded_database(home)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0, stderr
    assert "Traceback" not in stderr


LOAD_STEPS = (
    "raw.twap_status_events",  # dlt's COPY of the new rows
    "raw._dlt_loads",  # rows committed, the load not yet marked complete by dlt
    "raw.twap_ingest_objects",  # load complete, the ledger not yet written
)
BUILD_STEPS = (
    "intermediate.int_twaps__changed",
    "marts.fct_twaps",
    "marts.fct_twap_status_events",
    "marts.dim_wallets",
    "marts.fct_coin_daily_flows",
    "marts.fct_active_twaps",
)


def test_kill_9_at_every_step_of_a_load_and_a_build_then_the_next_run_repairs(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    hour = 6
    for table in LOAD_STEPS:
        add(source, sample[hour : hour + 1])
        hour += 1
        kill_at(twap, table, "load", "--source", str(source))
        twap("load", "--source", str(source))
    # Each killed build is the next one after the build killed before it: it repairs what that
    # one left (a new hour arrives each time), then is killed at a later step of its own.
    for table in BUILD_STEPS:
        add(source, sample[hour : hour + 1])
        hour += 1
        # The run's load commits, then its build is killed.
        kill_at(twap, table, "run", "--source", str(source))
    # A killed build is never published: the served version stays (the build log's say, the
    # same whichever step was killed, so asked once).
    before = published(twap)
    refused = twap("publish", check=False)
    assert refused.returncode == 1 and "did not finish" in refused.stderr, refused.stderr
    assert published(twap) == before
    twap("run", "--source", str(source))
    # The whole claim once, end to end: the marts equal a new pipeline's.
    assert_repaired(twap, source, fresh, full_refresh=False)


def test_an_interrupted_full_refresh_then_new_data_repairs(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:8])
    twap("run", "--source", str(source))
    add(source, sample[8:10])
    twap("load", "--source", str(source))
    kill_at(twap, "marts.dim_wallets", "build", "--full-refresh")
    add(source, sample[10:12])
    twap("run", "--source", str(source))
    assert_repaired(twap, source, fresh)


def test_a_database_restart_mid_load_and_mid_build_then_the_next_run_repairs(
    twap: Twap, postgres: Database, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    add(source, sample[6:8])
    restart_at(twap, postgres, "raw.twap_ingest_objects", "load", "--source", str(source))
    add(source, sample[8:10])
    twap("load", "--source", str(source))
    restart_at(twap, postgres, "marts.dim_wallets", "build")
    twap("run", "--source", str(source))
    assert_repaired(twap, source, fresh)


def rewrite(path: Path) -> None:
    """A vendor correction: the first TWAP of the object loses its events, the second one
    moves to another wallet."""
    table = pq.read_table(path)
    first, second = table["twap_id"][0], table["twap_id"][1]
    table = table.filter(pc.not_equal(table["twap_id"], first))
    moved = pc.if_else(pc.equal(table["twap_id"], second), "0x" + "e" * 40, table["wallet"])
    pq.write_table(table.set_column(table.schema.get_field_index("wallet"), "wallet", moved), path)


def test_a_failing_test_that_skips_half_the_graph_then_new_data_for_the_same_twaps(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:12])
    twap("run", "--source", str(source))
    add(source, sample[12:16])
    rewrite(source / sample[3].name)
    twap("load", "--source", str(source))
    # A raw row of the hour breaks a staging test: dbt skips everything downstream of it.
    key, row, load_id, side = twap.query(
        """
        select e.object_key, e.object_row, e._dlt_load_id, e.side from raw.twap_status_events e
        join raw.twap_ingest_objects l on e.object_key = l.object_key and e._dlt_load_id = l.load_id
        order by e.object_key desc, e.object_row limit 1
        """
    )[0]
    update = """
        update raw.twap_status_events set side = %s
        where object_key = %s and object_row = %s and _dlt_load_id = %s returning 1
    """
    twap.query(update, ("X", key, row, load_id))
    failed = twap("build", check=False)
    assert failed.returncode == 1 and "raw_event_has_a_side" in failed.stderr, failed.stderr
    assert "did not finish" not in (refused := twap("publish", check=False)).stderr
    assert refused.returncode == 1 and "failed" in refused.stderr, refused.stderr
    # The row is fixed; later hours finish TWAPs whose events the failed build had moved.
    twap.query(update, (side, key, row, load_id))
    add(source, sample[16:])
    rewrite(source / sample[4].name)
    twap("run", "--source", str(source))
    assert_repaired(twap, source, fresh)


def test_a_crash_before_the_ledger_write_then_a_failed_read_then_the_next_hours(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    add(source, sample[6:8])
    kill_at(twap, "raw.twap_ingest_objects", "load", "--source", str(source))
    orphans = twap.query(
        "select count(*) from raw.twap_status_events e where not exists "
        "(select 1 from raw.twap_ingest_objects l where l.load_id = e._dlt_load_id)"
    )[0][0]
    assert orphans > 0, "the killed load committed nothing: the fault was not reached"
    # One of the objects that crashed run read is now unreadable; a new hour arrives.
    (source / sample[7].name).write_bytes(b"not parquet at all")
    add(source, sample[8:9])
    result = twap("run", "--source", str(source), check=False)
    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert_repaired(twap, source, fresh, full_refresh=False)
    # The object is readable again, and two more hours come: nothing is doubled.
    shutil.copy(sample[7], source / sample[7].name)
    add(source, sample[9:11])
    twap("run", "--source", str(source))
    assert_repaired(twap, source, fresh)
    twap("load", "--source", str(source))  # cleans what no reader needs any more
    assert twap.query(
        "select count(*) from raw.twap_status_events e where not exists "
        "(select 1 from raw.twap_ingest_objects l where l.load_id = e._dlt_load_id)"
    ) == [(0,)]


def test_vanished_objects_are_kept_by_default_and_removed_when_mirroring(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:8])
    twap("run", "--source", str(source))
    (source / sample[2].name).unlink()
    (source / sample[3].name).rename(source / "renamed.parquet")

    twap("run", "--source", str(source))

    status = twap("status").stdout
    for gone in (sample[2], sample[3]):
        assert f"vanished: file://{source / gone.name} (missing since" in status, status
        assert "its rows stay" in status
    # History stays: the marts are those of everything ever listed (the source as it was,
    # plus the renamed copy), which a fresh pipeline sees once the files are put back.
    kept = marts(twap)
    add(source, sample[2:4])
    assert kept == fresh.marts(source)
    for gone in (sample[2], sample[3]):
        (source / gone.name).unlink()

    mirror = ("SOURCES__HYPERLIQUID_TWAP__ON_VANISHED", "mirror")
    twap.env.update([mirror])
    twap("run", "--source", str(source))
    assert "its rows were removed" in twap("status").stdout
    assert_repaired(twap, source, fresh, mirror, full_refresh=False)
    # An object listed again is read again.
    add(source, sample[2:3])
    assert "1 new" in twap("run", "--source", str(source)).stderr
    assert_repaired(twap, source, fresh, mirror)


@pytest.mark.faketime
def test_a_machine_whose_clock_is_behind_loads_new_and_rewritten_objects(
    twap: Twap, sample: list[Path], source: Path, fresh, tmp_path: Path
) -> None:
    add(source, sample[:8])
    twap("run", "--source", str(source))
    # A second machine (its own dlt state) whose clock is two hours behind loads; the first
    # builds. Only the load runs under the skewed clock: its load ids are what a clock decides.
    behind = make_twap(tmp_path / "behind", twap.database)
    add(source, sample[8:10])
    rewrite(source / sample[1].name)
    result = behind("load", "--source", str(source), clock="-2h")
    assert "2 new, 1 changed" in result.stderr
    twap("build")
    assert_repaired(twap, source, fresh)


def conflicting_copies(table: pa.Table) -> pa.Table:
    """The same events with another wallet and executed amounts: a vendor's conflicting copy."""
    wallets = pa.array(["0x" + "c" * 40] * table.num_rows)
    return table.set_column(table.schema.get_field_index("wallet"), "wallet", wallets)


def test_conflicting_copies_resolve_the_same_whatever_the_load_order(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:4])
    twap("run", "--source", str(source))
    # A copy of hour 1 with other wallets, under a key that sorts before it, then after it.
    copy = conflicting_copies(pq.read_table(sample[1]))
    pq.write_table(copy, source / "00-vendor.parquet")
    twap("run", "--source", str(source))
    pq.write_table(copy, source / "zz-vendor.parquet")
    twap("run", "--source", str(source))
    expected = fresh.marts(source)
    assert marts(twap) == expected
    # Re-uploading the original unchanged (a new modification time) is read again: no flip.
    os.utime(source / sample[1].name, (1_700_000_000, 1_700_000_000))
    assert "1 changed" in twap("run", "--source", str(source)).stderr
    assert marts(twap) == expected


# TWAP slice fills (issue 25): the same faults on the second stream of the same pipeline.
CURRENT_FILLS = """
    select f.twap_id, f.tid, f.wallet, f.px, f.sz, f.fill_time from raw.twap_fills as f
    join raw.twap_ingest_objects as l on f.object_key = l.object_key and f._dlt_load_id = l.load_id
"""


def slice_fills(source: Path) -> list[tuple]:
    """The TWAP slice fills the source's node hours hold now, read with json (not the reader):
    what a fresh load's raw holds."""
    found = []
    for hour in sorted((source / "node_fills_by_block").rglob("*")):
        if hour.is_file():
            for line in hour.read_text().splitlines():
                for user, fill in json.loads(line)["events"]:
                    if fill.get("twapId"):
                        at = datetime.fromtimestamp(fill["time"] / 1000, UTC)
                        found.append(
                            (fill["twapId"], fill["tid"], user, fill["px"], fill["sz"], at)
                        )
    return sorted(found)


def test_kill_9_during_a_fills_load_and_a_rewritten_fills_hour_then_the_next_run_repairs(
    twap: Twap, source: Path, fresh, tmp_path: Path
) -> None:
    made = tmp_path / "made"
    generate(made, days=1, seed=5, twaps_per_day=120, fill_hours=3)
    hours = sorted(path for path in (made / "node_fills_by_block").rglob("*") if path.is_file())
    shutil.copytree(
        made, source, dirs_exist_ok=True, ignore=lambda _, names: ["node_fills_by_block"]
    )

    def add_fills(hour: Path) -> Path:
        copy = source / hour.relative_to(made)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(hour, copy)
        return copy

    first = add_fills(hours[0])
    twap("run", "--source", str(source))
    # Killed as the new hour's fills are COPYed, then after they are committed but before the
    # ledger names them.
    add_fills(hours[1])
    kill_at(twap, "raw.twap_fills", "load", "--source", str(source))
    kill_at(twap, "raw.twap_ingest_objects", "load", "--source", str(source))
    orphans = twap.query(
        "select count(*) from raw.twap_fills f where not exists "
        "(select 1 from raw.twap_ingest_objects l where l.load_id = f._dlt_load_id)"
    )[0][0]
    assert orphans > 0, "the killed load committed no fills: the fault was not reached"
    # The first hour is re-uploaded cut short mid-line (a half-written upload), the next
    # hour arrives; then the first hour is whole again.
    data = first.read_bytes()
    first.write_bytes(data[: len(data) * 2 // 3])
    add_fills(hours[2])
    result = twap("run", "--source", str(source), check=False)
    assert result.returncode in (0, EXIT_OBJECTS_FAILED), result.stderr
    assert "Traceback" not in result.stderr
    assert twap.query(f"select count(*) from ({CURRENT_FILLS}) c") < [(len(slice_fills(made)),)]
    shutil.copy(hours[0], first)
    twap("run", "--source", str(source))

    assert sorted(twap.query(CURRENT_FILLS)) == slice_fills(source) == slice_fills(made)
    assert_repaired(twap, source, fresh)
    twap("load", "--source", str(source))  # cleans what no reader needs any more
    assert twap.query(
        "select count(*) from raw.twap_fills f where not exists "
        "(select 1 from raw.twap_ingest_objects l where l.load_id = f._dlt_load_id)"
    ) == [(0,)]


def hour_of(path: Path) -> datetime:
    """The hour a sample object (`YYYY/MM/DD/HH.parquet`) holds."""
    year, month, day = (int(part) for part in path.parts[-4:-1])
    return datetime(year, month, day, int(path.stem), tzinfo=UTC)


@pytest.mark.faketime
def test_rows_rejected_for_a_clock_behind_are_read_again_once_it_is_right(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    add(source, sample[6:8])
    # Two days behind: the new hours' events look more than a day after the run.
    behind = f"@{hour_of(sample[6]) - timedelta(days=2):%Y-%m-%d %H:%M:%S}"
    result = twap("load", "--source", str(source), check=False, clock=behind)
    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    status = twap("status", check=False).stdout
    for early in sample[6:8]:
        assert f"retrying: file://{source / early.name}: " in status, status
    # The clock is right again: both objects are read again, without being touched.
    result = twap("run", "--source", str(source))
    assert "2 failed before" in result.stderr, result.stderr
    assert "retrying" not in twap("status").stdout
    assert "0 to read" in twap("run", "--source", str(source)).stderr
    assert_repaired(twap, source, fresh)


def wait_until_blocked(twap: Twap, count: int, *processes: subprocess.Popen) -> None:
    """Return once `count` backends wait for a lock; fail when a process ends first."""
    deadline = time.monotonic() + BLOCKED_WITHIN_SECONDS
    while len(blocked_backends(twap)) < count:
        for process in processes:
            assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "never blocked"
        time.sleep(0.05)


def test_a_run_whose_lock_session_ends_stops_with_one_line_and_another_proceeds(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    add(source, sample[6:8])
    with holding(twap, "raw.twap_ingest_objects"):
        # The first run has loaded its rows and waits to commit them in the ledger ...
        first, _ = start_and_block(twap, "raw.twap_ingest_objects", "run", "--source", str(source))
        # ... when its lock's session ends (a connection reaper, idle_session_timeout).
        twap.query(
            "select pg_terminate_backend(pid) from pg_locks "
            "where locktype = 'advisory' and granted and objid = %s",
            (RUN_LOCK_KEY,),
        )
        # A second run takes the lock meanwhile and gets as far as its own ledger commit.
        second = subprocess.Popen(
            [sys.executable, "-m", "twap.cli", "run", "--source", str(source)],
            env=twap.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_until_blocked(twap, 2, first, second)
    _, stderr = first.communicate(timeout=120)
    assert first.returncode == EXIT_LOCKED, stderr
    (line,) = [line for line in stderr.splitlines() if "error" in line]
    assert "lost the run lock" in line and "stopped before the ledger commit" in line, stderr
    assert "Traceback" not in stderr
    _, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    twap("run", "--source", str(source))
    assert twap.query(
        "select count(*) from raw.twap_status_events e where not exists "
        "(select 1 from raw.twap_ingest_commits c where c.load_id = e._dlt_load_id)"
    ) == [(0,)], "rows of the run that lost its lock stay in raw"
    assert_repaired(twap, source, fresh)


def test_rows_of_a_load_dlt_never_finished_are_cleaned_by_another_machine(
    twap: Twap, sample: list[Path], source: Path, fresh, tmp_path: Path
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    add(source, sample[6:8])
    # Killed after its rows reached raw, before dlt recorded the load: no `_dlt_loads` row.
    kill_at(twap, "raw._dlt_loads", "load", "--source", str(source))
    unnamed = """
        select count(*) from raw.twap_status_events e where not exists
        (select 1 from raw._dlt_loads l where l.load_id = e._dlt_load_id)
    """
    assert twap.query(unnamed)[0][0] > 0, "the killed load committed nothing"
    # Another machine (its own dlt state, so no pending package names them) runs next.
    other = make_twap(tmp_path / "other", twap.database)
    other("run", "--source", str(source))
    assert twap.query(unnamed) == [(0,)]
    assert_repaired(other, source, fresh)


def test_a_connection_lost_during_a_load_is_one_line_and_the_next_run_repairs(
    twap: Twap, sample: list[Path], source: Path, fresh
) -> None:
    add(source, sample[:6])
    twap("run", "--source", str(source))
    add(source, sample[6:8])
    with holding(twap, "raw.twap_status_events"):
        # dlt's COPY of the new rows waits; its connection is cut (a failover, a reaper) ...
        process, waiting = start_and_block(
            twap, "raw.twap_status_events", "run", "--source", str(source)
        )
        # ... and again at each of dlt's retries, until it gives up.
        while process.poll() is None:
            twap.query(f"select pg_terminate_backend(pid) from unnest(array{waiting}) as pid")
            waiting = blocked_backends(twap)
            while not waiting and process.poll() is None:
                time.sleep(0.05)
                waiting = blocked_backends(twap)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    # One line, no dlt traceback: what failed, and that the next run repairs it.
    (line,) = [line for line in stderr.splitlines() if "database: " not in line]
    assert "failed on the database's side: " in line, stderr
    assert "terminating connection" in line and "the next run cleans it" in line, stderr
    twap("run", "--source", str(source))
    assert_repaired(twap, source, fresh)
