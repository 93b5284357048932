"""What every benchmark shares: a state directory of its own, progress lines, the results file."""

import json
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from twap.database import stop_embedded

RESULTS_DIR = Path(__file__).parent / "results"


def run_in_home(name: str, keep: Path | None, bench: Callable[[Path], dict]) -> dict:
    """Run `bench` with a TWAP_HOME of its own (kept only when `keep` is given); its embedded
    PostgreSQL is stopped afterwards whatever happens."""
    # The embedded server's lock falls back to /tmp when XDG_RUNTIME_DIR is unset: not news.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    home = keep or Path(tempfile.mkdtemp(prefix=f"twap-bench-{name}-"))
    try:
        return bench(home)
    finally:
        stop_embedded(home)
        if not keep:
            shutil.rmtree(home, ignore_errors=True)


def history_start(days: int) -> date:
    """The first day of `days` of sample history that ends yesterday: times more than a day
    after the run are rejected as bad rows."""
    return date.today() - timedelta(days=days + 1)


def write_results(name: str, report: dict) -> Path:
    """`benchmarks/results/<name>.json`."""
    path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def elapsed(started: float) -> str:
    return f"{time.monotonic() - started:.1f}s"
