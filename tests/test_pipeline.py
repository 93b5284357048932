"""End to end from a real S3 endpoint: sample data -> `twap run` -> marts, then incremental runs."""

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate
from tests.conftest import S3, Twap
from tests.expected import Latest, latest_by_twap, read_events

PREFIX = "raw/twap_statuses"
MART_ROWS = """
    select twap_id, status, (extract(epoch from status_at) * 1000000)::bigint, wallet, side,
           executed_size, event_count
    from marts.fct_twaps
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=2, seed=11)
    return out


def mart(twap: Twap) -> dict[int, Latest]:
    return {row[0]: Latest(*row[1:]) for row in twap.query(MART_ROWS)}


def test_run_from_s3_matches_an_independent_computation_and_is_incremental(
    twap: Twap, s3: S3, sample: Path, tmp_path: Path
) -> None:
    s3.create_bucket("twap-e2e")
    keys = s3.upload_dir(sample, "twap-e2e", PREFIX)
    run = ("run", "--source", f"s3://twap-e2e/{PREFIX}", "--s3-endpoint-url", s3.endpoint_url)

    first = twap(*run)
    assert (
        f"{len(keys)} objects listed (0 skipped), {len(keys)} to read ({len(keys)} new, 0 changed, "
        f"0 failed before), {len(keys)} loaded" in first.stderr
    )
    events = read_events(sample)
    expected = latest_by_twap(events)
    assert mart(twap) == expected
    assert {status for status, in twap.query("select status from marts.fct_twaps")} == {
        "activated", "finished", "terminated", "error",
    }  # fmt: skip
    # Overlapping objects repeat some events: raw keeps every source row, the mart counts once.
    assert twap.query("select count(*) from raw.twap_status_events") == [(len(events),)]
    assert sum(latest.event_count for latest in expected.values()) < len(events)
    loads_before = twap.query(
        "select object_key, _dlt_load_id from raw.twap_status_events order by 1, 2"
    )

    served = os.readlink(twap.home / "twap.db")
    builds = twap.query("select count(*) from intermediate.dbt_build_log")
    second = twap(*run)
    assert "0 to read (0 new, 0 changed, 0 failed before), 0 loaded (0 rows, " in second.stderr
    # Nothing new: no dbt run, no new publication.
    assert "nothing new; the served version is up to date" in second.stderr
    assert twap.query("select count(*) from intermediate.dbt_build_log") == builds
    assert os.readlink(twap.home / "twap.db") == served
    assert (
        twap.query("select object_key, _dlt_load_id from raw.twap_status_events order by 1, 2")
        == loads_before
    )

    # A new hourly object finishes five running TWAPs: only those change.
    before = mart(twap)
    running = [
        twap_id for twap_id, latest in sorted(before.items()) if latest.status == "activated"
    ][:5]
    assert len(running) == 5
    new_object = tmp_path / "next.parquet"
    pq.write_table(finished_events(twap, running), new_object)
    s3.client().upload_file(str(new_object), "twap-e2e", f"{PREFIX}/2026/07/03/00.parquet")

    third = twap(*run)
    assert "1 to read (1 new, 0 changed, 0 failed before), 1 loaded (5 rows, " in third.stderr
    after = mart(twap)
    changed = {twap_id for twap_id in after if after[twap_id] != before[twap_id]}
    assert changed == set(running)
    assert all(after[twap_id].status == "finished" for twap_id in running)
    assert all(after[twap_id].event_count == before[twap_id].event_count + 1 for twap_id in running)
    # The earlier objects were not read or written again.
    old_rows = twap.query(
        "select object_key, _dlt_load_id from raw.twap_status_events where object_key <> %s",
        (f"s3://twap-e2e/{PREFIX}/2026/07/03/00.parquet",),
    )
    assert sorted(old_rows) == sorted(loads_before)


def finished_events(twap: Twap, twap_ids: list[int]) -> pa.Table:
    """`finished` events for running TWAPs, in the canonical form with decimal strings."""
    rows = twap.query(
        """
        select twap_id, started_at, wallet, coin, side, size::text, minutes
        from marts.fct_twaps where twap_id = any(%s) order by twap_id
        """,
        (twap_ids,),
    )
    return pa.table(
        {
            "twap_id": [r[0] for r in rows],
            "event_time": pa.array(
                [r[1] + timedelta(minutes=r[6], seconds=2) for r in rows], pa.timestamp("us", "UTC")
            ),
            "status": ["finished"] * len(rows),
            "wallet": [r[2] for r in rows],
            "coin": [r[3] for r in rows],
            "side": ["B" if r[4] == "buy" else "A" for r in rows],
            "sz": [r[5] for r in rows],
            "executed_sz": [r[5] for r in rows],
            "executed_ntl": [str(Decimal(r[5]) * 10) for r in rows],
            "minutes": [r[6] for r in rows],
            "started_at": pa.array([r[1] for r in rows], pa.timestamp("ms", "UTC")),
        }
    )


def test_local_paths_and_file_urls_load_the_same(twap: Twap, sample: Path) -> None:
    twap("load", "--source", str(sample))
    count = twap.query("select count(*) from raw.twap_status_events")
    result = twap("load", "--source", sample.as_uri())
    assert "0 to read" in result.stderr
    assert twap.query("select count(*) from raw.twap_status_events") == count


def node_form(rows: list[dict]) -> pa.Table:
    """Rows in the node's own layout: ISO times without zone, `state` struct, decimal strings."""
    state = [
        {
            "coin": "HYPE", "user": "0xBCB80000000000000000000000000000000000C3", "side": "B",
            "sz": "168.46", "executedSz": row["executed"], "executedNtl": row["notional"],
            "minutes": 270, "reduceOnly": False, "randomize": False, "timestamp": 1784268840523,
        }
        for row in rows
    ]  # fmt: skip
    return pa.table(
        {
            "time": [row["time"] for row in rows],
            "twap_id": [row["twap_id"] for row in rows],
            "state": state,
            "status": [row["status"] for row in rows],
        }
    )


