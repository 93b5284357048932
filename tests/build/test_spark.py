"""The same source and models on Spark: the lake target (dlt's filesystem destination, parquet)
built by dbt on Spark in local mode gives the marts PostgreSQL gives, row for row, on a full
build and on an incremental build after late, rewritten and repeated objects; and publishing
them gives the SQLite file a publish from PostgreSQL gives, which Datasette serves.

Needs the Spark extra (`make install-spark`, which `make test-spark` runs first): without it
the test fails saying so, it never skips. The helpers here also serve the cluster's test
(test_spark_cluster.py)."""

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from datasette.app import Datasette

from dlt_pipelines.sample_data import generate
from tests.build.test_models import MARTS, rewrite
from tests.conftest import Twap
from tests.publish.test_publish import datasette_json
from twap.publish.tables import PUBLISHED_TABLES, TEST_RESULTS, PublishedTable
from twap.settings import PROJECT_DIR

pytestmark = pytest.mark.spark
# Quotients and what is computed from them: PostgreSQL's numeric division keeps at least 16
# significant digits, Spark's decimal division of decimal(38, 18) amounts keeps 6 decimals.
QUOTIENTS = {
    "avg_price",
    "fill_ratio",
    "remaining_notional_estimate",
    "reference_price",
    "coin_buy_notional_estimate",
    "coin_sell_notional_estimate",
    "coin_net_notional_estimate",
    "fills_avg_price",
    "minutes_left",
    "net_next_hour",
    "net_next_day",
    "coin_net_next_hour",
    "coin_net_next_day",
}
# The published tables compared: this sample has no slice fills (an empty fct_twap_fills).
COMPARED = tuple(table for table in PUBLISHED_TABLES if table.name != "fct_twap_fills")
# dbt's summary line in `twap`'s output: models built and tests passed, and any other outcome.
OUTCOME = re.compile(r"\d+ models built, \d+ tests passed[^\n]*")
TESTS_PASSED = re.compile(r"(\d+) tests passed")
# Published columns that say when and in which load or run each warehouse took the same objects
# in and tested them: the ledger's and the dbt test results'.
OWN_MOMENT_COLUMNS = {
    "ingest_objects": {"load_id", "commit_seq", "first_seen_at", "last_attempt_at", "loaded_at"},
    "dbt_test_results": {"execution_seconds", "run_at"},
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=2, seed=21, twaps_per_day=400, duplicate_rate=0.02)
    return out


def require_spark_extra() -> None:
    """Fail (never skip) when the Spark extra is missing."""
    if not all(importlib.util.find_spec(name) for name in ("dbt.adapters.spark", "pyhive")):
        pytest.fail("the Spark extra is not installed: run `make install-spark`")


@pytest.fixture
def spark_home(twap: Twap) -> Path:
    """Where `twap --warehouse spark` keeps Spark's tables and metastore."""
    require_spark_extra()
    home = twap.home / "spark"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", home / "profiles.yml")
    return home


def spark_dbt(home: Path, lake: Path, *args: str) -> None:
    """`dbt <args>` on the Spark target, in its own process (its JVM ends with it), with its
    results in the target directory `twap publish` reads (beside `home`, Spark's)."""
    env = {**os.environ, "TWAP_LAKE_URL": str(lake), "TWAP_SPARK_DIR": str(home)}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--target", "spark",
            "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(home),
            "--target-path", str(home.parent / "dbt" / "target"),
            "--log-path", str(home / "logs"),
            "--no-use-colors",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]


def twap_on_spark(twap: Twap, *args: str) -> str:
    """`twap <args>` with more time than other commands get: Spark starts a JVM. Its stderr."""
    result = subprocess.run(
        [sys.executable, "-m", "twap.cli", *args],
        env=twap.env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def spark_table(warehouse: Path, schema: str, name: str) -> list[dict[str, Any]]:
    """A table's rows from its files in Spark's warehouse directory."""
    return pq.read_table(warehouse / f"{schema}.db" / name).to_pylist()


def postgres_table(twap: Twap, name: str) -> list[dict[str, Any]]:
    with twap.database.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"select * from marts.{name}")
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def same_value(column: str, spark: Any, postgres: Any) -> bool:
    """Equal, exactly; a quotient (or what is computed from one) to 6 decimals or 0.01%."""
    if column in QUOTIENTS and spark is not None and postgres is not None:
        difference = abs(float(spark) - float(postgres))
        return difference <= max(1e-6, 1e-4 * abs(float(postgres)))
    return spark == postgres


def assert_same_rows(name: str, spark: list[dict], postgres: list[dict], key: list[str]) -> None:
    """The same rows in the same order, column for column (quotients as same_value says)."""
    assert postgres, name
    assert [list(row) for row in spark[:1]] == [list(row) for row in postgres[:1]], name
    assert len(spark) == len(postgres), name
    for spark_row, postgres_row in zip(spark, postgres, strict=True):
        different = {
            column: (spark_row[column], value)
            for column, value in postgres_row.items()
            if not same_value(column, spark_row[column], value)
        }
        assert not different, (name, [postgres_row[k] for k in key], different)


