"""The lake target's ledger (dlt_pipelines/ledger/lake.py): the same rules as PostgreSQL's, kept in
append-only files, with dlt's completion marker in place of a transaction; compacted without
changing what it reads as, even when the compaction is killed half-way."""

import itertools
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dlt_pipelines.ledger.lake import (
    COMMITS_LOG,
    OBJECT_SCHEMA,
    OBJECTS_LOG,
    Compaction,
    LakeLedger,
    counted_logs,
    log_files,
)
from dlt_pipelines.ledger.rules import ENTRY_COLUMNS, LOADED, MIRROR, KnownObject
from dlt_pipelines.pipeline import load, make_lake_pipeline
from dlt_pipelines.sample_data import generate
from dlt_pipelines.settings import FILL_SCHEMA, LINEAGE_SCHEMA
from tests.conftest import FAKE_AWS, S3
from tests.s3_proxy import Hold, S3Proxy

MACROS = Path(__file__).parents[3] / "dbt_project" / "macros"


def ledger(lake: Path, dlt_dir: Path) -> LakeLedger:
    """The ledger as a new run reads it."""
    book = LakeLedger(make_lake_pipeline(str(lake), str(dlt_dir)))
    book.prepare()
    return book


def test_the_lake_ledger_names_each_objects_current_load(tmp_path: Path) -> None:
    source, lake, dlt_dir = tmp_path / "source", tmp_path / "lake", tmp_path / "dlt"
    generate(source, days=1, seed=5, twaps_per_day=120)
    objects = sorted(source.rglob("*.parquet"))
    pipeline = make_lake_pipeline(str(lake), str(dlt_dir))

    first = load(pipeline, bucket_url=str(source))
    assert first.stats.loaded == len(objects)
    assert load(pipeline, bucket_url=str(source)).stats.selected == 0
    book = ledger(lake, dlt_dir)
    assert all(known.current for known in book.known().values())
    assert book.seq == len(objects)

    # A rewritten object: its new load becomes current in a commit naming the old one.
    rewritten = objects[3]
    key = next(k for k in book.known() if k.endswith(str(rewritten.relative_to(source))))
    table = pq.read_table(rewritten)
    assert table.num_rows > 1
    pq.write_table(table.slice(0, table.num_rows - 1), rewritten)
    old_load = book.entries[key]["load_id"]
    changed = load(pipeline, bucket_url=str(source))
    assert (changed.stats.changed, changed.stats.loaded) == (1, 1)
    book = ledger(lake, dlt_dir)
    entry = book.entries[key]
    assert entry["load_id"] == changed.info.loads_ids[-1] != old_load
    assert entry["commit_seq"] == book.seq == len(objects) + 1

    # The ledger's load never completed (a crash before dlt wrote its marker): its rows do not
    # count, the object is as it was, and the next run reads it again.
    markers = sorted((lake / "raw" / "_dlt_loads").iterdir())
    markers[-1].unlink()
    book = ledger(lake, dlt_dir)
    assert book.entries[key]["load_id"] == old_load
    assert book.seq == len(objects)
    again = load(pipeline, bucket_url=str(source))
    assert (again.stats.changed, again.stats.loaded) == (1, 1)
    assert ledger(lake, dlt_dir).entries[key]["commit_seq"] == len(objects) + 1

    # A vanished object keeps its rows by default; mirrored, a commit takes them away.
    objects[0].unlink()
    kept = load(pipeline, bucket_url=str(source))
    assert len(kept.stats.vanished) == 1
    vanished_key = kept.stats.vanished[0]
    assert ledger(lake, dlt_dir).known()[vanished_key].current
    load(pipeline, bucket_url=str(source), on_vanished=MIRROR)
    book = ledger(lake, dlt_dir)
    version = book.entries[vanished_key]["object_version"]
    assert book.known()[vanished_key] == KnownObject(version, LOADED, False, True)
    assert book.entries[vanished_key]["row_count"] == 0


