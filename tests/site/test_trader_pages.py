"""The trader's views through Datasette's in-process client: the dashboard's coins by net
pressure and a coin's running TWAPs (JSON checked against figures computed here from the marts
in PostgreSQL), wallet and TWAP pages, links, readable cells, hidden SQL, next-page links."""

import html
import re
import urllib.parse
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pytest

from tests.conftest import Twap
from tests.site.test_datasette import Client
from twap.site.formatting import usd

# The pressure windows in minutes.
PRESSURE_MINUTES = {"hour": 60, "day": 1440}


@pytest.fixture(scope="module")
def client(site: Twap) -> Client:
    return Client(site.home / "twap.db")


def expected_running(site: Twap) -> tuple[datetime, list[dict[str, Any]]]:
    """Each running TWAP's time left and net flows, computed here from the marts: what is left
    (fct_twaps' remaining notional) executes evenly until its planned end, as of the newest
    event or fill."""
    as_of = site.query(
        "select greatest((select max(event_time) from marts.fct_twap_status_events),"
        " (select max(fill_time) from marts.fct_twap_fills))"
    )[0][0]
    rows = site.query(
        "select twap_id, coin, side, started_at, minutes, expected_end_at, "
        "remaining_notional_estimate from marts.fct_active_twaps"
    )
    running = []
    for twap_id, coin, side, started, minutes, end, remaining in rows:
        left = max((end - as_of).total_seconds() / 60, 0)
        due = {
            window: min(left, span) / left if left else 0
            for window, span in PRESSURE_MINUTES.items()
        }
        direction = 1 if side == "buy" else -1
        value = float(remaining) if isinstance(remaining, Decimal) else remaining
        running.append(
            {
                "twap_id": twap_id,
                "coin": coin,
                "side": side,
                "minutes_left": left,
                "elapsed_share": min(max((as_of - started).total_seconds() / 60 / minutes, 0), 1),
                **{
                    w: None if value is None else direction * value * due[w]
                    for w in PRESSURE_MINUTES
                },
            }
        )
    return as_of, running


def test_coins_now_ranks_coins_by_net_pressure(client: Client, site: Twap) -> None:
    as_of, running = expected_running(site)
    coins = client.json("/twap/coins_now.json?_shape=array")
    assert {c["coin"] for c in coins} == {r["coin"] for r in running} and coins
    for coin in coins:
        mine = [r for r in running if r["coin"] == coin["coin"]]
        assert coin["running_twaps"] == len(mine)
        assert coin["buying_twaps"] == sum(r["side"] == "buy" for r in mine)
        for window, column in (("hour", "net_next_hour"), ("day", "net_next_day")):
            expected = sum(r[window] or 0 for r in mine)
            assert coin[column] == pytest.approx(expected, rel=1e-6, abs=0.01), coin["coin"]
        assert coin["as_of"] == as_of.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    nets = [abs(c["net_next_hour"]) for c in coins]
    assert nets == sorted(nets, reverse=True)
    # The sample has running TWAPs that end in more than an hour: the day differs from the hour.
    assert any(abs(c["net_next_day"]) > abs(c["net_next_hour"]) for c in coins)


def test_a_coins_running_twaps_largest_first_in_any_case(client: Client, site: Twap) -> None:
    _as_of, running = expected_running(site)
    coin = max({r["coin"] for r in running}, key=lambda c: sum(r["coin"] == c for r in running))
    path = "/twap/active_twaps.json?_shape=array&page_size=1000&coin="
    rows = client.json(path + coin)
    assert rows == client.json(path + coin.lower()) == client.json(path + coin.upper())
    assert {r["twap_id"] for r in rows} == {r["twap_id"] for r in running if r["coin"] == coin}
    sizes = [r["order_notional_estimate"] for r in rows]
    assert sizes == sorted(sizes, reverse=True)
    expected = {r["twap_id"]: r for r in running}
    for row in rows:
        mine = expected[row["twap_id"]]
        assert row["elapsed_share"] == pytest.approx(mine["elapsed_share"], abs=1e-6)
        assert row["minutes_left"] == pytest.approx(mine["minutes_left"], abs=1e-3)
    assert any(0 < row["elapsed_share"] < 1 for row in rows)


