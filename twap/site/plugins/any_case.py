"""Coin, wallet and status filters as people write them, on every page of the served database.

`coin=hype` finds HYPE, `wallet=0xAB…` the lower-case address the marts hold, and
`status=running` the running TWAPs, whose status the data spells `activated` (the word of
Hyperliquid's node, kept in the data; the pages say "running"). The canned queries compare
without case themselves; table filters are exact in Datasette, so their values are rewritten to
the stored spelling before Datasette reads them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl

from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
WALLET_PARAMETERS = {"wallet", "wallet__exact"}
COIN_PARAMETERS = {"coin", "coin__exact", "favourite_coin", "favourite_coin__exact"}
STATUS_PARAMETERS = {"status", "status__exact", "status__not", "status__in", "status__notin"}
# The pages' words for the data's statuses.
STATUS_WORDS = {"running": "activated"}
KNOWN_COINS_SQL = "select distinct coin from fct_coin_daily_flows"
# The coins of the served version by their lower-case spelling (one version at a time).
_known: dict[str, dict[str, str]] = {}


async def known_coins(datasette: Datasette) -> dict[str, str]:
    site = live_site(datasette)
    if site is None or site.served is None:
        return {}
    version = site.served.version.name
    if version not in _known:
        rows = await site.served.database.execute(KNOWN_COINS_SQL)
        _known.clear()
        _known[version] = {row[0].lower(): row[0] for row in rows}
    return _known[version]


async def stored_spelling(datasette: Datasette, query_string: bytes) -> bytes:
    """The query string with coin and wallet values spelled as the data spells them."""
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    names = {name for name, _ in pairs}
    if not names & (WALLET_PARAMETERS | COIN_PARAMETERS | STATUS_PARAMETERS):
        return query_string
    coins = await known_coins(datasette) if names & COIN_PARAMETERS else {}
    spelled = [
        (
            name,
            value.lower()
            if name in WALLET_PARAMETERS
            else coins.get(value.lower(), value)
            if name in COIN_PARAMETERS
            else status_words(value)
            if name in STATUS_PARAMETERS
            else value,
        )
        for name, value in pairs
    ]
    return urlencode(spelled).encode("latin-1")


def status_words(value: str) -> str:
    """`running` as the data spells it, also in a comma-separated `status__in` list."""
    return ",".join(STATUS_WORDS.get(word.strip().lower(), word) for word in value.split(","))


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[App], App]:
    def wrap(app: App) -> App:
        async def any_case(scope: dict[str, Any], receive: Any, send: Any) -> None:
            site = live_site(datasette)
            on_site = site is not None and scope.get("path", "").startswith(f"/{site.route}/")
            if scope.get("type") == "http" and on_site and scope.get("query_string"):
                scope = {
                    **scope,
                    "query_string": await stored_spelling(datasette, scope["query_string"]),
                }
            await app(scope, receive, send)

        return any_case

    return wrap