def test_fills_go_to_the_lake_with_their_own_ledger_entries(tmp_path: Path) -> None:
    source, lake, dlt_dir = tmp_path / "source", tmp_path / "lake", tmp_path / "dlt"
    summary = generate(source, days=1, seed=5, twaps_per_day=120, fill_hours=2)
    pipeline = make_lake_pipeline(str(lake), str(dlt_dir))

    result = load(pipeline, bucket_url=str(source))

    assert result.stats.loaded == summary.objects + summary.fill_objects
    fills = pq.read_table(lake / "raw" / "twap_fills")
    assert fills.num_rows == summary.fills
    assert fills.schema.names[: len(FILL_SCHEMA)] == FILL_SCHEMA.names
    entries = ledger(lake, dlt_dir).entries
    fill_entries = [e for key, e in entries.items() if "node_fills_by_block" in key]
    assert len(fill_entries) == summary.fill_objects
    assert sum(e["row_count"] for e in fill_entries) == summary.fills
    assert all(e["load_id"] == result.info.loads_ids[-1] for e in fill_entries)


def test_spark_registers_the_fills_with_the_columns_of_the_fill_schema() -> None:
    """Spark cannot infer the schema of a folder no fill has reached yet: lake_sources.sql
    names the columns, which must stay those the pipeline writes."""
    macro = (MACROS / "lake_sources.sql").read_text()
    listed = re.search(r"set fill_columns = \[(.*?)\]", macro, re.DOTALL)
    assert listed is not None
    columns = [each.split() for each in re.findall(r"'([^']+)'", listed.group(1))]
    spark_types = {pa.int64(): "bigint", pa.string(): "string", pa.bool_(): "boolean"}
    expected = [
        [field.name, spark_types.get(field.type, "timestamp")]
        for field in (*FILL_SCHEMA, *LINEAGE_SCHEMA)
    ]
    assert columns == [*expected, ["_dlt_load_id", "string"]]


def test_the_lake_ledger_keeps_every_column_of_an_entry() -> None:
    """Its files are written with OBJECT_SCHEMA, which drops any other key of an entry: an entry
    column missing there would be lost on the lake alone (as `early_rows` once was)."""
    assert set(ENTRY_COLUMNS) <= set(OBJECT_SCHEMA.names)


@dataclass(frozen=True)
class LedgerState:
    """What the ledger reads as: each object's entry and every commit as Spark's views show them
    (counted rows, each once, without `_dlt_load_id`), and the numbers a run continues from."""

    entries: dict[str, dict[str, Any]]
    commits: list[dict[str, Any]]
    known: dict[str, KnownObject]
    revision: int
    seq: int


def without_load_id(row: dict[str, Any]) -> dict[str, Any]:
    return {column: value for column, value in row.items() if column != "_dlt_load_id"}


def ledger_state(pipeline: dlt.Pipeline) -> LedgerState:
    with pipeline.destination_client() as client:
        commits = counted_logs(client, log_files(client))[COMMITS_LOG]
    book = LakeLedger(pipeline)
    book.prepare()
    return LedgerState(
        {key: without_load_id(entry) for key, entry in book.entries.items()},
        sorted((without_load_id(row) for row in commits), key=lambda row: row["seq"]),
        book.known(),
        book.revision,
        book.seq,
    )


def files_of(pipeline: dlt.Pipeline) -> int:
    with pipeline.destination_client() as client:
        return sum(map(len, log_files(client).values()))


def load_hours(pipeline: dlt.Pipeline, hours: list[Path], source: Path) -> None:
    """One load per hourly object, as hourly runs do."""
    for path in hours:
        shutil.copy(path, source / path.name)
        load(pipeline, bucket_url=str(source))


@pytest.fixture
def hours(tmp_path: Path) -> list[Path]:
    out = tmp_path / "hours"
    generate(out, days=1, seed=5, twaps_per_day=120)
    return sorted(out.rglob("*.parquet"))


