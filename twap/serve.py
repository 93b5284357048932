"""Serve the published SQLite file with Datasette, read-only."""

import logging
import subprocess
import sys

from twap.errors import TwapError
from twap.settings import PROJECT_DIR, Settings

logger = logging.getLogger(__name__)


def datasette_args(settings: Settings, host: str, port: int) -> list[str]:
    """The `datasette serve` command line: immutable (read-only) file, bounded queries."""
    return [
        sys.executable, "-m", "datasette", "serve",
        "--immutable", str(settings.publish_path),
        "--host", host,
        "--port", str(port),
        "--metadata", str(PROJECT_DIR / "datasette" / "metadata.yml"),
        "--setting", "sql_time_limit_ms", "3000",
        "--setting", "max_returned_rows", "1000",
        "--setting", "default_page_size", "50",
    ]  # fmt: skip


def serve(settings: Settings, host: str, port: int) -> None:
    """Run Datasette on http://host:port/ until it stops or Ctrl-C."""
    if not settings.publish_path.exists():
        raise TwapError(
            f"nothing published at {settings.publish_path}: run `twap run` or `twap publish` first"
        )
    logger.info("serve: Datasette on http://%s:%d/ (Ctrl-C to stop)", host, port)
    try:
        status = subprocess.run(datasette_args(settings, host, port)).returncode
    except KeyboardInterrupt:  # Ctrl-C reaches Datasette too; it stops by itself
        return
    if status != 0:
        raise TwapError(f"Datasette exited with status {status} (is port {port} free?)")
