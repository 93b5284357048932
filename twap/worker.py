"""One `twap serve` worker: the site (twap/serve.py) under uvicorn, listening on the port with
SO_REUSEPORT beside the other workers."""

import argparse
import logging
import resource
from pathlib import Path

import uvicorn

from twap.live import SWITCHES_PER_WORKER, live_site
from twap.observe import logs, runs
from twap.observe.logs import LOG_FORMATS
from twap.serve import BACKLOG, STOP_SECONDS, make_datasette, reuse_port_socket

# Address space of one worker: a hostile query fails with "out of memory", the machine does not.
MEMORY_LIMIT_BYTES = 2 * 1024**3
# Open connections per worker; beyond it uvicorn answers 503 at once instead of queueing forever.
MAX_CONNECTIONS = 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pointer", type=Path, required=True, help="the publish path")
    parser.add_argument("--cors", action="store_true")
    parser.add_argument("--index", type=int, default=0, help="this worker's number")
    parser.add_argument("--log-format", choices=LOG_FORMATS, default="text")
    args = parser.parse_args()
    if args.log_format == "json":
        runs.begin("serve")  # each worker's lines carry a run id of their own
        handler = logging.StreamHandler()
        handler.setFormatter(logs.formatter("json"))
        logging.basicConfig(level=logging.INFO, handlers=[handler])
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the warm-up's in-process requests
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    datasette = make_datasette(args.pointer, cors=args.cors)
    site = live_site(datasette)
    # Staggered, so that workers do not all hand over after the same publish.
    site.max_switches = SWITCHES_PER_WORKER + 7 * args.index
    config = uvicorn.Config(
        datasette.app(),
        log_level="warning",
        # Under JSON, uvicorn's own lines go through the root logger's JSON handler.
        log_config=None if args.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=int(STOP_SECONDS) - 1,
        limit_concurrency=MAX_CONNECTIONS,
    )
    listener = reuse_port_socket(args.host, args.port)
    listener.listen(BACKLOG)
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main()
