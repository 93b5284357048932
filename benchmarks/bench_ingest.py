"""Ingestion benchmark: every figure is a ratio of two things measured side by side in this run.

    .venv/bin/python -m benchmarks.bench_ingest [--days 365] [--only bulk]

- bulk: rows/s of `twap load` on ~1M rows in 20 objects / rows/s of a server-side COPY of the
  same rows into the same PostgreSQL;
- small objects: per-object overhead (ms) of a year of hourly objects against the same rows in
  12 objects;
- no-op: a `twap load` with nothing new over that year, as a fraction of the backfill;
- memory: peak RSS of `twap load` on one 5M-row object against one 0.5M-row object.

Each `twap load` is the real command in a subprocess (start-up included) on a fresh database of
one embedded PostgreSQL server.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.common import history_start, log, write_results
from dlt_pipelines.sample_data import generate
from twap.database import Database, embedded_database, stop_embedded

BULK_ROWS, BULK_OBJECTS = 1_000_000, 20
FEW_OBJECTS = 12
MEMORY_ROWS = (500_000, 5_000_000)
ROW_GROUP_ROWS = 100_000
# Runs the rest of argv with this interpreter and prints the child's peak RSS in KiB.
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; "
    "code = subprocess.call([sys.executable, *sys.argv[1:]]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


@dataclass(frozen=True)
class Load:
    seconds: float
    peak_rss_mb: float
    output: str


@dataclass
class Bench:
    work: Path
    server: Database
    databases: int = 0

    def fresh_database(self) -> Database:
        self.databases += 1
        name = f"bench_{self.databases}"
        with closing(self.server.connect()) as conn:
            conn.autocommit = True
            conn.cursor().execute(f"drop database if exists {name} with (force)")
            conn.cursor().execute(f"create database {name}")
        return Database(self.server.host, self.server.port, self.server.user, "", name)

    def twap_load(self, database: Database, source: Path, home: str = "home") -> Load:
        """Run `twap load` as a user would; wall time and the child's own peak RSS."""
        env = {
            **os.environ,
            "TWAP_HOME": str(self.work / home),
            "TWAP_DATABASE_URL": database.url,
        }
        started = time.perf_counter()
        # Through a small wrapper: a child forked from this (large) process would count our
        # memory as its own peak.
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                PEAK_RSS_WRAPPER,
                "-m",
                "twap.cli",
                "load",
                "--source",
                str(source),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"twap load failed on {source}:\n{result.stdout}{result.stderr}")
        return Load(seconds, int(result.stdout.split()[-1]) / 1024, result.stderr)