def test_latest_status_rule_end_to_end(twap: Twap, tmp_path: Path) -> None:
    """Out-of-order objects, a tie at the same instant, and a duplicated event, via the node form."""
    source = tmp_path / "node"
    source.mkdir()
    pq.write_table(
        node_form(
            [
                # TWAP 10's terminal event sits in an earlier object than its activation.
                {
                    "twap_id": 10,
                    "time": "2026-07-17T10:44:02.033",
                    "status": "finished",
                    "executed": "168.46",
                    "notional": "10037.45318",
                },
                {
                    "twap_id": 20,
                    "time": "2026-07-17T10:00:00.000",
                    "status": "activated",
                    "executed": "0.0",
                    "notional": "0.0",
                },
                {
                    "twap_id": 30,
                    "time": "2026-07-17T09:00:00.000000001",
                    "status": "activated",
                    "executed": "0.0",
                    "notional": "0.0",
                },
            ]
        ),
        source / "10.parquet",
    )
    pq.write_table(
        node_form(
            [
                {"twap_id": 10, "time": "2026-07-17T06:14:00.523", "status": "activated", "executed": "0.0", "notional": "0.0"},
                # Same instant as the activation: the terminal status wins.
                {"twap_id": 20, "time": "2026-07-17T10:00:00.000", "status": "terminated", "executed": "0.0", "notional": "0.0"},
                # An exact repeat of the other object's event counts once.
                {"twap_id": 30, "time": "2026-07-17T09:00:00.000000001", "status": "activated", "executed": "0.0", "notional": "0.0"},
            ]
        ),
        source / "11.parquet",
    )  # fmt: skip

    twap("run", "--source", str(source))

    rows = twap.query(
        """
        select twap_id, status, event_count, is_active, wallet, side, executed_notional::text,
               round(avg_price, 6)::text
        from marts.fct_twaps order by twap_id
        """
    )
    wallet = "0xbcb80000000000000000000000000000000000c3"
    assert rows == [
        (10, "finished", 2, False, wallet, "buy", "10037.45318", "59.583600"),
        (20, "terminated", 2, False, wallet, "buy", "0.0", None),
        (30, "activated", 1, True, wallet, "buy", "0.0", None),
    ]
