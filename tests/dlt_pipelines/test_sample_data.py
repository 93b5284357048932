"""The sample generator: deterministic, and shaped like the real data (DATA.md)."""

import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=2, seed=3)
    return out


def rows_by_object(root: Path) -> dict[str, list[dict]]:
    return {
        path.relative_to(root).as_posix(): pq.read_table(path).drop(["event_time"]).to_pylist()
        for path in sorted(root.rglob("*.parquet"))
    }


def test_same_seed_same_objects_other_seed_other_objects(sample: Path, tmp_path: Path) -> None:
    generate(tmp_path / "again", days=2, seed=3)
    generate(tmp_path / "other", days=2, seed=4)
    assert rows_by_object(tmp_path / "again") == rows_by_object(sample)
    assert rows_by_object(tmp_path / "other") != rows_by_object(sample)


def test_hourly_objects_with_realistic_events(sample: Path) -> None:
    objects = rows_by_object(sample)
    assert len(objects) == 48
    assert all(key.count("/") == 3 and key.endswith(".parquet") for key in objects)
    events = [(key, row) for key, rows in objects.items() for row in rows]
    statuses = Counter(row["status"] for _, row in events)
    assert set(statuses) == {"activated", "finished", "terminated", "error"}
    assert statuses["finished"] > statuses["terminated"] > statuses["error"]
    # Most TWAPs have their activation and terminal event in different hourly objects.
    objects_of = defaultdict(set)
    for key, row in events:
        objects_of[row["twap_id"]].add(key)
    assert sum(len(keys) > 1 for keys in objects_of.values()) > len(objects_of) / 2
    coins = {row["coin"] for _, row in events}
    assert {"BTC", "HYPE"} <= coins
    assert any(coin.startswith("@") for coin in coins)
    assert any(":" in coin for coin in coins)
    for _, row in events:
        assert isinstance(row["sz"], str)
        assert Decimal(row["executed_sz"]) <= Decimal(row["sz"])
        assert row["side"] in ("A", "B")
    # Heavy-tailed wallets: the busiest 1% place far more than 1% of the TWAPs.
    per_wallet = Counter(row["wallet"] for _, row in events if row["status"] == "activated")
    top = sum(count for _, count in per_wallet.most_common(len(per_wallet) // 100 or 1))
    assert top > 0.1 * sum(per_wallet.values())


def test_cli_writes_sample_data(tmp_path: Path) -> None:
    from twap.cli import main

    assert main(["--home", str(tmp_path), "sample-data", "--days", "1", "--seed", "5"]) == 0
    assert len(list((tmp_path / "sample").rglob("*.parquet"))) == 24


def test_fills_are_the_slices_of_the_twaps_in_the_node_form(tmp_path: Path) -> None:
    summary = generate(tmp_path, days=1, seed=5, twaps_per_day=120, fill_hours=24)
    hours = sorted((tmp_path / "node_fills_by_block" / "hourly").glob("*/*"))
    assert len(hours) == summary.fill_objects == 24
    assert hours[0].relative_to(tmp_path).as_posix() == "node_fills_by_block/hourly/20260701/0"
    blocks = [json.loads(line) for hour in hours for line in hour.read_text().splitlines()]
    assert all(
        set(block) == {"local_time", "block_time", "block_number", "events"} for block in blocks
    )
    fills = [(user, fill) for block in blocks for user, fill in block["events"]]
    slices = [(user, fill) for user, fill in fills if fill["twapId"] is not None]
    assert len(slices) == summary.fills
    # Every slice beside its counterparty (same trade, other side, no twapId); other trades too.
    by_tid = defaultdict(list)
    for _, fill in fills:
        by_tid[fill["tid"]].append(fill)
    for _, fill in slices:
        sides = {(each["side"], each["twapId"] is None) for each in by_tid[fill["tid"]]}
        assert sides == {(fill["side"], False), ("A" if fill["side"] == "B" else "B", True)}
    assert sum(
        len(trade) == 2 and all(f["twapId"] is None for f in trade) for trade in by_tid.values()
    )
    # Each ended TWAP: a slice every 30 s from its start, sizes adding up to its executed size.
    events = [row for rows in rows_by_object(tmp_path).values() for row in rows]
    terminal = {row["twap_id"]: row for row in events if row["status"] != "activated"}
    started = {row["twap_id"]: row["started_at"] for row in events if row["status"] == "activated"}
    of_twap = defaultdict(list)
    for user, fill in slices:
        of_twap[fill["twapId"]].append((user, fill))
    checked = 0
    for twap_id, row in terminal.items():
        if twap_id not in started or twap_id not in of_twap:
            continue
        twap_fills = of_twap[twap_id]
        assert sum(Decimal(fill["sz"]) for _, fill in twap_fills) == Decimal(row["executed_sz"])
        assert {user for user, _ in twap_fills} == {row["wallet"]}
        times = sorted(fill["time"] for _, fill in twap_fills)
        start_ms = int(started[twap_id].timestamp() * 1000)
        assert all((t - start_ms) // 100 * 100 % 30_000 in (0, 29_900) for t in times)
        checked += 1
    assert checked > 50
    prices = {
        Decimal(fill["px"]) for _, fill in of_twap[max(of_twap, key=lambda t: len(of_twap[t]))]
    }
    assert len(prices) > 1  # prices wander


def test_the_status_events_do_not_depend_on_the_fills(tmp_path: Path) -> None:
    generate(tmp_path / "without", days=1, seed=6, twaps_per_day=50)
    generate(tmp_path / "with", days=1, seed=6, twaps_per_day=50, fill_hours=3)
    assert rows_by_object(tmp_path / "with") == rows_by_object(tmp_path / "without")
    assert not (tmp_path / "without" / "node_fills_by_block").exists()
