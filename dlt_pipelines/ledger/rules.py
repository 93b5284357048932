"""The ledger's rules, once for every warehouse: which objects to read, what a run does to an
object's entry, what is current, what vanished, and which ledger rows count on a lake.

The listing applies `decision`, `vanished` and `reappeared`; the PostgreSQL ledger
(`postgres.py`) and the lake ledger (`lake.py`) both write what `apply_run` says of a `Run`, and read what
is current as `CURRENT` (in SQL) and `KnownObject.of` say; the lake ledger reads its log as
`counted` and `newest_entries`, and Spark as `lake_view_sql`, rendered into the dbt macro file
`lake_ledger_views.sql` by `python -m dlt_pipelines.ledger.rules` (a test keeps them equal);
`twap status` reads PostgreSQL through `summary_sql`, `CURRENT` and `VANISHED`.
"""

import sys
import textwrap
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

LOADED, FAILED = "loaded", "failed"
# What happens to the rows of an object that is no longer listed (see README, Guarantees).
KEEP, MIRROR = "keep", "mirror"
# Why a listed object is read: never loaded (or its rows were removed), a new version, or its
# last attempt failed.
NEW, CHANGED, RETRIED = "new", "changed", "retried"

# An object's entry, in both ledgers (the lake's log adds `revision`).
ENTRY_COLUMNS = (
    "object_key",
    "object_version",
    "size_bytes",
    "modified_at",
    "status",
    "error",
    "attempts",
    "row_count",
    "loaded_version",
    "load_id",
    "commit_seq",
    "first_seen_at",
    "last_attempt_at",
    "loaded_at",
    "vanished_at",
    "rejected_rows",
    "repaired_times",
    "early_rows",
)
# SQL over a ledger entry `l`. Current: the entry names the load holding the object's rows.
# Vanished: the object was missing from a listing and not listed since; read through jsonb, so
# that a PostgreSQL ledger from before objects could vanish (it gains the column on its next
# load) reads as none vanished.
CURRENT = "l.load_id is not null"
VANISHED_SINCE = "(to_jsonb(l) ->> 'vanished_at')::timestamptz"
VANISHED = f"{VANISHED_SINCE} is not null"
# Rows of its current load rejected only for being dated after the run (read again next run).
EARLY_ROWS = "coalesce((to_jsonb(l) ->> 'early_rows')::bigint, 0)"
EARLY = f"{EARLY_ROWS} > 0"

Entry = dict[str, Any]


@dataclass(frozen=True)
class LedgerEntry:
    """What one run did with one object version."""

    key: str
    version: str
    size_bytes: int | None
    modified_at: datetime | None
    status: str
    rows: int | None = None
    error: str | None = None
    rejected: int = 0  # rows kept in the quarantine table instead
    repaired: int = 0  # times corrected from milliseconds stored as nanoseconds
    early: int = 0  # of `rejected`: dated after the run's clock, so read again next run


@dataclass(frozen=True)
class KnownObject:
    """What the ledger holds of an object, as the listing needs it."""

    version: str
    status: str
    current: bool  # the ledger names a load holding the object's rows
    vanished: bool  # the object was missing from the last listing
    early: bool = False  # rows of its current load were rejected for a clock behind

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> "KnownObject":
        return cls(
            entry["object_version"],
            entry["status"],
            entry["load_id"] is not None,
            entry["vanished_at"] is not None,
            bool(entry.get("early_rows")),
        )


def decision(seen: KnownObject | None, version: str) -> str | None:
    """Why a listed object of `version` is read (NEW, CHANGED or RETRIED), or None: it is not.
    An object whose rows were rejected only for being dated after the run is retried like a
    failed one, until a run's clock accepts them."""
    if seen is None or (not seen.current and seen.status == LOADED):
        return NEW
    if seen.version != version:
        return CHANGED
    if seen.status != LOADED or seen.early:
        return RETRIED
    return None


