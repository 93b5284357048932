"""The sample generator: deterministic, and shaped like the real data (DATA.md)."""

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
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


def test_cli_writes_sample_data_ending_at_the_current_hour(tmp_path: Path) -> None:
    from twap.cli import main

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert main(["--home", str(tmp_path), "sample-data", "--days", "1", "--seed", "5"]) == 0
    keys = sorted(p.relative_to(tmp_path / "sample") for p in (tmp_path / "sample").rglob("*.*"))
    # The demo's window: the 24 hours before the current one (or the next, if the clock turns).
    assert len(keys) == 24
    assert keys[-1].as_posix() in (
        f"{hour - timedelta(hours=h):%Y/%m/%d/%H}.parquet" for h in (1, 0)
    )


def test_a_window_reaching_past_now_stops_at_the_current_hour(tmp_path: Path) -> None:
    """`--days 365` from a day in the past: no event the pipeline would reject as from the
    future (normalise.LATEST_AHEAD), and as many TWAPs a day as before."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    summary = generate(tmp_path, days=365, seed=2, start=hour - timedelta(days=2), twaps_per_day=24)
    assert summary.twaps == 48
    events = pq.read_table(tmp_path)["event_time"].cast(pa.timestamp("us", "UTC"), safe=False)
    assert pc.max(events).as_py() < hour
    assert summary.objects == len(list(tmp_path.rglob("*.parquet"))) <= 48


def test_a_start_in_the_future_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from twap.cli import main

    later = datetime.now(UTC) + timedelta(days=2)
    argv = ["--home", str(tmp_path), "sample-data", "--start", f"{later:%Y-%m-%d}"]
    assert main(argv) == 1
    assert "is not in the past: the sample ends at the current hour" in capsys.readouterr().err
    assert not (tmp_path / "sample").exists()
