"""How `twap` log lines look: the readable one-line form, or one JSON object per line for log
aggregation (`--log-format json`, TWAP_LOG_FORMAT)."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from twap.observe import runs

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(message)s"
TEXT_TIME = "%H:%M:%S"


def step_fields(record: runs.StepRecord) -> dict[str, Any]:
    """What a step's line carries besides its message (the `extra` of its log record)."""
    return {"step": record.name, "seconds": round(record.seconds, 3), "figures": record.figures}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, the run's id and command, the step
    and its figures when the line is a step's, the message, and the traceback under --debug.

    The message is the text line's, so anything kept out of the text (passwords, keys) stays out
    of the JSON too.
    """

    def format(self, record: logging.LogRecord) -> str:
        run = runs.current()
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "run_id": run.run_id if run else None,
            "command": run.command if run else None,
            "step": getattr(record, "step", None),
            "message": record.getMessage(),
        }
        for name in ("seconds", "figures"):
            if hasattr(record, name):
                line[name] = getattr(record, name)
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter of `log_format`, one of LOG_FORMATS."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT, datefmt=TEXT_TIME)
