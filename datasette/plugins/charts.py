"""/-/charts: daily buy vs sell executed notional per coin, and the outcome mix over time.

Drawn here as inline SVG: the browser fetches nothing else, from this server or elsewhere.
"""

from html import escape
from typing import Any

from datasette import hookimpl
from datasette.app import Datasette
from datasette.utils.asgi import Request, Response
from markupsafe import Markup

from twap.formatting import usd
from twap.live import live_site
from twap.parameters import valid

WIDTH, HEIGHT, MARGIN = 960, 260, 60
MAX_DAYS = 400
OUTCOMES = (("finished", "#2a9d8f"), ("terminated", "#e9c46a"), ("errored", "#e63946"))
FLOWS_SQL = """
select flow_date, executed_notional_bought, executed_notional_sold
from fct_coin_daily_flows where coin = :coin
order by flow_date desc limit :days
"""
OUTCOMES_SQL = """
select flow_date, sum(twaps_finished), sum(twaps_terminated), sum(twaps_errored)
from fct_coin_daily_flows
group by flow_date order by flow_date desc limit :days
"""
COINS_SQL = """
select coin from fct_coin_daily_flows
group by coin order by sum(executed_notional_bought + executed_notional_sold) desc limit 30
"""


def _frame(title: str, rows: int, top_label: str, bottom_label: str, dates: list[str]) -> list[str]:
    """The SVG start, axis labels and the first, middle and last date under the bars."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="twap-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT + 40}" width="100%"><title>{escape(title)}</title>',
        f'<text x="0" y="12" font-size="11">{escape(top_label)}</text>',
        f'<text x="0" y="{HEIGHT}" font-size="11">{escape(bottom_label)}</text>',
    ]
    step = (WIDTH - MARGIN) / max(rows, 1)
    for index in sorted({0, rows // 2, rows - 1}) if rows else []:
        x = MARGIN + index * step
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT + 20}" font-size="11">{dates[index]}</text>')
    return parts


def flows_svg(coin: str, rows: list[tuple[str, float, float]]) -> str:
    """Buy notional above the axis, sell below, one bar pair per day."""
    if not rows:
        return "<p>No flows for this coin.</p>"
    top = max(max(bought or 0, sold or 0) for _, bought, sold in rows) or 1.0
    middle, half = HEIGHT / 2, HEIGHT / 2 - 10
    step = (WIDTH - MARGIN) / len(rows)
    title = f"Daily executed notional of {coin}: buy (up) vs sell (down)"
    parts = _frame(title, len(rows), f"buy {usd(top)}", f"sell {usd(top)}", [r[0] for r in rows])
    for index, (day, bought, sold) in enumerate(rows):
        x = MARGIN + index * step
        up, down = (bought or 0) / top * half, (sold or 0) / top * half
        parts.append(
            f'<rect class="buy" x="{x:.1f}" y="{middle - up:.1f}" width="{step * 0.8:.2f}" '
            f'height="{up:.1f}" fill="#2a9d8f"><title>{day} buy {usd(bought or 0)}</title></rect>'
            f'<rect class="sell" x="{x:.1f}" y="{middle:.1f}" width="{step * 0.8:.2f}" '
            f'height="{down:.1f}" fill="#e63946"><title>{day} sell {usd(sold or 0)}</title></rect>'
        )
    parts.append(f'<line x1="{MARGIN}" x2="{WIDTH}" y1="{middle}" y2="{middle}" stroke="#333"/>')
    return "".join([*parts, "</svg>"])


def outcomes_svg(rows: list[tuple[str, int, int, int]]) -> str:
    """Share of finished, terminated and errored TWAPs among those that ended each day."""
    if not rows:
        return "<p>No TWAP has ended yet.</p>"
    step = (WIDTH - MARGIN) / len(rows)
    title = "Outcome mix of the TWAPs that ended each day"
    parts = _frame(title, len(rows), "100%", "0%", [r[0] for r in rows])
    for index, (day, *counts) in enumerate(rows):
        total, y = sum(counts) or 1, float(HEIGHT)
        for (name, colour), count in zip(OUTCOMES, counts, strict=True):
            height = count / total * (HEIGHT - 10)
            y -= height
            parts.append(
                f'<rect class="{name}" x="{MARGIN + index * step:.1f}" y="{y:.1f}" '
                f'width="{step * 0.9:.2f}" height="{height:.1f}" fill="{colour}">'
                f"<title>{day} {name} {count}</title></rect>"
            )
    return "".join([*parts, "</svg>"])


async def charts(datasette: Datasette, request: Request) -> Response:
    site = live_site(datasette)
    if site is None or site.database is None:
        return Response.text("nothing published", status=503)
    db = site.database
    coins = [row[0] for row in await db.execute(COINS_SQL)]
    coin = request.args.get("coin") or (coins[0] if coins else "")
    days = request.args.get("days") or "90"
    if not valid("coin", coin or "-") or not valid("integer", days):
        return Response.text("coin must be a coin such as BTC; days a whole number", status=400)
    days_shown = min(int(days), MAX_DAYS)
    flows = [tuple(r) for r in await db.execute(FLOWS_SQL, {"coin": coin, "days": days_shown})]
    outcomes = [tuple(r) for r in await db.execute(OUTCOMES_SQL, {"days": days_shown})]
    html = await datasette.render_template(
        "charts.html",
        {
            "coins": coins,
            "coin": coin,
            "days": days_shown,
            "flows_svg": Markup(flows_svg(coin, flows[::-1])),
            "outcomes_svg": Markup(outcomes_svg(outcomes[::-1])),
            "outcomes": OUTCOMES,
        },
        request=request,
    )
    return Response.html(html)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/charts$", charts)]
