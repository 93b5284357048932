"""Run dbt in-process on the project at the repo root, against the pipeline's database."""

import hashlib
import logging
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from twap.build.build_log import BUILD_KEYS, any_build_finished
from twap.build.spark import jvm_output_to_log, spark_env
from twap.database import Database
from twap.errors import TwapError, one_line
from twap.settings import PROJECT_DIR, Settings

if TYPE_CHECKING:
    from dbt.artifacts.schemas.run import RunResult
    from dbt.cli.main import dbtRunnerResult
    from dbt.contracts.graph.manifest import Manifest
    from dbt_common.events.base_types import EventMsg

# dbt prints its progress live when this module logs at INFO (`twap -v`); its log file has it all.
logger = logging.getLogger(__name__)
FAILED_STATUSES = {"error", "fail"}
# The commands the project's hooks log as builds: they need the schema set up first.
BUILD_COMMANDS = {"build", "run", "retry"}
SETUP_OPERATION = "setup_warehouse"
SHARED_OPTIONS = {"--vars", "--target"}
# On PostgreSQL the set-up runs again after this long, for its expiry of old rebuilt keys.
SETUP_EVERY = timedelta(days=1)
SETUP_STAMP = "setup_warehouse.stamp"
SETUP_MACROS = [
    PROJECT_DIR / "dbt_project" / "macros" / name
    for name in ("setup_warehouse.sql", "build_log.sql")
]


@dataclass(frozen=True)
class DbtOutcome:
    """How many nodes of each kind ended how, and where dbt's full output is."""

    counts: Counter  # (kind, outcome) -> nodes, e.g. ("model", "built") -> 7
    log: Path

    def summary(self) -> str:
        """`7 models built, 84 tests passed`, and any other outcome: `2 tests warned`, ..."""
        models_first = sorted(self.counts.items(), key=lambda item: item[0][0] != "model")
        return (
            ", ".join(
                f"{n} {kind}{'' if n == 1 else 's'} {outcome}"
                for (kind, outcome), n in models_first
            )
            or "nothing to do"
        )

    def figures(self) -> dict[str, dict[str, float]]:
        """Nodes by kind then outcome, for logs and metrics: `{"tests": {"passed": 84}}`."""
        figures: dict[str, dict[str, float]] = {}
        for (kind, outcome), n in self.counts.items():
            figures.setdefault(f"{kind}s", {})[outcome] = n
        return figures


# dbt's on_schema_change=fail: an incremental model's query no longer has its table's columns.
OUT_OF_SYNC = "schemas on this incremental model are out of sync"
# dbt's enforced contract: the model's SQL and its YAML columns differ (a table of them follows).
CONTRACT_FAILED = "enforced contract that failed"


