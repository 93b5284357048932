"""How numbers, times, flags, wallets and markets read on the site's pages.

The JSON keeps the raw values. The cell renderer (twap/site/plugins/readable.py), the templates
(as Jinja filters) and the charts all format through these functions.
"""

from datetime import UTC, datetime
from math import floor, log10

DASH = "—"


def usd(value: float | None) -> str:
    """A USD amount rounded to what a trader reads: $950, $12.3k, $4.56M, $1.20B."""
    if value is None:
        return DASH
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if magnitude >= size * 0.9995:
            scaled = magnitude / size
            return f"{sign}${scaled:.{2 if scaled < 100 else 1}f}{unit}"
    return f"{sign}${magnitude:,.0f}"


def signed_usd(value: float | None) -> str:
    """A net amount with its sign shown: +$1.2M, -$40k, $0."""
    if value is None:
        return DASH
    return usd(value) if value <= 0 else f"+{usd(value)}"


def amount(value: float | None, digits: int = 4) -> str:
    """A size or price to at most `digits` significant digits (no float noise), thousands
    separated."""
    if value is None:
        return DASH
    if value == 0:
        return "0"
    decimals = max(digits - 1 - floor(log10(abs(value))), 0)
    text = f"{value:,.{decimals}f}"
    # Trailing zeros would claim a precision the number does not have.
    return text.rstrip("0").rstrip(".") if decimals else text


def percent(share: float | None) -> str:
    """A share from 0 to 1 as a whole percentage (one decimal under 10%)."""
    if share is None:
        return DASH
    value = share * 100
    return f"{value:.1f}%" if 0 < abs(value) < 10 else f"{value:.0f}%"


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as published (`...Z`), as an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def utc_minute(value: str | None) -> str:
    """A published time to the minute: `2026-07-17 10:44 UTC`."""
    if not value:
        return DASH
    return parse_time(value).strftime("%Y-%m-%d %H:%M UTC")


def duration(minutes: float | None) -> str:
    """A span of minutes as people say it: 45 min, 3 h 20 min, 2 d 4 h."""
    if minutes is None:
        return DASH
    whole = max(round(minutes), 0)
    if whole < 60:
        return f"{whole} min"
    hours, rest = divmod(whole, 60)
    if hours < 24:
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def ago(value: str | None, now: datetime | None = None) -> str:
    """How long before `now` a published time was: `12 min ago`."""
    if not value:
        return DASH
    now = now or datetime.now(UTC)
    minutes = (now - parse_time(value)).total_seconds() / 60
    return f"in {duration(-minutes)}" if minutes < 0 else f"{duration(minutes)} ago"


def flag(value: int | None) -> str:
    """A 0/1 flag as ✓ or ✗."""
    if value is None:
        return DASH
    return "✓" if value else "✗"


def short_wallet(wallet: str) -> str:
    """`0x1234…abcd`: enough to recognise a wallet; the link and its title carry it whole."""
    return f"{wallet[:6]}…{wallet[-4:]}" if len(wallet) > 12 else wallet
