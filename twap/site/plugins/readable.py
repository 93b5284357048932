"""Readable cells on every table and query page, and the same formatting as Jinja filters.

Amounts rounded, times to the minute, flags as ✓/✗, and each wallet, TWAP id and coin a link
to its page. The JSON and CSV keep the raw values.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from datasette import hookimpl
from jinja2 import Environment
from markupsafe import Markup, escape

from twap.site import formatting
from twap.site.markets import market_name
from twap.site.versions import DATABASE, live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

# Columns by what they hold (the marts, the views of twap/site/views.sql, the canned queries).
USD_COLUMNS = {
    "executed_notional",
    "executed_notional_bought",
    "executed_notional_sold",
    "remaining_notional_estimate",
    "remaining_notional_now",
    "order_notional_estimate",
    "buy_remaining_notional",
    "sell_remaining_notional",
    "coin_buy_notional_estimate",
    "coin_sell_notional_estimate",
    "executed_notional_so_far",
    "fills_executed_notional",
    "notional",
}
NET_USD_COLUMNS = {
    "executed_notional_net",
    "coin_net_notional_estimate",
    "net_next_hour",
    "net_next_day",
}
SIZE_COLUMNS = {
    "size",
    "executed_size",
    "remaining_size",
    "executed_size_so_far",
    "expected_size",
    "fills_executed_size",
    "executed_size_after",
}
PRICE_COLUMNS = {"avg_price", "reference_price", "fills_avg_price", "price"}
SHARE_COLUMNS = {"fill_ratio", "elapsed_share"}
MINUTE_COLUMNS = {"minutes", "minutes_left"}
FLAG_COLUMNS = {"reduce_only", "randomize", "is_latest_status", "is_active"}
TIME_COLUMNS = {"event_time", "as_of", "since", "fill_time"}
COIN_COLUMNS = {"coin", "favourite_coin"}
COUNT_COLUMNS = {
    "twaps",
    "twap_count",
    "active_count",
    "finished_count",
    "terminated_count",
    "error_count",
    "waiting_count",
    "unknown_status_count",
    "running_twaps",
    "buying_twaps",
    "selling_twaps",
    "twaps_started",
    "twaps_finished",
    "twaps_terminated",
    "twaps_errored",
    "fill_count",
    "slice_count",
    "twaps_without_fills",
}
SIGNIFICANT_DIGITS = 5
# The ledger's local keys (file://…), whose shared folder is the source (one version at a time).
LOCAL_KEYS_SQL = (
    "select min(object_key), max(object_key) from ingest_objects where object_key like 'file:%'"
)
_local_roots: dict[str, str] = {}


def page_url(page: str, **parameters: str | int) -> str:
    """The URL of a page of the served database (a table, row or canned query)."""
    query = "&".join(f"{name}={quote(str(value), safe='')}" for name, value in parameters.items())
    return f"/{DATABASE}/{page}" + (f"?{query}" if query else "")


def wallet_link(wallet: str) -> Markup:
    return Markup('<a class="wallet" href="{}" title="{}">{}</a>').format(
        page_url("wallet_twaps", wallet=wallet), wallet, formatting.short_wallet(wallet)
    )


def twap_link(twap_id: int) -> Markup:
    return Markup('<a class="twap" href="{}">{}</a>').format(
        page_url("twap_timeline", twap_id=twap_id), twap_id
    )


def coin_label(coin: str) -> Markup:
    """The coin with the market's name beside it when the coin alone does not say it."""
    name = market_name(coin)
    if name is None:
        return escape(coin)
    return Markup('{} <span class="market-name">{}</span>').format(coin, name)


def coin_link(coin: str) -> Markup:
    return Markup('<a class="coin" href="{}">{}</a>').format(
        page_url("active_twaps", coin=coin), coin_label(coin)
    )


def number(text: str, value: float | None = None) -> Markup:
    """A formatted number, right-aligned; negative ones marked, the raw value in the title."""
    negative = value is not None and value < 0
    return Markup('<span class="num{}" title="{}">{}</span>').format(
        " negative" if negative else "", "" if value is None else repr(value), text
    )