def write_objects(table: pa.Table, out: Path, count: int) -> Path:
    """`table` split into `count` objects of about equal size under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    step = -(-table.num_rows // count)
    for index in range(count):
        pq.write_table(
            table.slice(index * step, step),
            out / f"part-{index:04d}.parquet",
            row_group_size=ROW_GROUP_ROWS,
        )
    return out


def repeat_to(table: pa.Table, rows: int) -> pa.Table:
    copies = -(-rows // table.num_rows)
    return pa.concat_tables([table] * copies).slice(0, rows)


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def copy_seconds(database: Database, csv: Path) -> float:
    """Server-side COPY of `csv` into an index-free copy of the raw table."""
    with database.connect() as conn, conn.cursor() as cursor:
        cursor.execute("create table copy_target (like raw.twap_status_events)")
        conn.commit()
        seconds = timed(lambda: cursor.execute(f"copy copy_target from '{csv}' with (format csv)"))
        conn.commit()
    return seconds


def export_csv(database: Database, csv: Path) -> None:
    """The loaded rows as CSV, written by us and readable by the server (perhaps another user)."""
    with closing(database.connect()) as conn, conn.cursor() as cursor, csv.open("w") as out:
        cursor.copy_expert("copy raw.twap_status_events to stdout with (format csv)", out)
    csv.chmod(0o644)


def run(days: int, only: str | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="twap-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # the embedded server (another user when we are root) reads the CSV
        log(f"generating {days} days of hourly sample objects ...")
        year = generate(work / "year", days, seed=2026, start=history_start(days))
        rows = pa.concat_tables(
            pq.read_table(path) for path in sorted((work / "year").rglob("*.parquet"))
        )
        bench = Bench(work, embedded_database(work / "server"))
        try:
            results = (
                {"bulk": measure_bulk(bench, rows)}
                if only == "bulk"
                else measure(bench, year.objects, rows)
            )
        finally:
            stop_embedded(work / "server")
    results["sample"] = {"days": days, "objects": year.objects, "rows": rows.num_rows}
    # The bulk figure alone goes to a file of its own: the full results stay whole.
    path = write_results("ingest" if only is None else f"ingest-{only}", results)
    print_table(results)
    print(f"written to {path}")
    return results


def measure_bulk(bench: Bench, year: pa.Table) -> dict:
    """`twap load` of 1M rows in 20 objects against a server-side COPY of the same rows."""
    work = bench.work
    log("bulk: twap load vs server-side COPY ...")
    bulk_rows = (
        year.slice(0, BULK_ROWS) if year.num_rows >= BULK_ROWS else repeat_to(year, BULK_ROWS)
    )
    bulk_source = write_objects(bulk_rows, work / "bulk", BULK_OBJECTS)
    bulk_db = bench.fresh_database()
    bulk = bench.twap_load(bulk_db, bulk_source, "bulk-home")
    csv = work / "bulk.csv"
    export_csv(bulk_db, csv)
    copy = copy_seconds(bulk_db, csv)
    return {
        "rows": bulk_rows.num_rows,
        "objects": BULK_OBJECTS,
        "twap_load_seconds": round(bulk.seconds, 2),
        "copy_seconds": round(copy, 2),
        "twap_load_rows_per_second": round(bulk_rows.num_rows / bulk.seconds),
        "copy_rows_per_second": round(bulk_rows.num_rows / copy),
        "ratio": round(copy / bulk.seconds, 3),
        "target": ">= 0.5",
    }


def measure(bench: Bench, year_objects: int, year: pa.Table) -> dict:
    work = bench.work
    bulk = measure_bulk(bench, year)
    log(f"small objects: {year_objects} hourly objects vs {FEW_OBJECTS} objects ...")
    year_db = bench.fresh_database()
    backfill = bench.twap_load(year_db, work / "year", "year-home")
    few = bench.twap_load(
        bench.fresh_database(), write_objects(year, work / "few", FEW_OBJECTS), "few-home"
    )
    log("no-op: the year again, nothing new ...")
    noop = bench.twap_load(year_db, work / "year", "year-home")

    log("memory: one 0.5M-row object vs one 5M-row object ...")
    memory = {}
    for count in MEMORY_ROWS:
        source = write_objects(repeat_to(year, count), work / f"memory-{count}", 1)
        # A home of its own beside the source: every file under a source is read.
        memory[count] = bench.twap_load(bench.fresh_database(), source, f"memory-{count}-home")

    per_object_ms = (backfill.seconds - few.seconds) / (year_objects - FEW_OBJECTS) * 1000
    small, large = (memory[count] for count in MEMORY_ROWS)
    return {
        "bulk": bulk,
        "small_objects": {
            "objects": year_objects,
            "few_objects": FEW_OBJECTS,
            "backfill_seconds": round(backfill.seconds, 2),
            "few_objects_seconds": round(few.seconds, 2),
            "per_object_overhead_ms": round(per_object_ms, 2),
            "target": "<= 5 ms",
        },
        "noop": {
            "seconds": round(noop.seconds, 2),
            "backfill_seconds": round(backfill.seconds, 2),
            "fraction_of_backfill": round(noop.seconds / backfill.seconds, 4),
            "target": "<= 0.05",
        },
        "memory": {
            "rows": list(MEMORY_ROWS),
            "peak_rss_mb": [round(small.peak_rss_mb), round(large.peak_rss_mb)],
            "seconds": [round(small.seconds, 2), round(large.seconds, 2)],
            "ratio": round(large.peak_rss_mb / small.peak_rss_mb, 2),
            "target": "<= 2.0",
        },
    }


def print_table(results: dict) -> None:
    bulk = results["bulk"]
    lines = [
        ("bulk: twap load / COPY rows/s", f"{bulk['ratio']:.2f}", bulk["target"],
         f"{bulk['twap_load_rows_per_second']:,} vs {bulk['copy_rows_per_second']:,} rows/s"),
    ]  # fmt: skip
    if "small_objects" in results:
        lines += _other_lines(results)
    print(f"\n{'figure':38} {'measured':>10}  {'target':9} detail")
    for name, value, target, detail in lines:
        print(f"{name:38} {value:>10}  {target:9} {detail}")


def _other_lines(results: dict) -> list[tuple[str, str, str, str]]:
    small, noop, memory = (results[k] for k in ("small_objects", "noop", "memory"))
    return [
        ("small objects: overhead per object", f"{small['per_object_overhead_ms']:.2f} ms",
         small["target"], f"{small['backfill_seconds']}s for {small['objects']} objects vs "
         f"{small['few_objects_seconds']}s for {small['few_objects']}"),
        ("no-op run / backfill", f"{noop['fraction_of_backfill']:.3f}", noop["target"],
         f"{noop['seconds']}s vs {noop['backfill_seconds']}s"),
        ("memory: 5M-row / 0.5M-row peak RSS", f"{memory['ratio']:.2f}", memory["target"],
         f"{memory['peak_rss_mb'][1]} MB vs {memory['peak_rss_mb'][0]} MB"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of sample data (default 365)")
    parser.add_argument(
        "--only", choices=["bulk"], help="measure this figure alone (default: every figure)"
    )
    args = parser.parse_args()
    run(args.days, args.only)


if __name__ == "__main__":
    main()
