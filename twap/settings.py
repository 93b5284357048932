"""Settings of the `twap` command: environment variables, overridden by command-line flags."""

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import fsspec

from twap.errors import TwapError

# The repo root: dbt_project.yml, profiles.yml.example and datasette/ (`pip install -e .`).
PROJECT_DIR = Path(__file__).resolve().parent.parent

# The `twap` source flags are shorthands for dlt's own configuration keys of the source.
SOURCE_FLAG_CONFIG = {
    "s3_endpoint_url": "SOURCES__HYPERLIQUID_TWAP__CREDENTIALS__ENDPOINT_URL",
    "s3_region": "SOURCES__HYPERLIQUID_TWAP__CREDENTIALS__REGION_NAME",
    "requester_pays": "SOURCES__HYPERLIQUID_TWAP__REQUESTER_PAYS",
    "anonymous": "SOURCES__HYPERLIQUID_TWAP__ANONYMOUS",
}


@dataclass(frozen=True)
class Settings:
    """Where things are. Every field has an environment variable (see the README)."""

    home: Path
    database_url: str | None
    source_url: str | None
    publish_path: Path

    @classmethod
    def from_env(cls, home: str | None = None, source_url: str | None = None) -> "Settings":
        """Read TWAP_* variables; the arguments, from flags, win over them."""
        home_dir = Path(home or os.environ.get("TWAP_HOME") or ".twap").expanduser().resolve()
        publish = os.environ.get("TWAP_PUBLISH_PATH")
        return cls(
            home=home_dir,
            database_url=os.environ.get("TWAP_DATABASE_URL") or None,
            source_url=source_url or os.environ.get("TWAP_SOURCE_URL") or None,
            publish_path=Path(publish).resolve() if publish else home_dir / "twap.db",
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


def check_source_url(url: str | None) -> None:
    """One line naming a source URL that cannot mean anything: `s3:/bucket` (one slash),
    `s3://` (no bucket), `s4://…` (no such scheme). Plain paths, and none (dlt's configuration
    then names the source), pass."""
    scheme = urlsplit(url or "").scheme
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter: a path
        return
    if scheme not in fsspec.available_protocols():
        raise TwapError(
            f"malformed source URL {url}: unknown scheme {scheme}:// "
            "(use s3://bucket/prefix, file:///path or a plain path)"
        )
    if scheme != "file" and not urlsplit(url).netloc:
        raise TwapError(
            f"malformed source URL {url}: expected {scheme}://bucket/prefix "
            "(two slashes, then the bucket name)"
        )