def time_label(value: str) -> Markup:
    return Markup('<span class="time" title="{}">{}</span>').format(
        value, formatting.utc_minute(value)
    )


def side_label(side: str) -> Markup:
    return Markup('<span class="side-{}">{}</span>').format(side, side)


CELLS: dict[str, Callable[[Any], Markup | str]] = {
    "wallet": wallet_link,
    "twap_id": twap_link,
    "side": side_label,
    **dict.fromkeys(COIN_COLUMNS, coin_link),
    **dict.fromkeys(USD_COLUMNS, lambda v: number(formatting.usd(v), v)),
    **dict.fromkeys(NET_USD_COLUMNS, lambda v: number(formatting.signed_usd(v), v)),
    **dict.fromkeys(SIZE_COLUMNS, lambda v: number(formatting.amount(v, SIGNIFICANT_DIGITS), v)),
    **dict.fromkeys(PRICE_COLUMNS, lambda v: number(formatting.amount(v, SIGNIFICANT_DIGITS), v)),
    **dict.fromkeys(SHARE_COLUMNS, lambda v: number(formatting.percent(v), v)),
    **dict.fromkeys(MINUTE_COLUMNS, lambda v: number(formatting.duration(v), v)),
    **dict.fromkeys(FLAG_COLUMNS, formatting.flag),
    **dict.fromkeys(COUNT_COLUMNS, lambda v: number(f"{v:,}", v)),
    **dict.fromkeys(TIME_COLUMNS, time_label),
}


def readable(column: str, value: Any) -> Markup | str | None:
    """How a cell of `column` reads, or None to leave it to Datasette."""
    render = CELLS.get(column)
    if render is None and column.endswith("_at") and isinstance(value, str):
        render = time_label
    if render is None:
        return None
    if value is None or value == "":
        return formatting.DASH
    try:
        return render(value)
    except (TypeError, ValueError):  # a query that names a column differently: shown as it is
        return None


def summary_and_rest(description: str) -> tuple[str, str]:
    """A description's first sentence (what a page opens with), and the rest."""
    summary, _, rest = description.strip().partition(". ")
    return (summary + "." if rest else summary), rest


async def local_root(datasette: Datasette) -> str:
    """The folder every local (file://) key of the served version shares: the source, as far
    as the published file knows it ("" without local keys)."""
    site = live_site(datasette)
    if site is None or site.served is None:
        return ""
    version = site.served.version.name
    if version not in _local_roots:
        database = site.served.database
        # A version without the ledger (a table published alone) has no local keys: never a 500.
        if await database.table_exists("ingest_objects"):
            first, last = (await database.execute(LOCAL_KEYS_SQL)).first()
        else:
            first = last = None
        shared = posixpath.commonprefix([first or "", last or ""])
        _local_roots.clear()
        _local_roots[version] = shared[: shared.rfind("/") + 1]
    return _local_roots[version]


async def local_key(datasette: Datasette, key: str) -> str:
    """A local object's key relative to the source: a page never shows where the files are."""
    root = await local_root(datasette)
    return (key.removeprefix(root) if root else "") or posixpath.basename(key)


@hookimpl
def render_cell(value: Any, column: str, datasette: Datasette) -> Any:
    if column == "object_key" and isinstance(value, str) and value.startswith("file:"):
        return local_key(datasette, value)
    return readable(column, value)


@hookimpl
def prepare_jinja2_environment(env: Environment) -> None:
    env.filters.update(
        usd=formatting.usd,
        signed_usd=formatting.signed_usd,
        amount=lambda v: formatting.amount(v, SIGNIFICANT_DIGITS),
        percent=formatting.percent,
        duration=formatting.duration,
        utc_minute=formatting.utc_minute,
        ago=formatting.ago,
        wallet_link=wallet_link,
        coin_link=coin_link,
        coin_label=coin_label,
        side_label=side_label,
        shown_name=lambda name: str(name).partition("@")[0],
        summary_and_rest=summary_and_rest,
    )
    env.globals["page_url"] = page_url
