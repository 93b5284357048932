"""`--warehouse spark`: raw on the lake (parquet files under TWAP_LAKE_URL, dlt's filesystem
destination) and the same dbt models built by Spark: in local mode (dbt-spark's `session`
method, the `spark` target of profiles.yml.example), or on a cluster through its Thrift server
(the `thrift` method, the `spark_cluster` target; TWAP_SPARK_TARGET chooses). Needs the Spark
extra, and Java 17 for local mode."""

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jinja2
import yaml

from twap.errors import TwapError
from twap.settings import PROJECT_DIR, Settings

POSTGRES, SPARK = "postgres", "spark"
WAREHOUSES = (POSTGRES, SPARK)
# dbt-spark's methods: Spark inside this process, or a Spark Thrift server's sessions.
SESSION, THRIFT = "session", "thrift"


def check_spark(settings: Settings) -> None:
    """One line saying what is missing when the Spark extra, Java (for local mode) or the
    chosen target is."""
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        raise TwapError(
            "--warehouse spark needs the Spark extra: run `make install-spark` (dbt-spark, "
            "pyspark and PyHive from requirements-spark.lock into .venv; Java 17 must be on the "
            "PATH for local mode)"
        )
    if spark_target(settings)["method"] == SESSION and not (
        shutil.which("java") or os.environ.get("JAVA_HOME")
    ):
        raise TwapError("--warehouse spark needs Java 17: install a JRE (e.g. openjdk-17-jre)")


def spark_env(settings: Settings) -> dict[str, str]:
    """What the `spark` target of the profile reads: where the lake and Spark's files are."""
    return {"TWAP_LAKE_URL": settings.lake_url, "TWAP_SPARK_DIR": str(settings.spark_dir)}


def spark_target(settings: Settings) -> dict[str, Any]:
    """The target of profiles.yml.example that TWAP_SPARK_TARGET names, its values rendered as
    dbt renders them (as text): a session or connection made with it is the one dbt makes."""
    outputs = yaml.safe_load((PROJECT_DIR / "profiles.yml.example").read_text())[
        "hyperliquid_twap"
    ]["outputs"]
    targets = [name for name, output in outputs.items() if output["type"] == SPARK]
    if settings.spark_target not in targets:
        raise TwapError(
            f"unknown Spark target {settings.spark_target!r} in TWAP_SPARK_TARGET: use "
            f"{' or '.join(targets)} (the Spark targets of profiles.yml.example)"
        )
    variables = {**os.environ, **spark_env(settings)}
    templates = jinja2.Environment(autoescape=False)
    templates.globals["env_var"] = lambda name, default=None: variables.get(name, default)
    templates.filters["as_number"] = lambda value: value  # dbt's marker for a number

    def render(value: Any) -> Any:
        if isinstance(value, dict):
            return {name: render(item) for name, item in value.items()}
        return templates.from_string(str(value)).render()

    return render(outputs[settings.spark_target])


@contextmanager
def jvm_output_to_log(settings: Settings) -> Iterator[None]:
    """File descriptor 2 goes to Spark's log while the block runs, and for good for the
    processes it starts: Spark's JVM writes its own log lines on stderr."""
    settings.spark_dir.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    with (settings.spark_dir / "spark.log").open("a") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
