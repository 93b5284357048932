"""Prometheus metrics of every command that writes (`run`, `load`, `build`, `publish`, `demo`).

Each command replaces `$TWAP_METRICS_DIR/twap_<command>.prom` atomically (node_exporter's
textfile collector reads the folder) and, when TWAP_PUSHGATEWAY_URL is set, pushes the same
metrics to that Pushgateway under `job="twap"`, `command`, `instance`. The figures are the step
records of twap/observe/runs.py, the ones the log lines carry. Last-success times of steps that
did not succeed this time, and the figures of steps that did not run (a quiet hour builds and
publishes nothing), are carried over from the previous file: no graph or alert goes blank.
"""

import functools
import logging
import socket
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile
from prometheus_client.exposition import basic_auth_handler, default_handler
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from twap.errors import EXIT_ERROR, TwapError, one_line
from twap.observe import runs
from twap.publish.versions import Publication
from twap.settings import Settings

logger = logging.getLogger(__name__)

PREFIX = "twap"
JOB = "twap"
PUSH_TIMEOUT_SECONDS = 10.0
# Exit statuses after which the run's data work is done: 3 says some objects failed alone.
DONE_STATUSES = (0, 3)
# A figure that is a dict of counts is a metric with one label, named here (default: outcome).
FIGURE_LABELS = {"table_rows": "table", "written_rows": "table"}
HELP = {
    "load_objects": "Objects of the source by what this load did with them",
    "load_rows": "Event rows this load loaded, or rejected into raw.twap_quarantined_rows",
    "load_fills": "TWAP slice fills this load loaded, or rejected into raw.twap_quarantined_rows",
    "load_repaired_times": "Times this load corrected from milliseconds stored as nanoseconds",
    "build_models": "dbt models of this build by outcome",
    "build_tests": "dbt data and unit tests of this build by outcome (passed, fail, error, warn)",
    "publish_table_rows": "Rows of each published table in the version this publish made",
    "publish_written_rows": "Rows this publish wrote, by table (a delta writes the changed keys)",
    "publish_newest_event_timestamp_seconds": "Event time of the newest published event",
    "publish_last_load_timestamp_seconds": "When the newest published object was loaded",
}
EXIT_STATUS_HELP = (
    "Exit status of the command's last run: 0 ok, 1 error, 3 some objects failed or rows were "
    "rejected (the rest was processed), 4 another run held the lock"
)
RUN_SUCCESS_HELP = "When a run of the command last did its data work (exit 0, or 3)"
RUN_SUCCESS = f"{PREFIX}_run_last_success_timestamp_seconds"
STEP_SUCCESS = f"{PREFIX}_step_last_success_timestamp_seconds"


def reported(settings: Settings, command: str, work: Callable[[], int]) -> int:
    """`work()`'s exit status; its run's metrics written and pushed afterwards, whatever the
    outcome. A metrics folder that cannot be written or a malformed push URL stops the command
    before any work; a failing push is one line and changes nothing else."""
    run = runs.current() or runs.begin(command)
    target = _textfile(settings.metrics_dir, command)
    gateway = Gateway.parse(settings.pushgateway_url) if settings.pushgateway_url else None
    status = EXIT_ERROR
    try:
        status = work()
        return status
    except TwapError as exc:
        status = exc.exit_code
        raise
    except KeyboardInterrupt:
        status = 130
        raise
    finally:
        registry = run_registry(run, status, _previous_samples(target) if target else [])
        if target:
            try:
                write_to_textfile(str(target), registry)
            except OSError as exc:
                logger.error("metrics: could not write %s: %s", target, one_line(exc))
        if gateway:
            gateway.push(registry, command)


