"""The steps of a run, each saying what it does and how much: load, build, publish."""

import logging
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import psycopg2

from dlt_pipelines.settings import DATASET_NAME, EVENTS_TABLE
from twap.build.build_log import served_is_current
from twap.build.dbt_runner import DbtFailed, build
from twap.build.spark import SPARK, check_spark
from twap.database import (
    Database,
    embedded_database,
    embedded_exists,
    embedded_running,
    stop_embedded,
)
from twap.errors import EXIT_OBJECTS_FAILED, TwapError, one_line
from twap.observe import logs, metrics, runs
from twap.observe.runs import StepRecord
from twap.publish.tables import publish
from twap.publish.versions import Publication
from twap.run import spark_served
from twap.run.lock import check_run_lock, lake_lock, lost_lock, run_lock
from twap.run.status import current_events
from twap.settings import Settings

# dlt (0.6 s to import) is imported by the steps that load: `twap build`, `publish` and `status`
# start without it.
if TYPE_CHECKING:
    from dlt_pipelines.pipeline import LoadResult

logger = logging.getLogger("twap")
RAW_EVENTS = f"{DATASET_NAME}.{EVENTS_TABLE}"


@contextmanager
def step(name: str) -> Iterator[StepRecord]:
    """One line per step once it succeeds: `name in 1.2s: summary`, carrying the step's figures
    for structured logs; a failure says its own. Either way the run's metrics have it."""
    logger.debug("%s: started", name)
    with runs.recording(name) as done:
        yield done
    logger.info("%s in %.1fs: %s", name, done.seconds, done.summary, extra=logs.step_fields(done))


def connect(settings: Settings) -> Database:
    """The configured database, or the embedded one; checked to be reachable."""
    if settings.database_url:
        database = Database.from_url(settings.database_url)
    else:
        database = embedded_database(settings.home)
    database.check()
    logger.info("database: %s%s", database.display, "" if settings.database_url else " (embedded)")
    return database


@contextmanager
def reading(settings: Settings) -> Iterator[Database | None]:
    """The database for a command that only reads: None when the embedded one was never made,
    and an embedded server that was stopped is stopped again afterwards."""
    if settings.database_url:
        yield connect(settings)
        return
    if not embedded_exists(settings.home):
        yield None
        return
    was_running = embedded_running(settings.home)
    try:
        yield connect(settings)
    finally:
        if not was_running:
            stop_embedded(settings.home)


def load_step(settings: Settings, database: Database | None) -> "LoadResult":
    """Into PostgreSQL's raw, or with no database into the lake (`--warehouse spark`), whose
    ledger logs are then compacted once they hold more than `ledger_max_files` files."""
    from botocore.exceptions import BotoCoreError
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.pipeline.exceptions import PipelineStepFailed

    from dlt_pipelines.ledger.lake import LakeLedger
    from dlt_pipelines.ledger.postgres import RunLockLost
    from dlt_pipelines.pipeline import load, make_lake_pipeline, make_pipeline

    with step("load") as done:
        if database is None:
            pipeline = make_lake_pipeline(settings.lake_url, str(settings.dlt_dir))
        else:
            pipeline = make_pipeline(database.url, settings.dlt_dir)
        try:
            # Without --source or TWAP_SOURCE_URL, dlt's configuration names it (bucket_url).
            source = {"bucket_url": settings.source_url} if settings.source_url else {}
            result = load(pipeline, **source, **settings.source_args)
            compaction = (
                LakeLedger(pipeline).compact(settings.ledger_max_files)
                if database is None
                else None
            )
        except TwapError:
            raise
        except RunLockLost as lost:
            raise lost_lock(database, str(lost)) from None
        except (PipelineStepFailed, ConfigFieldMissingException, OSError, BotoCoreError) as exc:
            raise TwapError(_explain_load_error(settings.source_url, database, exc)) from exc
        stats = result.stats
        rejected = sum(stats.rejected.values())
        done.figures = {
            "objects": {
                "listed": stats.listed,
                "skipped": sum(stats.skipped.values()),
                "selected": stats.selected,
                "new": stats.new,
                "changed": stats.changed,
                "retried": stats.retried,
                "loaded": stats.loaded,
                "failed": len(stats.failed),
                "vanished": len(stats.vanished),
            },
            "rows": {"loaded": stats.rows, "rejected": stats.events_rejected},
            "fills": {"loaded": stats.fills, "rejected": stats.fills_rejected},
            "repaired_times": stats.repaired,
        }
        done.summary = (
            f"{stats.listed} objects listed ({sum(stats.skipped.values())} skipped), "
            f"{stats.selected} to read ({stats.new} new, {stats.changed} changed, "
            f"{stats.retried} failed before), {stats.loaded} loaded ({stats.rows} rows, "
            f"{stats.fills} slice fills, {rejected} rejected, {stats.repaired} times corrected), "
            f"{len(stats.failed)} failed, {len(stats.vanished)} vanished"
        )
        if compaction is not None:
            before, after = compaction.files_before, compaction.files_after
            done.figures["ledger_files"] = {"before": before, "after": after}
            if compaction.compacted:
                done.summary += (
                    f"; ledger compacted: {before} files -> {after} in {compaction.seconds:.1f}s"
                )
    return result


