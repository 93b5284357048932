"""Every layout and format of DATA.md read back to the same canonical events (pyarrow only, no
database): formats found from content, compression, status spellings, bad rows rejected alone."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.errors import BadObjectError
from dlt_pipelines.listing import SourceObject
from dlt_pipelines.readers.formats import not_data_reason, read_table
from dlt_pipelines.readers.layouts import KNOWN_LAYOUTS, layouts_from_config
from dlt_pipelines.readers.objects import BatchRead, read_batch, read_events
from tests import vendor_files
from tests.vendor_files import LAYOUT_FILES, Event, LayoutFile, compressed, twaps

NOW = datetime(2026, 7, 20, tzinfo=UTC)
OBJECT = SourceObject("file:///source/object", "/source/object", "v1", None, None)


def read(data: bytes, layouts=KNOWN_LAYOUTS) -> BatchRead:
    return read_events(OBJECT, data, layouts, NOW)


def canonical_rows(read: BatchRead) -> list[tuple]:
    return [
        (
            row["twap_id"],
            row["event_time"],
            row["status"],
            row["status_description"],
            row["wallet"],
            row["coin"],
            row["side"],
            Decimal(row["sz"]),
            Decimal(row["executed_sz"]),
            Decimal(row["executed_ntl"]),
            row["minutes"],
            row["started_at"],
        )
        for row in read.events.to_pylist()
    ]


def expected_rows(events: list[Event]) -> list[tuple]:
    return [
        (
            e.twap_id,
            e.time,
            e.status,
            e.description,
            e.wallet,
            e.coin,
            e.side,
            Decimal(e.sz),
            Decimal(e.executed_sz),
            Decimal(e.executed_ntl),
            e.minutes,
            e.started_at,
        )
        for e in events
    ]


@pytest.mark.parametrize("layout", LAYOUT_FILES, ids=lambda f: f.filename.split("/")[0])
@pytest.mark.parametrize("codec", [None, "gzip"])
def test_each_layout_reads_back_to_the_same_events(layout: LayoutFile, codec: str | None) -> None:
    events = twaps(2_000_000)
    data = layout.write(events)
    result = read(compressed(data, codec) if codec else data)
    assert result.objects[OBJECT].layout == layout.name
    assert result.rejected.num_rows == 0
    assert canonical_rows(result) == expected_rows(layout.expected(events))
    # Row numbers follow the object's events; lineage names the object.
    assert result.events.column("object_row").to_pylist() == list(range(len(events)))
    assert set(result.events.column("object_key").to_pylist()) == {OBJECT.key}


@pytest.mark.parametrize("codec", ["zstd", "lz4"])
def test_zstd_and_lz4_are_found_from_the_first_bytes(codec: str) -> None:
    events = twaps(2_000_000)
    result = read(compressed(vendor_files.node(events), codec))
    assert canonical_rows(result) == expected_rows(events)


def test_node_file_mixes_string_and_error_object_statuses() -> None:
    data = vendor_files.node(twaps(2_000_000))
    assert b'"status": {"error": ' in data and b'"status": "finished"' in data
    statuses = read(data).events.select(["status", "status_description"]).to_pylist()
    assert {"status": "error", "status_description": vendor_files.ERROR} in statuses


def test_csv_delimiter_is_sniffed() -> None:
    events = twaps(2_000_000)
    semicolons = vendor_files.coinapi(events)
    tabs = semicolons.replace(b";", b"\t")
    assert canonical_rows(read(tabs)) == canonical_rows(read(semicolons))


def test_csv_with_a_byte_order_mark_and_crlf_lines() -> None:
    events = twaps(2_000_000)
    data = vendor_files.coinapi(events)
    windows = b"\xef\xbb\xbf" + data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    assert canonical_rows(read(windows)) == canonical_rows(read(data))


def test_twap_history_kept_as_a_json_array() -> None:
    events = twaps(2_000_000)
    records = [json.loads(line) for line in vendor_files.twap_history_json(events).splitlines()]
    result = read(json.dumps(records).encode())
    assert result.objects[OBJECT].layout == "info API twapHistory"
    assert len(canonical_rows(result)) == len(events)


def test_milliseconds_stored_as_nanoseconds_are_corrected_and_counted() -> None:
    events = twaps(2_000_000)
    result = read(vendor_files.flattened_ms_as_ns(events))
    assert result.objects[OBJECT].repaired == len(events)
    assert result.rejected.num_rows == 0
    expected = LayoutFile("flattened", vendor_files.flattened, "x", vendor_files.timedelta(milliseconds=1))  # fmt: skip
    assert canonical_rows(result) == expected_rows(expected.expected(events))


def bad_rows(**changes: object) -> bytes:
    """The canonical form of `twaps`, with row 1 changed."""
    table = pq.read_table(pa.BufferReader(vendor_files.canonical(twaps(2_000_000))))
    rows = table.to_pylist()
    rows[1].update(changes)
    return vendor_files.parquet(pa.Table.from_pylist(rows))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"twap_id": None}, "twap_id is missing"),
        ({"event_time": None}, "event_time is missing"),
        ({"event_time": datetime(2019, 1, 1, tzinfo=UTC)}, "is not a time from 2023"),
        ({"event_time": datetime(2026, 7, 22, tzinfo=UTC)}, "up to a day after the run"),
        ({"status": "on hold!"}, "status 'on hold!' is not a status word"),
        ({"status": ""}, "status '' is not a status word"),
        ({"status": None}, "status is missing"),
        ({"wallet": "0x9d6a…b8"}, "wallet '0x9d6a…b8' is not 0x and 40 hex digits"),
        ({"coin": None}, "coin is missing"),
        ({"side": "X"}, "side 'X' is not B or A"),
        ({"sz": "12,5"}, "sz '12,5' cannot be read"),
        ({"executed_ntl": "-3.5"}, "executed_ntl '-3.5' is negative"),
        ({"started_at": datetime(1999, 1, 1, tzinfo=UTC)}, "started_at '1999-01-01"),
    ],
)
def test_a_bad_row_is_rejected_alone_with_its_reason(changes: dict, reason: str) -> None:
    result = read(bad_rows(**changes))
    assert result.events.num_rows == 7
    assert 1 not in result.events.column("object_row").to_pylist()
    rejected = result.rejected.to_pylist()
    assert [(r["object_row"], r["object_key"]) for r in rejected] == [(1, OBJECT.key)]
    assert reason in rejected[0]["reason"]
    assert json.loads(rejected[0]["row"])["twap_id"] == changes.get("twap_id", 2_000_000)


def test_status_words_are_hyperliquids_spelling_and_an_unknown_word_is_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DATA.md, Statuses beyond the four: known words in any case become Hyperliquid's spelling;
    a word nobody has mapped is kept as written, with one warning line naming it."""
    table = pq.read_table(pa.BufferReader(vendor_files.canonical(twaps(2_000_000))))
    written = ["WAITINGFORTRIGGER", "Activated", "stopped", "Finished", "pausedByOracle"]
    statuses = written + table["status"].to_pylist()[len(written) :]
    result = read(vendor_files.parquet(table.set_column(2, "status", pa.array(statuses))))
    assert result.rejected.num_rows == 0
    assert result.events["status"].to_pylist()[: len(written)] == [
        "waitingForTrigger",
        "activated",
        "stopped",
        "finished",
        "pausedByOracle",
    ]
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "kept 1 events with status 'pausedByOracle'" in warning


