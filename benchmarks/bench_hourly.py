"""What an hourly `twap run` costs against the backfill, on one year of history and on two.

    .venv/bin/python -m benchmarks.bench_hourly [--days 365] [--hours 3] [--seed 7]

Generates two periods of `--days` of hourly sample objects and holds back the last `--hours`
of them. For the newest period alone and for both (a home and an embedded PostgreSQL each), it
times the real `twap run` in a subprocess, start-up included:

- backfill: the first run, over all of history;
- no-op: the next run, with nothing new;
- hour: a run after each held-back hour arrives (the median), and its publish step; the
  versions published before are dated an hour back first, as they would be in an hourly
  schedule, so the publish takes over a file no reader uses (twap/publish/versions.py);
- full publish: `twap publish --full` of the same marts.

Ratios: no-op ÷ backfill, hour ÷ backfill, hour on two periods ÷ on one, hourly publish ÷ full
publish. Writes benchmarks/results/hourly.json and prints a table.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks.common import elapsed, history_start, log, run_in_home, write_results
from dlt_pipelines.sample_data import generate
from twap.database import stop_embedded

STEP_LINE = re.compile(r"\b(load|build|publish) in ([\d.]+)s")
TARGETS = {"noop_over_backfill": 0.02, "hour_over_backfill": 0.05, "two_over_one": 1.2}


@dataclass
class Run:
    seconds: float
    steps: dict[str, float]


@dataclass
class History:
    """One home with its own source folder: `days` of history, then the held-back hours."""

    name: str
    home: Path
    source: Path
    runs: dict[str, Run] = field(default_factory=dict)
    hours: list[Run] = field(default_factory=list)

    def twap(self, label: str, *args: str) -> Run:
        env = {**os.environ, "TWAP_HOME": str(self.home)}
        env.pop("TWAP_DATABASE_URL", None)
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "twap.cli", *args], env=env, capture_output=True, text=True
        )
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"{self.name}: twap {' '.join(args)} failed:\n{result.stderr}")
        steps = {name: float(value) for name, value in STEP_LINE.findall(result.stderr)}
        log(f"{self.name} {label}: {seconds:.1f}s {steps}")
        return Run(round(seconds, 2), steps)

    def run(self, label: str) -> Run:
        return self.twap(label, "run", "--source", str(self.source))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days in one period (default 365)")
    parser.add_argument("--hours", type=int, default=3, help="hourly runs to time (default 3)")
    parser.add_argument("--seed", type=int, default=7, help="sample data seed (default 7)")
    parser.add_argument("--home", type=Path, help="keep the state here (default: a temporary dir)")
    args = parser.parse_args()
    report = run_in_home(
        "hourly", args.home, lambda work: bench(work, args.days, args.hours, args.seed)
    )
    path = write_results("hourly", report)
    print_table(report)
    print(f"written to {path}")


def bench(work: Path, days: int, hours: int, seed: int) -> dict:
    sample = work / "sample"
    started = time.monotonic()
    # A kept --home keeps its sample (same days and seed): generating two years takes minutes.
    if not (sample / "summary.json").exists():
        summary = generate(sample, days=2 * days, seed=seed, start=history_start(2 * days))
        (sample / "summary.json").write_text(json.dumps(asdict(summary)))
        log(f"generated {summary.objects} objects, {summary.events} events in {elapsed(started)}")
    events = json.loads((sample / "summary.json").read_text())["events"]
    for home in ("one", "two"):
        shutil.rmtree(work / home, ignore_errors=True)
    objects = sorted(sample.rglob("*.parquet"))
    late = objects[-hours:]
    newest_period = objects[-(days * 24) : -hours]
    histories = [
        History("1 period", work / "one", link(newest_period, sample, work / "one" / "source")),
        History("2 periods", work / "two", link(objects[:-hours], sample, work / "two" / "source")),
    ]
    for history in histories:
        try:
            history.runs["backfill"] = history.run("backfill")
            history.runs["no-op"] = history.run("no-op")
            for path in late:
                link([path], sample, history.source)
                history.hours.append(history.run(f"hour {path.relative_to(sample)}"))
            history.runs["full publish"] = history.twap("full publish", "publish", "--full")
        finally:
            stop_embedded(history.home)
    return {
        "objects_per_period": days * 24,
        "events": events,
        "cpus": os.cpu_count(),
        "histories": {history.name: figures(history) for history in histories},
        "two_over_one": round(
            figures(histories[1])["hour_seconds"] / figures(histories[0])["hour_seconds"], 3
        ),
        "targets": TARGETS,
    }


def figures(history: History) -> dict:
    backfill = history.runs["backfill"].seconds
    hour = statistics.median(run.seconds for run in history.hours)
    hour_publish = statistics.median(run.steps["publish"] for run in history.hours)
    full_publish = history.runs["full publish"].steps["publish"]
    return {
        "backfill_seconds": backfill,
        "noop_seconds": history.runs["no-op"].seconds,
        "hour_seconds": hour,
        "hour_steps": [run.steps for run in history.hours],
        "noop_over_backfill": round(history.runs["no-op"].seconds / backfill, 4),
        "hour_over_backfill": round(hour / backfill, 4),
        "publish_hour_seconds": hour_publish,
        "publish_full_seconds": full_publish,
        "publish_hour_over_full": round(hour_publish / full_publish, 4),
    }


def link(paths: list[Path], root: Path, target: Path) -> Path:
    """Hard links to `paths` under `target`, at their place relative to `root`."""
    for path in paths:
        destination = target / path.relative_to(root)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if not destination.exists():
            os.link(path, destination)
    return target


def print_table(report: dict) -> None:
    print(f"\n{report['objects_per_period']:,} hourly objects per period, {report['cpus']} CPUs")
    print(f"{'':<28}{'1 period':>12}{'2 periods':>12}")
    rows = [
        ("backfill (s)", "backfill_seconds"),
        ("no-op run (s)", "noop_seconds"),
        ("hourly run (s)", "hour_seconds"),
        ("no-op ÷ backfill", "noop_over_backfill"),
        ("hour ÷ backfill", "hour_over_backfill"),
        ("hourly publish (s)", "publish_hour_seconds"),
        ("full publish (s)", "publish_full_seconds"),
        ("hourly ÷ full publish", "publish_hour_over_full"),
    ]
    one, two = report["histories"]["1 period"], report["histories"]["2 periods"]
    for label, key in rows:
        print(f"{label:<28}{one[key]:>12}{two[key]:>12}")
    print(f"hourly run, 2 periods ÷ 1: {report['two_over_one']}")


if __name__ == "__main__":
    main()
