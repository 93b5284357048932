"""The types of canned-query parameters (twap/site/queries.yml) and how values are checked."""

import re
from datetime import date

MAX_PAGE_SIZE = 1000
# Types of a few fixed words, the first the default: the pages offer them as a select.
CHOICES = {"window": ("day", "week", "month"), "rank": ("notional", "net_buy", "net_sell")}
TYPES = {
    "wallet": (r"0x[0-9a-fA-F]{40}", "a wallet address: 0x and 40 hex digits"),
    "coin": (r"[A-Za-z0-9@:._/-]{1,40}", "a coin such as BTC, @107 or xyz:NVDA"),
    "integer": (r"\d{1,18}", "a whole number"),
    "number": (r"\d{1,20}(\.\d{1,20})?([eE][+-]?\d{1,3})?", "a number of USD, e.g. 1234.5"),
    "date": (r"\d{4}-\d{2}-\d{2}", "a date as YYYY-MM-DD"),
    "page_size": (r"\d{1,4}", f"a page size from 1 to {MAX_PAGE_SIZE}"),
    "window": (
        "|".join(CHOICES["window"]),
        "day, week or month (the last 1, 7 or 30 days of data)",
    ),
    "rank": ("|".join(CHOICES["rank"]), "notional, net_buy or net_sell"),
}


def problem(parameters: dict[str, dict], given: dict[str, str], json: bool) -> str | None:
    """What is wrong with the `given` values, in one line, or None."""
    unknown = sorted(name for name in given if not name.startswith("_") and name not in parameters)
    if unknown:
        return f"unknown parameter {', '.join(unknown)}: this query takes {', '.join(parameters)}"
    for name, spec in parameters.items():
        value = given.get(name, "")
        if not value:
            # The HTML page without parameters shows the empty form; the JSON API needs them.
            if spec.get("required") and (json or given):
                return f"{name} is required: {TYPES[spec['type']][1]}"
            continue
        if not valid(spec["type"], value):
            return f"{name}={value[:60]!r} is not {TYPES[spec['type']][1]}"
    return None


def valid(kind: str, value: str) -> bool:
    """Whether `value` is of the parameter type `kind`."""
    return bool(re.fullmatch(TYPES[kind][0], value)) and _in_range(kind, value)


def _in_range(kind: str, value: str) -> bool:
    if kind == "page_size":
        return 1 <= int(value) <= MAX_PAGE_SIZE
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
    return True
