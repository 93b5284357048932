"""Ingestion against real buckets' trouble: layouts, bad objects, retries, rewrites, backfills,
re-uploads, crashes, overlapping runs, throttling and requester-pays (moto S3 + embedded PG)."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.sample_data import generate
from tests import vendor_files
from tests.conftest import S3, Twap
from tests.s3_proxy import S3Proxy
from tests.vendor_files import compressed, twaps
from twap.errors import EXIT_LOCKED, EXIT_OBJECTS_FAILED

# Raw is append-only: the rows that count are those of each object's current load (the ledger's).
CURRENT_RAW = """
    raw.twap_status_events as e
    join raw.twap_ingest_objects as l on e.object_key = l.object_key and e._dlt_load_id = l.load_id
"""
RAW_COUNT = f"select count(*) from {CURRENT_RAW}"
LEDGER = "select object_key, status, attempts, row_count, error from raw.twap_ingest_objects"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=1, seed=3, twaps_per_day=400)
    return out


@pytest.fixture
def proxy(s3: S3) -> Iterator[S3Proxy]:
    server = S3Proxy(s3.endpoint_url)
    yield server
    server.close()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """An empty local source folder."""
    folder = tmp_path / "source"
    folder.mkdir()
    return folder


def hour(sample: Path, n: int) -> Path:
    return sample / f"2026/07/01/{n:02d}.parquet"


def rows_in(paths: Iterable[Path]) -> int:
    return sum(pq.read_metadata(path).num_rows for path in paths)


def node_form(table: pa.Table) -> pa.Table:
    """The node's layout: ISO time without zone (ns), `state` struct, start in epoch ms, status
    as a struct with its description."""
    state = pa.StructArray.from_arrays(
        [
            table["coin"].combine_chunks(),
            table["wallet"].combine_chunks(),
            table["side"].combine_chunks(),
            table["sz"].combine_chunks(),
            table["executed_sz"].combine_chunks(),
            table["executed_ntl"].combine_chunks(),
            table["minutes"].combine_chunks(),
            table["reduce_only"].combine_chunks(),
            table["randomize"].combine_chunks(),
            table["started_at"].cast(pa.int64()).combine_chunks(),
        ],
        names=[
            "coin", "user", "side", "sz", "executedSz", "executedNtl", "minutes", "reduceOnly",
            "randomize", "timestamp",
        ],
    )  # fmt: skip
    iso = pc.strftime(table["event_time"], "%Y-%m-%dT%H:%M:%S")
    status = pa.StructArray.from_arrays(
        [table["status"].combine_chunks(), table["status_description"].combine_chunks()],
        names=["status", "description"],
    )
    return pa.table({"time": iso, "twap_id": table["twap_id"], "state": state, "status": status})


def flattened_form(table: pa.Table) -> pa.Table:
    """`state_*` columns, time as a zone-less ms timestamp, amounts as decimals, errors as
    `error: <description>` strings, and an extra column."""
    status = pc.if_else(
        pc.equal(table["status"], "error"),
        pc.binary_join_element_wise("error: ", table["status_description"], ""),
        table["status"],
    )
    amount = pa.decimal128(30, 10)
    return pa.table(
        {
            "twap_id": table["twap_id"].cast(pa.string()),
            "time": pc.cast(table["event_time"], pa.timestamp("ms"), safe=False),
            "status": status,
            "state_coin": table["coin"],
            "state_user": pc.utf8_upper(table["wallet"]),
            "state_side": table["side"],
            "state_sz": table["sz"].cast(amount),
            "state_executedSz": table["executed_sz"].cast(amount),
            "state_executedNtl": table["executed_ntl"].cast(amount),
            "state_minutes": table["minutes"],
            "state_reduceOnly": table["reduce_only"],
            "state_randomize": table["randomize"],
            "state_timestamp": table["started_at"].cast(pa.int64()),
            "vendor_sequence": pa.array(range(table.num_rows), pa.int32()),
        }
    )


def test_every_layout_loads_to_the_same_canonical_rows(
    twap: Twap, s3: S3, sample: Path, caplog: pytest.LogCaptureFixture
) -> None:
    s3.create_bucket("layouts")
    # An hour with an error event, so the error encodings are exercised too.
    canonical = next(
        table
        for table in map(pq.read_table, sorted(sample.rglob("*.parquet")))
        if pc.any(pc.equal(table["status"], "error")).as_py()
    )
    client = s3.client()
    for name, table in (
        ("canonical", canonical),
        ("node", node_form(canonical)),
        ("flattened", flattened_form(canonical)),
    ):
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        client.put_object(
            Bucket="layouts", Key=f"{name}/10.parquet", Body=sink.getvalue().to_pybytes()
        )

    twap("load", "--source", "s3://layouts", "--s3-endpoint-url", s3.endpoint_url)

    # Times to the millisecond: the flattened form carries ms, the others more.
    rows = twap.query(
        """
        select split_part(object_key, '/', 4), twap_id, date_trunc('milliseconds', event_time),
               status, status_description, lower(wallet), coin, side, sz::numeric,
               executed_sz::numeric, executed_ntl::numeric, minutes, reduce_only, randomize,
               started_at
        from raw.twap_status_events order by twap_id, status, event_time
        """
    )
    by_layout: dict[str, list[tuple]] = {}
    for layout, *values in rows:
        by_layout.setdefault(layout, []).append(tuple(values))
    assert set(by_layout) == {"canonical", "node", "flattened"}
    assert len(by_layout["canonical"]) == canonical.num_rows
    assert by_layout["node"] == by_layout["canonical"]
    assert by_layout["flattened"] == by_layout["canonical"]
    assert any(row[2] == "error" and row[3] for row in by_layout["flattened"])
    # One listing and one GET per object: no per-object HEAD.
    assert "HEAD /layouts/canonical" not in caplog.text
    # The extra column is kept, filled for its own object only.
    assert twap.query("select count(vendor_sequence) from raw.twap_status_events") == [
        (canonical.num_rows,)
    ]


def test_each_kind_of_bad_object_fails_alone_then_is_retried_until_fixed(
    twap: Twap, s3: S3, proxy: S3Proxy, sample: Path
) -> None:
    s3.create_bucket("mixed")
    keys = s3.upload_dir(sample, "mixed", "hourly")
    client = s3.client()
    good = hour(sample, 1).read_bytes()
    empty = pa.BufferOutputStream()
    pq.write_table(pq.read_table(hour(sample, 1)).slice(0, 0), empty)
    wrong = pa.BufferOutputStream()
    pq.write_table(pa.table({"twap_id": [1], "price": [2.5]}), wrong)
    bad = {
        "hourly/2026/07/01/01.parquet": (b"PAR1 not really parquet", "not a readable parquet file"),
        "hourly/2026/07/01/02.parquet": (good[: len(good) // 2], "not a readable parquet file"),
        "hourly/2026/07/01/03.parquet": (empty.getvalue().to_pybytes(), "has no rows"),
        "hourly/2026/07/01/04.parquet": (
            wrong.getvalue().to_pybytes(),
            "missing required column(s) event_time, status, wallet, coin, side",
        ),
        "hourly/2026/07/01/05.parquet": (good, "cannot fetch: PermissionError"),  # hour 1's rows
    }
    for key, (body, _) in bad.items():
        client.put_object(Bucket="mixed", Key=key, Body=body)
    # One object that cannot be read at all: the store denies it.
    proxy.fault = lambda method, path: (
        (403, "AccessDenied")
        if method == "GET" and path.startswith("/mixed/hourly/2026/07/01/05")
        else None
    )
    run = ("run", "--source", "s3://mixed/hourly", "--s3-endpoint-url", proxy.endpoint_url)

    first = twap(*run, check=False)

    assert first.returncode == EXIT_OBJECTS_FAILED, first.stderr
    assert "Traceback" not in first.stderr
    assert f"{len(keys) - len(bad)} loaded" in first.stderr and f"{len(bad)} failed" in first.stderr
    ledger = {key: rest for key, *rest in twap.query(LEDGER)}
    for key, (_, message) in bad.items():
        status, attempts, _, error = ledger[f"s3://mixed/{key}"]
        assert (status, attempts) == ("failed", 1), key
        assert message in error, (key, error)
        assert f"failed object s3://mixed/{key}: {error}" in first.stderr
    assert twap.query("select count(*) from marts.fct_twaps")[0][0] > 0
    status = twap("status", check=False)
    assert status.returncode == EXIT_OBJECTS_FAILED
    assert f"{len(bad)} failed" in status.stdout
    assert (
        "failed: s3://mixed/hourly/2026/07/01/04.parquet (attempt 1): no layout fits: "
        in status.stdout
    )

    # Unchanged failed objects are retried on every run; the denied one now reads.
    proxy.fault = lambda method, path: None
    second = twap(*run, check=False)
    assert f"{len(bad)} failed before), 1 loaded" in second.stderr
    ledger = {key: rest for key, *rest in twap.query(LEDGER)}
    assert tuple(ledger["s3://mixed/hourly/2026/07/01/05.parquet"][:3]) == (
        "loaded", 2, rows_in([hour(sample, 1)]),
    )  # fmt: skip
    assert tuple(ledger["s3://mixed/hourly/2026/07/01/01.parquet"][:2]) == ("failed", 2)

    # Fixing the objects (new versions) loads them; raw then holds every row exactly once.
    for key in bad:
        client.upload_file(str(sample / key.removeprefix("hourly/")), "mixed", key)
    third = twap(*run)
    assert "0 failed" in third.stderr
    assert twap.query(RAW_COUNT) == [(rows_in(sample.rglob("*.parquet")),)]
    assert twap("status").returncode == 0


def test_rewrite_replaces_rows_and_the_mart_follows(twap: Twap, source: Path, sample: Path) -> None:
    original = pq.read_table(hour(sample, 6))
    path = source / "06.parquet"
    pq.write_table(original, path)
    twap("run", "--source", str(source))
    removed = original["twap_id"][0].as_py()
    changed = original["twap_id"][1].as_py()

    # The vendor rewrites the object: one event removed, one event's status corrected.
    keep = pc.not_equal(original["twap_id"], removed)
    rewritten = original.filter(keep)
    status = pc.if_else(pc.equal(rewritten["twap_id"], changed), "terminated", rewritten["status"])
    rewritten = rewritten.set_column(rewritten.schema.get_field_index("status"), "status", status)
    pq.write_table(rewritten, path)
    os.utime(path, (1_600_000_000, 1_600_000_000))  # an old modification time changes nothing

    result = twap("run", "--source", str(source))

    assert "1 changed" in result.stderr
    assert twap.query(RAW_COUNT) == [(rewritten.num_rows,)]
    assert twap.query(f"select count(distinct e.object_version) from {CURRENT_RAW}") == [(1,)]
    assert twap.query("select count(*) from marts.fct_twaps where twap_id = %s", (removed,)) == [
        (0,)
    ]
    assert twap.query("select status from marts.fct_twaps where twap_id = %s", (changed,)) == [
        ("terminated",)
    ]


def test_backfilled_objects_with_old_modification_times_are_loaded(
    twap: Twap, source: Path, sample: Path
) -> None:
    (source / "12.parquet").write_bytes(hour(sample, 12).read_bytes())
    twap("load", "--source", str(source))
    # A backfill of earlier hours arrives later, with modification times long before the last run.
    for n in (1, 2):
        backfill = source / f"{n:02d}.parquet"
        backfill.write_bytes(hour(sample, n).read_bytes())
        os.utime(backfill, (1_500_000_000, 1_500_000_000))

    result = twap("load", "--source", str(source))

    assert "2 new, 0 changed" in result.stderr
    expected = rows_in(hour(sample, n) for n in (1, 2, 12))
    assert twap.query(RAW_COUNT) == [(expected,)]


def test_an_identical_reupload_is_not_read_again(twap: Twap, s3: S3, sample: Path) -> None:
    s3.create_bucket("reupload")
    s3.upload_dir(sample, "reupload", "p")
    run = ("load", "--source", "s3://reupload/p", "--s3-endpoint-url", s3.endpoint_url)
    twap(*run)
    before = twap.query("select object_key, object_row, _dlt_load_id from raw.twap_status_events")
    time.sleep(1.1)  # S3 modification times have one-second resolution
    s3.client().upload_file(str(hour(sample, 7)), "reupload", "p/2026/07/01/07.parquet")

    result = twap(*run)

    assert "0 to read" in result.stderr
    after = twap.query("select object_key, object_row, _dlt_load_id from raw.twap_status_events")
    assert sorted(after) == sorted(before)


def test_kill_9_at_any_point_then_rerun_loses_and_duplicates_nothing(
    twap: Twap, source: Path
) -> None:
    summary = generate(source, days=6, seed=8, twaps_per_day=1500)
    for delay in (0.0, 0.4, 0.8, 1.2, 1.6, 2.0):
        process = subprocess.Popen(
            [sys.executable, "-m", "twap.cli", "-v", "load", "--source", str(source)],
            env={**twap.env, "SOURCES__HYPERLIQUID_TWAP__OBJECTS_PER_BATCH": "8"},
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in process.stderr:  # kill only once the run is under way
            if "listed" in line:
                break
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()

    twap("load", "--source", str(source))

    assert twap.query(RAW_COUNT) == [(summary.events,)]
    assert twap.query(
        f"select count(*) from (select distinct e.object_key, object_row from {CURRENT_RAW}) d"
    ) == [(summary.events,)]
    assert twap.query(
        "select count(*), sum(row_count) from raw.twap_ingest_objects where status = 'loaded'"
    ) == [(summary.objects, summary.events)]


def test_a_crash_between_the_raw_commit_and_the_ledger_write_heals(
    twap: Twap, source: Path, sample: Path
) -> None:
    for n in (1, 2):
        (source / f"{n:02d}.parquet").write_bytes(hour(sample, n).read_bytes())
    twap("load", "--source", str(source))
    (source / "03.parquet").write_bytes(hour(sample, 3).read_bytes())
    twap("load", "--source", str(source))
    # The state such a crash leaves: the last load's rows are in raw, its ledger rows are not.
    twap.query(
        "delete from raw.twap_ingest_objects where object_key like '%%03.parquet' returning 1"
    )

    result = twap("load", "--source", str(source))

    assert "1 new" in result.stderr
    expected = rows_in(hour(sample, n) for n in (1, 2, 3))
    assert twap.query(RAW_COUNT) == [(expected,)]


def test_a_second_run_while_one_runs_exits_cleanly_or_waits(twap: Twap, sample: Path) -> None:
    command = [sys.executable, "-m", "twap.cli", "-v", "load", "--source", str(sample)]
    first = subprocess.Popen(command, env=twap.env, stderr=subprocess.PIPE, text=True)
    for line in first.stderr:
        if "listed" in line:
            break
    first.send_signal(signal.SIGSTOP)  # hold it mid-run, lock taken, for as long as we need
    try:
        second = twap("load", "--source", str(sample), check=False)
        waiting = subprocess.Popen(
            [*command[:3], "run", "--source", str(sample), "--wait", "120"],
            env=twap.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert waiting.poll() is None, "the waiting run did not wait"
    finally:
        first.send_signal(signal.SIGCONT)
    first.communicate()
    waited = waiting.communicate()[1]

    assert first.returncode == 0
    assert second.returncode == EXIT_LOCKED, second.stderr
    assert "another run holds the run lock" in second.stderr
    assert "twap load (pid" in second.stderr and "nothing was done" in second.stderr
    assert "Traceback" not in second.stderr
    # The waiting run went on once the first had finished: nothing was left to read.
    assert waiting.returncode == 0, waited
    assert "0 to read" in waited


def test_throttling_is_retried_and_everything_loads(
    twap: Twap, s3: S3, proxy: S3Proxy, sample: Path
) -> None:
    s3.create_bucket("throttled")
    keys = s3.upload_dir(sample, "throttled", "p")
    requests = iter(range(10**9))
    # Every third request is refused with S3's throttling error, listings and reads alike.
    proxy.fault = lambda method, path: (503, "SlowDown") if next(requests) % 3 == 0 else None

    result = twap("load", "--source", "s3://throttled/p", "--s3-endpoint-url", proxy.endpoint_url)

    assert f"{len(keys)} loaded" in result.stderr and "0 failed" in result.stderr
    assert proxy.faults_sent >= len(keys) // 3
    assert twap.query(RAW_COUNT) == [(rows_in(sample.rglob("*.parquet")),)]


def test_requester_pays_header_is_on_every_request(
    twap: Twap, s3: S3, proxy: S3Proxy, sample: Path
) -> None:
    s3.create_bucket("payer")
    keys = s3.upload_dir(sample, "payer", "p")

    twap(
        "load", "--source", "s3://payer/p", "--s3-endpoint-url", proxy.endpoint_url,
        "--requester-pays", "--s3-region", "us-east-1",
    )  # fmt: skip

    assert len(proxy.seen) > len(keys)
    missing = [s for s in proxy.seen if s.headers.get("x-amz-request-payer") != "requester"]
    assert missing == []


def test_anonymous_access_sends_no_credentials(
    twap: Twap, s3: S3, proxy: S3Proxy, sample: Path, tmp_path: Path
) -> None:
    s3.create_bucket("public")
    client = s3.client()
    for key in s3.upload_dir(sample, "public", "p"):
        client.put_object_acl(Bucket="public", Key=key, ACL="public-read")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        twap.env.pop(name)
    twap.env["HOME"] = str(tmp_path)

    twap(
        "load", "--source", "s3://public/p", "--s3-endpoint-url", proxy.endpoint_url, "--anonymous"
    )

    assert proxy.seen and all("authorization" not in s.headers for s in proxy.seen)
    assert twap.query(RAW_COUNT)[0][0] > 0


def test_large_objects_are_streamed_and_a_bad_row_is_rejected_alone(
    twap: Twap, source: Path, sample: Path
) -> None:
    good = pq.read_table(hour(sample, 8))
    pq.write_table(good, source / "good.parquet", row_group_size=7)
    # A bad amount in the very last row: that row alone is rejected, numbered across batches.
    sizes = good["sz"].to_pylist()
    bad = good.set_column(good.schema.get_field_index("sz"), "sz", pa.array([*sizes[:-1], "1,5"]))
    pq.write_table(bad, source / "bad.parquet", row_group_size=7)
    # Text formats cannot be streamed batch by batch: read whole, then spooled like the others.
    (source / "node").write_bytes(compressed(vendor_files.node(twaps(3_100_000)), "gzip"))
    # Every object counts as large here, so every one takes the streaming path.
    twap.env["SOURCES__HYPERLIQUID_TWAP__LARGE_OBJECT_BYTES"] = "1"

    result = twap("load", "--source", str(source), check=False)

    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert f"rejected 1 rows of {(source / 'bad.parquet').as_uri()}" in result.stderr
    assert twap.query(
        "select split_part(object_key, '/', -1), min(object_row), max(object_row), count(*) "
        "from raw.twap_status_events group by 1 order by 1"
    ) == [
        ("bad.parquet", 0, good.num_rows - 2, good.num_rows - 1),
        ("good.parquet", 0, good.num_rows - 1, good.num_rows),
        ("node", 0, 7, 8),
    ]
    assert twap.query("select object_row, reason from raw.twap_quarantined_rows") == [
        (good.num_rows - 1, "sz '1,5' cannot be read")
    ]


CURRENT_FILLS = """
    raw.twap_fills as f
    join raw.twap_ingest_objects as l on f.object_key = l.object_key and f._dlt_load_id = l.load_id
