"""The `twap` command in progress: its run id, and what each step did (seconds, figures).

Its structured log lines (twap/observe/logs.py) and its Prometheus metrics
(twap/observe/metrics.py) both read the same record, so the figures a log line carries are the
ones the metrics file has.
"""

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime

# A step's figures: counts by name, or counts by outcome or table under a name.
Figures = dict[str, float | dict[str, float]]


@dataclass
class StepRecord:
    """One step of a run: what it did in a few words and in figures, filled in as it goes;
    how long it took and whether it succeeded, once it has ended."""

    name: str
    summary: str = "done"
    figures: Figures = field(default_factory=dict)
    seconds: float = 0.0
    ok: bool = False
    finished_at: float = 0.0


@dataclass
class Run:
    """One `twap` command: its id in every log line, and its steps in the order they ran."""

    command: str
    run_id: str = field(default_factory=lambda: new_run_id())
    started_at: float = field(default_factory=time.time)
    steps: list[StepRecord] = field(default_factory=list)


def new_run_id() -> str:
    """Sortable by start time, unique across machines: `20261201T183000Z-3fa9c2`."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


# A context variable rather than an argument threaded through every step: one command is one run.
_current: ContextVar[Run | None] = ContextVar("twap_run", default=None)


def current() -> Run | None:
    """The run of this command, once `begin` has named it."""
    return _current.get()


def begin(command: str) -> Run:
    """Start the run of `command`: its log lines and metrics carry its id from here on."""
    run = Run(command)
    _current.set(run)
    return run


@contextmanager
def recording(name: str) -> Iterator[StepRecord]:
    """Time step `name` and record it in the current run (if any), failed if it raises."""
    record = StepRecord(name)
    started = time.monotonic()
    try:
        yield record
        record.ok = True
    finally:
        record.seconds = time.monotonic() - started
        record.finished_at = time.time()
        run = current()
        if run is not None:
            run.steps.append(record)
