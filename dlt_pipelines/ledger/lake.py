"""The ingest ledger on a lake (dlt's `filesystem` destination): append-only files beside raw.

Nothing on a lake is updated in place, so the ledger is a log too:

    twap_ingest_objects_log   a row per change of an object's ledger entry, numbered `revision`;
                              the object's entry is its row of the highest revision
    twap_ingest_commits_log   one row per commit, as in PostgreSQL, numbered `seq`

A ledger row counts only once its dlt load is complete (`_dlt_loads`, which dlt writes after
every file of the load), and an event row only once a counting ledger entry names its load: the
same rule as on PostgreSQL, with dlt's completion marker in place of a transaction. Revision and
commit numbers continue from the highest counted ones; one writer at a time (the run lock of
the deployment, e.g. `flock`, as for the hourly cron line). Rows that stop being current stay
in their files until a compaction; the readers (dbt on Spark) see only current rows. Spark
reads these logs through the views of `rules.lake_view_sql`.

Each load that records anything adds a file to each log, so `compact` rewrites them once they
hold more than a given number of files: each object's entry and every commit, copied as they
are into one new dlt load, then the old files removed. The copy counts only once that load is
complete, and until the old files are gone a row is in two counting files, alike but for
`_dlt_load_id`: readers take a row once per `revision` or `seq` (`rules.counted`). So a crash
anywhere in a compaction leaves a ledger that reads the same, and the next one finishes it.
"""

import json
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient

from dlt_pipelines.ledger.rules import (
    Entry,
    KnownObject,
    Run,
    apply_run,
    counted,
    newest_entries,
)

logger = logging.getLogger(__name__)

OBJECTS_LOG = "twap_ingest_objects_log"
COMMITS_LOG = "twap_ingest_commits_log"
# Each log and the column that numbers its rows.
NUMBERED_BY = {OBJECTS_LOG: "revision", COMMITS_LOG: "seq"}
# Files read at once: the reads of a batch overlap, and its bytes are all in memory.
FILES_PER_READ = 1000

_TIME = pa.timestamp("us", tz="UTC")
OBJECT_SCHEMA = pa.schema(
    [
        pa.field("object_key", pa.string(), nullable=False),
        pa.field("revision", pa.int64(), nullable=False),
        pa.field("object_version", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64()),
        pa.field("modified_at", _TIME),
        pa.field("status", pa.string(), nullable=False),
        pa.field("error", pa.string()),
        pa.field("attempts", pa.int64(), nullable=False),
        pa.field("row_count", pa.int64()),
        pa.field("loaded_version", pa.string()),
        pa.field("load_id", pa.string()),
        pa.field("commit_seq", pa.int64()),
        pa.field("first_seen_at", _TIME, nullable=False),
        pa.field("last_attempt_at", _TIME, nullable=False),
        pa.field("loaded_at", _TIME),
        pa.field("vanished_at", _TIME),
        pa.field("rejected_rows", pa.int64()),
        pa.field("repaired_times", pa.int64()),
        pa.field("early_rows", pa.int64()),
    ]
)
COMMIT_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("object_key", pa.string(), nullable=False),
        pa.field("load_id", pa.string()),
        pa.field("previous_load_id", pa.string()),
        pa.field("committed_at", _TIME, nullable=False),
    ]
)


@dataclass(frozen=True)
class Compaction:
    """The ledger logs' files before and after `LakeLedger.compact`, and what it took."""

    files_before: int
    files_after: int
    compacted: bool
    seconds: float = field(default=0.0, compare=False)


