"""How fresh and healthy the served data is: for /-/healthz and the page banner."""

import os
from datetime import UTC, datetime
from typing import Any

from twap.errors import TwapError

# Older than this since the last load, or since the newest event or fill, the data is stale
# (the pipeline runs hourly): hours, in this environment variable of `twap serve`.
STALE_AFTER_VARIABLE = "TWAP_STALE_AFTER_HOURS"
STALE_AFTER_HOURS = 2.0


def stale_after_seconds() -> int:
    """The staleness threshold `twap serve` was given, in seconds."""
    given = os.environ.get(STALE_AFTER_VARIABLE, "").strip()
    try:
        hours = float(given) if given else STALE_AFTER_HOURS
    except ValueError:
        hours = -1.0
    if not 0 < hours < float("inf"):
        raise TwapError(
            f"{STALE_AFTER_VARIABLE}={given!r} is not a number of hours above 0 (e.g. 2 or 0.5)"
        )
    return int(hours * 3600)


def health(
    publication: dict[str, Any], now: datetime | None = None, stale_after: int | None = None
) -> dict[str, Any]:
    """The publication's facts plus ages in seconds, and `status`: ok, or degraded with the
    problems; `stale` when its newest event or fill is older than `stale_after` seconds."""
    now = now or datetime.now(UTC)
    stale_after = stale_after or stale_after_seconds()
    load_age = _age(publication["last_load_at"], now)
    # Publications from before fills have no newest fill.
    newest_data_at = max(
        (t for t in (publication["newest_event_at"], publication.get("newest_fill_at")) if t),
        key=datetime.fromisoformat,
        default=None,
    )
    data_age = _age(newest_data_at, now)
    stale = data_age is None or data_age > stale_after
    failed_tests = sum(n for s, n in publication["dbt_tests"].items() if s in ("fail", "error"))
    problems = []
    if publication["objects"].get("failed"):
        problems.append(f"{publication['objects']['failed']} objects failed to load")
    if failed_tests:
        problems.append(f"{failed_tests} dbt tests failed")
    if load_age is None or load_age > stale_after:
        problems.append(f"no load for over {_span(stale_after)}")
    if stale:
        problems.append(
            f"newest event or fill {_ago(data_age)}, over {_span(stale_after)}"
            if data_age is not None
            else "no events or fills"
        )
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "stale": stale,
        "stale_after_seconds": stale_after,
        "version": publication["version"],
        "published_at": publication["published_at"],
        "published_age_seconds": _age(publication["published_at"], now),
        "newest_event_at": publication["newest_event_at"],
        "newest_fill_at": publication.get("newest_fill_at"),
        "newest_data_at": newest_data_at,
        "data_age_seconds": data_age,
        "last_load_at": publication["last_load_at"],
        "last_load_age_seconds": load_age,
        "objects": publication["objects"],
        "dbt_tests": publication["dbt_tests"],
        "dbt_run_at": publication["dbt_run_at"],
        "tables": publication["tables"],
    }


def banner(report: dict[str, Any]) -> str:
    """One line for people: how fresh the data is, and what is wrong if anything."""
    parts = [
        f"Data up to {_when(report['newest_data_at'])}",
        f"last loaded {_ago(report['last_load_age_seconds'])}",
        f"published {_ago(report['published_age_seconds'])}",
    ]
    tests = report["dbt_tests"]
    parts.append(f"dbt tests: {', '.join(f'{n} {s}' for s, n in sorted(tests.items())) or 'none'}")
    return " · ".join(parts + report["problems"])


def _age(timestamp: str | None, now: datetime) -> int | None:
    if not timestamp:
        return None
    return int((now - datetime.fromisoformat(timestamp)).total_seconds())


def _span(seconds: int) -> str:
    hours = seconds / 3600
    return f"{hours:g} hour{'' if hours == 1 else 's'}"


def _when(timestamp: str | None) -> str:
    if not timestamp:
        return "(no events)"
    return datetime.fromisoformat(timestamp).strftime("%Y-%m-%d %H:%M UTC")


def _ago(seconds: int | None) -> str:
    if seconds is None:
        return "never"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"