def test_compaction_keeps_what_the_ledger_reads_as_and_its_numbering(
    tmp_path: Path, hours: list[Path]
) -> None:
    source, lake, dlt_dir = tmp_path / "source", tmp_path / "lake", tmp_path / "dlt"
    source.mkdir()
    pipeline = make_lake_pipeline(str(lake), str(dlt_dir))
    load_hours(pipeline, hours[:8], source)
    # Older revisions: an object rewritten, another vanished and mirrored (no load current).
    rewritten = source / hours[2].name
    table = pq.read_table(rewritten)
    pq.write_table(table.slice(0, table.num_rows - 1), rewritten)
    load(pipeline, bucket_url=str(source))
    (source / hours[3].name).unlink()
    load(pipeline, bucket_url=str(source), on_vanished=MIRROR)
    before = ledger_state(pipeline)
    assert (before.revision, before.seq) == (8 + 1 + 1, 8 + 1 + 1)
    assert files_of(pipeline) == 20

    # Up to the threshold nothing is read or written.
    assert LakeLedger(pipeline).compact(20) == Compaction(20, 20, compacted=False)
    assert files_of(pipeline) == 20
    logs = {log: lake / "raw" / log for log in (OBJECTS_LOG, COMMITS_LOG)}
    originals = tmp_path / "originals"
    for log, folder in logs.items():
        shutil.copytree(folder, originals / log)

    assert LakeLedger(pipeline).compact(4) == Compaction(20, 2, compacted=True)
    assert ledger_state(pipeline) == before
    # Each object's entry is left, without its older revisions; every commit stays.
    assert pq.read_table(logs[OBJECTS_LOG]).num_rows == len(before.entries) == 8
    assert pq.read_table(logs[COMMITS_LOG]).num_rows == before.seq

    # Killed after the copy counted, before the old files were removed: each row counts once.
    for log, folder in logs.items():
        shutil.copytree(originals / log, folder, dirs_exist_ok=True)
    assert files_of(pipeline) == 22
    assert ledger_state(pipeline) == before

    # The next run numbers on, and the next compaction removes what was left.
    load_hours(pipeline, hours[8:9], source)
    after = ledger_state(pipeline)
    assert (after.revision, after.seq) == (before.revision + 1, before.seq + 1)
    assert after.commits[:-1] == before.commits
    assert LakeLedger(pipeline).compact(4).files_after == 2
    assert ledger_state(pipeline) == after