def assert_same_marts(twap: Twap, warehouse: Path) -> None:
    """The marts in Spark's `warehouse` directory are PostgreSQL's (of `twap`), row for row."""
    for name, key in MARTS.items():
        keys = [column.strip() for column in key.split(",")]
        spark = sorted(spark_table(warehouse, "marts", name), key=lambda r: [r[k] for k in keys])
        postgres = sorted(postgres_table(twap, name), key=lambda r: [r[k] for k in keys])
        assert_same_rows(name, spark, postgres, keys)


def published_rows(
    path: Path, name: str, key: tuple[str, ...], skip: set[str], tests: set[str] = frozenset()
) -> list[dict]:
    """A published table's rows in key order, without the columns `skip` names (nor the test
    results of `tests`)."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(f'select * from "{name}" order by {", ".join(key)}')
        columns = [column[0] for column in rows.description]
        return [
            {c: value for c, value in zip(columns, row, strict=True) if c not in skip}
            for row in rows
            if dict(zip(columns, row, strict=True)).get("test_id") not in tests
        ]


def assert_same_build(run: str, spark: Path, postgres: "PostgresReference") -> None:
    """The same models and data tests passed on both engines, with Spark's own (those PostgreSQL
    leaves to its constraints), and the same marts, ledger and test results were published."""
    ids = "select test_id from dbt_test_results"
    with closing(sqlite3.connect(spark)) as a, closing(sqlite3.connect(postgres.published)) as b:
        only = {test for (test,) in a.execute(ids)} - {test for (test,) in b.execute(ids)}
    assert only == postgres.left_to_constraints != set()
    expected = [
        TESTS_PASSED.sub(lambda found: f"{int(found[1]) + len(only)} tests passed", outcome)
        for outcome in postgres.outcome
    ]
    assert OUTCOME.findall(run) == expected != [], (run, postgres.outcome)
    assert_same_published(spark, postgres.published, (*COMPARED, TEST_RESULTS), only)


def assert_same_published(
    spark: Path,
    postgres: Path,
    tables: tuple[PublishedTable, ...] = COMPARED,
    spark_only: set[str] = frozenset(),
) -> None:
    """The same tables and views, and in each of `tables` the same rows: the marts exactly (but
    quotients), the ledger and the test results but for when each warehouse loaded and ran (and
    the results of Spark's `spark_only` tests)."""
    schema = "select type, name from sqlite_master where type in ('table', 'view') order by 2"
    with closing(sqlite3.connect(spark)) as a, closing(sqlite3.connect(postgres)) as b:
        assert a.execute(schema).fetchall() == b.execute(schema).fetchall()
    for table in tables:
        skip, key = OWN_MOMENT_COLUMNS.get(table.name, set()), table.primary_key
        assert_same_rows(
            table.name,
            published_rows(spark, table.name, key, skip, spark_only),
            published_rows(postgres, table.name, key, skip),
            list(key),
        )


@dataclasses.dataclass(frozen=True)
class PostgresReference:
    """What PostgreSQL made of the objects Spark is compared on."""

    outcome: list[str]  # dbt's summary (OUTCOME) of its build
    published: Path  # the file its publish wrote
    publishing: Twap  # `twap` publishing to that file
    # The tests its target disables: its constraints and indexes check the same on every write
    # (models/marts/_marts__models.yml), Spark runs them.
    left_to_constraints: set[str]


def postgres_reference(twap: Twap, source: Path) -> PostgresReference:
    """`source` loaded into PostgreSQL, built, and published to a file of its own (Spark's
    publish writes the home's)."""
    twap("load", "--source", str(source))
    built = twap("build").stderr
    published = twap.home / "postgres" / "twap.db"
    publishing = dataclasses.replace(twap, env={**twap.env, "TWAP_PUBLISH_PATH": str(published)})
    publishing("publish")
    manifest = json.loads((twap.home / "dbt" / "target" / "manifest.json").read_text())
    disabled = {test for test in manifest["disabled"] if test.startswith("test.")}
    return PostgresReference(OUTCOME.findall(built), published, publishing, disabled)


def copy_objects(sample: Path, objects: list[Path], source: Path) -> None:
    for path in objects:
        target = source / path.relative_to(sample)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)


