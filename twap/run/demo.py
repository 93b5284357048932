"""`twap demo` and `twap sample-data`: the sample the demo runs on. It ends at the start of the
current hour, so that the TWAPs it shows as running are running now; it is made again for other
parameters or once an hour has passed (the demo's load then mirrors it: `twap.cli.cmd_demo`)."""

import json
import logging
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dlt_pipelines.sample_data import generate
from twap.run.steps import step
from twap.settings import Settings

logger = logging.getLogger(__name__)
DEMO_DAYS = 7
DEMO_SEED = 7
# The last hours of the sample also have the node's fills, so running TWAPs show progress.
DEMO_FILL_HOURS = 2


def write_sample(out: Path, days: int, seed: int, start: date | datetime) -> None:
    with step("sample-data") as done:
        summary = generate(out, days, seed=seed, start=start, fill_hours=DEMO_FILL_HOURS)
        done.summary = (
            f"{summary.objects} objects, {summary.events} events, {summary.twaps} TWAPs, "
            f"{summary.fills} TWAP slice fills in {summary.fill_objects} objects "
            f"({days} days from {start}, seed {seed}) in {out}"
        )


def current_hour() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def demo_sample(settings: Settings, days: int, seed: int, end: datetime | None = None) -> None:
    """The demo's sample in `settings.sample_dir`, `days` days up to `end` (default: the start of
    the current hour): reused when made with these days, seed and end."""
    start = (end or current_hour()) - timedelta(days=days)
    wanted = {"days": days, "seed": seed, "start": start.isoformat()}
    # Beside the sample, not in it: the source is the whole folder.
    recorded = settings.home / "sample.json"
    if settings.sample_dir.exists() and _read_json(recorded) == wanted:
        logger.info("sample-data: reusing %d days (seed %d) in %s", days, seed, settings.sample_dir)
        return
    shutil.rmtree(settings.sample_dir, ignore_errors=True)
    write_sample(settings.sample_dir, days, seed, start)
    recorded.write_text(json.dumps(wanted))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None
