"""/-/charts: flows, pressure and outcomes per coin as inline SVG.

Daily buy, sell and net executed notional per coin, the net pressure of the running TWAPs per
coin, and the outcome mix over time, with axes and gridlines. Drawn here as inline SVG: the
browser fetches nothing else, from this server or elsewhere.
"""

from __future__ import annotations

from html import escape
from math import floor, log10
from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Request, Response
from markupsafe import Markup

from twap.site.formatting import signed_usd, usd
from twap.site.parameters import valid
from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

WIDTH, HEIGHT, MARGIN = 960, 260, 70
# Dates written under a chart at most (every n-th day on long ones).
DATE_LABELS = 8
# The outer labels of a horizontal axis stay inside the chart.
ANCHORS = {-1: "start", -0.5: "middle", 0: "middle", 0.5: "middle", 1: "end"}
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
PRESSURE_SQL = """
select coin, net_next_hour, net_next_day from coin_pressure_now
order by abs(net_next_hour) desc, abs(net_next_day) desc, coin limit 30
"""
# The data's clock: its newest day is still filling (the day so far), however old it is.
NEWEST_EVENT_SQL = "select max(event_time) from fct_twap_status_events"
PARTIAL_OPACITY = 0.45
COINS_SQL = """
select coin from fct_coin_daily_flows
group by coin order by sum(executed_notional_bought + executed_notional_sold) desc limit 30
"""


def nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 4, 5, 6 or 8 times a power of ten at or above `value`, so that
    the ticks (top and half of it) are round."""
    if value <= 0:
        return 1.0
    power = 10 ** floor(log10(value))
    return next(step * power for step in (1, 2, 2.5, 4, 5, 6, 8, 10) if step * power >= value)


def _frame(title: str, height: int, ticks: list[tuple[float, str]], dates: list[str]) -> list[str]:
    """The SVG start, a gridline and label at each (y, label) tick, and up to eight dates under
    the columns (one per day, left to right)."""
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="twap-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height + 30}" width="100%"><title>{escape(title)}</title>'
    ]
    for y, label in ticks:
        parts.append(
            f'<line class="grid" x1="{MARGIN}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#ddd"/><text x="{MARGIN - 6}" y="{y + 4:.1f}" font-size="11" '
            f'text-anchor="end">{escape(label)}</text>'
        )
    step = (WIDTH - MARGIN) / max(len(dates), 1)
    every = max(1, -(-len(dates) // DATE_LABELS))
    for index in range(0, len(dates), every):
        x = MARGIN + index * step
        parts.append(
            f'<text x="{x:.1f}" y="{height + 20}" font-size="11">{dates[index][5:]}</text>'
        )
    return parts


def partial_mark(
    day: str, partial: str | None, x: float, width: float
) -> tuple[str, str, str, str]:
    """For the day in progress: its bars' extra class, attribute and title note, and its label
    drawn above the column; all empty for a whole day."""
    if day != partial:
        return "", "", "", ""
    label = (
        f'<text class="partial-label" x="{x + width / 2:.1f}" y="12" font-size="11" '
        'text-anchor="middle">so far</text>'
    )
    return " partial", f' fill-opacity="{PARTIAL_OPACITY}"', " (so far)", label


def flows_svg(coin: str, rows: list[tuple[str, float, float]], partial: str | None = None) -> str:
    """Buy notional above the axis, sell below, one bar pair per day, and the net as a line;
    the `partial` day (the data's newest) pale and labelled "so far"."""
    if not rows:
        return "<p>No flows for this coin.</p>"
    top = nice_top(max(max(bought or 0, sold or 0) for _, bought, sold in rows))
    middle, half = HEIGHT / 2, HEIGHT / 2 - 10
    ticks = [(middle - share * half, usd(share * top)) for share in (1, 0.5, 0, -0.5, -1)]
    step = (WIDTH - MARGIN) / len(rows)
    title = f"Daily executed notional of {coin}: buy (up), sell (down) and net (line)"
    parts = _frame(title, HEIGHT, ticks, [r[0] for r in rows])
    net_points = []
    for index, (day, bought, sold) in enumerate(rows):
        x = MARGIN + index * step
        up, down = (bought or 0) / top * half, (sold or 0) / top * half
        net = (bought or 0) - (sold or 0)
        extra, faded, note, label = partial_mark(day, partial, x, step * 0.8)
        parts.append(
            f'<rect class="buy{extra}" x="{x:.1f}" y="{middle - up:.1f}" '
            f'width="{step * 0.8:.2f}" height="{up:.1f}" fill="#2a9d8f"{faded}>'
            f"<title>{day} buy {usd(bought or 0)}{note}</title></rect>"
            f'<rect class="sell{extra}" x="{x:.1f}" y="{middle:.1f}" width="{step * 0.8:.2f}" '
            f'height="{down:.1f}" fill="#e63946"{faded}>'
            f"<title>{day} sell {usd(sold or 0)}{note}</title></rect>{label}"
        )
        net_points.append(f"{x + step * 0.4:.1f},{middle - net / top * half:.1f}")
    parts.append(f'<line x1="{MARGIN}" x2="{WIDTH}" y1="{middle}" y2="{middle}" stroke="#333"/>')
    parts.append(
        f'<polyline class="net" points="{" ".join(net_points)}" fill="none" stroke="#222" '
        'stroke-width="1.5"/>'
    )
    return "".join([*parts, "</svg>"])


def outcomes_svg(rows: list[tuple[str, int, int, int]], partial: str | None = None) -> str:
    """Share of finished, terminated and errored TWAPs among those that ended each day; the
    `partial` day pale and labelled "so far"."""
    if not rows:
        return "<p>No TWAP has ended yet.</p>"
    step = (WIDTH - MARGIN) / len(rows)
    title = "Outcome mix of the TWAPs that ended each day"
    usable = HEIGHT - 10
    ticks = [(HEIGHT - share * usable, f"{share:.0%}") for share in (0, 0.25, 0.5, 0.75, 1)]
    parts = _frame(title, HEIGHT, ticks, [r[0] for r in rows])
    for index, (day, *counts) in enumerate(rows):
        total, y, x = sum(counts) or 1, float(HEIGHT), MARGIN + index * step
        extra, faded, note, label = partial_mark(day, partial, x, step * 0.9)
        for (name, colour), count in zip(OUTCOMES, counts, strict=True):
            height = count / total * usable
            y -= height
            parts.append(
                f'<rect class="{name}{extra}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{step * 0.9:.2f}" height="{height:.1f}" fill="{colour}"{faded}>'
                f"<title>{day} {name} {count}{note}</title></rect>"
            )
        parts.append(label)
    return "".join([*parts, "</svg>"])


def pressure_svg(rows: list[tuple[str, float, float]]) -> str:
    """Net pressure of the running TWAPs per coin: next hour (dark) and next day (light) bars,
    buying to the right of the axis, selling to the left."""
    if not rows:
        return "<p>No TWAP is running.</p>"
    row_height, label_width = 26, 110
    height = len(rows) * row_height + 10
    top = nice_top(max(max(abs(hour), abs(day)) for _, hour, day in rows))
    middle = label_width + (WIDTH - label_width) / 2
    half = (WIDTH - label_width) / 2 - 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="twap-chart" role="img" '
        f'viewBox="0 0 {WIDTH} {height + 20}" width="100%">'
        "<title>Net pressure of the running TWAPs per coin: next hour and next day</title>"
    ]
    for share in (-1, -0.5, 0, 0.5, 1):
        x = middle + share * half
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" '
            f'stroke="{"#333" if share == 0 else "#ddd"}"/><text x="{x:.1f}" y="{height + 14}" '
            f'font-size="11" text-anchor="{ANCHORS[share]}">{escape(signed_usd(share * top))}</text>'
        )
    for index, (coin, hour, day) in enumerate(rows):
        y = 5 + index * row_height
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 16}" font-size="12" text-anchor="end">'
            f"{escape(coin)}</text>"
        )
        for value, offset, thickness, colour, window in (
            (day, 2, 18, "#b7d7e8", "next day"),
            (hour, 7, 8, "#1d3557", "next hour"),
        ):
            width = abs(value) / top * half
            x = middle if value >= 0 else middle - width
            parts.append(
                f'<rect class="pressure" x="{x:.1f}" y="{y + offset}" width="{width:.1f}" '
                f'height="{thickness}" fill="{colour}"><title>{escape(coin)} {window} '
                f"{signed_usd(value)}</title></rect>"
            )
    return "".join([*parts, "</svg>"])


