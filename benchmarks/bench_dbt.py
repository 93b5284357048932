"""dbt on a year of data: a full refresh versus the hourly incremental build after one new object.

    .venv/bin/python -m benchmarks.bench_dbt [--days 365] [--seed 7] [--twaps-per-day 2500]
        [--warehouse spark] [--sample DIR] [--home DIR]

Generates the sample data, loads all but the last hourly object with `twap load` into a fresh
embedded PostgreSQL under a temporary TWAP_HOME, then times, in-process as `twap build` runs
dbt: `dbt run --full-refresh` (models only) against `dbt run` after the held-back object is
loaded, and the same pair for `dbt build` (models and every test) with one more new object.
Rows written per model come from dbt's run results (`adapter_response.rows_affected`).
With `--warehouse spark` the same on the lake and Spark in local mode (one JVM for all four
commands, as dbt runs in-process). `--sample` takes objects generated before (large volumes
take minutes to generate) instead. Writes benchmarks/results/dbt[-spark].json and prints a table.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from benchmarks.common import elapsed, history_start, log, run_in_home, write_results
from dlt_pipelines.sample_data import SampleSummary, generate
from twap.build.dbt_runner import run_dbt
from twap.build.spark import POSTGRES, WAREHOUSES
from twap.database import Database, embedded_database
from twap.settings import Settings

TARGET_RATIO = 0.15


@dataclass
class Timing:
    command: str
    seconds: float
    rows_by_model: dict[str, int]
    seconds_by_model: dict[str, float]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of sample data (default 365)")
    parser.add_argument("--seed", type=int, default=7, help="sample data seed (default 7)")
    parser.add_argument(
        "--twaps-per-day", type=int, default=2500, help="TWAPs a day (default 2500, today's)"
    )
    parser.add_argument("--warehouse", choices=WAREHOUSES, default=POSTGRES)
    parser.add_argument("--home", type=Path, help="keep the state here (default: a temporary dir)")
    parser.add_argument(
        "--sample",
        type=Path,
        help="hourly objects made before (by sample_data.generate, or copies of them as in "
        "benchmarks/README.md), hard-linked into the home (same file system) instead of "
        "generating them (--days, --seed and --twaps-per-day then unused); the directory is "
        "left as it is",
    )
    args = parser.parse_args()
    name = "dbt" if args.warehouse == POSTGRES else f"dbt-{args.warehouse}"
    report = run_in_home(
        name,
        args.home,
        lambda home: bench(
            home, args.days, args.seed, args.twaps_per_day, args.warehouse, args.sample
        ),
    )
    path = write_results(name, report)
    print_table(report)
    print(f"written to {path}")


def bench(
    home: Path, days: int, seed: int, twaps_per_day: int, warehouse: str, given: Path | None
) -> dict:
    sample, held_back = home / "sample", home / "held_back"
    started = time.monotonic()
    if given is None:
        summary = generate(
            sample, days=days, seed=seed, start=history_start(days), twaps_per_day=twaps_per_day
        )
        log(f"generated {summary.objects} objects, {summary.events} events in {elapsed(started)}")
    else:
        summary = link_sample(given, sample)
        log(f"linked {summary.objects} objects, {summary.events} events in {elapsed(started)}")
    # The last two hours arrive later, one per incremental build.
    newest = sorted(sample.rglob("*.parquet"))[-2:]
    held_back.mkdir()
    for index, path in enumerate(newest):
        path.rename(held_back / f"{index}.parquet")
    load_seconds = load(home, sample, warehouse)
    settings = Settings.from_env(home=str(home), warehouse=warehouse)
    database = embedded_database(home) if warehouse == POSTGRES else None
    analyze(database)
    # The project is parsed (and the staging view made) before timing, so every timed command
    # uses partial parsing as an hourly run does.
    run_dbt(settings, database, "run", "--select", "staging")

    run_full = timed(settings, database, "run", "--full-refresh")
    analyze(database)
    add_object(home, sample, held_back / "0.parquet", warehouse)
    run_incremental = timed(settings, database, "run")
    build_full = timed(settings, database, "build", "--full-refresh")
    analyze(database)
    add_object(home, sample, held_back / "1.parquet", warehouse)
    build_incremental = timed(settings, database, "build")
    return {
        "objects": summary.objects,
        "events": summary.events,
        "twaps": summary.twaps,
        "warehouse": warehouse,
        "cpus": os.cpu_count(),
        "load_seconds": round(load_seconds, 2),
        "run": pair(run_full, run_incremental),
        "build": pair(build_full, build_incremental),
    }


def pair(full: Timing, incremental: Timing) -> dict:
    return {
        "full_refresh": asdict(full),
        "incremental": asdict(incremental),
        "ratio": round(incremental.seconds / full.seconds, 4),
        "target_ratio": TARGET_RATIO,
    }


def link_sample(given: Path, sample: Path) -> SampleSummary:
    """The objects under `given`, hard-linked into `sample` (the bench moves some of them), and
    their counts: rows from the parquet footers, TWAPs as distinct ids."""
    shutil.copytree(given, sample, copy_function=os.link)
    paths = sorted(sample.rglob("*.parquet"))
    events = sum(pq.ParquetFile(path).metadata.num_rows for path in paths)
    ids = ds.dataset(sample, format="parquet").to_table(columns=["twap_id"])["twap_id"]
    return SampleSummary(objects=len(paths), events=events, twaps=pc.count_distinct(ids).as_py())


def load(home: Path, source: Path, warehouse: str) -> float:
    """`twap load` of `source` in a subprocess; its seconds."""
    started = time.monotonic()
    env = {**os.environ, "TWAP_HOME": str(home)}
    env.pop("TWAP_DATABASE_URL", None)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "twap.cli",
            "load",
            "--source",
            str(source),
            "--warehouse",
            warehouse,
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    log(f"loaded {source} in {elapsed(started)}")
    return time.monotonic() - started


def add_object(home: Path, sample: Path, path: Path, warehouse: str) -> None:
    """A new hourly object, the hour after the newest loaded one."""
    target = sample / "next" / path.name
    target.parent.mkdir(exist_ok=True)
    shutil.copy(path, target)
    load(home, sample, warehouse)


def analyze(database: Database | None) -> None:
    """Fresh statistics, as autovacuum gathers them before the next hourly run (PostgreSQL)."""
    if database is not None:
        query(database, "analyze", fetch=False)


def timed(settings: Settings, database: Database | None, command: str, *args: str) -> Timing:
    started = time.monotonic()
    run_dbt(settings, database, command, *args)
    seconds = time.monotonic() - started
    results = json.loads((settings.dbt_dir / "target" / "run_results.json").read_text())
    models = {
        result["unique_id"].split(".")[-1]: result
        for result in results["results"]
        if result["unique_id"].startswith("model.")
    }
    label = " ".join(["dbt", command, *args])
    log(f"{label}: {seconds:.1f}s")
    return Timing(
        label,
        round(seconds, 2),
        {
            name: result["adapter_response"].get("rows_affected", 0)
            for name, result in models.items()
        },
        {name: round(result["execution_time"], 2) for name, result in models.items()},
    )


def query(database: Database, sql: str, fetch: bool = True) -> list[tuple]:
    with database.connect() as conn:
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall() if fetch else []


def print_table(report: dict) -> None:
    print(
        f"\n{report['events']:,} events, {report['objects']:,} objects, {report['cpus']} CPUs;"
        f" twap load {report['load_seconds']:.1f}s"
    )
    print(f"{'':<34}{'full refresh':>14}{'incremental':>14}{'ratio':>8}")
    for kind in ("run", "build"):
        numbers = report[kind]
        full, incremental = numbers["full_refresh"], numbers["incremental"]
        print(
            f"{'dbt ' + kind + ' (seconds)':<34}{full['seconds']:>14.1f}"
            f"{incremental['seconds']:>14.1f}{numbers['ratio']:>8.1%}"
        )
    full_rows = report["run"]["full_refresh"]["rows_by_model"]
    incremental_rows = report["run"]["incremental"]["rows_by_model"]
    full_seconds = report["run"]["full_refresh"]["seconds_by_model"]
    incremental_seconds = report["run"]["incremental"]["seconds_by_model"]
    print(f"{'dbt run, per model':<34}{'rows  seconds':>14}{'rows  seconds':>14}")
    for model in full_rows:
        print(
            f"  {model:<40}{full_rows[model]:>9,}{full_seconds[model]:>6.1f}"
            f"{incremental_rows[model]:>8,}{incremental_seconds[model]:>6.1f}"
        )


if __name__ == "__main__":
    main()