def test_spark_on_the_lake_builds_the_marts_postgres_builds(
    twap: Twap, spark_home: Path, sample: Path, tmp_path: Path
) -> None:
    source, lake = tmp_path / "source", twap.home / "lake"
    objects = sorted(sample.rglob("*.parquet"))
    first, later = objects[:30], objects[30:]
    copy_objects(sample, first, source)
    postgres = postgres_reference(twap, source)
    from_postgres = postgres.published
    # What a scheduler runs: load into the lake, dbt build (models and every data test; the unit
    # tests run with --full-tests), then publish from Spark's marts.
    run = twap_on_spark(twap, "run", "--warehouse", "spark", "--source", str(source))
    assert f"{len(first)} loaded" in run
    assert "(written whole)" in run
    # One line per step: Spark's own log lines are in its log file.
    assert "WARN" not in run and (spark_home / "spark.log").stat().st_size
    assert_same_marts(twap, spark_home / "warehouse")
    from_spark = twap.home / "twap.db"
    assert_same_build(run, from_spark, postgres)
    page = "/twap/fct_twaps.json?_shape=array&_size=20"
    spark_page = datasette_json(Datasette(immutables=[str(from_spark)]), page)
    assert len(spark_page) == 20
    postgres_page = datasette_json(Datasette(immutables=[str(from_postgres)]), page)
    assert [row["twap_id"] for row in spark_page] == [row["twap_id"] for row in postgres_page]
    # Nothing new: no build and no publish on Spark either (no JVM started).
    again = twap_on_spark(twap, "run", "--warehouse", "spark", "--source", str(source))
    assert "run: nothing new; the served version is up to date (no build, no publish)" in again
    assert "build in" not in again and "publish in" not in again

    # Late terminal events in more hours, an early object rewritten, one repeating another.
    copy_objects(sample, later, source)
    changed = rewrite(source / first[10].relative_to(sample))
    shutil.copy(source / later[0].relative_to(sample), source / "repeat.parquet")
    twap("load", "--source", str(source))
    twap("build")
    # A delta on PostgreSQL's served file.
    assert "rewritten" in postgres.publishing("publish").stderr
    loaded = twap("load", "--warehouse", "spark", "--source", str(source)).stderr
    assert f"({len(later) + 1} new, 1 changed, 0 failed before)" in loaded
    # The ledger's logs compacted (a run's load step does it past TWAP_LEDGER_MAX_FILES), and
    # its old files put back as a compaction killed before removing them leaves them: each row
    # counts once on Spark too (the ledger's tests below, and the published ledger).
    logs = [lake / "raw" / log for log in ("twap_ingest_objects_log", "twap_ingest_commits_log")]
    for folder in logs:
        shutil.copytree(folder, tmp_path / "originals" / folder.name)
    compacting = dataclasses.replace(twap, env={**twap.env, "TWAP_LEDGER_MAX_FILES": "3"})
    compacted = compacting("load", "--warehouse", "spark", "--source", str(source)).stderr
    assert "ledger compacted: 4 files -> 2" in compacted
    for folder in logs:
        shutil.copytree(tmp_path / "originals" / folder.name, folder, dirs_exist_ok=True)
    # The models and the singular tests, incrementally: their scope (the changed keys and
    # days) is engine SQL too; the generic tests ran above. With dbt alone, the set-up first
    # registers the lake's new files (README).
    spark_dbt(spark_home, lake, "run-operation", "setup_warehouse")
    # The ledger's tests (before the build: `twap publish` reads the build's dbt results).
    spark_dbt(
        spark_home, lake, "test", "--select", "stg_hyperliquid__ingest_commits",
        "stg_hyperliquid__ingest_objects",
    )  # fmt: skip
    spark_dbt(spark_home, lake, "build", "--exclude", "test_type:generic", "test_type:unit")
    # The incremental path ran on the changed keys only.
    warehouse = spark_home / "warehouse"
    rebuilt = {
        row["twap_id"] for row in spark_table(warehouse, "intermediate", "int_twaps__changed")
    }
    assert set(changed.values()) <= rebuilt
    assert len(rebuilt) < len(spark_table(warehouse, "marts", "fct_twaps"))
    assert_same_marts(twap, warehouse)
    # `twap publish` on its own (its own JVM) after that build.
    assert "(written whole)" in twap_on_spark(twap, "publish", "--warehouse", "spark")
    assert_same_published(from_spark, from_postgres)


def test_spark_warehouse_settings_are_checked_in_one_line(twap: Twap) -> None:
    publish = twap("publish", "--warehouse", "spark", check=False)
    assert publish.returncode == 1
    assert "nothing was built yet: run `twap build` before publishing" in publish.stderr
    assert "Traceback" not in publish.stderr

    twap.env["TWAP_WAREHOUSE"] = "oracle"
    unknown = twap("build", check=False)
    assert unknown.returncode == 1
    assert "unknown warehouse 'oracle' in TWAP_WAREHOUSE: use postgres or spark" in unknown.stderr

    twap.env.update(TWAP_WAREHOUSE="spark", TWAP_SPARK_TARGET="dev")
    not_spark = twap("build", check=False)
    assert not_spark.returncode == 1
    assert (
        "unknown Spark target 'dev' in TWAP_SPARK_TARGET: use spark or spark_cluster"
        in not_spark.stderr
    )
