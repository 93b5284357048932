"""Fills benchmark: the fills reader on an hour of the node's fills at the exchange's real rate,
side by side with the shell line a user would write to find the TWAP slices in it.

    .venv/bin/python -m benchmarks.bench_fills [--fills 1000000] [--twap-share 0.01]

One hour of `node_fills_by_block` (about 1M fills in ~50k blocks, ~1% of them TWAP slices, the
rest ordinary fills and the slices' counterparties), LZ4-framed as the bucket keeps it. Timed,
best of three, on the same file:
- `lz4 -dc FILE | grep -c '"twapId":[0-9]'`;
- the reader: the pipeline's source (`dlt_pipelines.source`) listing the folder and reading the
  object (decompress, find the TWAP fills, parse, validate) into dlt's extract step, which writes
  them as a load package (`pipeline.extract`): everything of an hourly run's fills but the COPY.
Throughput is per byte of the decompressed hour (both read the same bytes).
"""

import argparse
import random
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dlt

from benchmarks.common import log, write_results
from dlt_pipelines.listing import SourceObject
from dlt_pipelines.readers.layouts import KNOWN_LAYOUTS
from dlt_pipelines.readers.objects import read_events
from dlt_pipelines.source import hyperliquid_twap

FILLS = 1_000_000
TWAP_SHARE = 0.01
REPEATS = 3
HOUR_MS = 1_782_907_200_000  # 2026-07-01 12:00 UTC
BLOCKS_PER_SECOND = 14
SHELL = "lz4 -dc {file} | grep -c '\"twapId\":[0-9]'"
COINS = (("BTC", 95000.0, 5), ("ETH", 3500.0, 4), ("HYPE", 42.0, 2), ("SOL", 180.0, 2))


def node_hour(fills: int, twap_share: float, seed: int = 5) -> tuple[bytes, int]:
    """An hour of `node_fills_by_block` with `fills` fills, `twap_share` of them TWAP slices
    (each beside its counterparty); returns the bytes and the number of slices."""
    rng = random.Random(seed)
    wallets = [f"0x{rng.getrandbits(160):040x}" for _ in range(20_000)]
    blocks = 3600 * BLOCKS_PER_SECOND
    per_block = fills / blocks
    lines, slices, tid, made = [], 0, 900_000_000_000_000, 0
    for number in range(blocks):
        ms = HOUR_MS + number * 1000 // BLOCKS_PER_SECOND
        events = []
        count = int(per_block * (number + 1)) - int(per_block * number)
        while len(events) < count:
            coin, price, decimals = rng.choice(COINS)
            px = f"{price * (1 + rng.gauss(0, 0.002)):.{max(1, 5 - len(str(int(price))))}f}"
            sz = f"{rng.expovariate(1 / 2000) / price:.{decimals}f}"
            tid += 1
            twap_id = 2_000_000 + rng.randrange(400) if rng.random() < twap_share * 2 else None
            for side, own in (
                (("B", twap_id), ("A", None))
                if rng.random() < 0.5
                else (
                    ("A", twap_id),
                    ("B", None),
                )
            ):
                slices += own is not None
                events.append(_event(rng.choice(wallets), coin, px, sz, side, ms, tid, own, rng))
        made += len(events)
        lines.append(
            '{{"local_time":"2026-07-01T12:{:02d}:{:02d}.{:03d}123",'
            '"block_time":"2026-07-01T12:{:02d}:{:02d}.{:03d}","block_number":{},"events":[{}]}}'.format(
                *_clock(ms + 41), *_clock(ms), 640_000_000 + number, ",".join(events)
            )
        )
    return ("\n".join(lines) + "\n").encode(), slices


def _clock(ms: int) -> tuple[int, int, int]:
    offset = ms - HOUR_MS
    return offset // 60_000 % 60, offset // 1000 % 60, offset % 1000