def links(html: str, kind: str) -> list[str]:
    """The targets of the page's links of a kind (`wallet`, `twap`, `coin`)."""
    return re.findall(rf'<a class="{kind}" href="([^"]+)"', html)


def test_home_page_is_the_dashboard(client: Client, site: Twap) -> None:
    home = client.get("/").text
    coins = client.json("/twap/coins_now.json?_shape=array")
    # The coins in the JSON's order, each a link to its running TWAPs.
    shown = [re.search(r"coin=([^&\"]+)", link).group(1) for link in links(home, "coin")]
    assert [urllib.parse.unquote(coin) for coin in shown] == [c["coin"] for c in coins]
    # The sample's data is months old: what runs is as of its time, not now.
    assert "Running as of" in home and "Running TWAPs by coin" not in home
    assert "Net next hour" in home


def test_wallet_page_totals_history_and_next_page(client: Client, site: Twap) -> None:
    wallet, count, bought = site.query(
        "select wallet, twap_count, executed_notional_bought::float8 from marts.dim_wallets "
        "order by twap_count desc limit 1"
    )[0]
    page = client.get(f"/twap/wallet_twaps?wallet={wallet.upper().replace('0X', '0x')}&page_size=5")
    assert page.status_code == 200
    assert 'id="wallet-summary"' in page.text and f"{count:,}" in page.text
    assert usd(bought) in page.text
    ids = [
        r[0]
        for r in site.query(
            "select twap_id from marts.fct_twaps where wallet = %s order by twap_id desc limit 10",
            (wallet,),
        )
    ]
    assert [int(link.split("=")[-1]) for link in links(page.text, "twap")] == ids[:5]
    next_url = re.search(r'<a class="next-page" href="([^"]+)"', page.text).group(1)
    following = client.get(html.unescape(next_url)).text
    assert [int(link.split("=")[-1]) for link in links(following, "twap")] == ids[5:10]


def test_twap_page_timeline_and_progress(client: Client, site: Twap) -> None:
    twap_id, wallet = site.query(
        "select twap_id, wallet from marts.fct_active_twaps order by twap_id limit 1"
    )[0]
    page = client.get(f"/twap/twap_timeline?twap_id={twap_id}").text
    assert 'id="twap-summary"' in page and 'class="progress"' in page
    # No fills in this sample: its executed size is its last status, what is left an estimate.
    assert "no fills loaded" in page and "No fills loaded for this TWAP" in page
    left = re.search(r'id="twap-remaining"><dt>Left \(estimate\)</dt><dd>(.*?)</dd>', page)
    assert "≈$" in left.group(1) and "≈$0 " not in left.group(1)
    assert f"/twap/wallet_twaps?wallet={wallet}" in links(page, "wallet")[0]
    rows = client.json(f"/twap/twap_timeline.json?_shape=array&twap_id={twap_id}")
    assert [r["status"] for r in rows] == ["activated"]


def test_cells_are_readable_and_link_wallets_twaps_and_coins(client: Client) -> None:
    page = client.get("/twap/fct_twap_status_events?_size=50").text
    table = page[page.index('<table class="rows-and-columns">') :]
    cells = re.sub(r"<[^>]+>", " ", table.split("</table>")[0])
    assert not re.search(r"\d\.\d{7,}", cells)  # no float noise
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", cells)  # times to the minute
    assert "✓" in cells and "✗" in cells and "UTC" in cells
    assert len(links(table, "wallet")) == len(links(table, "twap")) == 50
    assert links(table, "coin") and "$" in cells
    raw = client.json("/twap/fct_twap_status_events.json?_size=1&_shape=array")[0]
    assert isinstance(raw["is_latest_status"], int)  # the JSON keeps raw values


def test_canned_sql_is_hidden_until_asked(client: Client, site: Twap) -> None:
    wallet = site.query("select wallet from marts.dim_wallets limit 1")[0][0]
    page = client.get(f"/twap/wallet_twaps?wallet={wallet}").text
    assert 'id="sql-query"' not in page and "show SQL" in page
    shown = client.get(f"/twap/wallet_twaps?wallet={wallet}&_show_sql=1").text
    assert 'id="sql-query"' in shown and "from fct_twaps" in shown


