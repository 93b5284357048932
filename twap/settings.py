"""Settings of the `twap` command: environment variables, overridden by command-line flags."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dlt_pipelines.settings import LEDGER_MAX_FILES
from twap.errors import TwapError
from twap.observe.logs import LOG_FORMATS

# The repo root: dbt_project.yml and profiles.yml.example (`pip install -e .`).
PROJECT_DIR = Path(__file__).resolve().parent.parent

# The `twap` source flags are explicit arguments of the dlt source (flag -> argument path):
# they override the same keys of dlt's config, whose other keys still apply.
SOURCE_FLAGS = {
    "s3_endpoint_url": ("credentials", "endpoint_url"),
    "s3_region": ("credentials", "region_name"),
    "requester_pays": ("requester_pays",),
    "anonymous": ("anonymous",),
}


def source_arguments(flags: dict[str, Any]) -> dict[str, Any]:
    """The dlt source arguments the given flags set (unset flags are None and set nothing)."""
    arguments: dict[str, Any] = {}
    for flag, path in SOURCE_FLAGS.items():
        if flags.get(flag) is not None:
            *parents, name = path
            target = arguments
            for parent in parents:
                target = target.setdefault(parent, {})
            target[name] = flags[flag]
    return arguments


@dataclass(frozen=True)
class Settings:
    """Where things are. Every field has an environment variable (see docs/operating.md)."""

    home: Path
    database_url: str | None
    source_url: str | None
    publish_path: Path
    # Arguments of the dlt source from flags (source_arguments), overriding dlt's config.
    source_args: dict[str, Any] = field(default_factory=dict)
    # Where raw lands and dbt builds: `postgres`, or `spark` (raw on the lake: twap/build/spark.py).
    warehouse: str = "postgres"
    lake: str | None = None
    # The profile's target `--warehouse spark` builds on: `spark` (local mode) or `spark_cluster`.
    spark_target: str = "spark"
    # `text` (one readable line per step) or `json` (one object per line): twap/observe/logs.py.
    log_format: str = "text"
    # Each writing command's Prometheus metrics, as `twap_<command>.prom` (None: no file).
    metrics_dir: Path | None = None
    # Where those metrics are pushed too, if set: a Prometheus Pushgateway's base URL.
    pushgateway_url: str | None = None
    # The lake ledger's logs are compacted once they hold more files than this (`--warehouse spark`).
    ledger_max_files: int = LEDGER_MAX_FILES

    @classmethod
    def from_env(
        cls,
        home: str | None = None,
        source_url: str | None = None,
        source_args: dict[str, Any] | None = None,
        warehouse: str | None = None,
        log_format: str | None = None,
    ) -> "Settings":
        """Read TWAP_* variables; the arguments, from flags, win over them."""
        home_dir = Path(home or os.environ.get("TWAP_HOME") or ".twap").expanduser().resolve()
        publish = os.environ.get("TWAP_PUBLISH_PATH")
        metrics = os.environ.get("TWAP_METRICS_DIR")
        return cls(
            home=home_dir,
            database_url=os.environ.get("TWAP_DATABASE_URL") or None,
            source_url=source_url or os.environ.get("TWAP_SOURCE_URL") or None,
            publish_path=_link_path(publish) if publish else home_dir / "twap.db",
            source_args=source_args or {},
            warehouse=warehouse or os.environ.get("TWAP_WAREHOUSE") or "postgres",
            lake=os.environ.get("TWAP_LAKE_URL") or None,
            spark_target=os.environ.get("TWAP_SPARK_TARGET") or "spark",
            log_format=check_log_format(log_format or os.environ.get("TWAP_LOG_FORMAT") or "text"),
            metrics_dir=Path(metrics).expanduser().resolve() if metrics else home_dir / "metrics",
            pushgateway_url=os.environ.get("TWAP_PUSHGATEWAY_URL") or None,
            ledger_max_files=check_ledger_max_files(os.environ.get("TWAP_LEDGER_MAX_FILES")),
        )

    @property
    def sample_dir(self) -> Path:
        return self.home / "sample"

    @property
    def dlt_dir(self) -> Path:
        return self.home / "dlt"

    @property
    def dbt_dir(self) -> Path:
        return self.home / "dbt"

    @property
    def lake_url(self) -> str:
        """Where `--warehouse spark` keeps raw: TWAP_LAKE_URL, or $TWAP_HOME/lake."""
        return self.lake or str(self.home / "lake")

    @property
    def spark_dir(self) -> Path:
        """Spark's tables and metastore for `--warehouse spark`."""
        return self.home / "spark"


def _link_path(path: str) -> Path:
    """`path` made absolute, its folder resolved but not itself: once published, it is the
    symlink to switch, not the version it names."""
    given = Path(path).expanduser()
    return given.parent.resolve() / given.name


def check_log_format(log_format: str) -> str:
    if log_format not in LOG_FORMATS:
        raise TwapError(
            f"unknown log format {log_format!r} (TWAP_LOG_FORMAT / --log-format): "
            f"use {' or '.join(LOG_FORMATS)}"
        )
    return log_format


def check_ledger_max_files(given: str | None) -> int:
    """TWAP_LEDGER_MAX_FILES as a number of files above 0; LEDGER_MAX_FILES when unset."""
    if not given or not given.strip():
        return LEDGER_MAX_FILES
    if not given.strip().isdigit() or int(given) < 1:
        raise TwapError(
            f"TWAP_LEDGER_MAX_FILES={given!r} is not a number of files above 0 "
            f"(default {LEDGER_MAX_FILES})"
        )
    return int(given)


# What the source can be read from here: fsspec's local files, and S3 (s3fs is installed).
SOURCE_SCHEMES = {"s3": "s3://bucket/prefix", "file": "file:///path"}


def check_source_url(url: str | None) -> None:
    """One line naming a source URL that cannot be read: `s3:/bucket` (one slash), `s3://` (no
    bucket), or a scheme other than s3:// and file:// (`gs://…`, `http://…`), with the ones
    that can. Plain paths, and none (dlt's configuration then names the source), pass."""
    scheme = urlsplit(url or "").scheme
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter: a path
        return
    if scheme not in SOURCE_SCHEMES:
        raise TwapError(
            f"unsupported source URL {url}: {scheme}:// cannot be read here; supported: "
            f"{', '.join(SOURCE_SCHEMES.values())} or a plain path"
        )
    if scheme != "file" and not urlsplit(url).netloc:
        raise TwapError(
            f"malformed source URL {url}: expected {scheme}://bucket/prefix "
            "(two slashes, then the bucket name)"
        )
