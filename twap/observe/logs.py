"""How `twap` log lines look: the readable one-line form, or one JSON object per line for log
aggregation (`--log-format json`, TWAP_LOG_FORMAT)."""

import logging
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from twap.observe import runs

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(message)s"
TEXT_TIME = "%H:%M:%S"
# Every JSON line has these keys (None where they do not apply), then a step's `seconds` and
# `figures`, the traceback under --debug, and the time (UTC).
JSON_FIELDS = ["levelname", "name", "run_id", "command", "step", "message"]
JSON_NAMES = {"levelname": "level", "name": "logger", "exc_info": "traceback"}


def step_fields(record: runs.StepRecord) -> dict[str, Any]:
    """What a step's line carries besides its message (the `extra` of its log record)."""
    return {"step": record.name, "seconds": round(record.seconds, 3), "figures": record.figures}


class RunJsonFormatter(JsonFormatter):
    """python-json-logger's JSON lines, with the run's id and command and a lower-case level.

    The message is the text line's, so anything kept out of the text (passwords, keys) stays out
    of the JSON too.
    """

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        run = runs.current()
        log_data["level"] = record.levelname.lower()
        log_data["run_id"] = run.run_id if run else None
        log_data["command"] = run.command if run else None


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of `log_format`, one of LOG_FORMATS."""
    if log_format == "json":
        return RunJsonFormatter(JSON_FIELDS, rename_fields=JSON_NAMES, timestamp="time")
    return logging.Formatter(TEXT_FORMAT, datefmt=TEXT_TIME)
