"""Which dbt build the marts come from: the build log the dbt project's hooks write."""

from contextlib import closing
from dataclasses import dataclass
from datetime import datetime

from dlt_pipelines.settings import (
    BUILD_LOG_SCHEMA,
    BUILD_LOG_TABLE,
    COMMITS_TABLE,
    DATASET_NAME,
)
from twap.database import Database
from twap.errors import TwapError

BUILD_LOG = f"{BUILD_LOG_SCHEMA}.{BUILD_LOG_TABLE}"
COMMITS = f"{DATASET_NAME}.{COMMITS_TABLE}"


@dataclass(frozen=True)
class Build:
    invocation_id: str
    status: str
    started_at: datetime


def finished_build(database: Database) -> Build:
    """The last build, which must have finished successfully: the marts are then whole.

    Raises TwapError naming what happened otherwise (never built, killed, failed, partial).
    """
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (BUILD_LOG,))
        if not cursor.fetchone()[0]:
            raise TwapError("nothing was built yet: run `twap build` before publishing")
        # The newest build by the log's own sequence, not by anyone's clock.
        cursor.execute(
            f"""
            select invocation_id, status, started_at from {BUILD_LOG}
            order by build_id desc limit 1
            """
        )
        build = Build(*cursor.fetchone())
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
        cursor.execute(
            "select to_regclass(%s) is not null and to_regclass(%s) is not null",
            (BUILD_LOG, COMMITS),
        )
        if not cursor.fetchone()[0]:
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
