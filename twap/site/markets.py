"""Readable names of markets, from the reference table shipped in the package.

Spot pairs are `@<index>` in the data (`@107` is HYPE/USDC) and HIP-3 markets `dex:SYMBOL`.
The table (twap/site/markets.csv) is read once per process: nothing is fetched at page-view
time. `twap markets` refreshes the table from Hyperliquid's info API.
"""

import csv
import json
import os
import urllib.request
from functools import cache
from pathlib import Path
from typing import Any

from twap.errors import TwapError, one_line
from twap.site import MARKETS_FILE

INFO_URL = "https://api.hyperliquid.xyz/info"
TIMEOUT_SECONDS = 30


@cache
def market_names() -> dict[str, str]:
    """coin (a spot pair `@107`, or a HIP-3 dex prefix `xyz:`) -> readable name."""
    with MARKETS_FILE.open(newline="") as rows:
        return {row["coin"]: row["name"] for row in csv.DictReader(rows)}


def market_name(coin: str) -> str | None:
    """The name people know a market by, when the coin alone does not say it."""
    names = market_names()
    if coin in names:
        return names[coin]
    dex, _, symbol = coin.partition(":")
    if not symbol:
        return None
    return f"{symbol} on {names.get(f'{dex}:', dex)}"


def _info(url: str, request: dict[str, Any]) -> Any:
    body = json.dumps(request).encode()
    headers = {"Content-Type": "application/json"}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, body, headers), timeout=TIMEOUT_SECONDS
        ) as answer:
            return json.load(answer)
    except (OSError, ValueError) as exc:
        raise TwapError(f"cannot read {request['type']} from {url}: {one_line(exc)}") from exc


def fetch_markets(url: str = INFO_URL) -> list[tuple[str, str]]:
    """(coin, name) of every spot pair known only by its index, and of every HIP-3 dex."""
    spot = _info(url, {"type": "spotMeta"})
    try:
        tokens = {token["index"]: token["name"] for token in spot["tokens"]}
        pairs = [
            (pair["name"], "/".join(tokens[index] for index in pair["tokens"]))
            for pair in sorted(spot["universe"], key=lambda pair: pair["index"])
            if pair["name"].startswith("@")
        ]
        dexes = [
            (f"{dex['name']}:", dex.get("fullName") or dex["name"])
            for dex in _info(url, {"type": "perpDexs"})
            if dex  # the first entry is the main dex: null
        ]
    except (KeyError, TypeError) as exc:
        raise TwapError(f"unexpected answer from {url}: no {one_line(exc)}") from exc
    return pairs + dexes


def write_markets(markets: list[tuple[str, str]], path: Path = MARKETS_FILE) -> None:
    """Replace the reference table in one rename."""
    partial = path.with_suffix(".csv.tmp")
    with partial.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("coin", "name"))
        writer.writerows(markets)
    os.replace(partial, path)
