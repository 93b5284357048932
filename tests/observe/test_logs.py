"""The log lines (twap/observe/logs.py) and the run record they read (twap/observe/runs.py),
formatted in-process: no pipeline runs."""

import contextvars
import json
import logging
import sys
from datetime import datetime

import pytest

from twap.observe import logs, runs


def record(message: str, exc_info=None, **extra) -> logging.LogRecord:
    made = logging.LogRecord("twap.run.steps", logging.INFO, __file__, 1, message, (), exc_info)
    made.__dict__.update(extra)
    return made


def test_a_json_line_without_a_run_has_every_key() -> None:
    # A fresh context, as a process before `runs.begin`: no run yet.
    formatted = contextvars.Context().run(logs.formatter("json").format, record("listing s3://b/p"))
    line = json.loads(formatted)

    assert list(line) == ["level", "logger", "run_id", "command", "step", "message", "time"]
    assert (line["level"], line["logger"], line["message"]) == (
        "info",
        "twap.run.steps",
        "listing s3://b/p",
    )
    assert line["run_id"] is line["command"] is line["step"] is None
    assert datetime.fromisoformat(line["time"]).utcoffset().total_seconds() == 0


def test_a_steps_json_line_carries_the_run_and_the_steps_figures() -> None:
    run = runs.begin("load")
    with runs.recording("load") as step:
        step.figures = {"objects": {"listed": 3, "loaded": 2}, "repaired_times": 1}
    line = json.loads(logs.formatter("json").format(record("load in 1s", **logs.step_fields(step))))

    assert (line["run_id"], line["command"], line["step"]) == (run.run_id, "load", "load")
    assert line["figures"] == {"objects": {"listed": 3, "loaded": 2}, "repaired_times": 1}
    assert line["seconds"] == round(step.seconds, 3)
    assert run.steps == [step] and step.ok


def test_a_failed_steps_record_says_so() -> None:
    run = runs.begin("build")
    with pytest.raises(RuntimeError), runs.recording("build"):
        raise RuntimeError("dbt failed")
    (step,) = run.steps
    assert not step.ok and step.finished_at > 0


def test_the_traceback_goes_in_its_own_key() -> None:
    try:
        raise ValueError("bad object")
    except ValueError:
        failed = record("error: bad object", exc_info=sys.exc_info())
    line = json.loads(logs.formatter("json").format(failed))

    assert line["message"] == "error: bad object"
    assert (
        line["traceback"].startswith("Traceback") and "ValueError: bad object" in line["traceback"]
    )


def test_a_text_line_is_the_time_and_the_message() -> None:
    text = logs.formatter("text").format(record("build in 3s"))
    assert text.endswith(" build in 3s") and len(text.split()[0]) == len("12:00:00")


def test_run_ids_sort_by_start_and_differ() -> None:
    first, second = runs.new_run_id(), runs.new_run_id()
    assert first != second and first[:16] == second[:16]
    assert datetime.strptime(first[:16], "%Y%m%dT%H%M%SZ")
