"""Serve the published versions with Datasette: read-only, bounded, always the newest version.

`twap serve` is a small supervisor: it takes the port and runs a number of worker processes
(one per core by default), each Datasette under uvicorn listening on that port with
SO_REUSEPORT, so that the kernel spreads connections evenly among them (twap/worker.py). The
file is immutable, so workers share nothing else; a worker that exits is replaced, and SIGTERM
stops them all within STOP_SECONDS.
"""

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from twap.errors import TwapError
from twap.publish.metadata import DATASETTE_DIR
from twap.publish.versions import Publication, Version
from twap.settings import Settings

if TYPE_CHECKING:
    from datasette.app import Datasette

logger = logging.getLogger(__name__)

# Bounds on every query: SQL time, rows per page and per query, facet time; no file download.
DATASETTE_SETTINGS: dict[str, int | bool] = {
    "sql_time_limit_ms": 1000,
    "max_returned_rows": 1000,
    "default_page_size": 50,
    "facet_time_limit_ms": 1000,
    "suggest_facets": False,
    "allow_download": False,
    "max_csv_mb": 50,
    "num_sql_threads": 3,
}
# A worker still busy this long after SIGTERM (a stream to a slow client) is killed.
STOP_SECONDS = 4.0
# A worker dying this soon after its start is a configuration problem, not bad luck.
START_SECONDS = 5.0
BACKLOG = 1024


def current_version(pointer: Path) -> Version:
    version = Publication(pointer).current()
    if version is None:
        raise TwapError(f"nothing published at {pointer}: run `twap run` or `twap publish` first")
    return version


def make_datasette(pointer: Path, cors: bool = False) -> "Datasette":
    """The site: Datasette with the plugins, templates and bounds of `twap serve`, serving the
    versions behind `pointer` (the same object in tests, benchmarks and each worker)."""
    current_version(pointer)
    # Imported here: Datasette takes half a second to import, and `twap load` needs none of it.
    from datasette.app import Datasette

    from twap.live import attach

    datasette = Datasette(
        plugins_dir=str(DATASETTE_DIR / "plugins"),
        template_dir=str(DATASETTE_DIR / "templates"),
        settings=DATASETTE_SETTINGS,
        cors=cors,
    )
    attach(datasette, pointer)
    return datasette


def default_workers() -> int:
    return len(os.sched_getaffinity(0))


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


def serve(
    settings: Settings, host: str, port: int, cors: bool = False, workers: int | None = None
) -> None:
    """Run the workers on http://host:port/ until Ctrl-C or SIGTERM."""
    current_version(settings.publish_path)
    check_port(host, port)
    try:
        # Bound but not listening, so it gets no connections: no other program takes the port
        # while workers come and go.
        reserved = reuse_port_socket(host, port)
    except OSError as exc:
        raise TwapError(f"cannot listen on {host}:{port}: {exc} (is the port free?)") from exc
    command = [
        sys.executable, "-m", "twap.worker",
        "--host", host,
        "--port", str(port),
        "--pointer", str(settings.publish_path),
        "--log-format", settings.log_format,
        *(["--cors"] if cors else []),
    ]  # fmt: skip
    count = workers or default_workers()
    logger.info("serve: %d Datasette workers on http://%s:%d/ (Ctrl-C to stop)", count, host, port)
    from twap.site_metrics import multiprocess_folder  # imports Datasette: only to serve

    # One folder for the workers' request counts, so /-/metrics on any worker counts them all.
    with reserved, multiprocess_folder() as environment:
        Supervisor(command, count, environment).run()


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket on host:port that other SO_REUSEPORT sockets of this user may share."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


class Supervisor:
    """Keeps `count` workers running until a signal says stop, then stops them, bounded."""

    def __init__(self, command: list[str], count: int, environment: dict[str, str]) -> None:
        self.command = command
        self.environment = environment
        self.workers: dict[int, tuple[subprocess.Popen, float]] = {}
        self.count = count
        self.stopping = False

    def start(self, index: int) -> None:
        process = subprocess.Popen([*self.command, "--index", str(index)], env=self.environment)
        self.workers[index] = (process, time.monotonic())

    def run(self) -> None:
        def stop(signum: int, frame: object) -> None:
            self.stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        for index in range(self.count):
            self.start(index)
        try:
            while not self.stopping:
                self.replace_exited()
                time.sleep(0.2)
        finally:
            self.stop_all()

    def replace_exited(self) -> None:
        for index, (process, started) in list(self.workers.items()):
            status = process.poll()
            if status is None:
                continue
            if status != 0 and time.monotonic() - started < START_SECONDS:
                raise TwapError(f"a Datasette worker exited with status {status} at start")
            logger.info("serve: worker %d exited (status %d), starting another", index, status)
            self.start(index)

    def stop_all(self) -> None:
        processes = [process for process, _ in self.workers.values()]
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.01))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