def vanished(
    known: Mapping[str, KnownObject], listed: Collection[str], on_vanished: str
) -> list[str]:
    """Known objects missing from the listing: newly missing ones, and when mirroring also those
    missing before whose rows still count."""
    return sorted(
        key
        for key, seen in known.items()
        if key not in listed and (not seen.vanished or (on_vanished == MIRROR and seen.current))
    )


def reappeared(known: Mapping[str, KnownObject], listed: Iterable[str]) -> list[str]:
    """Listed objects that had vanished."""
    return [key for key in listed if key in known and known[key].vanished]


@dataclass(frozen=True)
class Commit:
    """A change of what is current of an object: from `previous_load_id` to `load_id`."""

    object_key: str
    load_id: str | None
    previous_load_id: str | None


@dataclass
class RunChanges:
    """The entries a run changed (key -> entry, `commit_seq` still to number) and its commits."""

    entries: dict[str, Entry] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)


@dataclass(frozen=True)
class Run:
    """What one load run did: its attempts, the load holding their rows (None: nothing loaded),
    when it started, and the known objects that vanished or reappeared."""

    attempts: Sequence[LedgerEntry]
    load_id: str | None
    at: datetime
    vanished: Collection[str] = ()
    reappeared: Collection[str] = ()
    on_vanished: str = KEEP


def apply_run(previous: Mapping[str, Entry], run: Run) -> RunChanges:
    """What `run` does to the ledger, given the entries of the objects it touched.

    A loaded attempt makes the run's load the object's current load (a commit, unless it
    already was); a failed one keeps whatever was current. `attempts` counts tries at the
    current version. Objects missing from the listing are marked vanished; with
    `on_vanished="mirror"` their rows stop being current (a commit to no load).
    """
    changes = RunChanges()

    def entry(key: str) -> Entry:
        return changes.entries.setdefault(key, dict(previous[key]))

    def commit(row: Entry, new_load: str | None) -> None:
        changes.commits.append(Commit(row["object_key"], new_load, row["load_id"]))
        row["load_id"] = new_load

    for attempt in run.attempts:
        row = changes.entries[attempt.key] = attempted(previous.get(attempt.key), attempt, run.at)
        if attempt.status == LOADED:
            row.update(loaded_version=attempt.version, loaded_at=run.at)
            if row["load_id"] != run.load_id:
                commit(row, run.load_id)
    for key in run.reappeared:
        entry(key)["vanished_at"] = None
    for key in run.vanished:
        row = entry(key)
        row["vanished_at"] = row["vanished_at"] or run.at
        if run.on_vanished == MIRROR and row["load_id"] is not None:
            commit(row, None)
            row.update(loaded_version=None, row_count=0, rejected_rows=0, early_rows=0)
    return changes


def attempted(previous: Entry | None, attempt: LedgerEntry, at: datetime) -> Entry:
    """An object's entry after an attempt at reading it."""
    row = dict(previous) if previous else {**dict.fromkeys(ENTRY_COLUMNS), "first_seen_at": at}
    same_version = previous is not None and previous["object_version"] == attempt.version
    row.update(
        object_key=attempt.key,
        object_version=attempt.version,
        size_bytes=attempt.size_bytes,
        modified_at=attempt.modified_at,
        status=attempt.status,
        error=attempt.error,
        attempts=row["attempts"] + 1 if same_version else 1,
        last_attempt_at=at,
        vanished_at=None,
    )
    # A failed attempt leaves what is current (and its row counts) as it was.
    if attempt.status == LOADED:
        row.update(
            row_count=attempt.rows,
            rejected_rows=attempt.rejected,
            repaired_times=attempt.repaired,
            early_rows=attempt.early,
        )
    return row


