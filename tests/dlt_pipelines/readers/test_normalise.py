"""Normalisation of one object to the canonical raw schema: every time and amount encoding."""

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from dlt_pipelines.errors import BadObjectError
from dlt_pipelines.listing import SourceObject
from dlt_pipelines.readers.layouts import KNOWN_LAYOUTS
from dlt_pipelines.readers.objects import BatchRead, read_batch
from dlt_pipelines.settings import EVENT_SCHEMA, LINEAGE_SCHEMA

# 2026-01-28T15:00:05.423822681Z, the activation of TWAP 1544034 (DATA.md).
EVENT_NS = 1769612405423822681
EVENT = datetime(2026, 1, 28, 15, 0, 5, 423822, tzinfo=UTC)
START_MS = 1769612405423
START = datetime(2026, 1, 28, 15, 0, 5, 423000, tzinfo=UTC)
NOW = datetime(2026, 7, 20, tzinfo=UTC)
OBJECT = SourceObject("file:///source/object", "/source/object", "v1", None, None)


def read(table: pa.Table) -> BatchRead:
    batch = read_batch({OBJECT: table}, KNOWN_LAYOUTS, NOW)
    if OBJECT in batch.failed:
        raise BadObjectError(batch.failed[OBJECT])
    return batch


def normalise_events(table: pa.Table) -> pa.Table:
    """The canonical events of `table` (without lineage), which must have no bad row."""
    result = read(table)
    assert result.rejected.num_rows == 0, result.rejected.to_pylist()
    return result.events.drop_columns(LINEAGE_SCHEMA.names)


def canonical(**overrides: pa.Array) -> pa.Table:
    columns = {
        "twap_id": pa.array([1544034], pa.int64()),
        "event_time": pa.array([EVENT_NS], pa.int64()).cast(pa.timestamp("ns", "UTC")),
        "status": pa.array(["activated"]),
        "wallet": pa.array(["0xB90E000000000000000000000000000000000087"]),
        "coin": pa.array(["ETH"]),
        "side": pa.array(["A"]),
        "sz": pa.array(["10.0"]),
        "executed_sz": pa.array(["0.0"]),
        "executed_ntl": pa.array(["0.0"]),
        "minutes": pa.array([5], pa.int32()),
        "reduce_only": pa.array([False]),
        "randomize": pa.array([False]),
        "started_at": pa.array([START_MS], pa.int64()).cast(pa.timestamp("ms", "UTC")),
    }
    columns.update(overrides)
    return pa.table(columns)


def test_canonical_form_keeps_values_and_yields_the_canonical_schema() -> None:
    result = normalise_events(canonical())
    assert result.schema.equals(EVENT_SCHEMA)
    row = result.to_pylist()[0]
    assert row["event_time"] == EVENT
    assert row["started_at"] == START
    assert row["sz"] == "10.0"
    assert row["status_description"] is None


