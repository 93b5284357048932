"""How fresh and healthy the served data is: for /-/healthz and the page banner."""

from datetime import UTC, datetime
from typing import Any

# Older than this since the last load, the banner warns (the pipeline runs hourly).
STALE_AFTER_SECONDS = 2 * 3600


def health(publication: dict[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """The publication's facts plus ages in seconds, and `status`: ok, or degraded with the problems."""
    now = now or datetime.now(UTC)
    load_age = _age(publication["last_load_at"], now)
    failed_tests = sum(n for s, n in publication["dbt_tests"].items() if s in ("fail", "error"))
    problems = []
    if publication["objects"].get("failed"):
        problems.append(f"{publication['objects']['failed']} objects failed to load")
    if failed_tests:
        problems.append(f"{failed_tests} dbt tests failed")
    if load_age is None or load_age > STALE_AFTER_SECONDS:
        problems.append("no load for over 2 hours")
    return {
        "status": "degraded" if problems else "ok",
        "problems": problems,
        "version": publication["version"],
        "published_at": publication["published_at"],
        "published_age_seconds": _age(publication["published_at"], now),
        "newest_event_at": publication["newest_event_at"],
        "data_age_seconds": _age(publication["newest_event_at"], now),
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
        f"Data up to {_when(report['newest_event_at'])}",
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
