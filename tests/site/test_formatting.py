"""How numbers, times and flags read on the pages (twap/site/formatting.py)."""

from datetime import UTC, datetime

import pytest

from twap.site import formatting


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (29698153.828167003, "$29.70M"),
        (1_234_567_890, "$1.23B"),
        (123_456.7, "$123.5k"),
        (999.6, "$1.00k"),
        (950.4, "$950"),
        (-40_000, "-$40.00k"),
        (0, "$0"),
        (None, "—"),
    ],
)
def test_usd(value: float | None, text: str) -> None:
    assert formatting.usd(value) == text


def test_signed_usd_shows_the_direction() -> None:
    assert [formatting.signed_usd(v) for v in (51516.6, -3084.7, 0)] == [
        "+$51.52k",
        "-$3.08k",
        "$0",
    ]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (6533.22, "6,533.2"),
        (0.00862, "0.00862"),
        (40.7560001, "40.756"),
        (95000.123, "95,000"),
        (0.0, "0"),
    ],
)
def test_amounts_have_five_significant_digits_at_most(value: float, text: str) -> None:
    assert formatting.amount(value, 5) == text


def test_durations_times_shares_and_flags() -> None:
    assert [formatting.duration(m) for m in (4.6, 60, 200, 1440, 1530)] == [
        "5 min",
        "1 h",
        "3 h 20 min",
        "1 d",
        "1 d 1 h",
    ]
    assert formatting.utc_minute("2026-07-17T10:44:02.033000Z") == "2026-07-17 10:44 UTC"
    now = datetime(2026, 7, 17, 11, 0, tzinfo=UTC)
    assert formatting.ago("2026-07-17T10:44:02.033000Z", now) == "16 min ago"
    assert formatting.ago("2026-07-17T12:00:00Z", now) == "in 1 h"
    assert [formatting.percent(s) for s in (0.6709, 0.0512, 1, 0)] == ["67%", "5.1%", "100%", "0%"]
    assert [formatting.flag(v) for v in (1, 0, None)] == ["✓", "✗", "—"]
    assert formatting.short_wallet("0xa6a3a4506513270e269e0d37f2a74de452e6b438") == "0xa6a3…b438"
