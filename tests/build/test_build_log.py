"""The build log's arithmetic (twap/build/build_log.py): which build the marts come from, which
builds' keys a publish applies, when a run has nothing to do. On a log written here by hand (the
columns the dbt project's hooks fill in), in a real PostgreSQL: no pipeline runs."""

from contextlib import closing
from datetime import UTC, datetime

import pytest

from twap.build.build_log import (
    BUILD_KEYS,
    BUILD_LOG,
    COMMITS,
    NOTHING_BUILT,
    Build,
    builds_since,
    finished_build,
    forget_keys,
    served_is_current,
    successful,
)
from twap.database import Database
from twap.errors import TwapError

STARTED = datetime(2026, 12, 1, 18, 30, tzinfo=UTC)
# (invocation id, status, keys recorded, built through commit): a first build (all of raw, no
# keys), two incremental ones around a failed one.
BUILDS = [
    ("first", "success", False, 2),
    ("second", "success", True, 3),
    ("broken", "failed", True, 3),
    ("fourth", "success", True, 4),
]


def execute(database: Database, *statements: str, params: tuple = ()) -> None:
    with closing(database.connect()) as conn, conn, conn.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement, params or None)


def log_builds(database: Database, builds: list[tuple[str, str, bool, int]]) -> None:
    for invocation_id, status, recorded, through in builds:
        execute(
            database,
            f"""insert into {BUILD_LOG} (invocation_id, status, keys_recorded, built_through_seq)
            values (%s, %s, %s, %s)""",
            params=(invocation_id, status, recorded, through),
        )


@pytest.fixture
def log(database: Database) -> Database:
    schema, commits_schema = BUILD_LOG.split(".")[0], COMMITS.split(".")[0]
    execute(
        database,
        f"create schema {schema}",
        f"create schema {commits_schema}",
        f"""create table {BUILD_LOG} (
            build_id bigint generated always as identity primary key,
            invocation_id text not null,
            status text not null,
            built_through_seq bigint not null,
            started_at timestamptz not null default '{STARTED.isoformat()}',
            keys_recorded boolean not null default false
        )""",
        f"create table {BUILD_KEYS} (build_id bigint not null, twap_id bigint)",
        f"create table {COMMITS} (seq bigint not null)",
        f"insert into {COMMITS} values (1), (2), (3), (4)",
    )
    log_builds(database, BUILDS)
    execute(database, f"insert into {BUILD_KEYS} values (2, 10), (3, 11), (4, 12)")
    return database


def build(database: Database, invocation_id: str) -> Build:
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(
            f"select build_id, invocation_id, status, started_at from {BUILD_LOG} "
            "where invocation_id = %s",
            (invocation_id,),
        )
        return Build(*cursor.fetchone())


@pytest.mark.parametrize(
    ("status", "said"),
    [
        ("running", "did not finish (killed or interrupted)"),
        ("failed", "failed"),
        ("partial", "built only some models"),
    ],
)
def test_a_last_build_that_did_not_succeed_stops_the_publish(status: str, said: str) -> None:
    last = Build(7, "x", status, STARTED)
    with pytest.raises(TwapError) as raised:
        successful(last)
    assert f"the last dbt build (2026-12-01 18:30:00 UTC) {said}, so the marts" in str(raised.value)
    assert successful(Build(7, "x", "success", STARTED)).build_id == 7


def test_no_log_means_nothing_was_built(database: Database) -> None:
    with pytest.raises(TwapError, match=NOTHING_BUILT):
        finished_build(database)
    assert builds_since(database, "first", Build(1, "first", "success", STARTED)) is None
    assert not served_is_current(database, "first")


def test_a_publish_applies_the_keys_of_each_successful_build_since_the_served_one(
    log: Database,
) -> None:
    last = finished_build(log)
    assert (last.build_id, last.invocation_id) == (4, "fourth")

    assert builds_since(log, "first", last) == [2, 4]  # not the failed one's
    assert builds_since(log, "second", last) == [4]
    assert builds_since(log, "fourth", last) == []  # served already: nothing to apply
    # A full publish: nothing served, a served build the log no longer has, or one that
    # rebuilt everything in between (no keys recorded).
    assert builds_since(log, None, last) is None
    assert builds_since(log, "gone", last) is None
    log_builds(log, [("refresh", "success", False, 4), ("sixth", "success", True, 4)])
    assert builds_since(log, "fourth", finished_build(log)) is None


def test_a_run_has_nothing_to_do_only_when_the_served_build_took_in_every_commit(
    log: Database,
) -> None:
    assert served_is_current(log, "fourth")
    assert not served_is_current(log, "second")  # a newer build exists
    assert not served_is_current(log, None)
    execute(log, f"insert into {COMMITS} values (5)")  # a load since
    assert not served_is_current(log, "fourth")


def test_keys_no_kept_version_needs_are_forgotten(log: Database) -> None:
    forget_keys(log, ["second", None, "fourth"])

    with closing(log.connect()) as conn, conn.cursor() as cursor:
        cursor.execute(f"select build_id from {BUILD_KEYS} order by 1")
        assert cursor.fetchall() == [(3,), (4,)]
