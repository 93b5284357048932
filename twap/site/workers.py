"""The site's server: gunicorn's arbiter over uvicorn worker processes, one per core.

gunicorn holds the port, starts the workers, replaces one that exits or stops answering,
recycles each after about MAX_REQUESTS requests (Datasette keeps a few schema rows per version
it has served), and on SIGTERM stops them gracefully, killing what is left after STOP_SECONDS.
Run by `twap serve` (twap/site/serve.py) as `python -m twap.site.workers`.
"""

import argparse
import os
import resource
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from twap.observe import runs
from twap.observe.logs import LOG_FORMATS
from twap.site import MULTIPROCESS_ENV

# A worker still busy this long after SIGTERM (a stream to a slow client) is killed.
STOP_SECONDS = 4
# A worker whose event loop has not ticked for this long is killed and replaced.
WORKER_TIMEOUT_SECONDS = 30
MAX_REQUESTS = 20_000
MAX_REQUESTS_JITTER = 2_000
BACKLOG = 1024
# Address space of one worker: a hostile query fails with "out of memory", the machine does not.
MEMORY_LIMIT_BYTES = 2 * 1024**3
# Open connections per worker; beyond it uvicorn answers 503 at once instead of queueing forever.
MAX_CONNECTIONS = 512


class SiteWorker(UvicornWorker):
    """uvicorn under gunicorn, its connections bounded, its shutdown within gunicorn's."""

    # uvicorn-worker's documented way to pass settings to uvicorn.
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "limit_concurrency": MAX_CONNECTIONS,
        "timeout_graceful_shutdown": STOP_SECONDS - 1,
    }


class Site(BaseApplication):
    """The site as a gunicorn application (gunicorn's documented custom application)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        super().__init__()

    def load_config(self) -> None:
        for name, value in gunicorn_settings(self.args).items():
            self.cfg.set(name, value)

    def load(self) -> Any:
        """The ASGI app, made in each worker (imports Datasette, so prometheus-client, there)."""
        from twap.site.app import make_datasette

        return make_datasette(self.args.pointer, cors=self.args.cors).app()


def gunicorn_settings(args: argparse.Namespace) -> dict[str, Any]:
    """gunicorn's settings for the site (https://docs.gunicorn.org/en/stable/settings.html)."""
    host = f"[{args.host}]" if ":" in args.host else args.host
    return {
        "bind": [f"{host}:{args.port}"],
        "workers": args.workers,
        "worker_class": SiteWorker,
        "graceful_timeout": STOP_SECONDS,
        "timeout": WORKER_TIMEOUT_SECONDS,
        "max_requests": MAX_REQUESTS,
        "max_requests_jitter": MAX_REQUESTS_JITTER,
        "backlog": BACKLOG,
        # Each worker listens on a socket of its own: the kernel spreads connections evenly (on
        # one shared socket, one busy worker took 80% of them; benchmarks/README.md).
        "reuse_port": True,
        "logconfig_dict": logging_config(args.log_format),
        "post_fork": post_fork,
        "child_exit": child_exit,
    }


# The server's own text lines carry their date and level: they are not a command's steps.
TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def logging_config(log_format: str) -> dict[str, Any]:
    """Every line on stderr, one JSON object each under `--log-format json` (twap/observe/logs.py);
    gunicorn's and uvicorn's own lines from warnings up."""
    json = {"()": "twap.observe.logs.formatter", "log_format": "json"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"twap": json if log_format == "json" else {"format": TEXT_FORMAT}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "twap"}},
        "root": {"level": "INFO", "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def post_fork(server: Any, worker: Any) -> None:
    """In each new worker, before it loads the site: its memory bound and its run id."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    runs.begin("serve")  # each worker's lines carry a run id of their own


def child_exit(server: Any, worker: Any) -> None:
    """A worker's live gauges leave with it (prometheus-client's multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pointer", type=Path, required=True, help="the publish path")
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--cors", action="store_true")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(
        prefix="twap-serve-metrics-", ignore_cleanup_errors=True
    ) as folder:
        # Before prometheus-client is imported: /-/metrics on any worker counts them all.
        os.environ[MULTIPROCESS_ENV] = folder
        Site(args).run()


if __name__ == "__main__":
    main()
