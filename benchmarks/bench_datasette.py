"""Datasette on a year of data: latency of each canned query, a wallet filter and a coin facet,
and the time to publish the marts against the time to load them.

    .venv/bin/python -m benchmarks.bench_datasette [--days 365] [--seed 5] [--requests 60]

Generates the sample data, then runs the real `twap load`, `twap build` and `twap publish`
commands (subprocesses) against a fresh embedded PostgreSQL under a temporary TWAP_HOME, and
sends requests to the published site through Datasette's in-process client with the settings
and plugins `twap serve` uses (so the time is Datasette's and SQLite's, not the network's).
Each request varies its parameters (wallets, coins, TWAPs drawn from the data). Then the load
figure (benchmarks/bench_load.py) on the same year through a real `twap serve`.
Writes benchmarks/results/datasette.json and prints the tables.
"""

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench_load import bench_load
from benchmarks.bench_load import print_table as print_load_table
from benchmarks.common import elapsed, history_start, log, run_in_home, write_results
from dlt_pipelines.sample_data import generate
from twap.site.app import DATASETTE_SETTINGS, make_datasette
from twap.site.guard import guard_of
from twap.site.page_cache import PageCache

TARGET_P95_MS = 50.0
LOAD_LEVELS = [8, 32, 64]
UNCACHED_FACET = "coin_facet_uncached"
# What the target is about (the rest is shown for what it costs): each canned query, a wallet
# filter and a coin facet as served.
TARGET_CASES = (
    "wallet_twaps",
    "active_twaps",
    "coin_pressure",
    "top_wallets",
    "twap_timeline",
    "wallet_filter",
    "coin_facet",
)
# The default facets of fct_twaps (twap/site/metadata.yml), computed on every table request.
TABLE_FACETS = {"coin", "status", "side", "market_type"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="days of sample data (default 365)")
    parser.add_argument("--seed", type=int, default=5, help="sample data seed (default 5)")
    parser.add_argument("--requests", type=int, default=60, help="requests per kind (default 60)")
    parser.add_argument("--home", type=Path, help="keep the state here (default: a temporary dir)")
    parser.add_argument(
        "--load-seconds", type=float, default=20.0, help="per load level (default 20)"
    )
    args = parser.parse_args()

    def both(home: Path) -> dict:
        report = bench(home, args.days, args.seed, args.requests)
        # The same published year under load, through `twap serve` (benchmarks/bench_load.py).
        return {**report, "load": bench_load(home, LOAD_LEVELS, args.load_seconds, args.seed)}

    report = run_in_home("datasette", args.home, both)
    path = write_results("datasette", report)
    print_table(report)
    print_load_table(report["load"])
    print(f"written to {path}")


def bench(home: Path, days: int, seed: int, requests: int) -> dict:
    sample = home / "sample"
    started = time.monotonic()
    summary = generate(sample, days=days, seed=seed, start=history_start(days))
    log(f"generated {summary.objects} objects, {summary.events} events in {elapsed(started)}")
    steps = {
        name: twap(home, name, *extra)
        for name, *extra in (("load", "--source", str(sample)), ("build",), ("publish",))
    }
    pointer = home / "twap.db"
    publication = json.loads((pointer.resolve().parent / "publication.json").read_text())
    cases = request_cases(pointer, random.Random(seed))
    latencies = asyncio.run(measure(pointer, cases, requests))
    return {
        "days": days,
        "objects": summary.objects,
        "events": summary.events,
        "tables": publication["tables"],
        "seconds": steps,
        "publish_seconds_in_process": publication["publish_seconds"],
        "publish_vs_load": round(steps["publish"] / steps["load"], 3),
        "requests_per_kind": requests,
        "settings": DATASETTE_SETTINGS,
        "latency_ms": latencies,
        "target_p95_ms": TARGET_P95_MS,
        "all_p95_within_target": all(latencies[c]["p95"] <= TARGET_P95_MS for c in TARGET_CASES),
        "facets_timed_out": sorted({f for v in latencies.values() for f in v["facets_timed_out"]}),
    }


