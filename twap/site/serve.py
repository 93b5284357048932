"""`twap serve`: check the port and the published version, then become the site's server.

The server is gunicorn with uvicorn workers (twap/site/workers.py), in a Python of its own:
prometheus-client's multiprocess mode must be set before Python starts. `twap serve` becomes
it (exec, same pid: Ctrl-C and SIGTERM reach gunicorn's arbiter directly); `twap demo`, whose
pipeline leaves resources that only its own exit releases, runs it as a child and waits.
"""

import logging
import os
import signal
import socket
import subprocess
import sys

from twap.errors import TwapError
from twap.settings import Settings
from twap.site.app import current_version
from twap.site.health import stale_after_seconds

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
    as_child: bool = False,
) -> None:
    """Serve http://host:port/ until Ctrl-C or SIGTERM: this process becomes the server, or
    with `as_child` starts it and waits for it."""
    current_version(settings.publish_path)
    stale_after_seconds()  # a bad threshold stops here, before any worker starts
    check_port(host, port)
    count = workers or default_workers()
    logger.info("serve: %d Datasette workers on http://%s:%d/ (Ctrl-C to stop)", count, host, port)
    command = [
        sys.executable, "-m", "twap.site.workers",
        "--host", host,
        "--port", str(port),
        "--pointer", str(settings.publish_path),
        "--workers", str(count),
        "--log-format", settings.log_format,
        *(["--cors"] if cors else []),
    ]  # fmt: skip
    if as_child:
        return run_child(command)
    # exec drops whatever this process still buffers.
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def run_child(command: list[str]) -> None:
    """Run the server until it stops, passing it this process's SIGTERM and SIGINT."""
    server = subprocess.Popen(command)

    def forward(signum: int, frame: object) -> None:
        server.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    server.wait()