def test_a_ledger_file_cut_short_does_not_count_and_compaction_removes_it(
    tmp_path: Path, hours: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """A copy killed half-way (a local lake has no atomic write) leaves a file of a load that
    never completed, which does not even read as parquet."""
    source, lake, dlt_dir = tmp_path / "source", tmp_path / "lake", tmp_path / "dlt"
    source.mkdir()
    pipeline = make_lake_pipeline(str(lake), str(dlt_dir))
    load_hours(pipeline, hours[:2], source)
    before = ledger_state(pipeline)
    folder = lake / "raw" / OBJECTS_LOG
    whole = sorted(folder.iterdir())[0].read_bytes()
    (folder / "9999999999.1.cut.parquet").write_bytes(whole[: len(whole) // 2])

    with caplog.at_level(logging.WARNING):
        assert ledger_state(pipeline) == before
    assert "9999999999.1.cut.parquet is not whole parquet, so it does not count" in caplog.text
    assert LakeLedger(pipeline).compact(2) == Compaction(5, 2, compacted=True)
    assert not (folder / "9999999999.1.cut.parquet").exists()
    assert ledger_state(pipeline) == before


# A compaction in a process of its own, to kill: python - LAKE_URL DLT_DIR MAX_FILES
COMPACT = """
import sys
from dlt_pipelines.ledger.lake import LakeLedger
from dlt_pipelines.pipeline import make_lake_pipeline
LakeLedger(make_lake_pipeline(sys.argv[1], sys.argv[2])).compact(int(sys.argv[3]))
"""
HELD_WITHIN_SECONDS = 120


def nth(n: int, method: str, fragment: str) -> Hold:
    """Holds the `n`th request of `method` whose path has `fragment`."""
    seen = itertools.count(1)
    return lambda m, path: m == method and fragment in path and next(seen) == n


# Where a compaction of 8 files (4 loads) on S3 is killed: the request it waits on, which the
# proxy holds (the `n`th of a method whose path has a fragment), and the log files left then.
PAUSES = {
    # Both logs copied into a new load whose marker is not written: the copy does not count.
    "copied": ((1, "PUT", "/_dlt_loads/"), 8 + 2),
    # The copy counts, no old file removed yet: every row is in two counting files.
    "counted": ((1, "POST", "?delete"), 8 + 2),
    # The objects log's old files removed, the commits log's not.
    "half_removed": ((2, "POST", "?delete"), 1 + 4 + 1),
}


def s3_lake(endpoint_url: str) -> dict[str, str]:
    """dlt's settings (environment variables) for a filesystem destination on `endpoint_url`."""
    prefix = "DESTINATION__FILESYSTEM__CREDENTIALS__"
    return {
        f"{prefix}AWS_ACCESS_KEY_ID": FAKE_AWS["AWS_ACCESS_KEY_ID"],
        f"{prefix}AWS_SECRET_ACCESS_KEY": FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
        f"{prefix}REGION_NAME": FAKE_AWS["AWS_DEFAULT_REGION"],
        f"{prefix}ENDPOINT_URL": endpoint_url,
    }


@pytest.fixture
def proxy(s3: S3) -> Iterator[S3Proxy]:
    server = S3Proxy(s3.endpoint_url)
    yield server
    server.released.set()
    server.close()


def kill_when_held(proxy: S3Proxy, process: subprocess.Popen) -> None:
    """kill -9 `process` while the proxy holds its request (failing if it ends before), then
    let the request go, never forwarded."""
    # An ending process sets `held` too, so the wait is over either way.
    threading.Thread(target=lambda: (process.wait(), proxy.held.set()), daemon=True).start()
    assert proxy.held.wait(HELD_WITHIN_SECONDS), "the compaction never reached its pause point"
    assert process.poll() is None, f"the compaction ended first: {process.stderr.read()}"
    process.kill()
    process.wait()
    process.stderr.close()
    proxy.released.set()


@pytest.mark.parametrize("pause", list(PAUSES))
def test_a_compaction_killed_half_way_reads_the_same_and_the_next_run_finishes_it(
    pause: str,
    tmp_path: Path,
    hours: list[Path],
    s3: S3,
    proxy: S3Proxy,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, dlt_dir = tmp_path / "source", tmp_path / "dlt"
    source.mkdir()
    bucket = f"lake-{pause.replace('_', '-')}"
    s3.create_bucket(bucket)
    lake_url = f"s3://{bucket}/lake"
    for name, value in s3_lake(s3.endpoint_url).items():
        monkeypatch.setenv(name, value)

    def lake() -> dlt.Pipeline:
        """The lake pipeline as a new process finds it."""
        return make_lake_pipeline(lake_url, str(dlt_dir))

    load_hours(lake(), hours[:4], source)
    before = ledger_state(lake())
    assert files_of(lake()) == 8
    (n, method, fragment), files_left = PAUSES[pause]
    proxy.hold = nth(n, method, fragment)

    compaction = subprocess.Popen(
        [sys.executable, "-c", COMPACT, lake_url, str(dlt_dir), "4"],
        env={**os.environ, **s3_lake(proxy.endpoint_url)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_when_held(proxy, compaction)

    assert files_of(lake()) == files_left
    assert ledger_state(lake()) == before
    # The next run loads the next hour, then finds more files than allowed and compacts.
    load_hours(lake(), hours[4:5], source)
    assert LakeLedger(lake()).compact(4).files_after == 2
    after = ledger_state(lake())
    assert (after.revision, after.seq) == (before.revision + 1, before.seq + 1)
    assert after.commits[:-1] == before.commits
    new = next(key for key in after.entries if key.endswith(hours[4].name))
    assert after.entries == {**before.entries, new: after.entries[new]}
