"""Run dbt in-process on the project at the repo root, against the pipeline's database."""

import os
import shutil
import sys
from collections import Counter

from dbt.cli.main import dbtRunner

from twap.database import Database
from twap.errors import TwapError
from twap.settings import Settings

FAILED_STATUSES = {"error", "fail"}


def run_dbt(settings: Settings, database: Database, command: str, *args: str) -> Counter:
    """Run `dbt <command>` with the example profile; returns node counts by status.

    The profile reads the libpq variables, which are set here from the database settings.
    """
    os.environ.update(database.libpq_env())
    settings.dbt_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(
        settings.dbt_project_dir / "profiles.yml.example", settings.dbt_dir / "profiles.yml"
    )
    result = dbtRunner().invoke(
        [
            command,
            "--project-dir", str(settings.dbt_project_dir),
            "--profiles-dir", str(settings.dbt_dir),
            "--target-path", str(settings.dbt_dir / "target"),
            "--log-path", str(settings.dbt_dir / "logs"),
            *([] if sys.stdout.isatty() else ["--no-use-colors"]),
            *args,
        ]
    )  # fmt: skip
    if result.exception is not None:
        reason = " ".join(str(result.exception).split())
        raise TwapError(f"dbt {command} could not run: {reason}")
    statuses = Counter(str(node.status) for node in (result.result or []))
    failed = [node.node.name for node in result.result if str(node.status) in FAILED_STATUSES]
    if failed:
        shown = ", ".join(failed[:5]) + (f" and {len(failed) - 5} more" if len(failed) > 5 else "")
        raise TwapError(
            f"dbt {command} failed: {len(failed)} of {len(result.result)} nodes failed ({shown}); "
            f"see the dbt output above or {settings.dbt_dir / 'logs' / 'dbt.log'}"
        )
    return statuses
