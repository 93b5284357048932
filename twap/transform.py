"""Run dbt in-process on the project at the repo root, against the pipeline's database."""

import logging
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from twap.database import Database
from twap.errors import TwapError, one_line
from twap.settings import PROJECT_DIR, Settings

if TYPE_CHECKING:
    from dbt.artifacts.schemas.run import RunResult
    from dbt.cli.main import dbtRunnerResult

# dbt prints its progress live when this module logs at INFO (`twap -v`); its log file has it all.
logger = logging.getLogger(__name__)
FAILED_STATUSES = {"error", "fail"}


@dataclass(frozen=True)
class DbtOutcome:
    """How many nodes of each kind ended in each status, and where dbt's full output is."""

    counts: Counter  # (resource type, status) -> nodes
    log: Path

    def summary(self) -> str:
        """`7 models built, 84 tests passed`, and any other outcome: `2 tests warned`, ..."""
        outcomes: Counter = Counter()
        for (kind, status), n in self.counts.items():
            if status != "no-op":  # an exposure: nothing was run
                noun = "test" if kind == "unit_test" else kind
                outcomes[noun, {"success": "built", "pass": "passed"}.get(status, status)] += n
        return (
            ", ".join(
                f"{n} {noun}{'' if n == 1 else 's'} {verb}"
                for (noun, verb), n in sorted(
                    outcomes.items(), key=lambda item: item[0] != ("model", "built")
                )
            )
            or "nothing to do"
        )


def run_dbt(settings: Settings, database: Database, command: str, *args: str) -> DbtOutcome:
    """Run `dbt <command>` with the example profile; returns what it did, by kind and status.

    The profile reads the libpq variables, which are set here from the database settings.
    """
    settings.dbt_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_DIR / "profiles.yml.example", settings.dbt_dir / "profiles.yml")
    with _environment(database.libpq_env()):
        result = _invoke(settings, command, args)
    if result.exception is not None:
        raise TwapError(f"dbt {command} could not run: {one_line(result.exception, 500)}")
    nodes = list(result.result or [])
    log = settings.dbt_dir / "logs" / "dbt.log"
    failed = [_describe_failure(node) for node in nodes if str(node.status) in FAILED_STATUSES]
    if failed:
        shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise TwapError(
            f"dbt {command} failed: {len(failed)} of {len(nodes)} nodes failed ({shown}); "
            f"dbt's output is in {log} (`twap -v` shows it live)"
        )
    return DbtOutcome(Counter((str(n.node.resource_type), str(n.status)) for n in nodes), log)


def _describe_failure(result: "RunResult") -> str:
    """`name (N failing rows: what the test checks)` for a test, `name (message)` otherwise."""
    node = result.node
    if node.resource_type == "test" and result.failures:
        rows = "row" if result.failures == 1 else "rows"
        what = f": {one_line(node.description)}" if node.description else ""
        return f"{node.name} ({result.failures} failing {rows}{what})"
    return f"{node.name} ({one_line(result.message or str(result.status), 200)})"


def _invoke(settings: Settings, command: str, args: tuple[str, ...]) -> "dbtRunnerResult":
    # Imported here: dbt takes over a second to import, and only `build` needs it.
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
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
