"""What the trader pages show besides Datasette's own: the dashboard, the summaries, the
canned queries' forms and next pages.

The dashboard on the home page (coins by net pressure, the `coins_now` canned query), and a
summary above the rows of a coin's running TWAPs, a wallet's TWAPs and a TWAP's timeline. Each
summary is one indexed lookup, through the served version's database (so bounded like any
query) and only on HTML pages. A canned query's page offers its fixed choices as selects and
links its next page (its JSON's next link: next_links.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from datasette import hookimpl
from datasette.utils.asgi import Request

from twap.site.parameters import CHOICES, valid
from twap.site.plugins.readable import local_root
from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

# The canned query whose rows the home page shows; its JSON is the dashboard's API.
DASHBOARD_QUERY = "coins_now"
# For the pages of some canned queries: (template variable, parameter and its type, SQL).
SUMMARIES = {
    "active_twaps": (
        "coin_summary",
        ("coin", "coin"),
        "select * from coin_pressure_now where lower(coin) = lower(:coin)",
    ),
    "wallet_twaps": (
        "wallet_summary",
        ("wallet", "wallet"),
        "select * from dim_wallets where wallet = lower(:wallet)",
    ),
    "twap_timeline": (
        "twap_summary",
        ("twap_id", "integer"),
        """
        select twaps.*, running.elapsed_share, running.expected_size
        from fct_twaps as twaps
        left join running_twaps as running on twaps.twap_id = running.twap_id
        where twaps.twap_id = cast(:twap_id as integer)
        """,
    ),
}
# A TWAP page's fills in time order, for its progress line and its slices (bounded: a day
# long TWAP has 2,880 slices).
FILLS_SHOWN = 3000
TWAP_FILLS_SQL = f"""
select fill_time, price, size, notional, fee, executed_size_after, oid
from fct_twap_fills
where twap_id = cast(:twap_id as integer)
order by fill_time, tid
limit {FILLS_SHOWN}
"""
# The progress chart's drawing area (SVG units).
CHART_WIDTH, CHART_HEIGHT = 600, 160


async def one_row(datasette: Datasette, sql: str, params: dict[str, Any]) -> dict | None:
    site = live_site(datasette)
    if site is None or site.served is None:
        return None
    rows = (await site.served.database.execute(sql, params)).rows
    return dict(rows[0]) if rows else None


async def dashboard(datasette: Datasette, request: Request) -> dict[str, Any]:
    site = live_site(datasette)
    if site is None or site.served is None:
        return {}
    database = site.served.database
    query = await datasette.get_canned_query(database.name, DASHBOARD_QUERY, request.actor)
    results = await database.execute(query["sql"], {})
    return {"dashboard_query": query, "dashboard_rows": [dict(row) for row in results.rows]}


def next_page(path: str, query_string: str, keyset: dict, rows: list[dict], keep: bool) -> str:
    """The next page of a keyset-paged canned query (its `next_page` in queries.yml): the
    parameters each set to the last row's column, when the page is full; `keep`: with the
    `_shape`-like options too (the JSON's link), or without (the page's)."""
    given = parse_qsl(query_string, keep_blank_values=True)
    page_size = dict(given).get("page_size") or "100"
    if not keyset or not page_size.isdigit() or len(rows) < int(page_size):
        return ""
    args = {name: value for name, value in given if keep or not name.startswith("_")}
    args.update({parameter: rows[-1][column] for parameter, column in keyset.items()})
    return f"{path}?{urlencode(args)}"


def next_page_url(request: Request, query: dict[str, Any], rows: list, columns: list[str]) -> str:
    """The page's next-page link (query.html)."""
    as_dicts = [dict(zip(columns, row, strict=True)) for row in rows]
    keyset = query.get("next_page") or {}
    return next_page(request.path, request.query_string, keyset, as_dicts, keep=False)


async def query_page(datasette: Datasette, request: Request) -> dict[str, Any]:
    name = request.url_vars.get("table", "")
    site = live_site(datasette)
    if site is None or site.served is None:
        return {}
    query = await datasette.get_canned_query(site.served.database.name, name, request.actor) or {}
    parameters = query.get("parameters") or {}
    found: dict[str, Any] = {
        "next_page_url": lambda rows, columns: next_page_url(request, query, rows, columns),
        # Parameters of fixed words: a select of them, not a box to guess them in.
        "parameter_choices": {
            name: CHOICES[spec["type"]]
            for name, spec in parameters.items()
            if spec.get("type") in CHOICES
        },
    }
    if name in SUMMARIES:
        variable, (parameter, kind), sql = SUMMARIES[name]
        value = request.args.get(parameter, "")
        # Checked again here: the guard refuses a bad value, but only once the page has asked.
        if value and valid(kind, value):
            found[variable] = await one_row(datasette, sql, {parameter: value})
    twap = found.get("twap_summary")
    if name == "twap_timeline" and twap:
        database = site.served.database
        fills = [
            dict(row)
            for row in (await database.execute(TWAP_FILLS_SQL, {"twap_id": twap["twap_id"]})).rows
        ]
        found["twap_fills"] = fills
        found["twap_progress"] = progress(twap, fills)
    return found


def progress(twap: dict[str, Any], fills: list[dict]) -> dict[str, Any] | None:
    """A TWAP's executed size over time (a step line through its fills) against even
    execution from its start to its planned end, as SVG polyline points; None without fills."""
    if not fills or not twap["started_at"] or not twap["minutes"] or not twap["size"]:
        return None
    start = datetime.fromisoformat(twap["started_at"])
    end = start + timedelta(minutes=twap["minutes"])
    last = max(end, datetime.fromisoformat(fills[-1]["fill_time"]))
    span = (last - start).total_seconds()
    top = max(twap["size"], fills[-1]["executed_size_after"])

    def point(at: datetime, size: float) -> str:
        x = CHART_WIDTH * (at - start).total_seconds() / span
        return f"{x:.1f},{CHART_HEIGHT * (1 - size / top):.1f}"

    executed, before = [point(start, 0)], 0.0
    for fill in fills:
        at = datetime.fromisoformat(fill["fill_time"])
        executed += [point(at, before), point(at, fill["executed_size_after"])]
        before = fill["executed_size_after"]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "executed": " ".join(executed),
        "even": f"{point(start, 0)} {point(end, twap['size'])}",
        "from": twap["started_at"],
        "to": last.isoformat(),
        "top": top,
    }


@hookimpl
def extra_template_vars(template: str, request: Request, datasette: Datasette) -> Any:
    if request is None:
        return {}
    if template == "index.html":
        return dashboard(datasette, request)
    if template == "query.html":
        return query_page(datasette, request)
    if template in ("table.html", "row.html"):
        return table_page(datasette)
    return {}


async def table_page(datasette: Datasette) -> dict[str, Any]:
    # Cells, row links and facets show local keys whole: table.html and row.html cut
    # their shared folder.
    return {"local_root": await local_root(datasette)}
