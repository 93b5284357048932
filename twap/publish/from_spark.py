"""`twap publish --warehouse spark`: the marts Spark built, published as twap/publish/tables.py
publishes PostgreSQL's, always in full (Spark's build log keeps no rebuilt keys to apply).

A SparkSession made with the `spark` target's configuration (twap/build/spark.py) reads the tables
dbt built in the metastore under $TWAP_HOME/spark, and the ingest ledger through the view the
build registered on the lake's ledger log (the newest counted entry per object, as
dlt_pipelines/ledger/rules.py defines it). Spark converts the columns to what SQLite stores, as
PostgreSQL does in twap/publish/tables.py, and hands them over as arrow tables.
Needs the Spark extra (pyspark).
"""

import functools

import pyarrow as pa
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from twap.build.build_log import BUILD_LOG, NOTHING_BUILT, Build, successful
from twap.build.spark import jvm_output_to_log, spark_parameters
from twap.errors import TwapError, one_line
from twap.publish.tables import Published, PublishedTable, publish_version, write_database
from twap.publish.versions import Publication
from twap.settings import Settings

# Spark types that arrive as arrow types SQLite takes as they are.
AS_IS_TYPES = {"bigint", "int", "smallint", "double", "float", "string"}
# Spark's pattern for PostgreSQL's `YYYY-MM-DD"T"HH24:MI:SS.US"Z"` (the session is in UTC).
ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"


def publish_from_spark(settings: Settings) -> Published:
    """Publish a new version behind the publish path with every row of Spark's marts."""
    # No metastore: nothing was ever built here, said without starting a JVM for it.
    if not (settings.spark_dir / "metastore").exists():
        raise TwapError(NOTHING_BUILT)
    source = f"Spark ({settings.spark_dir / 'warehouse'})"
    try:
        spark = spark_session(settings)
        fetch = functools.partial(_fetch, spark)
        return publish_version(
            Publication(settings.publish_path),
            settings.dbt_dir / "target",
            _last_build(spark),
            # Never the base of a delta (see twap/publish/tables.py), so no layout to compare.
            None,
            lambda version, tests: (write_database(fetch, source, version, tests), None),
        )
    except PySparkException as exc:
        raise TwapError(
            f"cannot publish from {source}: {one_line(exc)} (did `twap build --warehouse spark` run?)"
        ) from exc


def spark_session(settings: Settings) -> SparkSession:
    """The session dbt's `session` method makes: the same one when dbt ran in this process."""
    builder = SparkSession.builder.enableHiveSupport()
    for name, value in spark_parameters(settings).items():
        builder = builder.config(name, value)
    with jvm_output_to_log(settings):
        return builder.getOrCreate()


def _last_build(spark: SparkSession) -> Build:
    """The newest build in Spark's build log (appended to: a build's row when it ended follows
    its row when it started), which must have finished successfully."""
    if not spark.catalog.tableExists(BUILD_LOG):
        raise TwapError(NOTHING_BUILT)
    # One writer at a time (the lake lock), so start times order the builds.
    newest = spark.sql(
        f"""
        select
            (select count(distinct invocation_id) from {BUILD_LOG}) as build_id,
            invocation_id,
            status,
            started_at
        from {BUILD_LOG}
        order by started_at desc, status = 'running'
        limit 1
        """
    )
    return successful(Build(**newest.toArrow().to_pylist()[0]))


def _fetch(spark: SparkSession, table: PublishedTable) -> pa.Table:
    """The table's rows in primary-key order, converted for SQLite by Spark."""
    frame = spark.table(table.source)
    select = [_sqlite_ready(field.name, field.dataType.simpleString()) for field in frame.schema]
    return frame.selectExpr(*select).orderBy(*table.primary_key).toArrow()


def _sqlite_ready(column: str, kind: str) -> str:
    """`column` as SQLite stores it, as twap/publish/tables.py has PostgreSQL convert it:
    decimals as REAL, timestamps as ISO 8601 text in UTC, booleans as 0/1, the rest as text."""
    quoted = f"`{column}`"
    if kind in AS_IS_TYPES:
        return quoted
    if kind.startswith("decimal"):
        converted = f"cast({quoted} as double)"
    elif kind.startswith("timestamp"):
        converted = f'date_format({quoted}, "{ISO_UTC}")'
    elif kind == "boolean":
        converted = f"cast({quoted} as int)"
    else:
        converted = f"cast({quoted} as string)"
    return f"{converted} as {quoted}"
