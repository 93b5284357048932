"""Real data through `twap run`: every layout of DATA.md in one folder, node files over S3, bad
rows quarantined alone, ms-as-ns times corrected, first runs that load nothing, statuses beyond
the four (waiting, stopped, a word nobody has mapped) published."""

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests import vendor_files
from tests.conftest import S3, Twap
from tests.vendor_files import LAYOUT_FILES, Event, compressed, twaps
from twap.errors import EXIT_OBJECTS_FAILED

NOT_DATA = {
    "_SUCCESS": b"",
    "node_twap_statuses/20260717/.10.swp": b"\x00partial",
    "artemis/2026/07/17/10/part-1.parquet.tmp": b"PAR1 half written",
    "artemis/2026/07/17/10/part-0.parquet.crc": b"crc",
}
FIRST_ID = 3_000_000
FCT_TWAPS = """
    select twap_id, status, status_description, executed_size, executed_notional, event_count
    from marts.fct_twaps where twap_id between %s and %s order by twap_id
"""


def latest(events: list[Event]) -> list[tuple]:
    """What fct_twaps must say of `events` (two per TWAP, the terminal one last)."""
    terminal = events[1::2]
    return [
        (
            e.twap_id,
            e.status,
            e.description,
            Decimal(e.executed_sz),
            Decimal(e.executed_ntl),
            2,
        )
        for e in terminal
    ]


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def bad_row_object(events: list[Event]) -> bytes:
    """The canonical form of `events` with one unreadable amount in the second TWAP's end."""
    table = pq.read_table(pa.BufferReader(vendor_files.canonical(events)))
    sizes = table["executed_sz"].to_pylist()
    sizes[3] = "2,5"
    return vendor_files.parquet(table.set_column(8, "executed_sz", pa.array(sizes)))


WITH_START = [layout for layout in LAYOUT_FILES if layout.has_start]