class LakeLedger:
    """The ledger of a lake pipeline, read from and appended to its files."""

    def __init__(self, pipeline: dlt.Pipeline) -> None:
        self.pipeline = pipeline
        self.entries: dict[str, dict[str, Any]] = {}
        self.revision = 0
        self.seq = 0

    def prepare(self, aborted_loads: Collection[str] = ()) -> None:
        """Read the counted ledger. Rows of aborted or unnamed loads stay, invisible."""
        with self._client() as client:
            logs = counted_logs(client, log_files(client))
        self.entries = newest_entries(logs[OBJECTS_LOG])
        self.revision = max((row["revision"] for row in logs[OBJECTS_LOG]), default=0)
        self.seq = max((row["seq"] for row in logs[COMMITS_LOG]), default=0)

    def known(self) -> dict[str, KnownObject]:
        return {key: KnownObject.of(entry) for key, entry in self.entries.items()}

    def record(self, run: Run) -> None:
        """Append what `run` did (`rules.apply_run`) as one dlt load: the changed entries, each
        a new revision, and their commits numbered after the counted ones."""
        changes = apply_run(self.entries, run)
        if not changes.entries:
            return
        commits = []
        for commit in changes.commits:
            self.seq += 1
            commits.append({**asdict(commit), "seq": self.seq, "committed_at": run.at})
            changes.entries[commit.object_key]["commit_seq"] = self.seq
        for entry in changes.entries.values():
            self.revision += 1
            entry["revision"] = self.revision
        self._append(changes.entries.values(), commits)
        self.entries.update(changes.entries)

    def compact(self, max_files: int) -> Compaction:
        """Once the logs hold more than `max_files` files, rewrite them as one dlt load: each
        object's entry (its older revisions are read by nothing: the commits keep every change
        of what is current) and every commit (dbt takes in those after its last build), copied
        with their numbers. Only once that load is complete are the files read removed: those
        of completed loads, now copied, and those of loads that never completed (no package is
        pending, so none ever will). Nothing is read below the threshold but the two listings.
        """
        started = time.monotonic()
        with self._client() as client:
            listed = log_files(client)
            before = sum(map(len, listed.values()))
            if before <= max_files:
                return Compaction(before, before, compacted=False)
            if self.pipeline.has_pending_data:
                # dlt would load the pending package instead: the next load drops it first.
                logger.warning("ledger not compacted: a load package of this pipeline is pending")
                return Compaction(before, before, compacted=False)
            logs = counted_logs(client, listed)
        self._append(newest_entries(logs[OBJECTS_LOG]).values(), logs[COMMITS_LOG])
        with self._client() as client:
            for paths in listed.values():
                if paths:  # s3fs raises FileNotFoundError on an empty list
                    client.fs_client.rm(paths)
            after = sum(map(len, log_files(client).values()))
        return Compaction(before, after, compacted=True, seconds=time.monotonic() - started)

    def _append(self, entries: Iterable[Entry], commits: Iterable[Entry]) -> None:
        """Entries and commits (with their numbers) as one dlt load: they count once it is."""
        info = self.pipeline.run(
            [
                dlt.resource(
                    [pa.Table.from_pylist(list(entries), OBJECT_SCHEMA)],
                    name=OBJECTS_LOG,
                    write_disposition="append",
                ),
                dlt.resource(
                    [pa.Table.from_pylist(list(commits), COMMIT_SCHEMA)],
                    name=COMMITS_LOG,
                    write_disposition="append",
                ),
            ],
            loader_file_format="parquet",
        )
        info.raise_on_failed_jobs()

    def _client(self) -> FilesystemClient:
        client = self.pipeline.destination_client()
        assert isinstance(client, FilesystemClient)
        return client


def _complete_loads(client: FilesystemClient) -> set[str]:
    """The ids of the dlt loads that completed (dlt writes their marker last)."""
    loads = set()
    markers = _table_files(client, client.schema.loads_table_name, ".jsonl")
    for _, data in _contents(client, markers):
        for line in data.decode().splitlines():
            if line.strip():
                loads.add(json.loads(line)["load_id"])
    return loads


def log_files(client: FilesystemClient) -> dict[str, list[str]]:
    """Each log's files."""
    return {log: _table_files(client, log, ".parquet") for log in NUMBERED_BY}


def counted_logs(
    client: FilesystemClient, files: Mapping[str, list[str]]
) -> dict[str, list[Entry]]:
    """Each log's counted rows (`rules.counted`) in its `files`."""
    complete = _complete_loads(client)
    return {
        log: counted(
            [row for path, data in _contents(client, files[log]) for row in _rows(path, data)],
            complete,
            numbered_by,
        )
        for log, numbered_by in NUMBERED_BY.items()
    }


def _contents(client: FilesystemClient, paths: list[str]) -> Iterator[tuple[str, bytes]]:
    """Each file's path and bytes: on S3 one GET each, many at once (fsspec's `cat`)."""
    for start in range(0, len(paths), FILES_PER_READ):
        yield from client.fs_client.cat(paths[start : start + FILES_PER_READ]).items()


def _rows(path: str, data: bytes) -> list[Entry]:
    """The rows of a log file; none of one cut short (a copy killed half-way: its load never
    completed, since dlt writes the marker after every file)."""
    try:
        return pq.read_table(pa.BufferReader(data)).to_pylist()
    except pa.ArrowInvalid as cut:
        logger.warning("ledger file %s is not whole parquet, so it does not count: %s", path, cut)
        return []


def _table_files(client: FilesystemClient, table: str, suffix: str) -> list[str]:
    """The files of `table` (none before it exists)."""
    directory = client.get_table_dir(table)
    if not client.fs_client.exists(directory):
        return []
    return [
        path
        for path in client.fs_client.ls(directory, detail=False)
        if PurePosixPath(path).suffix == suffix
    ]