def build_step(
    settings: Settings,
    database: Database | None,
    full_refresh: bool = False,
    full_tests: bool = False,
) -> None:
    """`dbt build` on PostgreSQL, or with no database on Spark (`--warehouse spark`). An
    incremental build tests the keys it changed, and leaves the unit tests (which test the
    SQL, not the data) to `full_tests`, a full refresh and CI."""
    # A full refresh tests every row too (macro tests_changed_keys_only).
    unit_tests = full_tests or full_refresh
    scope = [
        *(["--full-refresh"] if full_refresh else []),
        *([] if unit_tests else ["--exclude-resource-type", "unit_test"]),
    ]
    with step("build") as done:
        if database is None:
            spark_served.forget(settings)
        else:
            check_run_lock(database, "the build")
        try:
            outcome = build(settings, database, *scope, full_tests=full_tests)
        except DbtFailed as failed:
            done.figures = failed.outcome.figures()
            raise
        done.figures = outcome.figures()
        done.summary = f"dbt build: {outcome.summary()}; dbt's output in {outcome.log}"


def publish_step(settings: Settings, database: Database | None, full: bool = False) -> None:
    """From PostgreSQL, or with no database every row from Spark (`--warehouse spark`)."""
    with step("publish") as done:
        if database is None:
            spark_served.forget(settings)
            # Imported here: only Spark's publish needs pyspark (the Spark extra).
            from twap.publish.from_spark import publish_from_spark

            published, why = publish_from_spark(settings), ""
        else:
            check_run_lock(database, "the publish")
            published = publish(database, settings.publish_path, settings.dbt_dir / "target", full)
            why = _duplicates_merged(database, published.counts["fct_twap_status_events"])
        counts, written = published.counts, published.written
        how = (
            "written whole"
            if written is None
            else f"{written['fct_twaps']} TWAPs and {written['dim_wallets']} wallets rewritten"
        )
        done.figures = {
            "table_rows": dict(counts),
            # A delta's rows by table; a whole publish writes them all (table_rows).
            "written_rows": dict(written if written is not None else counts),
            **metrics.freshness(settings.publish_path),
        }
        done.summary = (
            f"{counts['fct_twaps']} TWAPs, {counts['fct_twap_status_events']} events{why}, "
            f"{counts['dim_wallets']} wallets ({how}) -> {settings.publish_path}"
        )


def _duplicates_merged(database: Database, events: int) -> str:
    """` (N rows loaded, M duplicates merged)` when raw's current events outnumber the published."""
    rows = current_events(database)
    return f" ({rows} rows loaded, {rows - events} duplicates merged)" if rows > events else ""


def run_spark_steps(settings: Settings, database: None) -> int:
    """load -> build -> publish on the lake with Spark; exit status 3 as run_steps."""
    from dlt_pipelines.ledger.lake import LakeLedger
    from dlt_pipelines.pipeline import make_lake_pipeline

    result = load_step(settings, database)
    lake = LakeLedger(make_lake_pipeline(settings.lake_url, str(settings.dlt_dir)))
    lake.prepare()
    if not any(known.current for known in lake.known().values()):
        logger.warning("%s", _nothing_loaded(settings.source_url or "", result))
        return failed_objects_status(result)
    # The lake's lock is held: no commit lands between this count and the build.
    if spark_served.is_current(settings, lake.seq):
        logger.info("run: nothing new; the served version is up to date (no build, no publish)")
        return failed_objects_status(result)
    build_step(settings, database)
    publish_step(settings, database)
    spark_served.remember(settings, lake.seq)
    return failed_objects_status(result)


def run_steps(settings: Settings, database: Database, full_tests: bool = False) -> int:
    """load -> build -> publish; exit status 3 when some objects failed or rows were rejected
    but the rest went on. Before anything has ever loaded, says why instead of building.

    When the load committed nothing and what is served already comes from a successful build
    of every commit, there is nothing to build or publish (unless `full_tests` asks for a
    build that tests every row).
    """
    result = load_step(settings, database)
    if not _raw_exists(database):
        logger.warning("%s", _nothing_loaded(settings.source_url or "", result))
        return failed_objects_status(result)
    served = Publication(settings.publish_path).current()
    served_build = served.read_publication().get("build") if served else None
    if not full_tests and served_is_current(database, served_build):
        logger.info("run: nothing new; the served version is up to date (no build, no publish)")
    else:
        build_step(settings, database, full_tests=full_tests)
        publish_step(settings, database)
    return failed_objects_status(result)


