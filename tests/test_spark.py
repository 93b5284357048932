"""The same source and models on Spark: the lake target (dlt's filesystem destination, parquet)
built by dbt on Spark in local mode gives the marts PostgreSQL gives, row for row, on a full
build and on an incremental build after late, rewritten and repeated objects.

Needs the Spark extra (`make install-spark`, which `make test` runs first): without it the
test fails saying so, it never skips."""

import importlib.util
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap
from tests.test_models import MARTS, rewrite
from twap.settings import PROJECT_DIR

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
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=2, seed=21, twaps_per_day=400, duplicate_rate=0.02)
    return out


@pytest.fixture
def spark_home(twap: Twap) -> Path:
    """Where `twap --warehouse spark` keeps Spark's tables and metastore."""
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        pytest.fail("the Spark extra is not installed: run `make install-spark`")
    home = twap.home / "spark"
    home.mkdir(parents=True)
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", home / "profiles.yml")
    return home


def spark_dbt(home: Path, lake: Path, *args: str) -> None:
    """`dbt <args>` on the Spark target, in its own process (its JVM ends with it)."""
    env = {**os.environ, "TWAP_LAKE_URL": str(lake), "TWAP_SPARK_DIR": str(home)}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "dbt"),
            *args,
            "--target", "spark",
            "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(home),
            "--target-path", str(home / "target"),
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


def spark_table(home: Path, schema: str, name: str) -> list[dict[str, Any]]:
    return pq.read_table(home / "warehouse" / f"{schema}.db" / name).to_pylist()


def postgres_table(twap: Twap, name: str) -> list[dict[str, Any]]:
    with twap.database.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"select * from marts.{name}")
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def same_value(column: str, spark: Any, postgres: Any) -> bool:
    """Equal, exactly; a quotient (or what is computed from one) to 6 decimals or 0.01%."""
    if column in QUOTIENTS and spark is not None and postgres is not None:
        return abs(spark - postgres) <= max(Decimal("1e-6"), Decimal("1e-4") * abs(postgres))
    return spark == postgres


def assert_same_marts(twap: Twap, home: Path) -> None:
    for name, key in MARTS.items():
        keys = [column.strip() for column in key.split(",")]
        spark = sorted(spark_table(home, "marts", name), key=lambda r: [r[k] for k in keys])
        postgres = sorted(postgres_table(twap, name), key=lambda r: [r[k] for k in keys])
        assert postgres, name
        assert [list(row) for row in spark[:1]] == [list(row) for row in postgres[:1]], name
        assert len(spark) == len(postgres), name
        for spark_row, postgres_row in zip(spark, postgres, strict=True):
            different = {
                column: (spark_row[column], value)
                for column, value in postgres_row.items()
                if not same_value(column, spark_row[column], value)
            }
            assert not different, (name, [postgres_row[k] for k in keys], different)


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
    twap("load", "--source", str(source))
    twap("build")
    # What a scheduler runs: load into the lake, then dbt build (models and every data test; the
    # unit tests run with --full-tests).
    run = twap_on_spark(twap, "run", "--warehouse", "spark", "--source", str(source))
    assert f"{len(first)} loaded" in run
    assert "83 tests passed" in run
    # One line per step: Spark's own log lines are in its log file.
    assert "WARN" not in run and (spark_home / "spark.log").stat().st_size
    assert_same_marts(twap, spark_home)

    # Late terminal events in more hours, an early object rewritten, one repeating another.
    copy_objects(sample, later, source)
    changed = rewrite(source / first[10].relative_to(sample))
    shutil.copy(source / later[0].relative_to(sample), source / "repeat.parquet")
    twap("load", "--source", str(source))
    twap("build")
    loaded = twap("load", "--warehouse", "spark", "--source", str(source)).stderr
    assert f"({len(later) + 1} new, 1 changed, 0 failed before)" in loaded
    # The models alone, incrementally (the tests ran above).
    spark_dbt(spark_home, lake, "run")
    # The incremental path ran on the changed keys only.
    rebuilt = {
        row["twap_id"] for row in spark_table(spark_home, "intermediate", "int_twaps__changed")
    }
    assert set(changed.values()) <= rebuilt
    assert len(rebuilt) < len(spark_table(spark_home, "marts", "fct_twaps"))
    assert_same_marts(twap, spark_home)


def test_spark_warehouse_settings_are_checked_in_one_line(twap: Twap) -> None:
    publish = twap("publish", "--warehouse", "spark", check=False)
    assert publish.returncode == 1
    assert "publishing from the Spark warehouse is not supported yet" in publish.stderr
    assert "Traceback" not in publish.stderr

    twap.env["TWAP_WAREHOUSE"] = "oracle"
    unknown = twap("build", check=False)
    assert unknown.returncode == 1
    assert "unknown warehouse 'oracle' in TWAP_WAREHOUSE: use postgres or spark" in unknown.stderr
