"""TWAP slice fills in every form the exchange and vendors keep them (DATA.md, Slice fills): only
fills with a twapId are kept, the rest never parsed; a bad slice fill is rejected alone."""

import csv
import io
import json
import subprocess
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.listing import SourceObject
from dlt_pipelines.readers.fill_lines import twap_fill_lines
from dlt_pipelines.readers.layouts import KNOWN_LAYOUTS, layouts_from_config
from dlt_pipelines.readers.objects import BatchRead, read_events
from dlt_pipelines.settings import FILL_SCHEMA, LINEAGE_SCHEMA
from tests.vendor_files import compressed

NOW = datetime(2026, 7, 2, tzinfo=UTC)
OBJECT = SourceObject("file:///fills/20260701/12", "/fills/20260701/12", "v1", 1, None)
TWAP_WALLET = "0x" + "a1" * 20
OTHER_WALLET = "0x" + "b2" * 20
TIME_MS = 1_782_907_200_250  # 2026-07-01 12:00:00.250 UTC


def fill(tid: int, twap_id: int | None, **fields: object) -> dict:
    """A fill as Hyperliquid writes it (field order of the node and the info API)."""
    return {
        "coin": "HYPE",
        "px": "42.017",
        "sz": "1.25",
        "side": "B",
        "time": TIME_MS,
        "startPosition": "10.5",
        "dir": "Open Long",
        "closedPnl": "0.0",
        "hash": "0x" + "0" * 64,
        "oid": 200_000_000_001,
        "crossed": True,
        "fee": "0.023634",
        "tid": tid,
        "feeToken": "USDC",
        "twapId": twap_id,
        **fields,
    }


def slice_and_counterparty(tid: int, twap_id: int) -> list[list]:
    """One TWAP slice's trade: the TWAP's side with its twapId, the other side without."""
    return [
        [TWAP_WALLET, fill(tid, twap_id)],
        [OTHER_WALLET, fill(tid, None, side="A", dir="Open Short", crossed=False)],
    ]


def compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


def by_block(*blocks: list[list]) -> bytes:
    """`node_fills_by_block`: one block per line."""
    return "\n".join(
        compact(
            {
                "local_time": "2026-07-01T12:00:00.290118",
                "block_time": "2026-07-01T12:00:00.250000",
                "block_number": 640_000_000 + number,
                "events": events,
            }
        )
        for number, events in enumerate(blocks)
    ).encode()


def read(data: bytes, layouts: tuple = KNOWN_LAYOUTS) -> BatchRead:
    return read_events(OBJECT, data, layouts, NOW)


def kept(result: BatchRead) -> list[tuple]:
    assert result.fills is not None
    return [(row["twap_id"], row["tid"], row["wallet"]) for row in result.fills.to_pylist()]


def test_node_blocks_keep_only_twap_slices_not_their_counterparties_or_other_fills() -> None:
    data = by_block(
        [*slice_and_counterparty(11, 7), [OTHER_WALLET, fill(12, None)]],
        [],  # a block with no fills
        [[OTHER_WALLET, fill(13, None)], *slice_and_counterparty(14, 8)],
    )

    result = read(data)

    assert kept(result) == [(7, 11, TWAP_WALLET), (8, 14, TWAP_WALLET)]
    assert result.events is None and result.rejected.num_rows == 0
    assert result.objects[OBJECT].kind == "fills" and result.objects[OBJECT].rows == 2
    row = result.fills.to_pylist()[0]
    assert {key: row[key] for key in ("coin", "side", "px", "sz", "fee", "closed_pnl")} == {
        "coin": "HYPE",
        "side": "B",
        "px": "42.017",
        "sz": "1.25",
        "fee": "0.023634",
        "closed_pnl": "0.0",
    }
    assert row["fill_time"] == datetime(2026, 7, 1, 12, 0, 0, 250_000, tzinfo=UTC)
    assert (row["start_position"], row["dir"], row["oid"], row["crossed"]) == (
        "10.5",
        "Open Long",
        200_000_000_001,
        True,
    )
    assert result.fills.schema == pa.schema([*FILL_SCHEMA, *LINEAGE_SCHEMA])


def test_older_node_fills_one_event_a_line() -> None:
    events = [*slice_and_counterparty(21, 9), [OTHER_WALLET, fill(22, None)]]
    data = "\n".join(compact(event) for event in events).encode()

    assert kept(read(data)) == [(9, 21, TWAP_WALLET)]


def test_the_text_filter_parses_only_the_slices() -> None:
    data = by_block([*slice_and_counterparty(1, 2), [OTHER_WALLET, fill(3, None)]])

    records = twap_fill_lines([data]).splitlines()

    assert [json.loads(record) for record in records] == [{"user": TWAP_WALLET, "fill": fill(1, 2)}]


def test_an_hour_without_twap_slices_loads_no_fills_and_is_no_error() -> None:
    result = read(by_block([[OTHER_WALLET, fill(1, None)]]))

    assert result.fills is not None and result.fills.num_rows == 0
    assert result.objects[OBJECT].rows == 0 and not result.failed


