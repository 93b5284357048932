"""The lake target: the same source into parquet files (dlt's `filesystem` destination), with
the ledger kept as append-only files beside raw.

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
rows. Spark registers these tables in `dbt_project/macros/cross_db/lake_sources.sql`.
"""

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.parquet as pq
from dlt.destinations.impl.filesystem.filesystem import FilesystemClient

from dlt_pipelines.ledger import LOADED, MIRROR, KnownObject, LedgerEntry
from dlt_pipelines.settings import DATASET_NAME

OBJECTS_LOG = "twap_ingest_objects_log"
COMMITS_LOG = "twap_ingest_commits_log"
LAKE_PIPELINE_NAME = "hyperliquid_twap_lake"

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


def make_lake_pipeline(lake_url: str, pipelines_dir: str | None = None) -> dlt.Pipeline:
    """The TWAP pipeline writing parquet files to dataset `raw` under `lake_url` (a local path,
    `file://` or `s3://` URL)."""
    return dlt.pipeline(
        pipeline_name=LAKE_PIPELINE_NAME,
        destination=dlt.destinations.filesystem(bucket_url=lake_url),
        dataset_name=DATASET_NAME,
        pipelines_dir=pipelines_dir,
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
            objects = _read(client, OBJECTS_LOG, complete)
            commits = _read(client, COMMITS_LOG, complete)
        self.entries = {}
        for row in sorted(objects, key=lambda row: row["revision"]):
            self.entries[row["object_key"]] = row
        self.revision = max((row["revision"] for row in objects), default=0)
        self.seq = max((row["seq"] for row in commits), default=0)

    def known(self) -> dict[str, KnownObject]:
        return {
            key: KnownObject(
                row["object_version"],
                row["status"],
                row["load_id"] is not None,
                row["vanished_at"] is not None,
            )
            for key, row in self.entries.items()
        }

    def record(
        self,
        entries: Sequence[LedgerEntry],
        load_id: str | None,
        at: datetime,
        vanished: Collection[str] = (),
        reappeared: Collection[str] = (),
        on_vanished: str = "keep",
    ) -> None:
        """Append what a run did as one dlt load: the changed ledger rows and their commits."""
        changed: dict[str, dict[str, Any]] = {}
        commits: list[dict[str, Any]] = []

        def entry(key: str) -> dict[str, Any]:
            return changed.setdefault(key, dict(self.entries[key]))

        def commit(row: dict[str, Any], new_load: str | None) -> None:
            self.seq += 1
            commits.append(
                {
                    "seq": self.seq,
                    "object_key": row["object_key"],
                    "load_id": new_load,
                    "previous_load_id": row["load_id"],
                    "committed_at": at,
                }
            )
            row.update(load_id=new_load, commit_seq=self.seq)

        for item in entries:
            row = changed[item.key] = _attempted(self.entries.get(item.key), item, at)
            if item.status == LOADED:
                row.update(loaded_version=item.version, loaded_at=at)
                if row["load_id"] != load_id:
                    commit(row, load_id)
        for key in reappeared:
            entry(key)["vanished_at"] = None
        for key in vanished:
            row = entry(key)
            row["vanished_at"] = row["vanished_at"] or at
            if on_vanished == MIRROR and row["load_id"] is not None:
                commit(row, None)
                row.update(loaded_version=None, row_count=0, rejected_rows=0)
        if not changed:
            return
        for row in changed.values():
            self.revision += 1
            row["revision"] = self.revision
        self.pipeline.run(
            [
                dlt.resource(
                    [pa.Table.from_pylist(list(changed.values()), OBJECT_SCHEMA)],
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
        self.entries.update(changed)


def _attempted(previous: dict[str, Any] | None, item: LedgerEntry, at: datetime) -> dict[str, Any]:
    """The ledger row of an object after an attempt: as the PostgreSQL ledger's upsert."""
    row = dict(previous) if previous else {"first_seen_at": at, "attempts": 0, "load_id": None}
    row.setdefault("commit_seq", None)
    same_version = previous is not None and previous["object_version"] == item.version
    row.update(
        object_key=item.key,
        object_version=item.version,
        size_bytes=item.size_bytes,
        modified_at=item.modified_at,
        status=item.status,
        error=item.error,
        attempts=row["attempts"] + 1 if same_version else 1,
        last_attempt_at=at,
        vanished_at=None,
    )
    if item.status == LOADED:
        row.update(row_count=item.rows, rejected_rows=item.rejected, repaired_times=item.repaired)
    return row


def _complete_loads(client: FilesystemClient) -> set[str]:
    """The ids of the dlt loads that completed (dlt writes their marker last)."""
    loads = set()
    for path in _table_files(client, client.schema.loads_table_name, ".jsonl"):
        for line in client.read_text(path).splitlines():
            if line.strip():
                loads.add(json.loads(line)["load_id"])
    return loads


def _read(client: FilesystemClient, table: str, loads: set[str]) -> list[dict[str, Any]]:
    """The rows of `table` written by one of `loads` (none before the table exists)."""
    rows: list[dict[str, Any]] = []
    for path in _table_files(client, table, ".parquet"):
        with client.fs_client.open(path, "rb") as file:
            data = pq.read_table(file)
        rows.extend(row for row in data.to_pylist() if row.get("_dlt_load_id") in loads)
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