def test_websocket_frames_unwrap_data_history_and_repeat_what_a_snapshot_said() -> None:
    """A later snapshot repeats earlier records: the reader keeps every copy (the models count
    one event once, tests/test_real_data.py)."""
    events = twaps(2_000_000)
    frames = vendor_files.websocket_frames(events)
    resent = frames + vendor_files.websocket_frames(events[:4]).splitlines(keepends=True)[0]
    result = read(resent)
    assert result.objects[OBJECT].layout == "websocket userTwapHistory"
    rows = canonical_rows(result)
    assert rows[: len(events)] == canonical_rows(read(frames))
    assert rows[len(events) :] == rows[:4]


def test_a_users_layout_unwraps_records_under_a_path() -> None:
    """A saved REST response `{"type": ..., "data": [records]}`: one line of config."""
    events = twaps(2_000_000)
    records = [json.loads(line) for line in vendor_files.twap_history_json(events).splitlines()]
    response = json.dumps({"type": "twapHistory", "data": records}).encode()
    columns = {
        "twap_id": "twapId",
        "event_time": "time",
        "status": "status.status",
        "status_description": "status.description",
        **{name: f"state.{name}" for name in ("coin", "side", "sz")},
        "wallet": "state.user",
    }
    config = {"saved": {"columns": columns, "time_unit": "s", "unnest": "data"}}
    result = read(response, layouts_from_config(config))
    assert result.objects[OBJECT].layout == "saved"
    assert result.events["twap_id"].to_pylist() == [e.twap_id for e in events]


def test_missing_optional_fields_are_null() -> None:
    table = pq.read_table(pa.BufferReader(vendor_files.canonical(twaps(2_000_000))))
    result = read(vendor_files.parquet(table.drop(["started_at", "minutes", "reduce_only"])))
    assert result.rejected.num_rows == 0
    assert set(result.events.column("started_at").to_pylist()) == {None}
    assert set(result.events.column("minutes").to_pylist()) == {None}


