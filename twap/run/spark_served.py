"""Whether `twap run --warehouse spark` has anything to build: what its last run built and
published, kept beside Spark's files. PostgreSQL asks its build log instead
(twap/build/build_log.py, served_is_current); reading Spark's would start a JVM.

The record names the lake ledger's last commit the build took in and the version published
from it. Any Spark build or publish forgets it first, so one that fails, or runs on its own,
leaves nothing to match and the next run builds and publishes again.
"""

import json
from pathlib import Path

from twap.publish.versions import Publication
from twap.settings import Settings

RECORD_FILE = "served_through.json"


def _record(settings: Settings) -> Path:
    return settings.spark_dir / RECORD_FILE


def forget(settings: Settings) -> None:
    _record(settings).unlink(missing_ok=True)


def remember(settings: Settings, lake_seq: int) -> None:
    """After a run's build and publish: the served version holds every commit to `lake_seq`."""
    served = Publication(settings.publish_path).current()
    if served is not None:
        settings.spark_dir.mkdir(parents=True, exist_ok=True)  # a cluster keeps nothing here
        _record(settings).write_text(json.dumps({"lake_seq": lake_seq, "version": served.name}))


def is_current(settings: Settings, lake_seq: int) -> bool:
    """Whether the served version is the one the last run published, through `lake_seq`."""
    try:
        record = json.loads(_record(settings).read_text())
    except (OSError, ValueError):  # none yet, or a half-written one: build
        return False
    served = Publication(settings.publish_path).current()
    return served is not None and record == {"lake_seq": lake_seq, "version": served.name}
