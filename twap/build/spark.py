"""`--warehouse spark`: raw on the lake (parquet files under TWAP_LAKE_URL, dlt's filesystem
destination) and the same dbt models built by Spark in local mode (dbt-spark's `session`
method, the `spark` target of profiles.yml.example). Needs the Spark extra and Java 17."""

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import jinja2
import yaml

from twap.errors import TwapError
from twap.settings import PROJECT_DIR, Settings

POSTGRES, SPARK = "postgres", "spark"
WAREHOUSES = (POSTGRES, SPARK)


def check_spark_installed() -> None:
    """One line saying how to install the Spark extra when it is missing."""
    if importlib.util.find_spec("dbt.adapters.spark") is None:
        raise TwapError(
            "--warehouse spark needs the Spark extra: run `make install-spark` (dbt-spark and "
            "pyspark from requirements-spark.lock into .venv; Java 17 must be on the PATH)"
        )
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise TwapError("--warehouse spark needs Java 17: install a JRE (e.g. openjdk-17-jre)")


def spark_env(settings: Settings) -> dict[str, str]:
    """What the `spark` target of the profile reads: where the lake and Spark's files are."""
    return {"TWAP_LAKE_URL": settings.lake_url, "TWAP_SPARK_DIR": str(settings.spark_dir)}


def spark_parameters(settings: Settings) -> dict[str, str]:
    """The Spark configuration of the `spark` target of profiles.yml.example, rendered as dbt
    renders it: a session made with it is the one dbt makes (or, in its process, dbt's own)."""
    profile = yaml.safe_load((PROJECT_DIR / "profiles.yml.example").read_text())
    variables = {**os.environ, **spark_env(settings)}
    templates = jinja2.Environment(autoescape=False)
    templates.globals["env_var"] = lambda name, default=None: variables.get(name, default)
    parameters = profile["hyperliquid_twap"]["outputs"]["spark"]["server_side_parameters"]
    return {name: templates.from_string(str(value)).render() for name, value in parameters.items()}


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
