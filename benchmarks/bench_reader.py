"""Reader benchmark: rows/s of reading one object into canonical events, per format and layout,
on the same 1M events, each as a ratio to pyarrow's bare parse of the same bytes.

    .venv/bin/python -m benchmarks.bench_reader [--rows 1000000]

The reader (`dlt_pipelines.readers.objects.read_events`) finds the format from the bytes, decompresses,
parses, picks the layout and validates every row; the bare parse is only the pyarrow reader.
No database: this is the per-row cost of reading, the part that differs between formats.
"""

import argparse
import gzip
import json
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from benchmarks.common import history_start, log, write_results
from dlt_pipelines.listing import SourceObject
from dlt_pipelines.readers.layouts import KNOWN_LAYOUTS
from dlt_pipelines.readers.objects import read_events
from dlt_pipelines.sample_data import generate

ROWS = 1_000_000
REPEATS = 3


def sample_events(rows: int) -> pa.Table:
    """`rows` canonical events of the sample generator (a few days, repeated as needed)."""
    with tempfile.TemporaryDirectory() as out:
        generate(Path(out), days=30, seed=11, start=history_start(30))
        table = pq.read_table(out)
    copies = -(-rows // table.num_rows)
    table = pa.concat_tables([table] * copies).slice(0, rows).combine_chunks()
    # Microseconds, so that the rows convert to Python datetimes for the JSON form.
    times = table["event_time"].cast(pa.timestamp("us", "UTC"), safe=False)
    return table.set_column(table.schema.get_field_index("event_time"), "event_time", times)


def _state(e: dict) -> dict:
    return {
        "coin": e["coin"],
        "user": e["wallet"],
        "side": e["side"],
        "sz": e["sz"],
        "executedSz": e["executed_sz"],
        "executedNtl": e["executed_ntl"],
        "minutes": e["minutes"],
        "reduceOnly": e["reduce_only"],
        "randomize": e["randomize"],
        "timestamp": int(e["started_at"].timestamp() * 1000),
    }


def _json_lines(records: list[dict]) -> bytes:
    return ("\n".join(json.dumps(record) for record in records) + "\n").encode()


def node_json_lines(events: pa.Table) -> bytes:
    """The node's JSON lines (status a string, or {"error": msg}); made once, in Python."""
    records = []
    for e in events.to_pylist():
        status = {"error": e["status_description"]} if e["status"] == "error" else e["status"]
        time_text = e["event_time"].strftime("%Y-%m-%dT%H:%M:%S.%f") + "123"
        records.append({"time": time_text, "twap_id": e["twap_id"], "state": _state(e), "status": status})  # fmt: skip
    return _json_lines(records)


def websocket_frames(events: pa.Table, per_frame: int = 100) -> bytes:
    """Saved `userTwapHistory` frames, `per_frame` twapHistory records in each `data.history`."""
    records = []
    for e in events.to_pylist():
        status = {"status": e["status"]}
        if e["status"] == "error":
            status["description"] = e["status_description"]
        time_s = int(e["event_time"].timestamp())
        records.append({"time": time_s, "state": _state(e), "status": status, "twapId": e["twap_id"]})  # fmt: skip
    return _json_lines(
        [
            {
                "channel": "userTwapHistory",
                "data": {
                    "isSnapshot": start == 0,
                    "user": records[start]["state"]["user"],
                    "history": records[start : start + per_frame],
                },
            }
            for start in range(0, len(records), per_frame)
        ]
    )


def _epoch(column: pa.ChunkedArray, unit: int) -> pa.ChunkedArray:
    """Epoch integers from timestamps, via microseconds: `unit` 1000 for ns, -1000 for ms."""
    micros = pc.cast(pc.cast(column, pa.timestamp("us", "UTC"), safe=False), pa.int64())
    return pc.multiply(micros, unit) if unit > 0 else pc.divide(micros, -unit)


def bitquery_twap_statuses(events: pa.Table) -> bytes:
    """Bitquery's `twap_statuses` JSON lines: flat `State_*`, `Time` in ns, `StatusError`."""
    error = pc.equal(events["status"], "error")
    table = pa.table(
        {
            "Block_Number": pa.array(range(events.num_rows), pa.int64()),
            "Block_Time": _epoch(events["event_time"], 1000),
            "Time": _epoch(events["event_time"], 1000),
            "TwapId": events["twap_id"],
            "State_Coin": events["coin"],
            "State_User": events["wallet"],
            "State_Side": events["side"],
            "State_Sz": events["sz"],
            "State_ExecutedSz": events["executed_sz"],
            "State_ExecutedNtl": events["executed_ntl"],
            "State_Minutes": events["minutes"],
            "State_Timestamp": _epoch(events["started_at"], -1000),
            "State_ReduceOnly": events["reduce_only"],
            "State_Randomize": events["randomize"],
            "Status": events["status"],
            "StatusError": pc.if_else(error, events["status_description"], None),
        }
    )
    return _json_lines(table.to_pylist())


def bitquery_twaps(events: pa.Table) -> bytes:
    """Bitquery's `twaps` parquet: `Twap_*` columns, sides Buy/Sell, flags 0/1, ns and ms."""
    return parquet(
        pa.table(
            {
                "ChainId": pa.repeat(pa.scalar("hyperliquid-core"), events.num_rows),
                "Block_Time": _epoch(events["event_time"], 1000),
                "Twap_Trader_Address": events["wallet"],
                "Twap_Market_CoinRaw": events["coin"],
                "Twap_TwapId": events["twap_id"],
                "Twap_Order_Side": pc.if_else(pc.equal(events["side"], "B"), "Buy", "Sell"),
                "Twap_Order_Size": events["sz"],
                "Twap_Order_ReduceOnly": pc.cast(events["reduce_only"], pa.uint8()),
                "Twap_Order_Randomize": pc.cast(events["randomize"], pa.uint8()),
                "Twap_Interval_StartTime": _epoch(events["started_at"], -1000),
                "Twap_Interval_DurationMinutes": events["minutes"],
                "Twap_Interval_EventTime": _epoch(events["event_time"], 1000),
                "Twap_State_Status": events["status"],
                "Twap_State_StatusError": pc.fill_null(events["status_description"], ""),
                "Twap_State_ExecutedSize": events["executed_sz"],
                "Twap_State_ExecutedNotional": events["executed_ntl"],
            }
        )
    )


def coinapi_csv(events: pa.Table) -> bytes:
    """CoinAPI's flat-file form, `;`-separated, error descriptions in the status."""
    status = pc.if_else(
        pc.equal(events["status"], "error"),
        pc.binary_join_element_wise("error:", events["status_description"], ""),
        events["status"],
    )
    table = pa.table(
        {
            "time_exchange": pc.strftime(events["event_time"], "%Y-%m-%dT%H:%M:%S"),
            "twap_id": events["twap_id"],
            "coin": events["coin"],
            "user": events["wallet"],
            "side": events["side"],
            "status": status,
            "sz": events["sz"],
            "executed_sz": events["executed_sz"],
            "executed_ntl": events["executed_ntl"],
            "minutes": events["minutes"],
            "reduce_only": events["reduce_only"],
            "randomize": events["randomize"],
        }
    )
    sink = pa.BufferOutputStream()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(delimiter=";", quoting_style="none"))
    return sink.getvalue().to_pybytes()


def parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def best_seconds(action: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    rows = parser.parse_args().rows
    log(f"making {rows} sample events in each format ...")
    events = sample_events(rows)
    node = node_json_lines(events)
    # The node's status, a string or an object, fails pyarrow's bare parse: that one reads the
    # same bytes with the error objects under a key of their own.
    node_bare = node.replace(b'"status": {"error": ', b'"status_error": {"error": ')
    csv_bytes = coinapi_csv(events)
    frames = websocket_frames(events)
    flat = bitquery_twap_statuses(events)
    vendor_parquet = bitquery_twaps(events)
    read_json = lambda b: pa_json.read_json(pa.BufferReader(b))  # noqa: E731
    # name -> (the object's bytes, what the bare parse reads, the bare parse)
    formats: dict[str, tuple[bytes, bytes, Callable[[bytes], object]]] = {
        "parquet (canonical)": (
            parquet(events),
            parquet(events),
            lambda b: pq.read_table(pa.BufferReader(b)),
        ),
        "JSON lines (node)": (node, node_bare, read_json),
        "JSON lines (node), gzip": (
            gzip.compress(node, 6),
            gzip.compress(node_bare, 6),
            lambda b: read_json(gzip.decompress(b)),
        ),
        "JSON lines (websocket userTwapHistory frames)": (frames, frames, read_json),
        "JSON lines (Bitquery twap_statuses)": (flat, flat, read_json),
        "parquet (Bitquery twaps)": (
            vendor_parquet,
            vendor_parquet,
            lambda b: pq.read_table(pa.BufferReader(b)),
        ),
        "CSV (CoinAPI, ;)": (
            csv_bytes,
            csv_bytes,
            lambda b: pa_csv.read_csv(
                pa.BufferReader(b), parse_options=pa_csv.ParseOptions(delimiter=";")
            ),
        ),
    }
    obj = SourceObject("file:///bench", "/bench", "v", None, None)
    now = datetime.now(UTC)
    results = {"rows": rows, "formats": {}}
    for name, (data, bare_data, bare) in formats.items():
        log(f"{name}: {len(data) / 1e6:.0f} MB ...")
        bare_seconds = best_seconds(lambda d=bare_data, p=bare: p(d))
        seconds = best_seconds(lambda d=data: read_events(obj, d, KNOWN_LAYOUTS, now))
        read = read_events(obj, data, KNOWN_LAYOUTS, now)
        assert read.events.num_rows == rows, (name, read.rejected.num_rows)
        results["formats"][name] = {
            "megabytes": round(len(data) / 1e6, 1),
            "rows_per_second": round(rows / seconds),
            "bare_parse_rows_per_second": round(rows / bare_seconds),
            "reader_over_bare_parse": round(seconds / bare_seconds, 2),
        }
        log(f"{name}: {rows / seconds:,.0f} rows/s ({seconds / bare_seconds:.1f}x the bare parse)")
    path = write_results("reader", results)
    log(f"results in {path}")


if __name__ == "__main__":
    main()
