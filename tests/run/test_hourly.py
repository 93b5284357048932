"""An hourly run costs what the hour brought: its build tests the keys it rebuilt, and its
publish applies those keys to a copy of the served version, which then equals a full publish."""

import json
import os
import shutil
import sqlite3
from pathlib import Path

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap

# What a publish writes that is not data: when the tests ran, and how long they took.
VOLATILE = {"dbt_test_results"}


def served(twap: Twap) -> tuple[Path, dict]:
    database = Path(os.path.realpath(twap.home / "twap.db"))
    return database, json.loads((database.parent / "publication.json").read_text())


def rows(database: Path) -> dict[str, list[tuple]]:
    """Every row of every published table, in a fixed order."""
    with sqlite3.connect(database) as db:
        tables = [
            name
            for (name,) in db.execute("select name from sqlite_master where type = 'table'")
            if name not in VOLATILE and not name.startswith("sqlite_")
        ]
        return {t: sorted(db.execute(f'select * from "{t}"'), key=repr) for t in tables}


def test_hourly_publish_writes_the_changed_keys_and_equals_a_full_one(
    twap: Twap, tmp_path: Path
) -> None:
    days, source = tmp_path / "days", tmp_path / "source"
    generate(days, days=2, seed=5, twaps_per_day=300)
    first_day, second_day = sorted(days.glob("*/*/*"))
    shutil.copytree(first_day, source / first_day.relative_to(days))
    twap("run", "--source", str(source))
    first_file, first = served(twap)
    assert first["delta"] is None  # the first publish writes everything
    hours = iter(sorted(second_day.iterdir()))
    (source / second_day.relative_to(days)).mkdir(parents=True)

    def next_hour() -> tuple[Path, dict]:
        hour = next(hours)
        shutil.copy(hour, source / second_day.relative_to(days) / hour.name)
        twap("run", "--source", str(source))
        return served(twap)

    # Right after a publish, the served file is still read: the next one updates a copy.
    second_file, second = next_hour()
    changed = twap.query("select count(distinct twap_id) from intermediate.int_twaps__changed")
    total = twap.query("select count(*) from marts.fct_twaps")[0][0]
    assert 0 < second["delta"]["fct_twaps"] <= changed[0][0] < total
    assert second["tables"]["fct_twaps"] == total
    assert second["delta"]["ingest_objects"] == second["tables"]["ingest_objects"]
    assert first_file.exists()

    # No request holds the first version: the next publish takes its file over and applies the
    # keys of both builds since.
    third_file, third = next_hour()
    assert not first_file.exists() and second_file.exists()
    assert third["delta"]["fct_twaps"] > 0

    twap("publish", "--full")
    full_file, full = served(twap)
    assert full["delta"] is None
    assert full["tables"] == third["tables"]
    assert rows(third_file) == rows(full_file)


def test_hourly_build_tests_the_changed_keys_and_full_tests_test_all(
    twap: Twap, tmp_path: Path
) -> None:
    generate(tmp_path / "sample", days=1, seed=6, twaps_per_day=200)
    twap("run", "--source", str(tmp_path / "sample"))
    # A row no ingest commit changed goes bad behind dbt's back: an hourly build has no reason
    # to look at it, a full test run finds it.
    twap.query(
        "update marts.fct_twaps set event_count = event_count + 1 "
        "where twap_id = (select min(twap_id) from marts.fct_twaps) returning twap_id"
    )
    hourly = twap("build")
    assert "tests passed" in hourly.stderr and "failed" not in hourly.stderr

    full = twap("build", "--full-tests", check=False)
    assert full.returncode != 0
    assert "assert_fct_twaps_match_event_history (1 failing row" in full.stderr
