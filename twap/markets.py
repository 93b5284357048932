"""Readable names of markets: spot pairs are `@<index>` in the data (`@107` is HYPE/USDC) and
HIP-3 markets `dex:SYMBOL`. The names come from a small reference table shipped with the
project (datasette/markets.csv), read once per process: nothing is fetched at page-view time."""

import csv
from functools import cache

from twap.metadata import DATASETTE_DIR

MARKETS_FILE = DATASETTE_DIR / "markets.csv"


@cache
def market_names() -> dict[str, str]:
    """coin -> readable name, from the shipped reference table."""
    with MARKETS_FILE.open(newline="") as rows:
        return {row["coin"]: row["name"] for row in csv.DictReader(rows)}


def market_name(coin: str) -> str | None:
    """The name people know a market by, when the coin alone does not say it."""
    if coin in market_names():
        return market_names()[coin]
    dex, _, symbol = coin.partition(":")
    return f"{symbol} on {dex}" if symbol else None
