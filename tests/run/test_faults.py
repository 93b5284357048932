"""Faults cannot corrupt: after each one the next run repairs everything by itself, and the
marts equal both a full refresh and a fresh pipeline's over the same current source.

Every pause is deterministic: the test holds a lock on the table a step writes next, waits
until the step is blocked on it (pg_locks), then kills the process or restarts the database.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate
from tests.build.test_models import MARTS
from tests.conftest import Twap, make_twap, new_database
from twap.database import Database, embedded_database, stop_embedded
from twap.errors import EXIT_OBJECTS_FAILED

CURRENT_ROWS = """
    select e.object_key, e.object_row from raw.twap_status_events as e
    join raw.twap_ingest_objects as l on e.object_key = l.object_key and e._dlt_load_id = l.load_id
"""
BLOCKED_WITHIN_SECONDS = 120


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


@pytest.fixture
def fresh(postgres: Database, tmp_path: Path):
    """The marts a new pipeline (new database, new home) makes of a source."""
    count = iter(range(100))

    def run(source: Path, *env: tuple[str, str]) -> dict[str, list[tuple]]:
        with new_database(postgres) as database:
            other = make_twap(tmp_path / f"fresh-{next(count)}", database)
            other.env.update(env)
            result = other("run", "--source", str(source), check=False)
            assert result.returncode in (0, EXIT_OBJECTS_FAILED), result.stderr
            return marts(other)

    return run


def assert_repaired(
    twap: Twap, source: Path, fresh, *env: tuple[str, str], full_refresh: bool = True
) -> None:
    """The marts equal a fresh pipeline's over the same source, and (unless the test goes on
    incrementally from here) a full refresh's."""
    expected = fresh(source, *env)
    assert marts(twap) == expected
    if full_refresh:
        twap("build", "--full-refresh")
        assert marts(twap) == expected
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
    assert_repaired(twap, source, fresh)


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
    assert kept == fresh(source)
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
    expected = fresh(source)
    assert marts(twap) == expected
    # Re-uploading the original unchanged (a new modification time) is read again: no flip.
    os.utime(source / sample[1].name, (1_700_000_000, 1_700_000_000))
    assert "1 changed" in twap("run", "--source", str(source)).stderr
    assert marts(twap) == expected
