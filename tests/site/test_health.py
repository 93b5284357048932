"""The health report and the page banner (twap/site/health.py), from a publication alone; and
`twap serve` refusing a bad staleness threshold."""

import dataclasses
from datetime import UTC, datetime

import pytest

from tests.conftest import Twap
from twap.errors import TwapError
from twap.site.health import STALE_AFTER_VARIABLE, banner, health, stale_after_seconds

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def publication(**changes: object) -> dict:
    return {
        "version": "20261207T110000.000000Z",
        "published_at": "2026-12-07T11:00:00+00:00",
        "newest_event_at": "2026-12-07T10:30:00+00:00",
        "last_load_at": "2026-12-07T11:55:00+00:00",
        "objects": {"loaded": 24, "failed": 0},
        "dbt_tests": {"pass": 83},
        "dbt_run_at": "2026-12-07T10:58:00+00:00",
        "tables": {"fct_twaps": 10},
        **changes,
    }


def test_a_fresh_clean_publication_is_ok_with_its_ages() -> None:
    report = health(publication(), NOW)
    assert report["status"] == "ok" and report["problems"] == []
    assert report["data_age_seconds"] == 5400
    assert report["last_load_age_seconds"] == 300
    assert report["published_age_seconds"] == 3600


def test_failures_and_staleness_are_problems() -> None:
    stale = publication(
        objects={"loaded": 20, "failed": 2},
        dbt_tests={"pass": 80, "fail": 2, "error": 1},
        last_load_at="2026-12-07T09:00:00+00:00",
    )
    report = health(stale, NOW)
    assert report["status"] == "degraded"
    assert report["problems"] == [
        "2 objects failed to load",
        "3 dbt tests failed",
        "no load for over 2 hours",
    ]
    assert health(publication(last_load_at=None), NOW)["problems"] == ["no load for over 2 hours"]


def test_the_banner_says_freshness_in_words() -> None:
    line = banner(health(publication(), NOW))
    assert line == (
        "Data up to 2026-12-07 10:30 UTC · last loaded 5 minutes ago · published 1 hour ago"
        " · dbt tests: 83 pass"
    )


def test_old_events_and_fills_are_stale_past_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    old = publication(
        newest_event_at="2026-12-07T09:00:00+00:00", newest_fill_at="2026-12-07T09:30:00+00:00"
    )
    report = health(old, NOW)
    assert report["status"] == "degraded" and report["stale"]
    assert report["problems"] == ["newest event or fill 2 hours ago, over 2 hours"]
    assert report["newest_data_at"] == "2026-12-07T09:30:00+00:00"
    assert banner(report).startswith("Data up to 2026-12-07 09:30 UTC")
    # A fresh fill is data too; the threshold is a setting of `twap serve`.
    assert health({**old, "newest_fill_at": "2026-12-07T11:00:00+00:00"}, NOW)["status"] == "ok"
    monkeypatch.setenv(STALE_AFTER_VARIABLE, "3")
    assert health(old, NOW)["status"] == "ok"
    monkeypatch.setenv(STALE_AFTER_VARIABLE, "0.5")
    assert stale_after_seconds() == 1800
    # A publication from before fills has no newest fill.
    assert health(publication(newest_fill_at=None), NOW)["newest_data_at"] == (
        "2026-12-07T10:30:00+00:00"
    )


@pytest.mark.parametrize("given", ["soon", "0", "-1", "inf"])
def test_a_bad_threshold_is_one_line(monkeypatch: pytest.MonkeyPatch, given: str) -> None:
    monkeypatch.setenv(STALE_AFTER_VARIABLE, given)
    with pytest.raises(TwapError, match=f"{STALE_AFTER_VARIABLE}='{given}' is not a number"):
        stale_after_seconds()


def test_serve_refuses_a_bad_threshold_in_one_line(site: Twap) -> None:
    bad = dataclasses.replace(site, env={**site.env, STALE_AFTER_VARIABLE: "soon"})
    result = bad("serve", "--port", "0", check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert f"{STALE_AFTER_VARIABLE}='soon' is not a number of hours above 0" in result.stderr