def _event(
    user: str,
    coin: str,
    px: str,
    sz: str,
    side: str,
    ms: int,
    tid: int,
    twap_id: int | None,
    rng: random.Random,
) -> str:
    """`["<user>", {<fill>}]` as the node writes it (compact, in its field order)."""
    crossed = "true" if twap_id is not None or rng.random() < 0.5 else "false"
    cloid = f',"cloid":"0x{rng.getrandbits(128):032x}"' if rng.random() < 0.3 else ""
    return (
        f'["{user}",{{"coin":"{coin}","px":"{px}","sz":"{sz}","side":"{side}","time":{ms},'
        f'"startPosition":"{rng.uniform(-1000, 1000):.2f}","dir":"Open Long","closedPnl":"0.0",'
        f'"hash":"0x{rng.getrandbits(256):064x}","oid":{200_000_000_000 + tid % 10**9},'
        f'"crossed":{crossed},"fee":"{rng.uniform(0, 5):.6f}","tid":{tid}{cloid},'
        f'"feeToken":"USDC","twapId":{"null" if twap_id is None else twap_id}}}]'
    )


def best_seconds(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def extract(folder: Path, work: Path) -> int:
    """The pipeline's source over `folder`, through dlt's extract; returns the fills it read."""
    pipeline = dlt.pipeline(
        pipeline_name="bench_fills",
        destination=dlt.destinations.filesystem(bucket_url=(work / "lake").as_uri()),
        pipelines_dir=str(work / "pipelines"),
        dataset_name="raw",
    )
    source = hyperliquid_twap(bucket_url=folder.as_uri())
    pipeline.extract(source, loader_file_format="parquet")
    metrics = source.resources["twap_status_events"].custom_metrics
    pipeline.drop_pending_packages()
    return metrics["fills"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=FILLS)
    parser.add_argument("--twap-share", type=float, default=TWAP_SHARE)
    args = parser.parse_args()
    log(f"making an hour of {args.fills:,} node fills ...")
    hour, slices = node_hour(args.fills, args.twap_share)
    with tempfile.TemporaryDirectory(prefix="twap-bench-fills-") as tmp:
        work = Path(tmp)
        source = work / "source"
        folder = source / "node_fills_by_block" / "hourly" / "20260701"
        folder.mkdir(parents=True)
        plain = work / "hour"
        plain.write_bytes(hour)
        framed = folder / "12.lz4"
        subprocess.run(["lz4", "-q", "-f", str(plain), str(framed)], check=True)
        plain.unlink()
        raw_mb, lz4_mb = len(hour) / 1e6, framed.stat().st_size / 1e6
        log(f"{raw_mb:.0f} MB of JSON lines, {lz4_mb:.0f} MB as LZ4, {slices:,} TWAP slices")
        shell = SHELL.format(file=framed)
        # grep counts lines: a block with two slices is one.
        found = int(subprocess.run(shell, shell=True, capture_output=True, text=True).stdout)
        assert 0 < found <= slices, (found, slices)
        shell_seconds = best_seconds(lambda: subprocess.run(shell, shell=True, check=True, capture_output=True))  # fmt: skip
        obj = SourceObject(framed.as_uri(), str(framed), "v", None, None)
        read_seconds = best_seconds(
            lambda: read_events(obj, framed.read_bytes(), KNOWN_LAYOUTS, datetime.now(UTC))
        )
        read = extract(source, work)
        assert read == slices, (read, slices)
        runs = iter(range(REPEATS))
        extract_seconds = best_seconds(lambda: extract(source, work / str(next(runs))))  # fmt: skip
    results = {
        "fills": args.fills,
        "twap_slices": slices,
        "blocks_with_a_slice": found,
        "megabytes_json": round(raw_mb, 1),
        "megabytes_lz4": round(lz4_mb, 1),
        "shell_seconds": round(shell_seconds, 3),
        "reader_seconds": round(read_seconds, 3),
        "reader_to_dlt_seconds": round(extract_seconds, 3),
        "shell_mb_per_second": round(raw_mb / shell_seconds),
        "reader_mb_per_second": round(raw_mb / read_seconds),
        "reader_to_dlt_mb_per_second": round(raw_mb / extract_seconds),
        # Above 1: the reader is faster per byte than the shell line (the target).
        "reader_to_dlt_over_shell": round(shell_seconds / extract_seconds, 2),
    }
    for key, value in results.items():
        log(f"{key}: {value}")
    log(f"results in {write_results('fills', results)}")


if __name__ == "__main__":
    main()
