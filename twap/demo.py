"""`twap demo` and `twap sample-data`: the sample the demo runs on, made again only when asked
for with other parameters."""

import json
import logging
import shutil
from datetime import date
from pathlib import Path

from dlt_pipelines.sample_data import DEFAULT_START, generate
from twap.settings import Settings
from twap.steps import step

logger = logging.getLogger(__name__)
DEMO_DAYS = 7
DEMO_SEED = 7


def write_sample(out: Path, days: int, seed: int, start: date) -> None:
    with step("sample-data") as done:
        summary = generate(out, days, seed=seed, start=start)
        done.summary = (
            f"{summary.objects} objects, {summary.events} events, {summary.twaps} TWAPs "
            f"({days} days from {start}, seed {seed}) in {out}"
        )


def demo_sample(settings: Settings, days: int, seed: int) -> None:
    """The demo's sample in `settings.sample_dir`: reused when made with these days and seed."""
    wanted = {"days": days, "seed": seed, "start": DEFAULT_START.isoformat()}
    # Beside the sample, not in it: the source is the whole folder.
    recorded = settings.home / "sample.json"
    if settings.sample_dir.exists() and _read_json(recorded) == wanted:
        logger.info("sample-data: reusing %d days (seed %d) in %s", days, seed, settings.sample_dir)
        return
    shutil.rmtree(settings.sample_dir, ignore_errors=True)
    write_sample(settings.sample_dir, days, seed, DEFAULT_START)
    recorded.write_text(json.dumps(wanted))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