def test_a_users_layout_from_config_reads_a_new_vendor() -> None:
    config = {
        "quicknode": {
            "columns": {
                "twap_id": "id",
                "event_time": "ts",
                "status": "state",
                "wallet": "address",
                "coin": "market",
                "side": "direction",
                "sz": ["size", "qty"],
            },
            "statuses": {"done": "finished", "live": "activated"},
            "sides": {"long": "B", "short": "A"},
            "time_unit": "ms",
        }
    }
    rows = [
        {
            "id": 7,
            "ts": 1769612405423,
            "state": "LIVE",
            "address": vendor_files.WALLETS[0],
            "market": "BTC",
            "direction": "long",
            "qty": "0.5",
        },
        {
            "id": 7,
            "ts": 1769612705423,
            "state": "done",
            "address": vendor_files.WALLETS[0],
            "market": "BTC",
            "direction": "long",
            "qty": "0.5",
        },
    ]
    data = b"\n".join(json.dumps(row).encode() for row in rows)
    result = read(data, layouts_from_config(config))
    assert result.objects[OBJECT].layout == "quicknode"
    assert result.events.select(["status", "side", "sz"]).to_pylist() == [
        {"status": "activated", "side": "B", "sz": "0.5"},
        {"status": "finished", "side": "B", "sz": "0.5"},
    ]
    assert result.events.column("event_time")[0].as_py() == datetime(
        2026, 1, 28, 15, 0, 5, 423000, tzinfo=UTC
    )


FULL = {name: name for name in ("twap_id", "event_time", "status", "wallet", "coin", "side")}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"x": {"columns": {"twap_id": "id"}}}, "layout 'x'"),
        ({"x": {"columns": {"colour": "c"}}}, "unknown canonical column(s) colour"),
        ({"x": {"columns": FULL, "statuses": {"done": "complete"}}}, "statuses map to complete"),
        ({"x": {"columns": FULL, "time_unit": "minutes"}}, "time_unit is one of s, ms"),
    ],
)
def test_a_malformed_user_layout_is_named(config: dict, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        layouts_from_config(config)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01\x02binary junk", "unknown format: first bytes 00 01 02"),
        (b"a,b\x00\x01,c\n", "unknown format"),
        (compressed(b"\x00\x01\x02junk", "gzip"), "unknown format inside gzip"),
        (b"\x1f\x8b truncated gzip", "not a readable gzip file"),
        (b"PAR1 not really parquet", "not a readable parquet file"),
        (b'{"twap_id": 1, "colour": "red"}\n', "no layout fits: missing required column(s)"),
        (b"", "unknown format"),
        (
            json.dumps({f"c{n}": n for n in range(30)}).encode(),
            "columns present: c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, "
            "c15, c16, c17, c18, c19 and 10 more (map",
        ),
    ],
)
def test_an_unreadable_object_fails_alone_with_one_line(data: bytes, message: str) -> None:
    with pytest.raises(BadObjectError) as caught:
        read(data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("2026/07/01/.10.parquet.abc123", "dot-file"),
        (".sync/state/10", "dot-file"),
        ("2026/07/01/10.parquet.tmp", "temporary file of a sync in progress"),
        ("2026/07/01/_SUCCESS", "job marker"),
        ("_temporary/0/part-0.parquet", "temporary file of a sync in progress"),
        ("2026/07/01/10.parquet.crc", "checksum"),
        ("SHA256SUMS", "checksum"),
        ("node_twap_statuses/20260717/10", None),
        ("x/10.csv.gz", None),
    ],
)
def test_files_that_are_not_data_are_named(path: str, reason: str | None) -> None:
    assert not_data_reason(path) == reason


def test_a_batch_reads_each_layout_once_and_counts_each_object() -> None:
    objects = [
        SourceObject(f"file:///source/{name}", f"/source/{name}", "v1", None, None)
        for name in ("a", "b", "c", "d")
    ]
    tables = {
        objects[0]: vendor_files.canonical(twaps(2_000_000)),
        objects[1]: bad_rows(side="X"),
        objects[2]: vendor_files.node(twaps(2_000_100)),
        objects[3]: b'{"price": 1}\n',
    }
    batch = read_batch({obj: read_table(data) for obj, data in tables.items()}, KNOWN_LAYOUTS, NOW)
    assert {obj.key: (s.layout, s.rows, s.rejected) for obj, s in batch.objects.items()} == {
        objects[0].key: ("canonical", 8, 0),
        objects[1].key: ("canonical", 7, 1),
        objects[2].key: ("node", 8, 0),
    }
    assert (
        batch.objects[objects[1]].first_rejection == "row 1: side 'X' is not B or A (buy or sell)"
    )
    assert "no layout fits" in batch.failed[objects[3]]
    keys = batch.events.column("object_key").to_pylist()
    assert [keys.count(obj.key) for obj in objects] == [8, 7, 8, 0]
    assert batch.rejected.column("object_key").to_pylist() == [objects[1].key]