def summary_sql(ledger: str) -> str:
    """PostgreSQL: objects loaded, failed and vanished, current rows, rows rejected, times
    repaired, last load and last attempt. Columns added since the first ledgers are read through
    jsonb, as VANISHED: zero until the next load adds them."""
    return f"""
    select
        count(*) filter (where status = '{LOADED}'),
        count(*) filter (where status = '{FAILED}'),
        count(*) filter (where {VANISHED}),
        coalesce(sum(row_count) filter (where {CURRENT}), 0),
        coalesce(sum((to_jsonb(l) ->> 'rejected_rows')::bigint), 0),
        coalesce(sum((to_jsonb(l) ->> 'repaired_times')::bigint), 0),
        max(loaded_at),
        max(last_attempt_at)
    from {ledger} as l
    """


# The lake's ledger is a log of entries (and of commits): a log row counts once the dlt load
# that wrote it completed; an object's entry is its counted row of the highest revision.
def counted(
    rows: Iterable[Entry], complete_loads: Collection[str], numbered_by: str
) -> list[Entry]:
    """The log rows that count: those written by a completed load, once per number
    (`numbered_by`: `revision` or `seq`). A compaction copies rows into a load of its own, so
    until it has removed the old file a row counts in two loads, alike but for `_dlt_load_id`."""
    rows_by_number: dict[int, Entry] = {}
    for row in rows:
        if row.get("_dlt_load_id") in complete_loads:
            rows_by_number.setdefault(row[numbered_by], row)
    return list(rows_by_number.values())


def newest_entries(counted_rows: Iterable[Entry]) -> dict[str, Entry]:
    """Object key -> its entry: the counted log row of the highest revision."""
    entries: dict[str, Entry] = {}
    for row in sorted(counted_rows, key=lambda row: row["revision"]):
        entries[row["object_key"]] = row
    return entries


def lake_view_sql(raw: str, loads: str) -> dict[str, str]:
    """Spark SQL: the lake's ledger as views named as PostgreSQL's tables, under schema `raw`
    whose dlt loads table is `loads` (the same rules as `counted` and `newest_entries`). A row
    a compaction copied counts in two loads until the old file is removed: `distinct` takes a
    commit once, and either copy of an object's newest row is its entry (they differ only in
    `_dlt_load_id`, which the view drops)."""
    complete = f"_dlt_load_id in (select load_id from {raw}.{loads})"
    return {
        f"{raw}.twap_ingest_commits": (
            "select distinct seq, object_key, load_id, previous_load_id, committed_at\n"
            f"from {raw}.twap_ingest_commits_log\n"
            f"where {complete}"
        ),
        f"{raw}.twap_ingest_objects": (
            "select * except (revision, revision_rank, _dlt_load_id)\n"
            "from (\n"
            "    select\n"
            "        *,\n"
            "        row_number() over (partition by object_key order by revision desc)\n"
            "            as revision_rank\n"
            f"    from {raw}.twap_ingest_objects_log\n"
            f"    where {complete}\n"
            ")\n"
            "where revision_rank = 1"
        ),
    }


def lake_views_macro() -> str:
    """The dbt macro that creates `lake_view_sql`'s views on Spark (the file's whole text)."""
    statements = "\n".join(
        f'    {{%- do run_query("create or replace view {view} as\n'
        f'{textwrap.indent(select, " " * 8)}") -%}}'
        for view, select in lake_view_sql("raw", "dlt_loads").items()
    )
    return (
        "{#- Generated by `python -m dlt_pipelines.ledger.rules` from the ledger's rules\n"
        "    (dlt_pipelines/ledger/rules.py, lake_view_sql); do not edit. The lake's ledger\n"
        "    as views named as PostgreSQL's tables: a log row counts once its dlt load\n"
        "    completed (once, if a compaction copied it), an object's entry is its newest\n"
        "    counted row. -#}\n"
        "{% macro create_lake_ledger_views() -%}\n"
        f"{statements}\n"
        "{%- endmacro %}\n"
    )


if __name__ == "__main__":
    sys.stdout.write(lake_views_macro())
