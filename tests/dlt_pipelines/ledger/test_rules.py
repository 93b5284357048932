"""The ledger's rules on their own (no database, no pipeline): what a run does to entries, which
listed objects are read, what vanished, and which lake log rows count."""

from datetime import UTC, datetime
from pathlib import Path

from dlt_pipelines.ledger.rules import (
    CHANGED,
    FAILED,
    KEEP,
    LOADED,
    MIRROR,
    NEW,
    RETRIED,
    Commit,
    KnownObject,
    LedgerEntry,
    Run,
    apply_run,
    counted,
    decision,
    lake_views_macro,
    newest_entries,
    reappeared,
    vanished,
)

AT = datetime(2026, 7, 20, 12, tzinfo=UTC)
LATER = datetime(2026, 7, 20, 13, tzinfo=UTC)
MACROS = Path(__file__).parents[3] / "dbt_project" / "macros"


def loaded(key: str = "a", version: str = "v1", rows: int = 10, rejected: int = 0) -> LedgerEntry:
    return LedgerEntry(key, version, 100, AT, LOADED, rows, rejected=rejected)


def failed(key: str = "a", version: str = "v1") -> LedgerEntry:
    return LedgerEntry(key, version, 100, AT, FAILED, error="cannot read")


def test_which_listed_objects_are_read() -> None:
    current = KnownObject("v1", LOADED, current=True, vanished=False)
    assert decision(None, "v1") == NEW
    assert decision(current, "v1") is None
    assert decision(current, "v2") == CHANGED
    assert decision(KnownObject("v1", FAILED, current=False, vanished=False), "v1") == RETRIED
    # A failed new version keeps the old one current; the same version is retried.
    assert decision(KnownObject("v2", FAILED, current=True, vanished=False), "v2") == RETRIED
    # Mirrored away after it vanished, then listed again: read as new.
    assert decision(KnownObject("v1", LOADED, current=False, vanished=True), "v1") == NEW


def test_what_vanished_and_what_reappeared() -> None:
    known = {
        "listed": KnownObject("v1", LOADED, current=True, vanished=False),
        "gone": KnownObject("v1", LOADED, current=True, vanished=False),
        "gone before": KnownObject("v1", LOADED, current=True, vanished=True),
        "mirrored": KnownObject("v1", LOADED, current=False, vanished=True),
        "back": KnownObject("v1", LOADED, current=True, vanished=True),
    }
    listed = {"listed", "back"}
    assert vanished(known, listed, KEEP) == ["gone"]
    # Mirroring removes the rows of objects missing before too, once.
    assert vanished(known, listed, MIRROR) == ["gone", "gone before"]
    assert reappeared(known, ["listed", "back", "new"]) == ["back"]


def test_a_loaded_object_becomes_current_with_one_commit() -> None:
    changes = apply_run({}, Run([loaded()], "load-1", AT))
    entry = changes.entries["a"]
    assert (entry["status"], entry["attempts"], entry["row_count"]) == (LOADED, 1, 10)
    assert (entry["load_id"], entry["loaded_version"], entry["first_seen_at"]) == (
        "load-1",
        "v1",
        AT,
    )
    assert changes.commits == [Commit("a", "load-1", None)]


def test_a_failed_attempt_keeps_what_is_current() -> None:
    before = apply_run({}, Run([loaded(rows=10, rejected=2)], "load-1", AT)).entries
    changes = apply_run(before, Run([failed(version="v2")], "load-2", LATER))
    entry = changes.entries["a"]
    assert (entry["status"], entry["error"], entry["attempts"]) == (FAILED, "cannot read", 1)
    assert (entry["load_id"], entry["loaded_version"]) == ("load-1", "v1")
    assert (entry["row_count"], entry["rejected_rows"]) == (10, 2)
    assert changes.commits == []
    # Tries at the same version are counted; a success then commits the new load.
    again = apply_run(changes.entries, Run([loaded(version="v2", rows=12)], "load-3", LATER))
    assert again.entries["a"]["attempts"] == 2
    assert again.entries["a"]["first_seen_at"] == AT
    assert again.commits == [Commit("a", "load-3", "load-1")]


def test_vanished_objects_keep_or_lose_their_rows() -> None:
    before = apply_run({}, Run([loaded()], "load-1", AT)).entries
    kept = apply_run(before, Run([], None, LATER, vanished=["a"], on_vanished=KEEP))
    assert kept.entries["a"]["vanished_at"] == LATER
    assert (kept.entries["a"]["load_id"], kept.commits) == ("load-1", [])
    mirrored = apply_run(before, Run([], None, LATER, vanished=["a"], on_vanished=MIRROR))
    entry = mirrored.entries["a"]
    assert (entry["load_id"], entry["loaded_version"], entry["row_count"]) == (None, None, 0)
    assert mirrored.commits == [Commit("a", None, "load-1")]
    # Vanished again later: the first time it went missing stays.
    again = apply_run(kept.entries, Run([], None, datetime.now(UTC), vanished=["a"]))
    assert again.entries["a"]["vanished_at"] == LATER
    back = apply_run(kept.entries, Run([], None, LATER, reappeared=["a"]))
    assert back.entries["a"]["vanished_at"] is None


def test_a_run_that_changes_nothing_writes_nothing() -> None:
    before = apply_run({}, Run([loaded()], "load-1", AT)).entries
    changes = apply_run(before, Run([], None, LATER))
    assert (changes.entries, changes.commits) == ({}, [])


def test_lake_log_rows_count_once_their_load_completed() -> None:
    log = [
        {"object_key": "a", "revision": 1, "status": LOADED, "_dlt_load_id": "l1"},
        {"object_key": "a", "revision": 3, "status": FAILED, "_dlt_load_id": "l3"},
        {"object_key": "a", "revision": 2, "status": FAILED, "_dlt_load_id": "l2"},
        {"object_key": "b", "revision": 4, "status": LOADED, "_dlt_load_id": "l3"},
    ]
    rows = counted(log, {"l1", "l2"}, "revision")
    assert [row["revision"] for row in rows] == [1, 2]
    assert {key: row["revision"] for key, row in newest_entries(rows).items()} == {"a": 2}


def test_the_spark_macro_is_the_rules_rendering() -> None:
    """`python -m dlt_pipelines.ledger.rules` wrote it; rerun that when this fails."""
    (macro,) = MACROS.rglob("lake_ledger_views.sql")
    assert macro.read_text() == lake_views_macro()


def test_rows_rejected_for_a_clock_behind_are_read_again_until_accepted() -> None:
    early = KnownObject("v1", LOADED, current=True, vanished=False, early=True)
    assert decision(early, "v1") == RETRIED
    assert decision(early, "v2") == CHANGED
    first = apply_run(
        {}, Run([LedgerEntry("a", "v1", 100, AT, LOADED, 8, rejected=2, early=2)], "l1", AT)
    )
    assert KnownObject.of(first.entries["a"]).early
    # The clock is right again: every row is accepted, and the object is read no more.
    accepted = apply_run(first.entries, Run([loaded(rows=10)], "l2", LATER))
    assert not KnownObject.of(accepted.entries["a"]).early
    assert decision(KnownObject.of(accepted.entries["a"]), "v1") is None
