"""Load on a running `twap serve` over a year of data: mixed realistic traffic at several
concurrencies, then the same with ten slow hostile queries running beside it.

    .venv/bin/python -m benchmarks.bench_load --home DIR [--seconds 20] [--concurrency 8 32 64]

DIR holds a published year (`python -m benchmarks.bench_datasette --home DIR` makes one, and
runs this at its end: that is the figure `make bench` reports). Starts `twap serve` (its default workers) on a free port of 127.0.0.1,
sends requests from closed-loop clients (each sends its next request when the last answered),
drawing each from a mix of what people ask (below) with parameters drawn from the data, and
stops the server. Writes benchmarks/results/load.json and prints a table.
"""

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from benchmarks.common import log, write_results

TARGET_P95_MS = 250.0
TARGET_HOSTILE_P95_MS = 1000.0
TARGET_CONCURRENCY = 32
HOSTILE_CLIENTS = 10
# Each within the 1 s SQL limit on its own, and as slow as that limit lets it be.
HOSTILE_SQL = "select count(*) from fct_twaps as a, fct_twaps as b where a.size > b.size"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="TWAP_HOME with a published year")
    parser.add_argument("--seconds", type=float, default=20.0, help="per level (default 20)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    report = bench_load(args.home, args.concurrency, args.seconds, args.seed)
    path = write_results("load", report)
    print_table(report)
    print(f"written to {path}")


def request_mix(pointer: Path, rng: random.Random) -> list[tuple[int, Callable[[], str]]]:
    """(weight, next URL) of each kind of request people send."""
    with sqlite3.connect(f"file:{pointer.resolve()}?immutable=1", uri=True) as db:
        wallets = [r[0] for r in db.execute("select wallet from dim_wallets")]
        coins = [r[0] for r in db.execute("select coin from fct_coin_daily_flows group by 1")]
        twaps = db.execute("select twap_id, status_at from fct_twaps").fetchall()
        days = [r[0] for r in db.execute("select distinct flow_date from fct_coin_daily_flows")]

    def deep_page() -> str:
        twap_id, status_at = rng.choice(twaps)
        cursor = urllib.parse.quote(f"{status_at},{twap_id}")
        return f"/twap/fct_twaps.json?_next={cursor}"

    def pressure() -> str:
        first = rng.choice(days)
        return f"/twap/coin_pressure.json?from_date={first}&to_date={max(days)}"

    return [
        (10, lambda: "/twap/fct_twaps"),
        (5, lambda: "/"),
        (15, lambda: f"/twap/fct_twaps.json?wallet={rng.choice(wallets)}"),
        (10, lambda: f"/twap/wallet_twaps.json?_shape=array&wallet={rng.choice(wallets)}"),
        (10, lambda: f"/twap/active_twaps.json?_shape=array&coin={rng.choice(coins)}"),
        (5, pressure),
        (5, lambda: "/twap/top_wallets.json?_shape=array&page_size=50"),
        (15, lambda: f"/twap/twap_timeline.json?_shape=array&twap_id={rng.choice(twaps)[0]}"),
        (10, deep_page),
        (5, lambda: f"/twap/fct_twaps.csv?wallet={rng.choice(wallets)}"),
        (5, lambda: f"/-/charts?coin={rng.choice(coins)}"),
        (5, lambda: "/-/healthz"),
    ]


def kind(path: str) -> str:
    """A request's kind, for latencies by kind: its path, and what makes a table page special."""
    route, _, query = path.partition("?")
    special = [word for word in ("_next", "wallet") if f"{word}=" in query and "/fct_" in route]
    return " ".join([route, *special[:1]])


async def clients(
    url: str,
    mix: list[tuple[int, Callable[[], str]]],
    count: int,
    seconds: float,
    rng: random.Random,
) -> tuple[list[tuple[str, float]], Counter, list[str]]:
    """`count` closed-loop clients for `seconds`: latencies (kind, ms), statuses, the first
    few requests that got anything but a 200 (with what they got)."""
    weights, makers = zip(*mix, strict=True)
    latencies: list[tuple[str, float]] = []
    statuses: Counter = Counter()
    failed: list[str] = []
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as client:

        async def one_client() -> None:
            while time.monotonic() < deadline:
                path = rng.choices(makers, weights)[0]()
                started = time.perf_counter()
                try:
                    response = await client.get(path)
                    status: int | str = response.status_code
                    answer = response.text[:120] if status != 200 else ""
                except httpx.HTTPError as error:
                    status, answer = type(error).__name__, str(error)[:120]
                statuses[status] += 1
                if status != 200 and len(failed) < 5:
                    failed.append(f"{status} {path[:100]}: {answer}")
                latencies.append((kind(path), (time.perf_counter() - started) * 1000))

        await asyncio.gather(*(one_client() for _ in range(count)))
    return latencies, statuses, failed


async def level(
    url: str, mix: list, count: int, seconds: float, hostile: bool, rng: random.Random
) -> dict:
    """One concurrency level, with or without the hostile queries beside it."""
    hostile_mix = [(1, lambda: f"/twap.json?sql={urllib.parse.quote(HOSTILE_SQL)}")]
    runs = [clients(url, mix, count, seconds, rng)]
    if hostile:
        runs.append(clients(url, hostile_mix, HOSTILE_CLIENTS, seconds, rng))
    started = time.monotonic()
    results = await asyncio.gather(*runs)
    elapsed = time.monotonic() - started
    timed, statuses, failed = results[0]
    latencies = [ms for _, ms in timed]
    quantiles = statistics.quantiles(latencies, n=100)
    by_kind: dict[str, list[float]] = {}
    for name, ms in timed:
        by_kind.setdefault(name, []).append(ms)
    figures = {
        "concurrency": count,
        "hostile_queries": HOSTILE_CLIENTS if hostile else 0,
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(statistics.median(latencies), 1),
        "p95_ms": round(quantiles[94], 1),
        "p99_ms": round(quantiles[98], 1),
        "errors": sum(n for status, n in statuses.items() if status != 200),
        "statuses": {str(k): v for k, v in statuses.items()},
        "first_errors": failed,
        "p95_ms_by_kind": {
            name: round(statistics.quantiles(values, n=20)[-1], 1)
            for name, values in sorted(by_kind.items())
            if len(values) > 1
        },
    }
    if hostile:
        figures["hostile_statuses"] = {str(k): v for k, v in results[1][1].items()}
    log(
        f"c={count}{' +hostile' if hostile else ''}: {figures['requests_per_second']} req/s, "
        f"p50 {figures['p50_ms']} p95 {figures['p95_ms']} p99 {figures['p99_ms']} ms, "
        f"errors {figures['errors']}"
    )
    return figures


def bench_load(home: Path, concurrency: list[int], seconds: float, seed: int) -> dict:
    rng = random.Random(seed)
    mix = request_mix(home / "twap.db", rng)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "TWAP_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "twap.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        # Warm-up: each worker's first switch.
        asyncio.run(clients(url, mix, 4, 5, rng))
        levels = [
            asyncio.run(level(url, mix, count, seconds, hostile, rng))
            for hostile in (False, True)
            for count in concurrency
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    at_target = [
        f["p95_ms"]
        for f in levels
        if f["concurrency"] == TARGET_CONCURRENCY and not f["hostile_queries"]
    ]
    hostile = [f for f in levels if f["hostile_queries"]]
    return {
        "workers": len(os.sched_getaffinity(0)),
        "seconds_per_level": seconds,
        "levels": levels,
        "targets": {
            "no_errors": all(f["errors"] == 0 for f in levels),
            f"p95_at_{TARGET_CONCURRENCY}_ms<={TARGET_P95_MS}": bool(at_target)
            and at_target[0] <= TARGET_P95_MS,
            f"p95_with_hostile_ms<={TARGET_HOSTILE_P95_MS}": all(
                f["p95_ms"] <= TARGET_HOSTILE_P95_MS for f in hostile
            ),
        },
    }


def wait_until_up(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/-/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"twap serve did not answer on {url}")
        time.sleep(0.3)


def print_table(report: dict) -> None:
    print(
        f"\nLoad on twap serve ({report['workers']} workers), {report['seconds_per_level']} s each"
    )
    print(
        f"{'clients':>8}{'hostile':>9}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}"
    )
    for f in report["levels"]:
        print(
            f"{f['concurrency']:>8}{f['hostile_queries']:>9}{f['requests_per_second']:>9}"
            f"{f['p50_ms']:>9}{f['p95_ms']:>9}{f['p99_ms']:>9}{f['errors']:>8}"
        )
    print("targets met:", report["targets"])


if __name__ == "__main__":
    main()
