"""Serve the published versions with Datasette: read-only, bounded, always the newest version."""

import logging
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from twap.errors import TwapError
from twap.metadata import DATASETTE_DIR
from twap.publication import Publication, Version
from twap.settings import Settings

if TYPE_CHECKING:
    from datasette.app import Datasette

logger = logging.getLogger(__name__)

# Bounds on every request: SQL time, rows per page and per query, facet time; no file download.
DATASETTE_SETTINGS: dict[str, int | bool] = {
    "sql_time_limit_ms": 1000,
    "max_returned_rows": 1000,
    "default_page_size": 50,
    "facet_time_limit_ms": 1000,
    "suggest_facets": False,
    "allow_download": False,
    "max_csv_mb": 50,
}


def current_version(pointer: Path) -> Version:
    version = Publication(pointer).current()
    if version is None:
        raise TwapError(f"nothing published at {pointer}: run `twap run` or `twap publish` first")
    return version


def datasette_args(settings: Settings, host: str, port: int, cors: bool = False) -> list[str]:
    """The `datasette serve` command line; the plugins switch to newer versions by themselves."""
    version = current_version(settings.publish_path)
    options = [
        ("--setting", name, ("on" if value else "off") if isinstance(value, bool) else str(value))
        for name, value in DATASETTE_SETTINGS.items()
    ]
    return [
        sys.executable, "-m", "datasette", "serve",
        "--immutable", str(version.database),
        "--metadata", str(version.metadata_path),
        "--plugins-dir", str(DATASETTE_DIR / "plugins"),
        "--template-dir", str(DATASETTE_DIR / "templates"),
        "--host", host,
        "--port", str(port),
        *(["--cors"] if cors else []),
        *[part for option in options for part in option],
    ]  # fmt: skip


def make_datasette(pointer: Path, cors: bool = False) -> "Datasette":
    """The same site in-process (tests, benchmarks): the current version behind `pointer`."""
    version = current_version(pointer)
    # Imported here: Datasette takes a third of a second to import, and `twap load` needs none of it.
    from datasette.app import Datasette

    return Datasette(
        immutables=[str(version.database)],
        metadata=version.read_metadata(),
        plugins_dir=str(DATASETTE_DIR / "plugins"),
        template_dir=str(DATASETTE_DIR / "templates"),
        settings=DATASETTE_SETTINGS,
        cors=cors,
    )


def check_port(host: str, port: int) -> None:
    """Fail in one line, before anything announces the URL, when host:port cannot be listened on."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            # As uvicorn binds: a port left in TIME_WAIT by a stopped server is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise TwapError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc} "
            "(another server there? pass --port N or stop it)"
        ) from None


def serve(settings: Settings, host: str, port: int, cors: bool = False) -> None:
    """Run Datasette on http://host:port/ until it stops, Ctrl-C or SIGTERM."""
    args = datasette_args(settings, host, port, cors)
    check_port(host, port)
    logger.info("serve: Datasette on http://%s:%d/ (Ctrl-C to stop)", host, port)
    datasette = subprocess.Popen(args)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        # A service manager stops `twap serve` with SIGTERM: Datasette must not outlive it.
        nonlocal stopping
        stopping = True
        datasette.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        status = datasette.wait()
    except KeyboardInterrupt:  # Ctrl-C reaches Datasette too; it stops by itself
        datasette.wait()
        return
    if status != 0 and not stopping:
        raise TwapError(f"Datasette exited with status {status} (is port {port} free?)")
