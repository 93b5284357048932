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


def node_json_lines(events: pa.Table) -> bytes:
    """The node's JSON lines (status a string, or {"error": msg}); made once, in Python."""
    lines = []
    for e in events.to_pylist():
        status = {"error": e["status_description"]} if e["status"] == "error" else e["status"]
        state = {
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
        time_text = e["event_time"].strftime("%Y-%m-%dT%H:%M:%S.%f") + "123"
        record = {"time": time_text, "twap_id": e["twap_id"], "state": state, "status": status}
        lines.append(json.dumps(record))
    return ("\n".join(lines) + "\n").encode()


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