async def charts(datasette: Datasette, request: Request) -> Response:
    site = live_site(datasette)
    if site is None or site.served is None:
        return Response.text("nothing published", status=503)
    db = site.served.database
    coins = [row[0] for row in await db.execute(COINS_SQL)]
    coin = request.args.get("coin") or (coins[0] if coins else "")
    days = request.args.get("days") or "90"
    if not valid("coin", coin or "-") or not valid("integer", days):
        return Response.text("coin must be a coin such as BTC; days a whole number", status=400)
    days_shown = min(int(days), MAX_DAYS)
    # Any case: `hype` is HYPE.
    coin = next((known for known in coins if known.lower() == coin.lower()), coin)
    flows = [tuple(r) for r in await db.execute(FLOWS_SQL, {"coin": coin, "days": days_shown})]
    outcomes = [tuple(r) for r in await db.execute(OUTCOMES_SQL, {"days": days_shown})]
    pressure = [tuple(r) for r in await db.execute(PRESSURE_SQL)]
    newest = (await db.execute(NEWEST_EVENT_SQL)).first()[0]
    html = await datasette.render_template(
        "charts.html",
        {
            "coins": coins,
            "coin": coin,
            "days": days_shown,
            "flows_svg": Markup(flows_svg(coin, flows[::-1], newest and newest[:10])),
            "outcomes_svg": Markup(outcomes_svg(outcomes[::-1], newest and newest[:10])),
            "newest_event": newest,
            "pressure_svg": Markup(pressure_svg(pressure)),
            "outcomes": OUTCOMES,
        },
        request=request,
    )
    return Response.html(html)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/charts$", charts)]