def load_only(settings: Settings, database: Database) -> int:
    return failed_objects_status(load_step(settings, database))


def locked(
    settings: Settings,
    command: str,
    wait_seconds: float,
    steps: Callable[[Settings, Database | None], int | None],
) -> int:
    """Run `steps` on the configured database while holding its run lock; its exit status.
    With `--warehouse spark` there is no database (None): the lake's own lock is held. The
    run's metrics are written (and pushed) whatever it ends with."""

    def locked_steps() -> int:
        if settings.warehouse == SPARK:
            check_spark(settings)
            with lake_lock(settings, command, wait_seconds):
                return steps(settings, None) or 0
        database = connect(settings)
        with run_lock(database, command, wait_seconds):
            return steps(settings, database) or 0

    return metrics.reported(settings, command, locked_steps)


def failed_objects_status(result: "LoadResult") -> int:
    """3 when objects failed or rows were rejected in this load (each named), else 0."""
    for key, error in sorted(result.stats.failed.items()):
        logger.error("failed object %s: %s", key, error)
    for key, rows in sorted(result.stats.rejected.items()):
        logger.error("rejected %d rows of %s (`twap status` shows why)", rows, key)
    return EXIT_OBJECTS_FAILED if result.stats.failed or result.stats.rejected else 0


def _raw_exists(database: Database) -> bool:
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is not null", (RAW_EVENTS,))
        return cursor.fetchone()[0]


def _nothing_loaded(source_url: str, result: "LoadResult") -> str:
    """One line on why a first run has nothing to build from."""
    stats = result.stats
    if not stats.listed:
        return (
            f"nothing to build: no data files under {source_url} (skipped: "
            f"{stats.skipped_text()}); check --source / TWAP_SOURCE_URL and file_glob"
        )
    if stats.failed and not stats.loaded:
        key, error = sorted(stats.failed.items())[0]
        return (
            f"nothing to build: all {len(stats.failed)} objects listed failed, e.g. {key}: "
            f"{error} (`twap status` lists them all)"
        )
    return (
        f"nothing to build: no event rows loaded yet from the {stats.listed} objects listed "
        f"({sum(stats.rejected.values())} rows rejected in this run; `twap status` shows why)"
    )


def _explain_load_error(source_url: str | None, database: Database | None, exc: Exception) -> str:
    """One line naming what failed and what to check, from the causes of `exc`."""
    import adbc_driver_postgresql.dbapi as adbc
    from botocore.exceptions import EndpointConnectionError
    from dlt.common.configuration.exceptions import ConfigFieldMissingException

    chain = list(_causes(exc))
    # The database's side: a connection cut (a failover, a reaper), a server that stopped.
    lost = next(
        (c for c in chain if isinstance(c, psycopg2.OperationalError | adbc.OperationalError)), None
    )
    if lost is not None and database is not None:
        why = one_line(str(lost).split("Query was:")[0], 200)
        return (
            f"the load into {database.display} failed on the database's side: {why}; what it "
            "wrote does not count, and the next run cleans it and reads these objects again "
            "(check the database server and the connection to it)"
        )
    if any(isinstance(cause, FileNotFoundError) for cause in chain):
        return f"source not found: {source_url} (check TWAP_SOURCE_URL / --source)"
    denied = next((cause for cause in chain if isinstance(cause, PermissionError)), None)
    if denied is not None:
        return (
            f"access denied to source {source_url}: {one_line(chain[-1])} "
            "(check the credentials and the bucket's policy)"
        )
    unreachable = next(
        (c for c in chain if isinstance(c, ConnectionError | EndpointConnectionError)), None
    )
    if unreachable is not None:
        return (
            f"cannot reach the object store of {source_url}: {one_line(unreachable)} "
            "(check the endpoint URL and the network)"
        )
    missing = next((c for c in chain if isinstance(c, ConfigFieldMissingException)), None)
    if missing is not None and "bucket_url" in missing.fields:
        return (
            "no source: set TWAP_SOURCE_URL, pass --source (s3://…, file://… or a path) or set "
            "bucket_url under [sources.hyperliquid_twap] in .dlt/config.toml"
        )
    if missing is not None:
        return (
            f"missing configuration for {source_url}: {', '.join(missing.fields)} (for S3 set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE; see Settings in docs/operating.md)"
        )
    return f"load failed: {type(chain[-1]).__name__}: {one_line(chain[-1])}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from, outermost first."""
    current: BaseException | None = exc
    while current is not None:
        yield current
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