def test_short_descriptions_with_the_rest_one_click_away(client: Client) -> None:
    page = client.get("/twap/fct_twaps").text
    opening = page.split('<details class="about">')[0]
    about = page.split('<details class="about">')[1].split("</details>")[0]
    assert "<dt>wallet</dt>" in about and "<dt>wallet</dt>" not in opening.split("<body")[1]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/twap",
        "/twap/fct_twaps",
        "/twap/fct_twaps/2000000",
        "/twap/coins_now",
        "/twap?sql=select+1",
    ],
)
def test_the_versions_database_name_is_not_shown(client: Client, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and "twap@" not in page.text, path


def large_twaps(site: Twap, threshold: float) -> list[int]:
    """The TWAPs worth at least `threshold` USD, newest first, valued here from the marts."""
    prices = dict(
        site.query("select coin, max(reference_price) from marts.fct_active_twaps group by coin")
    )
    twaps = site.query("select twap_id, coin, size, avg_price from marts.fct_twaps")
    worth = {
        twap_id: size * (avg_price if avg_price is not None else prices.get(coin))
        for twap_id, coin, size, avg_price in twaps
        if avg_price is not None or prices.get(coin) is not None
    }
    return sorted((t for t, value in worth.items() if value >= threshold), reverse=True)


@pytest.mark.parametrize("threshold", [20000, 100000])
def test_large_twaps_feed_in_atom_and_json(client: Client, site: Twap, threshold: int) -> None:
    expected = large_twaps(site, threshold)[:50]
    assert expected  # the sample has TWAPs above both thresholds
    response = client.get(f"/twap/large_twaps.atom?min_notional={threshold}&page_size=50")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    feed = ElementTree.fromstring(response.text)
    atom = "{http://www.w3.org/2005/Atom}"
    entries = feed.findall(f"{atom}entry")
    assert [int(e.find(f"{atom}id").text.rsplit("/", 1)[1]) for e in entries] == expected
    first = entries[0]
    assert first.find(f"{atom}link").get("href").endswith(f"twap_timeline?twap_id={expected[0]}")
    assert "$" in first.find(f"{atom}title").text
    rows = client.json(f"/twap/large_twaps.json?_shape=array&min_notional={threshold}&page_size=50")
    assert [row["twap_id"] for row in rows] == expected
    assert all(row["order_notional_estimate"] >= threshold for row in rows)


def test_large_twaps_refuses_a_bad_threshold(client: Client) -> None:
    response = client.get("/twap/large_twaps.atom?min_notional=lots")
    assert response.status_code == 400
    assert response.text == "min_notional='lots' is not a number of USD, e.g. 1234.5"


WINDOWS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


def since(site: Twap, window: str) -> datetime:
    """The window's start: the newest event less the window, to the millisecond (SQLite's)."""
    start = site.query("select max(event_time) from marts.fct_twap_status_events")[0][0]
    start -= WINDOWS[window]
    return start.replace(microsecond=start.microsecond // 1000 * 1000)


@pytest.mark.parametrize(
    ("window", "rank", "coin"),
    [("day", "notional", ""), ("week", "net_buy", ""), ("month", "net_sell", "hype")],
)
def test_leaderboard_ranks_wallets_in_the_window(
    client: Client, site: Twap, window: str, rank: str, coin: str
) -> None:
    totals: dict[str, list[float]] = {}
    for wallet, side, notional, twap_coin in site.query(
        "select wallet, side, executed_notional::float8, coin from marts.fct_twaps "
        "where status_at >= %s",
        (since(site, window),),
    ):
        if coin and twap_coin.lower() != coin:
            continue
        bought_sold = totals.setdefault(wallet, [0.0, 0.0])
        bought_sold[side == "sell"] += notional
    key = {
        "notional": lambda w: -(totals[w][0] + totals[w][1]),
        "net_buy": lambda w: totals[w][1] - totals[w][0],
        "net_sell": lambda w: totals[w][0] - totals[w][1],
    }[rank]
    traded = [w for w in totals if sum(totals[w]) > 0]
    expected = sorted(traded, key=lambda w: (round(key(w), 4), w))[:20]
    rows = client.json(
        f"/twap/leaderboard.json?_shape=array&window={window}&rank={rank}&coin={coin}&page_size=20"
    )
    assert [r["wallet"] for r in rows] == expected and rows
    first = totals[expected[0]]
    assert rows[0]["executed_notional_net"] == pytest.approx(first[0] - first[1])


def test_largest_twaps_of_the_day(client: Client, site: Twap) -> None:
    rows = client.json("/twap/largest_twaps.json?_shape=array&window=day&page_size=10")
    values = [r["order_notional_estimate"] for r in rows]
    assert values == sorted(values, reverse=True) and len(rows) == 10
    day = since(site, "day").isoformat()
    assert all(r["status_at"] >= day[:23] for r in rows)
    everything = client.json("/twap/largest_twaps.json?_shape=array&window=month&page_size=1")
    assert everything[0]["order_notional_estimate"] >= values[0]


def test_charts_have_axes_gridlines_net_and_running_pressure(client: Client, site: Twap) -> None:
    coins = site.query("select count(distinct coin) from marts.fct_active_twaps")[0][0]
    coin = site.query("select coin from marts.fct_coin_daily_flows where coin ~ '[a-z]' limit 1")
    page = client.get(f"/-/charts?coin={coin[0][0].upper()}")  # any case
    assert page.status_code == 200 and f"<option selected>{coin[0][0]}</option>" in page.text
    pressure = page.text.split('id="pressure-chart"')[1].split("</figure>")[0]
    assert pressure.count('class="pressure"') == 2 * coins
    assert pressure.count('class="grid"') == 5
    flows = page.text.split('id="flows-chart"')[1].split("</figure>")[0]
    assert flows.count('class="grid"') == 5 and '<polyline class="net"' in flows
    assert re.search(r'text-anchor="end">\$[\d.]+[kMB]?</text>', flows)  # labelled axis


def test_table_filters_take_coins_and_wallets_in_any_case(client: Client, site: Twap) -> None:
    coin, wallet = site.query(
        "select coin, wallet from marts.fct_twaps where coin ~ '[a-z]' limit 1"
    )[0]
    count = site.query("select count(*) from marts.fct_twaps where coin = %s", (coin,))[0][0]
    for spelling in (coin, coin.upper(), coin.lower()):
        page = client.json(f"/twap/fct_twaps.json?coin={spelling}&_size=0&_nofacet=1")
        assert page["filtered_table_rows_count"] == count, spelling
    mine = site.query("select count(*) from marts.fct_twaps where wallet = %s", (wallet,))[0][0]
    shouted = "0x" + wallet[2:].upper()
    page = client.json(f"/twap/fct_twaps.json?wallet__exact={shouted}&_size=0&_nofacet=1")
    assert page["filtered_table_rows_count"] == mine
    assert client.json("/twap/fct_twaps.json?coin=NOPE&_size=0")["filtered_table_rows_count"] == 0


def test_status_running_is_the_datas_activated_in_table_filters(client: Client, site: Twap) -> None:
    """The pages say "running", the data `activated`: table filters take either word."""
    running = site.query("select count(*) from marts.fct_twaps where status = 'activated'")[0][0]
    ended = site.query("select count(*) from marts.fct_twaps where status = 'finished'")[0][0]
    assert running > 0
    for query, expected in (
        ("status=running", running),
        ("status__exact=Running", running),
        ("status=activated", running),
        ("status__in=running,finished", running + ended),
        ("status__not=running", site.query("select count(*) from marts.fct_twaps")[0][0] - running),
    ):
        page = client.json(f"/twap/fct_twaps.json?{query}&_size=0&_nofacet=1")
        assert page["filtered_table_rows_count"] == expected, query


def test_canned_query_json_links_its_next_page(client: Client, site: Twap) -> None:
    """`next_url` in the object shapes and a `Link: <…>; rel="next"` header in every shape,
    until the last page; following them gives every row once."""
    wallet = site.query(
        "select wallet from marts.fct_twaps group by 1 order by count(*) desc limit 1"
    )[0][0]
    expected = [
        row[0]
        for row in site.query(
            "select twap_id from marts.fct_twaps where wallet = %s order by twap_id desc", (wallet,)
        )
    ]
    assert len(expected) > 10
    for shape in ("_shape=array", "_shape=objects", "_shape=arrays"):
        ids, path = [], f"/twap/wallet_twaps.json?{shape}&wallet={wallet}&page_size=4"
        while path:
            response = client.get(path)
            assert response.status_code == 200
            body = response.json()
            rows = body if isinstance(body, list) else body["rows"]
            ids += [row["twap_id"] if isinstance(row, dict) else row[0] for row in rows]
            link = response.headers.get("link")
            if isinstance(body, dict):
                assert (body.get("next_url") is not None) == (link is not None)
            path = link and re.fullmatch(r'<http://localhost([^>]+)>; rel="next"', link).group(1)
        assert ids == expected, shape
    top = client.get("/twap/top_wallets.json?page_size=3")
    following = client.json(top.json()["next_url"].removeprefix("http://localhost"))
    assert "after_notional=" in top.json()["next_url"] and len(following["rows"]) == 3
    # Queries without keyset pages, and pages not full, have no link.
    assert "next_url" not in client.json("/twap/coins_now.json")
    assert client.get("/twap/active_twaps.json?page_size=5").headers.get("link") is None


def test_fixed_choices_are_selects(client: Client) -> None:
    page = client.get("/twap/leaderboard?window=week").text
    form = page.split('<form class="parameters"')[1].split("</form>")[0]
    assert re.search(r'<select name="window">.*<option selected>week</option>', form)
    assert re.search(r'<select name="rank"><option selected>notional</option>', form)
    assert "<option>net_buy</option>" in form and "<option>month</option>" in form
    assert '<input type="text" name="coin"' in form
    assert 'name="window" value' not in form and 'name="rank" value' not in form


def test_the_footer_reads_as_text(client: Client) -> None:
    footer = text_of(client.get("/").text.split("<footer")[1].split("</footer>")[0])
    assert "Data license: the source's terms (the code is Apache-2.0)" in footer
    assert "Data source: Hyperliquid TWAP status events" in footer
    assert "`" not in footer and "Data: as published" not in footer


def test_the_day_in_progress_is_marked_on_the_daily_charts(client: Client, site: Twap) -> None:
    newest = site.query("select max(event_time) from marts.fct_twap_status_events")[0][0]
    coin = site.query(
        "select coin from marts.fct_coin_daily_flows where flow_date = %s::date limit 1",
        (newest.date(),),
    )[0][0]
    page = client.get(f"/-/charts?coin={urllib.parse.quote(coin)}").text
    for chart in ("flows-chart", "outcomes-chart"):
        svg = page.split(f'id="{chart}"')[1].split("</figure>")[0]
        assert svg.count('class="partial-label"') == 1, chart
        partial = re.findall(r'<rect class="\w+ partial"[^>]*><title>([^<]+)</title>', svg)
        assert partial and all(t.startswith(f"{newest:%Y-%m-%d} ") for t in partial)
        assert all(t.endswith("(so far)") for t in partial)
    assert f"the data ends at {newest:%Y-%m-%d %H:%M}" in page


def test_no_local_path_on_the_pages(client: Client, site: Twap) -> None:
    twap_id, key = site.query(
        "select twap_id, object_key from marts.fct_twap_status_events limit 1"
    )[0]
    assert key.startswith("file:///")
    page = client.get(f"/twap/twap_timeline?twap_id={twap_id}").text
    folder = str(site.home.parent)
    assert folder not in page and "file:" not in page
    relative = key.rsplit("/", 2)[-2] + "/" + key.rsplit("/", 1)[-1]  # e.g. 01/03.parquet
    assert relative in page
    # Tables: cells, row links (their encoded keys still lead to the row), facets, filters.
    for table in ("fct_twap_status_events", "ingest_objects"):
        path = f"/twap/{table}?_size=5&_facet=object_key&object_key={urllib.parse.quote(key)}"
        page = client.get(path).text
        assert folder not in page, table
        assert f"where object_key = &#34;{relative}&#34;" in page, table
    row_link = re.search(r'<a href="(/twap/ingest_objects/[^"]+)">([^<]+)</a>', page)
    assert row_link and row_link.group(2) == relative
    row = client.get(row_link.group(1))
    assert row.status_code == 200 and folder not in row.text and relative in row.text


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())