def test_info_api_user_fills_and_twap_slice_fills_have_no_user() -> None:
    user_fills = json.dumps([fill(31, 4), fill(32, None)], indent=2).encode()
    slice_fills = json.dumps(
        [{"fill": {**fill(33, None), "twapId": None}, "twapId": 5}, {"fill": fill(34, 5)}]
    ).encode()

    assert kept(read(user_fills)) == [(4, 31, None)]
    assert kept(read(slice_fills)) == [(5, 33, None), (5, 34, None)]


def test_websocket_frames_carry_the_user_of_the_frame() -> None:
    frames = [
        {
            "channel": "userTwapSliceFills",
            "data": {
                "isSnapshot": True,
                "user": TWAP_WALLET,
                "twapSliceFills": [{"fill": fill(41, 6), "twapId": 6}],
            },
        },
        {"channel": "subscriptionResponse", "data": {"method": "subscribe"}},
        {
            "channel": "userTwapSliceFills",
            "data": {"user": TWAP_WALLET, "twapSliceFills": [{"fill": fill(42, 6), "twapId": 6}]},
        },
    ]
    data = "\n".join(json.dumps(frame) for frame in frames).encode()

    assert kept(read(data)) == [(6, 41, TWAP_WALLET), (6, 42, TWAP_WALLET)]


def test_vendor_parquet_and_csv_with_the_fills_columns() -> None:
    rows = [{"user": TWAP_WALLET, **fill(51, 3)}, {"user": OTHER_WALLET, **fill(51, None)}]
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)

    assert kept(read(sink.getvalue())) == [(3, 51, TWAP_WALLET)]
    assert kept(read(text.getvalue().encode())) == [(3, 51, TWAP_WALLET)]


@pytest.mark.parametrize("codec", ["lz4", "gzip", "zstd"])
def test_compressed_hours_as_the_bucket_keeps_them(codec: str) -> None:
    data = by_block(slice_and_counterparty(61, 2))

    assert kept(read(compressed(data, codec))) == [(2, 61, TWAP_WALLET)]


def test_an_lz4_frame_written_by_the_lz4_command() -> None:
    data = by_block(slice_and_counterparty(62, 2))
    framed = subprocess.run(["lz4", "-c"], input=data, capture_output=True, check=True).stdout

    assert kept(read(framed)) == [(2, 62, TWAP_WALLET)]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"sz": "1,5"}, "sz '1,5' cannot be read"),
        ({"px": "-42"}, "px '-42' is negative"),
        ({"tid": None}, "tid is missing"),
        ({"time": 12}, "fill_time '12' is not a time from 2023 up to a day after the run"),
        ({"coin": None}, "coin is missing"),
        ({"side": "X"}, "side 'X' is not B or A (buy or sell)"),
        ({"fee": "n/a"}, "fee 'n/a' cannot be read"),
    ],
)
def test_a_bad_slice_fill_is_rejected_alone_with_its_reason(fields: dict, reason: str) -> None:
    data = by_block([*slice_and_counterparty(71, 3), [TWAP_WALLET, {**fill(72, 3), **fields}]])

    result = read(data)

    assert kept(result) == [(3, 71, TWAP_WALLET)]
    assert result.rejected.select(["object_row", "reason"]).to_pylist() == [
        {"object_row": 1, "reason": reason}
    ]
    assert json.loads(result.rejected["row"][0].as_py())["fill"]["tid"] == fields.get("tid", 72)


def test_a_liquidation_is_kept_as_json_text() -> None:
    liquidation = {"liquidatedUser": OTHER_WALLET, "markPx": "41.9", "method": "market"}
    result = read(by_block([[TWAP_WALLET, fill(81, 4, liquidation=liquidation)]]))

    assert result.fills is not None
    assert json.loads(result.fills["liquidation"][0].as_py()) == liquidation


def test_a_users_own_fills_layout() -> None:
    rows = [{"Trade": 91, "Twap": 8, "Market": "ETH", "Dir": "sell", "Px": "3500.1", "Qty": "2"}]
    rows[0]["At"] = "2026-07-01T12:00:00Z"
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    layouts = layouts_from_config(
        {
            "desk": {
                "kind": "fills",
                "columns": {
                    "tid": "Trade",
                    "twap_id": "Twap",
                    "coin": "Market",
                    "side": "Dir",
                    "px": "Px",
                    "sz": "Qty",
                    "fill_time": "At",
                },
            }
        }
    )

    result = read(sink.getvalue(), layouts)

    assert result.objects[OBJECT].layout == "desk"
    assert result.fills is not None
    assert result.fills.select(["twap_id", "tid", "side", "sz"]).to_pylist() == [
        {"twap_id": 8, "tid": 91, "side": "A", "sz": "2"}
    ]


def test_chunks_cut_anywhere_give_the_same_slices() -> None:
    data = by_block(slice_and_counterparty(101, 4), slice_and_counterparty(102, 4))
    whole = twap_fill_lines([data])

    for cut in range(1, len(data), 37):
        assert twap_fill_lines([data[:cut], data[cut:]]) == whole
    assert len(whole.splitlines()) == 2


def test_a_twap_id_of_zero_is_an_index_saying_none() -> None:
    saved = json.dumps([fill(111, 0), fill(112, 12)]).encode()

    assert kept(read(saved)) == [(12, 112, None)]