class DbtFailed(TwapError):
    """dbt ran, and some nodes failed: the message names them, `outcome` counts every node,
    `out_of_sync` names the incremental models whose columns changed."""

    def __init__(
        self, message: str, outcome: DbtOutcome, out_of_sync: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.out_of_sync = out_of_sync


def build(
    settings: Settings, database: Database | None, *args: str, full_tests: bool = False
) -> DbtOutcome:
    """`dbt build`, repairing incremental models whose columns changed (an analyst added one):
    those models and what depends on them are rebuilt whole, then the build runs again, so the
    next publish writes the new layout and nobody has to run a full refresh by hand.

    `full_tests`: the data tests check every row, not only the keys this build rebuilt."""
    tests = {"TWAP_FULL_TESTS": "true"} if full_tests else {}
    try:
        return run_dbt(settings, database, "build", *args, env=tests)
    except DbtFailed as failed:
        if not failed.out_of_sync or "--full-refresh" in args:
            raise
        changed = failed.out_of_sync
    logger.warning(
        "the columns of %s changed: rebuilding %s and what depends on %s whole",
        ", ".join(changed),
        "it" if len(changed) == 1 else "them",
        "it" if len(changed) == 1 else "them",
    )
    run_dbt(
        settings,
        database,
        "build",
        *args,
        "--full-refresh",
        "--select",
        *(f"{m}+" for m in changed),
        env=tests,
    )
    return run_dbt(settings, database, "build", *args, env=tests)


def run_dbt(
    settings: Settings,
    database: Database | None,
    command: str,
    *args: str,
    env: dict[str, str] | None = None,
) -> DbtOutcome:
    """Run `dbt <command>` with the example profile and `env` set; returns what it did, by kind
    and status.

    The profile reads the libpq variables, which are set here from the database settings; with
    no database, the Spark target TWAP_SPARK_TARGET names, which reads where the lake and
    Spark's files are. On PostgreSQL the build log is asked once whether a build ever finished
    (macro finished_build_exists), instead of by every test.
    """
    settings.dbt_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", settings.dbt_dir / "profiles.yml")
    if database is None:
        variables, args = spark_env(settings), (*args, "--target", settings.spark_target)
        quiet = jvm_output_to_log(settings)
    else:
        finished = "true" if any_build_finished(database) else "false"
        variables = {**database.libpq_env(), "TWAP_FINISHED_BUILD": finished}
        quiet = nullcontext()
    with _environment({**variables, **(env or {})}), quiet:
        due = command in BUILD_COMMANDS and _set_up_due(settings, database)
        manifest = _set_up(settings, database, args) if due else None
        result = _invoke(settings, command, args, manifest)
    if result.exception is not None:
        raise TwapError(f"dbt {command} could not run: {one_line(result.exception, 500)}")
    nodes = list(result.result or [])
    log = settings.dbt_dir / "logs" / "dbt.log"
    # An exposure is a no-op (nothing was run for it); the build log's hooks are operations.
    done = [
        _outcome(node)
        for node in nodes
        if str(node.status) != "no-op" and str(node.node.resource_type) != "operation"
    ]
    outcome = DbtOutcome(Counter(done), log)
    failed_nodes = [node for node in nodes if str(node.status) in FAILED_STATUSES]
    if failed_nodes:
        failed = [_describe_failure(node) for node in failed_nodes]
        shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise DbtFailed(
            f"dbt {command} failed: {len(failed)} of {len(nodes)} nodes failed ({shown}); "
            f"dbt's output is in {log} (`twap -v` shows it live)",
            outcome,
            tuple(node.node.name for node in failed_nodes if OUT_OF_SYNC in (node.message or "")),
        )
    return outcome


def _outcome(result: "RunResult") -> tuple[str, str]:
    kind = str(result.node.resource_type)
    status = str(result.status)
    return (
        "test" if kind == "unit_test" else kind,
        {"success": "built", "pass": "passed"}.get(status, status),
    )


def _describe_failure(result: "RunResult") -> str:
    """`name (N failing rows: what the test checks)` for a test, `name (message)` otherwise."""
    node = result.node
    if OUT_OF_SYNC in (result.message or ""):
        return (
            f"{node.name} (its columns no longer match its table: rebuild it with `twap build "
            f"--full-refresh`, or only it and what depends on it with `dbt build --full-refresh "
            f"--select {node.name}+`, then `twap publish`)"
        )
    if CONTRACT_FAILED in (result.message or ""):
        return (
            f"{node.name} (its SQL and its YAML columns differ: {_mismatches(result.message)}; "
            f"give each column its data_type and description in {_file(node.patch_path)}, or "
            f"fix {node.original_file_path})"
        )
    if node.resource_type == "test" and result.failures:
        rows = "row" if result.failures == 1 else "rows"
        what = f": {one_line(node.description)}" if node.description else ""
        return f"{node.name} ({result.failures} failing {rows}{what})"
    return f"{node.name} ({one_line(result.message or str(result.status), 200)})"


def _mismatches(message: str) -> str:
    """`column missing in contract, ...` from the table of dbt's contract error."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in message.splitlines()
        if line.lstrip().startswith("|")
    ]
    # The header, its rule, then (column, in SQL, in YAML, why) per column.
    return ", ".join(
        f"{name} {why}" + (f" ({sql} in SQL, {yaml} in YAML)" if sql and yaml else "")
        for name, sql, yaml, why in rows[2:]
    )


def _file(patch_path: str | None) -> str:
    """A node's YAML file from its `patch_path` (`project://path`)."""
    return (patch_path or "its YAML file").split("://")[-1]


def _set_up_due(settings: Settings, database: Database | None) -> bool:
    """Whether `setup_warehouse` must run before a build: always on Spark (it registers the
    lake's new files); on PostgreSQL when its stamp names another database or other set-up
    macros, is a day old, or the build log's tables are missing (a database made anew)."""
    if database is None:
        return True
    stamp = settings.dbt_dir / SETUP_STAMP
    if not stamp.exists() or stamp.read_text() != _setup_identity(database):
        return True
    if datetime.now(UTC) - datetime.fromtimestamp(stamp.stat().st_mtime, UTC) > SETUP_EVERY:
        return True
    with closing(database.connect()) as conn, conn.cursor() as cursor:
        cursor.execute("select to_regclass(%s) is null", (BUILD_KEYS,))
        return cursor.fetchone()[0]


def _setup_identity(database: Database) -> str:
    """The database and the set-up's own macros, as the stamp records them."""
    macros = hashlib.sha256()
    for path in (PROJECT_DIR / "dbt_project.yml", *SETUP_MACROS):
        macros.update(path.read_bytes())
    where = f"{database.host}:{database.port}/{database.dbname}"
    return f"{where} {macros.hexdigest()}\n"


def _set_up(settings: Settings, database: Database | None, args: tuple[str, ...]) -> "Manifest":
    """Parse the project, then `dbt run-operation setup_warehouse` (the build log's tables and
    their upkeep; on Spark the lake's files); returns the manifest, which the build reuses so
    the set-up costs its statements only, not a second parse."""
    # The build's vars and target, for the parse (and its partial-parse state) and the set-up.
    shared = [
        part for at, arg in enumerate(args) if arg in SHARED_OPTIONS for part in args[at : at + 2]
    ]
    parsed = _invoke(settings, "parse", tuple(shared))
    if not parsed.success:
        raise TwapError(f"dbt could not parse the project: {one_line(parsed.exception, 500)}")
    errors: list[str] = []
    set_up = _invoke(
        settings,
        "run-operation",
        (SETUP_OPERATION, *shared),
        parsed.result,
        [lambda event: errors.append(event.info.msg) if event.info.level == "error" else None],
    )
    if not set_up.success:
        why = one_line(set_up.exception or (errors[-1] if errors else "see dbt's log"), 500)
        log = settings.dbt_dir / "logs" / "dbt.log"
        raise TwapError(
            f"dbt run-operation {SETUP_OPERATION} failed: {why}; dbt's output is in {log}"
        )
    if database is not None:
        (settings.dbt_dir / SETUP_STAMP).write_text(_setup_identity(database))
    return parsed.result


def _invoke(
    settings: Settings,
    command: str,
    args: tuple[str, ...],
    manifest: "Manifest | None" = None,
    callbacks: list[Callable[["EventMsg"], None]] | None = None,
) -> "dbtRunnerResult":
    # Imported here: dbt takes over a second to import, and only `build` needs it.
    from dbt.cli.main import dbtRunner

    return dbtRunner(manifest=manifest, callbacks=callbacks).invoke(
        [
            command,
            "--project-dir", str(PROJECT_DIR),
            "--profiles-dir", str(settings.dbt_dir),
            "--target-path", str(settings.dbt_dir / "target"),
            "--log-path", str(settings.dbt_dir / "logs"),
            *([] if sys.stdout.isatty() else ["--no-use-colors"]),
            # dbt's log file keeps its default level even when its console is silent.
            "--log-level-file", "debug",
            *([] if logger.isEnabledFor(logging.INFO) else ["--log-level", "none"]),
            # Its live output (-v) one JSON object per line too, as the lines around it.
            *(["--log-format", "json"] if settings.log_format == "json" else []),
            *args,
        ]
    )  # fmt: skip


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set `variables` for dbt's env_var() only while it runs (PGPASSWORD included)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
