"""Which dbt build the marts come from: the build log the dbt project's hooks write."""

from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

import psycopg2.extensions

from dlt_pipelines.settings import (
    BUILD_LOG_SCHEMA,
    BUILD_LOG_TABLE,
    COMMITS_TABLE,
    DATASET_NAME,
)
from twap.database import Database
from twap.errors import TwapError

BUILD_LOG = f"{BUILD_LOG_SCHEMA}.{BUILD_LOG_TABLE}"
# The keys each successful incremental build rebuilt (dbt_project/macros/build_log.sql).
BUILD_KEYS = f"{BUILD_LOG_SCHEMA}.dbt_build_keys"
COMMITS = f"{DATASET_NAME}.{COMMITS_TABLE}"


@dataclass(frozen=True)
class Build:
    build_id: int
    invocation_id: str
    status: str
    started_at: datetime


NOTHING_BUILT = "nothing was built yet: run `twap build` before publishing"


def _tables_exist(cursor: psycopg2.extensions.cursor, *tables: str) -> bool:
    """Whether all of `tables` are there (a database never built has none of them)."""
    cursor.execute(
        "select bool_and(to_regclass(t) is not null) from unnest(%s) as t", (list(tables),)
    )
    return cursor.fetchone()[0]


def any_build_finished(database: Database) -> bool:
    """Whether a build ever finished successfully (the dbt project's finished_build_exists)."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if not _tables_exist(cursor, BUILD_LOG):
            return False
        cursor.execute(f"select exists (select from {BUILD_LOG} where status = 'success')")
        return cursor.fetchone()[0]


def finished_build(database: Database) -> Build:
    """The last build, which must have finished successfully: the marts are then whole.

    Raises TwapError naming what happened otherwise (never built, killed, failed, partial).
    """
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if not _tables_exist(cursor, BUILD_LOG):
            raise TwapError(NOTHING_BUILT)
        # The newest build by the log's own sequence, not by anyone's clock.
        cursor.execute(
            f"""
            select build_id, invocation_id, status, started_at from {BUILD_LOG}
            order by build_id desc limit 1
            """
        )
        return successful(Build(*cursor.fetchone()))


def successful(build: Build) -> Build:
    """`build` (the last one) if it finished successfully; else TwapError saying what it did."""
    if build.status != "success":
        what = {
            "running": "did not finish (killed or interrupted)",
            "failed": "failed",
            "partial": "built only some models",
        }.get(build.status, build.status)
        raise TwapError(
            f"the last dbt build ({build.started_at:%Y-%m-%d %H:%M:%S %Z}) {what}, so the marts "
            "may be half-updated; nothing was published (the served version stays): run "
            "`twap build`, which repairs them"
        )
    return build


def served_is_current(database: Database, served_build: str | None) -> bool:
    """Whether the served version came from the last build, a successful one that took in
    every ingest commit: then a run has nothing to build or publish."""
    if served_build is None:
        return False
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if not _tables_exist(cursor, BUILD_LOG, COMMITS):
            return False
        cursor.execute(
            f"""
            select
                last.invocation_id = %s
                and last.status = 'success'
                and last.built_through_seq >= (select coalesce(max(seq), 0) from {COMMITS})
            from (select * from {BUILD_LOG} order by build_id desc limit 1) as last
            """,
            (served_build,),
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def builds_since(database: Database, served_build: str | None, build: Build) -> list[int] | None:
    """The successful builds after `served_build` up to `build`, when each recorded the keys
    it rebuilt; None when the served build is unknown or a build between rebuilt everything
    (a first build, a full refresh) or its keys are gone: then only a full publish will do."""
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        if served_build is None or not _tables_exist(cursor, BUILD_KEYS):
            return None
        cursor.execute(
            f"""
            select build_id, keys_recorded from {BUILD_LOG}
            where
                status = 'success'
                and build_id > (select build_id from {BUILD_LOG} where invocation_id = %s)
                and build_id <= %s
            """,
            (served_build, build.build_id),
        )
        builds = cursor.fetchall()
    served_known = builds or served_build == build.invocation_id
    if not served_known or not all(recorded for _, recorded in builds):
        return None
    return [build_id for build_id, _ in builds]


def forget_keys(database: Database, kept_builds: list[str | None]) -> None:
    """Drop the rebuilt keys no version on disk will need: those of the builds up to the
    oldest build a kept version (`kept_builds`, invocation ids) was published from."""
    with closing(database.connect()) as conn, conn, conn.cursor() as cursor:
        cursor.execute(
            f"""
            delete from {BUILD_KEYS}
            where build_id <= (
                select min(build_id) from {BUILD_LOG} where invocation_id = any(%s)
            )
            """,
            ([build for build in kept_builds if build],),
        )