def run_registry(
    run: runs.Run, status: int, previous: list[tuple[str, Sample]]
) -> CollectorRegistry:
    """The metrics of `run`, ended with exit `status`. From `previous` (the last file's samples,
    with their help text): last-success times where this run did not succeed, and the figures
    of the steps it did not run."""
    registry = CollectorRegistry()
    gauges: dict[str, Gauge] = {}
    now = time.time()

    def gauge(name: str, documentation: str, value: float, **labels: str) -> None:
        if name not in gauges:
            gauges[name] = Gauge(
                f"{PREFIX}_{name}", documentation, ["command", *labels], registry=registry
            )
        gauges[name].labels(command=run.command, **labels).set(value)

    gauge("run_exit_status", EXIT_STATUS_HELP, status)
    gauge("run_started_timestamp_seconds", "When the command's last run started", run.started_at)
    gauge("run_duration_seconds", "How long the command's last run took", now - run.started_at)
    carried_run = [sample.value for _, sample in previous if sample.name == RUN_SUCCESS]
    last_run = now if status in DONE_STATUSES else next(iter(carried_run), None)
    if last_run is not None:
        gauge("run_last_success_timestamp_seconds", RUN_SUCCESS_HELP, last_run)
    successes = {
        sample.labels["step"]: sample.value
        for _, sample in previous
        if sample.name == STEP_SUCCESS and "step" in sample.labels
    }
    ran = {step.name for step in run.steps}
    # Steps that ran before: their figures' metrics are named `twap_<step>_…` (see below).
    not_run = tuple(f"{PREFIX}_{name}_" for name in set(successes) - ran)
    for documentation, sample in previous:
        if sample.name.startswith(not_run):
            labels = {k: v for k, v in sample.labels.items() if k != "command"}
            gauge(sample.name.removeprefix(f"{PREFIX}_"), documentation, sample.value, **labels)
    successes.update({step.name: step.finished_at for step in run.steps if step.ok})
    for name, when in sorted(successes.items()):
        gauge(
            "step_last_success_timestamp_seconds", "When the step last succeeded", when, step=name
        )
    for step in run.steps:
        gauge("step_duration_seconds", "How long the step took", step.seconds, step=step.name)
        gauge("step_success", "1 if the step succeeded, 0 if it failed", step.ok, step=step.name)
        for figure, value in step.figures.items():
            name = f"{step.name}_{figure}"
            documentation = HELP.get(name, f"{figure} of the {step.name} step")
            if isinstance(value, dict):
                label = FIGURE_LABELS.get(figure, "outcome")
                for key, count in value.items():
                    gauge(name, documentation, count, **{label: key})
            else:
                gauge(name, documentation, value)
    return registry


def freshness(pointer: Path) -> dict[str, float]:
    """The published version's newest event and last load, as Unix times (the data's age)."""
    version = Publication(pointer).current()
    facts = version.read_publication() if version else {}
    times = {
        "newest_event_timestamp_seconds": facts.get("newest_event_at"),
        "last_load_timestamp_seconds": facts.get("last_load_at"),
    }
    return {name: datetime.fromisoformat(at).timestamp() for name, at in times.items() if at}


class Gateway:
    """A Pushgateway: its URL without credentials (what messages show), and the credentials."""

    def __init__(self, url: str, username: str | None, password: str | None) -> None:
        self.url = url
        self.username = username
        self.password = password

    @classmethod
    def parse(cls, url: str) -> "Gateway":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TwapError(
                f"malformed Pushgateway URL {_shown(url)} (TWAP_PUSHGATEWAY_URL): expected "
                "http://host:9091 or https://user:password@host"
            )
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        plain = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        return cls(plain, parts.username, parts.password)

    def push(self, registry: CollectorRegistry, command: str) -> None:
        """Replace this command's group on the gateway; a failure is one line, nothing more."""
        handler = default_handler
        if self.username is not None:
            handler = functools.partial(
                basic_auth_handler, username=self.username, password=self.password
            )
        try:
            push_to_gateway(
                self.url,
                job=JOB,
                registry=registry,
                grouping_key={"command": command, "instance": socket.gethostname()},
                timeout=PUSH_TIMEOUT_SECONDS,
                handler=handler,
            )
        except OSError as exc:
            logger.error(
                "metrics: push to %s failed: %s (the run's data work is unaffected)",
                self.url,
                one_line(exc),
            )


def _shown(url: str) -> str:
    """`url` with any password replaced, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _textfile(folder: Path | None, command: str) -> Path | None:
    """This command's metrics file in `folder`, checked writable now rather than after the run."""
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise TwapError(
            f"cannot write metrics to {folder}: {exc.strerror or one_line(exc)} "
            "(set TWAP_METRICS_DIR to a writable folder)"
        ) from None
    return folder / f"{PREFIX}_{command}.prom"


def _previous_samples(path: Path) -> list[tuple[str, Sample]]:
    """Every sample of the previous metrics file, with its family's help text."""
    try:
        families = list(text_string_to_metric_families(path.read_text()))
    except (OSError, ValueError):  # none yet, or not ours: nothing to carry
        return []
    return [(family.documentation, sample) for family in families for sample in family.samples]