"""


def test_fills_load_beside_the_statuses_and_a_rewritten_hour_replaces_its_fills(
    twap: Twap, source: Path
) -> None:
    summary = generate(source, days=1, seed=12, twaps_per_day=60, fill_hours=3)
    hours = sorted((source / "node_fills_by_block" / "hourly").glob("*/*"))
    # The bucket keeps its hours as LZ4 frames: one hour is, the others are plain JSON lines.
    lz4_hour = hours[0].with_name(hours[0].name + ".lz4")
    lz4_hour.write_bytes(compressed(hours[0].read_bytes(), "lz4"))
    hours[0].unlink()

    twap("run", "--source", str(source))

    assert twap.query(
        f"select count(*), count(distinct (f.tid, f.twap_id)) from {CURRENT_FILLS}"
    ) == [(summary.fills, summary.fills)]
    assert twap.query(RAW_COUNT) == [(summary.events,)]
    assert twap.query(
        "select count(*), sum(row_count) from raw.twap_ingest_objects "
        "where object_key like '%%node_fills_by_block%%' and status = 'loaded'"
    ) == [(3, summary.fills)]
    staged = twap.query(
        "select count(*), bool_and(notional = px * sz), bool_and(side in ('buy', 'sell')) "
        "from staging.stg_hyperliquid__twap_fills"
    )
    assert staged == [(summary.fills, True, True)]

    # The hour is rewritten without its first block: its fills are replaced, not added to.
    last = hours[-1]
    lines = last.read_text().splitlines()
    dropped = sum(fill["twapId"] is not None for _, fill in json.loads(lines[0])["events"])
    last.write_text("\n".join(lines[1:]) + "\n")

    result = twap("run", "--source", str(source))

    assert "1 changed" in result.stderr
    assert twap.query(f"select count(*) from {CURRENT_FILLS}") == [(summary.fills - dropped,)]
    assert (
        twap.query(
            "select count(*) from staging.stg_hyperliquid__twap_fills where object_key like %s",
            (f"%{last.name}",),
        )
        != []
    )


def test_a_bad_slice_fill_is_quarantined_and_the_rest_of_its_hour_loads(
    twap: Twap, source: Path
) -> None:
    good = {
        "coin": "BTC",
        "px": "95000",
        "sz": "0.01",
        "side": "B",
        "time": 1782907200000,
        "hash": "0x" + "0" * 64,
        "oid": 1,
        "crossed": True,
        "fee": "0.4",
        "tid": 1,
        "feeToken": "USDC",
        "twapId": 7,
    }
    bad = {**good, "tid": 2, "sz": "0.0.1"}
    other = {**good, "tid": 3, "twapId": None}
    wallet = "0x" + "c3" * 20
    (source / "node_fills").write_text(
        "\n".join(json.dumps([wallet, each]) for each in (good, bad, other)) + "\n"
    )

    result = twap("load", "--source", str(source), check=False)

    assert result.returncode == EXIT_OBJECTS_FAILED, result.stderr
    assert "1 rows rejected, e.g. row 1: sz '0.0.1' cannot be read" in result.stderr
    assert twap.query("select twap_id, tid, wallet from raw.twap_fills") == [(7, 1, wallet)]
    assert twap.query("select object_row, reason from raw.twap_quarantined_rows") == [
        (1, "sz '0.0.1' cannot be read")
    ]
