"""`twap serve`: check the port and the published version, then become the site's server.

The server is gunicorn with uvicorn workers (twap/site/workers.py). This process becomes it
(exec, same pid) rather than starting it: prometheus-client's multiprocess mode must be set
before Python starts, and Ctrl-C or SIGTERM then reach gunicorn's arbiter directly.
"""

import logging
import os
import socket
import sys

from twap.errors import TwapError
from twap.settings import Settings
from twap.site.app import current_version

logger = logging.getLogger(__name__)


def default_workers() -> int:
    return len(os.sched_getaffinity(0))


def check_port(host: str, port: int) -> None:
    """Fail in one line, before anything announces the URL, when host:port cannot be listened on."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind) as probe:
            # As gunicorn binds: a port left in TIME_WAIT by a stopped server is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise TwapError(
            f"cannot serve on {host}:{port}: {exc.strerror or exc} "
            "(another server there? pass --port N or stop it)"
        ) from None


def serve(
    settings: Settings,
    host: str,
    port: int,
    cors: bool = False,
    workers: int | None = None,
    exit_status: int = 0,
) -> None:
    """Serve http://host:port/ until Ctrl-C or SIGTERM, in this process (which becomes the
    arbiter); it then exits with `exit_status`."""
    current_version(settings.publish_path)
    check_port(host, port)
    count = workers or default_workers()
    logger.info("serve: %d Datasette workers on http://%s:%d/ (Ctrl-C to stop)", count, host, port)
    for handler in logging.getLogger().handlers:
        handler.flush()
    command = [
        sys.executable, "-m", "twap.site.workers",
        "--host", host,
        "--port", str(port),
        "--pointer", str(settings.publish_path),
        "--workers", str(count),
        "--log-format", settings.log_format,
        "--exit-status", str(exit_status),
        *(["--cors"] if cors else []),
    ]  # fmt: skip
    os.execv(sys.executable, command)