@pytest.mark.parametrize(
    "encoded",
    [
        pa.array(["2026-01-28T15:00:05.423822681"]),  # node form: nanoseconds, no zone
        pa.array(["2026-01-28T15:00:05.423822Z"]),
        pa.array(["2026-01-28 17:00:05.423822+02:00"]),
        pa.array([EVENT_NS], pa.int64()).cast(pa.timestamp("ns")),  # naive means UTC
        pa.array([EVENT_NS // 1000], pa.int64()).cast(pa.timestamp("us", "UTC")),
        pa.array([EVENT_NS // 1000], pa.int64()),  # epoch microseconds
        pa.array([EVENT_NS], pa.int64()),  # epoch nanoseconds
    ],
    ids=["iso-ns-naive", "iso-z", "iso-offset", "ts-ns-naive", "ts-us-utc", "epoch-us", "epoch-ns"],
)
def test_event_time_encodings(encoded: pa.Array) -> None:
    assert normalise_events(canonical(event_time=encoded)).column("event_time")[0].as_py() == EVENT


@pytest.mark.parametrize(
    "encoded",
    [pa.array([START_MS], pa.int64()), pa.array([START_MS], pa.uint64())],
)
def test_start_time_as_epoch_milliseconds(encoded: pa.Array) -> None:
    assert normalise_events(canonical(started_at=encoded)).column("started_at")[0].as_py() == START


@pytest.mark.parametrize(
    ("encoded", "text"),
    [
        (pa.array(["10037.45318"]), "10037.45318"),
        (pa.array([" 168.46 "]), "168.46"),
        (pa.array([10037.45318], pa.float64()), "10037.45318"),
        (pa.array([300], pa.int64()), "300"),
        (pa.array(["10037.45318"]).cast(pa.decimal128(20, 6)), "10037.453180"),
    ],
    ids=["string", "padded-string", "float", "integer", "decimal"],
)
def test_amount_encodings_stay_exact_decimal_text(encoded: pa.Array, text: str) -> None:
    assert (
        normalise_events(canonical(executed_ntl=encoded)).column("executed_ntl")[0].as_py() == text
    )


@pytest.mark.parametrize("status", ["error: Insufficient margin", "Error:Insufficient margin"])
def test_error_status_string_carries_its_description(status: str) -> None:
    result = normalise_events(canonical(status=pa.array([status])))
    assert result.column("status")[0].as_py() == "error"
    assert result.column("status_description")[0].as_py() == "Insufficient margin"


def test_node_form_with_state_and_status_structs() -> None:
    state = pa.StructArray.from_arrays(
        [
            pa.array(["xyz:CRCL"]),
            pa.array(["0x53510000000000000000000000000000000000b7"]),
            pa.array(["B"]),
            pa.array(["300"]),
            pa.array(["300"]),
            pa.array(["18129.506864"]),
            pa.array([15]),
            pa.array([False]),
            pa.array([True]),
            pa.array([START_MS]),
        ],
        names=[
            "coin", "user", "side", "sz", "executedSz", "executedNtl",
            "minutes", "reduceOnly", "randomize", "timestamp",
        ],
    )  # fmt: skip
    status = pa.StructArray.from_arrays(
        [pa.array(["error"]), pa.array(["Reduce only order would increase position."])],
        names=["status", "description"],
    )
    table = pa.table(
        {
            "time": pa.array(["2026-01-28T15:00:05.423822681"]),
            "twap_id": pa.array([2039507]),
            "state": state,
            "status": status,
        }
    )
    row = normalise_events(table).to_pylist()[0]
    assert row["coin"] == "xyz:CRCL"
    assert row["executed_ntl"] == "18129.506864"
    assert row["randomize"] is True
    assert row["started_at"] == START
    assert (row["status"], row["status_description"]) == (
        "error",
        "Reduce only order would increase position.",
    )


def test_extra_columns_are_kept_after_the_canonical_ones() -> None:
    result = normalise_events(canonical(vendor_batch=pa.array(["b-17"])))
    assert result.column_names[-1] == "vendor_batch"
    assert result.column("vendor_batch")[0].as_py() == "b-17"


def test_missing_required_columns_are_named() -> None:
    table = canonical().drop(["wallet", "side"])
    with pytest.raises(BadObjectError, match=r"missing required column\(s\) wallet, side"):
        read(table)


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("sz", pa.array(["12,5"]), "sz '12,5' cannot be read"),
        ("event_time", pa.array(["yesterday"]), "event_time 'yesterday' is not a time"),
        ("twap_id", pa.array(["abc"]), "twap_id 'abc' cannot be read"),
    ],
)
def test_bad_values_reject_the_row_with_the_column_named(
    column: str, value: pa.Array, message: str
) -> None:
    result = read(canonical(**{column: value}))
    assert result.events.num_rows == 0
    [reason] = result.rejected.column("reason").to_pylist()
    assert message in reason
