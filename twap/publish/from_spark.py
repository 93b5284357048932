"""`twap publish --warehouse spark`: the marts Spark built, published as twap/publish/tables.py
publishes PostgreSQL's, always in full (Spark's build log keeps no rebuilt keys to apply).

Spark SQL on the target dbt built on (twap/build/spark.py) reads the tables dbt built and the
ingest ledger through the view the build registered on the lake's ledger log (the newest
counted entry per object, as dlt_pipelines/ledger/rules.py defines it): in local mode a
SparkSession made with the `spark` target's configuration, on a cluster a session of its Spark
Thrift server (PyHive, as dbt-spark's `thrift` method connects). Spark converts the columns to
what SQLite stores, as PostgreSQL does in twap/publish/tables.py, and they come as arrow tables.
Needs the Spark extra (pyspark, PyHive).
"""

import functools
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pyarrow as pa
from pyhive import exc as hive_errors
from pyhive import hive
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession
from thrift.transport.TTransport import TTransportException

from twap.build.build_log import BUILD_LOG, NOTHING_BUILT, Build, successful
from twap.build.spark import THRIFT, jvm_output_to_log, spark_target
from twap.errors import TwapError, one_line
from twap.publish.tables import Published, PublishedTable, publish_version, write_database
from twap.publish.versions import Publication
from twap.settings import Settings

# Spark types that arrive as arrow types SQLite takes as they are.
AS_IS_TYPES = {"bigint", "int", "smallint", "double", "float", "string"}
# Spark's pattern for PostgreSQL's `YYYY-MM-DD"T"HH24:MI:SS.US"Z"` (the session is in UTC).
ISO_UTC = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
# The Thrift server's result types (PyHive's names) as arrow's: those of the converted columns,
# of the build log and of `describe` and `show`.
THRIFT_TYPES = {
    "BIGINT_TYPE": pa.int64(),
    "INT_TYPE": pa.int32(),
    "SMALLINT_TYPE": pa.int16(),
    "DOUBLE_TYPE": pa.float64(),
    "FLOAT_TYPE": pa.float32(),
    "STRING_TYPE": pa.string(),
    "BOOLEAN_TYPE": pa.bool_(),
    "TIMESTAMP_TYPE": pa.timestamp("us"),
}
# Rows a fetch from the Thrift server asks for at once (PyHive's default is 1,000).
THRIFT_BATCH_ROWS = 10_000
# Spark SQL in, arrow out: a statement run on the warehouse.
Query = Callable[[str], pa.Table]


def publish_from_spark(settings: Settings) -> Published:
    """Publish a new version behind the publish path with every row of Spark's marts."""
    target = spark_target(settings)
    if target["method"] == THRIFT:
        source = f"Spark's Thrift server ({target['host']}:{target['port']})"
    else:
        # No metastore: nothing was ever built here, said without starting a JVM for it.
        if not (settings.spark_dir / "metastore").exists():
            raise TwapError(NOTHING_BUILT)
        source = f"Spark ({settings.spark_dir / 'warehouse'})"
    try:
        query = thrift_query(target) if target["method"] == THRIFT else session_query(settings)
        fetch = functools.partial(_fetch, query)
        return publish_version(
            Publication(settings.publish_path),
            settings.dbt_dir / "target",
            _last_build(query),
            # Never the base of a delta (see twap/publish/tables.py), so no layout to compare.
            None,
            lambda version, tests: (write_database(fetch, source, version, tests), None),
        )
    except TTransportException as exc:
        raise TwapError(
            f"cannot reach {source}: {one_line(exc)} (is it running? TWAP_SPARK_THRIFT_HOST and "
            "TWAP_SPARK_THRIFT_PORT say where)"
        ) from exc
    except (PySparkException, hive_errors.Error) as exc:
        raise TwapError(
            f"cannot publish from {source}: {one_line(exc)} (did `twap build --warehouse spark` run?)"
        ) from exc


def session_query(settings: Settings) -> Query:
    """Statements on the session dbt's `session` method makes: the same one when dbt ran in
    this process."""
    builder = SparkSession.builder.enableHiveSupport()
    for name, value in spark_target(settings)["server_side_parameters"].items():
        builder = builder.config(name, value)
    with jvm_output_to_log(settings):
        spark = builder.getOrCreate()
    return lambda sql: spark.sql(sql).toArrow()


def thrift_query(target: dict[str, Any]) -> Query:
    """Statements on the Thrift server of a `thrift` target, each in a session of its own (the
    tables are fetched from several threads), opened as dbt-spark opens its sessions."""

    def query(sql: str) -> pa.Table:
        connection = hive.connect(
            host=target["host"],
            port=int(target["port"]),
            username=target.get("user"),
            auth=target.get("auth"),
            kerberos_service_name=target.get("kerberos_service_name"),
            password=target.get("password"),
            configuration=target.get("server_side_parameters"),
        )
        with closing(connection), closing(connection.cursor()) as cursor:
            cursor.arraysize = THRIFT_BATCH_ROWS
            cursor.execute(sql)
            rows = cursor.fetchall()
            columns = cursor.description
        return pa.table(
            {
                name: pa.array([row[at] for row in rows], THRIFT_TYPES[kind])
                for at, (name, kind, *_) in enumerate(columns)
            }
        )

    return query


def _last_build(query: Query) -> Build:
    """The newest build in Spark's build log (appended to: a build's row when it ended follows
    its row when it started), which must have finished successfully."""
    schema, name = BUILD_LOG.split(".")
    found = query(f"show schemas like '{schema}'").num_rows
    if not found or not query(f"show tables in {schema} like '{name}'").num_rows:
        raise TwapError(NOTHING_BUILT)
    # One writer at a time (the lake lock), so start times order the builds.
    newest = query(
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
    return successful(Build(**newest.to_pylist()[0]))


def _fetch(query: Query, table: PublishedTable) -> pa.Table:
    """The table's rows in primary-key order, converted for SQLite by Spark."""
    select = []
    for column in query(f"describe {table.source}").to_pylist():
        # The columns end where `describe` starts its notes (a partitioned table's: `# ...`).
        if not column["col_name"] or column["col_name"].startswith("#"):
            break
        select.append(_sqlite_ready(column["col_name"], column["data_type"]))
    order = ", ".join(f"`{key}`" for key in table.primary_key)
    return query(f"select {', '.join(select)} from {table.source} order by {order}")


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