def test_every_layout_in_one_folder_then_bad_rows_and_repaired_times(
    twap: Twap, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    expected: dict[str, list[tuple]] = {}
    for n, layout in enumerate(WITH_START):
        events = twaps(FIRST_ID + 10 * n)
        data = layout.write(events)
        # Every other one gzip-compressed, as vendors ship them; the format is still found.
        name = layout.filename
        if n % 2:
            data = compressed(data, "gzip")
            name += ".gz" if "." in name.rsplit("/", 1)[-1] else ""
        write(source / name, data)
        expected[name] = latest(layout.expected(events))
    repaired = twaps(FIRST_ID + 500)
    write(source / "artemis/2025/01/01/00/early.parquet", vendor_files.flattened_ms_as_ns(repaired))
    bad = twaps(FIRST_ID + 600)
    write(source / "sample/2026/07/17/11.parquet", bad_row_object(bad))
    for name, data in NOT_DATA.items():
        write(source / name, data)

    result = twap("run", "--source", str(source), check=False)

    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert "Traceback" not in result.stderr
    objects = len(WITH_START) + 2
    assert f" {objects} objects listed ({len(NOT_DATA)} skipped)" in result.stderr
    assert "1 rejected, 8 times corrected), 0 failed" in result.stderr
    bad_key = (source / "sample/2026/07/17/11.parquet").as_uri()
    assert f"rejected 1 rows of {bad_key}" in result.stderr
    assert " publish in " in result.stderr
    for n, (name, rows) in enumerate(expected.items()):
        first = FIRST_ID + 10 * n
        assert twap.query(FCT_TWAPS, (first, first + 9)) == rows, name
    assert twap.query(FCT_TWAPS, (FIRST_ID + 500, FIRST_ID + 509)) == latest(repaired)
    # The bad row's TWAP keeps its good event; the other TWAPs of its object are whole.
    bad_rows = latest(bad)
    bad_rows[1] = (FIRST_ID + 601, "activated", None, Decimal(0), Decimal(0), 1)
    assert twap.query(FCT_TWAPS, (FIRST_ID + 600, FIRST_ID + 609)) == bad_rows

    [(row, reason, verbatim)] = twap.query(
        "select object_row, reason, row from raw.twap_quarantined_rows where object_key = %s",
        (bad_key,),
    )
    assert (row, reason) == (3, "executed_sz '2,5' cannot be read")
    assert json.loads(verbatim)["executed_sz"] == "2,5"
    ledger = {
        key: tuple(counts)
        for key, *counts in twap.query(
            "select object_key, row_count, rejected_rows, repaired_times "
            "from raw.twap_ingest_objects"
        )
    }
    assert ledger[bad_key] == (7, 1, 0)
    assert ledger[(source / "artemis/2025/01/01/00/early.parquet").as_uri()] == (8, 0, 8)
    status = twap("status", check=False)
    assert status.returncode == EXIT_OBJECTS_FAILED
    assert f"rejected: {bad_key}: 1 rows, e.g. row 3: executed_sz '2,5' cannot be read" in (
        status.stdout
    )
    with sqlite3.connect(twap.home / "twap.db") as published:
        count = published.execute(
            "select count(*) from fct_twaps where twap_id between ? and ?",
            (FIRST_ID, FIRST_ID + 699),
        ).fetchone()
    assert count == (4 * (len(WITH_START) + 2),)


def test_layouts_without_a_start_time_publish_every_twap(twap: Twap, tmp_path: Path) -> None:
    """Needs the models to derive a missing start from the `activated` event (issue 9, item 3)."""
    source = tmp_path / "source"
    expected = []
    for n, layout in enumerate(LAYOUT_FILES):
        if not layout.has_start:
            events = twaps(FIRST_ID + 900 + 10 * n)
            write(source / layout.filename, layout.write(events))
            expected += latest(layout.expected(events))
    assert expected

    twap("run", "--source", str(source))

    assert twap.query(FCT_TWAPS, (FIRST_ID + 900, FIRST_ID + 999)) == expected
    assert twap.query(
        "select count(*) from marts.fct_twaps where twap_id >= %s and started_at is null",
        (FIRST_ID + 900,),
    ) == [(0,)]


def test_node_files_without_extension_over_s3(twap: Twap, s3: S3) -> None:
    s3.create_bucket("hl-node")
    client = s3.client()
    hourly = twaps(FIRST_ID + 700)
    blocks = twaps(FIRST_ID + 710)
    client.put_object(
        Bucket="hl-node", Key="data/node_twap_statuses/20260717/10", Body=vendor_files.node(hourly)
    )
    client.put_object(
        Bucket="hl-node",
        Key="data/node_twap_statuses_by_block/hourly/20260717/10",
        Body=compressed(vendor_files.node_by_block(blocks), "zstd"),
    )
    client.put_object(Bucket="hl-node", Key="data/node_twap_statuses/_SUCCESS", Body=b"")
    # A vendor nobody listed, mapped in dlt config (here its environment variable form).
    vendor = twaps(FIRST_ID + 720)
    client.put_object(Bucket="hl-node", Key="data/vendor/10.json", Body=own_layout(vendor))
    twap.env["SOURCES__HYPERLIQUID_TWAP__LAYOUTS"] = json.dumps(OWN_LAYOUT)

    result = twap("run", "--source", "s3://hl-node/data", "--s3-endpoint-url", s3.endpoint_url)

    assert " 3 objects listed (1 skipped)" in result.stderr
    assert twap.query(FCT_TWAPS, (FIRST_ID + 700, FIRST_ID + 729)) == (
        latest(hourly) + latest(blocks) + latest(vendor)
    )


OWN_LAYOUT = {
    "acme": {
        "columns": {
            "twap_id": "order",
            "event_time": "at",
            "status": "state",
            "status_description": "why",
            "wallet": "trader",
            "coin": "asset",
            "side": "direction",
            "sz": "qty",
            "executed_sz": "filled",
            "executed_ntl": "filled_usd",
            "started_at": "opened",
        },
        "statuses": {"live": "activated", "done": "finished", "killed": "terminated"},
        "sides": {"long": "B", "short": "A"},
        "time_unit": "ms",
    }
}


def own_layout(events: list[Event]) -> bytes:
    """A made-up vendor: its own names, status and side spellings, times in epoch ms."""
    spelled = {"activated": "live", "finished": "done", "terminated": "killed", "error": "error"}
    return b"".join(
        json.dumps(
            {
                "order": e.twap_id,
                "at": int(e.time.timestamp() * 1000),
                "state": spelled[e.status],
                "why": e.description,
                "trader": e.wallet,
                "asset": e.coin,
                "direction": {"B": "long", "A": "short"}[e.side],
                "qty": e.sz,
                "filled": e.executed_sz,
                "filled_usd": e.executed_ntl,
                "opened": int(e.started_at.timestamp() * 1000),
            }
        ).encode()
        + b"\n"
        for e in events
    )


def test_a_first_run_where_nothing_matches_or_every_object_is_bad(
    twap: Twap, tmp_path: Path
) -> None:
    source = tmp_path / "source"
    write(source / "_SUCCESS", b"")
    write(source / ".sync/state", b"{}")

    empty = twap("run", "--source", str(source))

    assert "nothing to build: no data files under" in empty.stderr
    assert "(skipped: 1 dot-file, 1 job marker)" in empty.stderr

    write(source / "junk", b"\x00\x01 not data")
    events = twaps(FIRST_ID + 800)
    every_row_bad = pq.read_table(pa.BufferReader(vendor_files.canonical(events)))
    every_row_bad = every_row_bad.set_column(6, "side", pa.array(["S"] * len(events)))
    write(source / "bad.parquet", vendor_files.parquet(every_row_bad))

    result = twap("run", "--source", str(source), check=False)

    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert "Traceback" not in result.stderr
    assert "does not exist" not in result.stderr  # no dbt error about a missing relation
    lines = [line for line in result.stderr.splitlines() if "nothing to build" in line]
    assert len(lines) == 1 and "no event rows loaded yet from the 2 objects" in lines[0]
    assert f"failed object {(source / 'junk').as_uri()}: unknown format" in result.stderr
    assert "build: started" not in result.stderr
    assert not (twap.home / "twap.db").exists()
    assert twap.query("select count(*) from raw.twap_quarantined_rows") == [(len(events),)]


def _statuses_beyond_the_four(first_id: int) -> tuple[list[Event], list[Event]]:
    """Saved websocket frames and a Bitquery `twap_statuses` file (DATA.md, Statuses beyond the
    four): a TWAP that waits for its trigger, activates and finishes; one still waiting; one
    stopped; one whose latest status is a word nobody has mapped."""
    at = datetime(2026, 7, 17, 9, 0, tzinfo=UTC)

    def event(n: int, minute: int, status: str, executed: str = "0") -> Event:
        return Event(
            twap_id=first_id + n,
            time=at + timedelta(minutes=minute),
            status=status,
            wallet=vendor_files.WALLETS[n],
            coin=("HYPE", "ETH", "BTC", "xyz:CRCL")[n],
            side="B" if n % 2 else "A",
            sz="10",
            executed_sz=executed,
            executed_ntl=str(int(executed) * 40),
            minutes=30,
            started_at=at,
        )

    frames = [
        event(0, 0, "waitingForTrigger"),
        event(1, 1, "waitingForTrigger"),
        event(0, 5, "activated"),
        event(0, 35, "finished", "10"),
    ]
    bitquery = [
        event(2, 0, "activated"),
        event(2, 12, "stopped", "4"),
        event(3, 0, "activated"),
        event(3, 20, "pausedByOracle", "6"),
    ]
    return frames, bitquery


def test_statuses_beyond_the_four_publish_every_twap(twap: Twap, tmp_path: Path) -> None:
    first = FIRST_ID + 1000
    frames, bitquery = _statuses_beyond_the_four(first)
    source = tmp_path / "source"
    # A later snapshot frame repeats what the first frames said: every event counts once.
    resent = vendor_files.websocket_frames(frames[:3]).splitlines(keepends=True)[0]
    write(source / "ws/userTwapHistory.jsonl", vendor_files.websocket_frames(frames) + resent)
    write(source / "bitquery/twap_statuses.json", vendor_files.bitquery_twap_statuses(bitquery))

    result = twap("run", "--source", str(source))

    assert "kept 1 events with status 'pausedByOracle'" in result.stderr
    # Staging's twap_status_is_known, and the status columns of fct_twaps and of the events.
    assert re.search(r"\d+ tests passed, 3 tests warn;", result.stderr), result.stderr
    assert "(11 rows loaded, 3 duplicates merged)" in result.stderr
    query = """
        select twap_id, status, is_active, event_count, executed_size
        from marts.fct_twaps where twap_id >= %s order by twap_id
    """
    assert twap.query(query, (first,)) == [
        (first, "finished", False, 3, Decimal(10)),
        (first + 1, "waitingForTrigger", False, 1, Decimal(0)),
        (first + 2, "stopped", False, 2, Decimal(4)),
        (first + 3, "pausedByOracle", False, 2, Decimal(6)),
    ]
    timeline = "select status from marts.fct_twap_status_events where twap_id = %s order by 1"
    assert twap.query(timeline, (first,)) == [("activated",), ("finished",), ("waitingForTrigger",)]
    # Waiting and unknown: no pressure, and only the stopped TWAP ended.
    assert twap.query("select count(*) from marts.fct_active_twaps where twap_id >= %s", (first,)) == [(0,)]  # fmt: skip
    flows = "select sum(twaps_finished), sum(twaps_terminated) from marts.fct_coin_daily_flows where coin in ('HYPE', 'BTC', 'ETH', 'xyz:CRCL') and flow_date = '2026-07-17'"  # fmt: skip
    assert twap.query(flows) == [(1, 1)]
    wallets = "select waiting_count, unknown_status_count from marts.dim_wallets where wallet = %s"
    assert twap.query(wallets, (vendor_files.WALLETS[1].lower(),)) == [(1, 0)]
    assert twap.query(wallets, (vendor_files.WALLETS[3].lower(),)) == [(0, 1)]
    # Every event is a row the ledger counts, none rejected; the warning is dbt's.
    assert twap.query("select sum(row_count), sum(rejected_rows) from raw.twap_ingest_objects") == [
        (len(frames) + 3 + len(bitquery), 0)
    ]
    status = twap("status")
    assert "rows rejected:  0" in status.stdout
    assert "unknown status: 'pausedByOracle' in 1 current events" in status.stdout
    with sqlite3.connect(twap.home / "twap.db") as published:
        served = published.execute(
            "select twap_id, status from fct_twaps where twap_id >= ? order by twap_id", (first,)
        ).fetchall()
    assert [status for _, status in served] == [
        "finished",
        "waitingForTrigger",
        "stopped",
        "pausedByOracle",
    ]
    # The warning's failing rows name the word and how many events carry it.
    assert twap.query(
        "select value_field, n_records from dbt_test__audit.twap_status_is_known"
    ) == [("pausedByOracle", 1)]
