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
in their files (nothing is deleted on the lake); the readers (dbt on Spark) see only current
rows. Spark reads these logs through the views of `rules.lake_view_sql`.
"""

import json
from collections.abc import Collection, Iterable
from dataclasses import asdict
from pathlib import PurePosixPath
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient

from dlt_pipelines.ledger.rules import (
    KnownObject,
    Run,
    apply_run,
    counted,
    newest_entries,
)

OBJECTS_LOG = "twap_ingest_objects_log"
COMMITS_LOG = "twap_ingest_commits_log"

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


class LakeLedger:
    """The ledger of a lake pipeline, read from and appended to its files."""

    def __init__(self, pipeline: dlt.Pipeline) -> None:
        self.pipeline = pipeline
        self.entries: dict[str, dict[str, Any]] = {}
        self.revision = 0
        self.seq = 0

    def prepare(self, aborted_loads: Collection[str] = ()) -> None:
        """Read the counted ledger. Rows of aborted or unnamed loads stay, invisible."""
        with self.pipeline.destination_client() as client:
            assert isinstance(client, FilesystemClient)
            complete = _complete_loads(client)
            objects = counted(_read(client, OBJECTS_LOG), complete)
            commits = counted(_read(client, COMMITS_LOG), complete)
        self.entries = newest_entries(objects)
        self.revision = max((row["revision"] for row in objects), default=0)
        self.seq = max((row["seq"] for row in commits), default=0)

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
        self.pipeline.run(
            [
                dlt.resource(
                    [pa.Table.from_pylist(list(changes.entries.values()), OBJECT_SCHEMA)],
                    name=OBJECTS_LOG,
                    write_disposition="append",
                ),
                dlt.resource(
                    [pa.Table.from_pylist(commits, COMMIT_SCHEMA)],
                    name=COMMITS_LOG,
                    write_disposition="append",
                ),
            ],
            loader_file_format="parquet",
        )
        self.entries.update(changes.entries)


def _complete_loads(client: FilesystemClient) -> set[str]:
    """The ids of the dlt loads that completed (dlt writes their marker last)."""
    loads = set()
    for path in _table_files(client, client.schema.loads_table_name, ".jsonl"):
        for line in client.read_text(path).splitlines():
            if line.strip():
                loads.add(json.loads(line)["load_id"])
    return loads


def _read(client: FilesystemClient, table: str) -> list[dict[str, Any]]:
    """The rows of `table`'s files (none before the table exists)."""
    rows: list[dict[str, Any]] = []
    for path in _table_files(client, table, ".parquet"):
        with client.fs_client.open(path, "rb") as file:
            rows.extend(pq.read_table(file).to_pylist())
    return rows


def _table_files(client: FilesystemClient, table: str, suffix: str) -> Iterable[str]:
    """The files of `table` (none before it exists)."""
    directory = client.get_table_dir(table)
    if not client.fs_client.exists(directory):
        return []
    return [
        path
        for path in client.fs_client.ls(directory, detail=False)
        if PurePosixPath(path).suffix == suffix
    ]