def twap(home: Path, command: str, *args: str) -> float:
    """Seconds of one `twap` command, start-up included, as a scheduler runs it."""
    env = {**os.environ, "TWAP_HOME": str(home)}
    env.pop("TWAP_DATABASE_URL", None)
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "twap.cli", command, *args], env=env, check=True)
    seconds = round(time.monotonic() - started, 2)
    log(f"twap {command}: {seconds}s")
    return seconds


def request_cases(pointer: Path, rng: random.Random) -> dict[str, Callable[[], str]]:
    """Each kind of request, as a function drawing the next URL."""
    with sqlite3.connect(f"file:{pointer}?immutable=1", uri=True) as db:
        wallets = [r[0] for r in db.execute("select wallet from dim_wallets")]
        coins = [r[0] for r in db.execute("select distinct coin from fct_twaps")]
        twap_ids = [r[0] for r in db.execute("select twap_id from fct_twaps")]
        newest_day = db.execute("select max(flow_date) from fct_coin_daily_flows").fetchone()[0]
    return {
        "wallet_twaps": lambda: f"/twap/wallet_twaps.json?wallet={rng.choice(wallets)}",
        "active_twaps": lambda: f"/twap/active_twaps.json?coin={rng.choice(coins)}",
        "coin_pressure": lambda: (
            f"/twap/coin_pressure.json?from_date={newest_day[:8]}01&to_date={newest_day}"
        ),
        "top_wallets": lambda: "/twap/top_wallets.json?page_size=100",
        "twap_timeline": lambda: f"/twap/twap_timeline.json?twap_id={rng.choice(twap_ids)}",
        "wallet_filter": lambda: f"/twap/fct_twaps.json?wallet={rng.choice(wallets)}",
        "coin_facet": lambda: "/twap/fct_twaps.json?_facet=coin&_size=10",
        UNCACHED_FACET: lambda: "/twap/fct_twaps.json?_facet=coin&_size=10",
        "coin_facet_filtered": lambda: (
            f"/twap/fct_twaps.json?_facet=coin&side=buy&coin={rng.choice(coins)}"
        ),
    }


async def measure(pointer: Path, cases: dict[str, Callable[[], str]], requests: int) -> dict:
    datasette = make_datasette(pointer)
    await datasette.invoke_startup()
    results = {}
    for name, next_url in cases.items():
        for _ in range(3):  # warm-up: connections, page cache
            await datasette.client.get(next_url())
        timings, timed_out = [], set()
        for _ in range(requests):
            url = next_url()
            if name == UNCACHED_FACET:  # the whole answer not replayed (twap/site/page_cache.py)
                guard_of(datasette).pages = PageCache()
            started = time.perf_counter()
            response = await datasette.client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code} {response.text[:200]}")
            if "/fct_twaps.json" in url:  # a facet over its time limit is left out of the answer
                timed_out.update(TABLE_FACETS - set(response.json()["facet_results"]))
        results[name] = {
            "p50": round(statistics.median(timings), 1),
            "p95": round(statistics.quantiles(timings, n=20)[-1], 1),
            "max": round(max(timings), 1),
            "facets_timed_out": sorted(timed_out),
        }
        log(f"{name}: p50 {results[name]['p50']} ms, p95 {results[name]['p95']} ms")
    return results


def print_table(report: dict) -> None:
    print(
        f"\nDatasette on {report['days']} days: {report['events']} events, tables {report['tables']}"
    )
    print(f"{'request':<22}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}  facets timed out")
    for name, figures in report["latency_ms"].items():
        timed_out = ", ".join(figures["facets_timed_out"]) or "-"
        print(f"{name:<22}{figures['p50']:>9}{figures['p95']:>9}{figures['max']:>9}  {timed_out}")
    seconds = report["seconds"]
    print(
        f"load {seconds['load']}s, build {seconds['build']}s, publish {seconds['publish']}s "
        f"(publish / load = {report['publish_vs_load']}); "
        f"every p95 <= {TARGET_P95_MS} ms: {report['all_p95_within_target']}"
    )


if __name__ == "__main__":
    main()
