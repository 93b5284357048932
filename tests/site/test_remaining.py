"""What is left of a running TWAP, on a site published with slice fills: the marts in
PostgreSQL, the published tables and views, the dashboard, the coin, wallet and TWAP pages,
their JSON and the feed give the same figures; the TWAP page draws its fills (in Chromium)."""

import html
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from dlt_pipelines.sample_data import generate
from tests.chromium import Browser
from tests.conftest import Twap, make_twap, new_database, serving
from tests.site.test_browser import SCREENSHOTS
from tests.site.test_datasette import Client
from twap.database import Database
from twap.site.formatting import usd
from twap.site.plugins.pages import FILLS_SHOWN

FIGURES = ("executed_size_so_far", "remaining_size", "remaining_notional_estimate")
PRESSURE = ("net_next_hour", "net_next_day")


@pytest.fixture(scope="module")
def filled(postgres: Database, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Twap]:
    """A day of sample data whose last 3 hours have their slice fills, run and published."""
    root = tmp_path_factory.mktemp("filled")
    summary = generate(root / "sample", days=1, seed=4, twaps_per_day=150, fill_hours=3)
    assert summary.fills > 0
    with new_database(postgres) as database:
        published = make_twap(root / "home", database)
        published("run", "--source", str(root / "sample"))
        yield published


@pytest.fixture(scope="module")
def client(filled: Twap) -> Client:
    return Client(filled.home / "twap.db")


def as_float(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def running(filled: Twap) -> dict[int, dict[str, Any]]:
    """Each running TWAP's figures as fct_twaps in PostgreSQL defines them."""
    columns = ("twap_id", "wallet", "coin", "executed_source", "fill_count", *FIGURES, *PRESSURE)
    rows = filled.query(
        f"select {', '.join(columns)} from marts.fct_twaps where status = 'activated'"
    )
    return {row[0]: dict(zip(columns, map(as_float, row), strict=True)) for row in rows}


def same(got: Any, expected: Any) -> bool:
    return got == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_every_table_page_json_and_feed_gives_the_same_remaining(
    filled: Twap, client: Client
) -> None:
    twaps = running(filled)
    assert {t["executed_source"] for t in twaps.values()} >= {"fills"}
    active = {r["twap_id"]: r for r in client.json("/twap/fct_active_twaps.json?_shape=array")}
    coin_rows = client.json("/twap/active_twaps.json?_shape=array&page_size=1000")
    shown = {r["twap_id"]: r for r in coin_rows}
    feed = client.get("/twap/large_twaps.atom?min_notional=0&page_size=1000").text
    titles = dict(re.findall(r"<id>tag:[^<]*twap/(\d+)</id><title>([^<]*)</title>", feed))
    assert active.keys() == shown.keys() == twaps.keys()
    for twap_id, twap in twaps.items():
        wallet = client.json(
            f"/twap/wallet_twaps.json?_shape=array&page_size=1000&wallet={twap['wallet']}"
        )
        (mine,) = [r for r in wallet if r["twap_id"] == twap_id]
        for name in (*FIGURES, *PRESSURE):
            assert same(active[twap_id][name], twap[name]), (twap_id, name)
            assert same(mine[name], twap[name]), (twap_id, name)
        assert same(shown[twap_id]["executed_size"], twap["executed_size_so_far"])
        assert same(shown[twap_id]["remaining_size"], twap["remaining_size"])
        assert same(shown[twap_id]["remaining_notional_now"], twap["remaining_notional_estimate"])
        for name in PRESSURE:
            assert same(shown[twap_id][name], twap[name])
        # The TWAP page and the feed, in words.
        page = client.get(f"/twap/twap_timeline?twap_id={twap_id}").text
        left = re.search(r'id="twap-remaining">(.*?)</div>', page, re.S).group(1)
        assert usd(twap["remaining_notional_estimate"]) in left
        if str(twap_id) in titles:
            thousands = twap["remaining_notional_estimate"] / 1e3
            words = (
                f"≈${thousands:.1f}k left (estimate: no fills loaded)"
                if twap["executed_source"] == "status"
                else f", ${thousands:.1f}k left"
            )
            assert html.unescape(titles[str(twap_id)]).endswith(words)
    # The dashboard's coins add up their running TWAPs.
    for coin in client.json("/twap/coins_now.json?_shape=array"):
        mine = [t for t in twaps.values() if t["coin"] == coin["coin"]]
        for name in PRESSURE:
            assert same(coin[name], sum(t[name] for t in mine)), (coin["coin"], name)
        assert coin["twaps_without_fills"] == sum(t["fill_count"] == 0 for t in mine)
    assert any(str(twap_id) in titles for twap_id in twaps)


def test_the_twap_page_shows_its_fills_and_the_coin_page_executed_vs_expected(
    filled: Twap, client: Client
) -> None:
    twap_id, fills, slices, coin = filled.query(
        "select twap_id, fill_count, slice_count, coin from marts.fct_twaps"
        " where status = 'activated' order by fill_count desc, twap_id limit 1"
    )[0]
    assert fills > 1
    page = client.get(f"/twap/twap_timeline?twap_id={twap_id}").text
    table = page[page.index('id="twap-slices"') :].split("</table>")[0]
    assert table.count("<tr>") == 1 + min(fills, FILLS_SHOWN)
    assert f"{slices} / {fills}" in page and "Executed so far" in page
    points = re.search(r'class="executed" points="([^"]+)"', page).group(1).split()
    assert len(points) == 1 + 2 * fills
    assert re.search(r'class="even" points="0.0,160.0 [\d.]+,0.0"', page)
    # The fills JSON, one row per fill.
    rows = client.json(f"/twap/fct_twap_fills.json?twap_id={twap_id}&_size=0")
    assert rows["filtered_table_rows_count"] == fills
    # Page two by keyset is rows 6-10, newest first.
    path = "/twap/fct_twap_fills.json?_shape=objects&_nofacet=1"
    first = client.json(f"{path}&_size=10")["rows"]
    page = client.json(f"{path}&_size=5")
    second = client.json(page["next_url"].removeprefix("http://localhost"))
    assert page["rows"] + second["rows"] == first and len(first) == 10
    # The coin's page: executed so far against what even execution would have done by now.
    coin_page = client.json(f"/twap/active_twaps.json?_shape=array&coin={coin}")
    (row,) = [r for r in coin_page if r["twap_id"] == twap_id]
    assert same(row["expected_size"], row["size"] * row["elapsed_share"])
    assert row["executed_source"] == "fills" and row["executed_size"] > 0


def test_a_person_sees_the_progress_line_in_chromium(
    filled: Twap, tmp_path_factory: pytest.TempPathFactory
) -> None:
    twap_id = filled.query(
        "select twap_id from marts.fct_twaps where status = 'activated'"
        " order by fill_count desc, twap_id limit 1"
    )[0][0]
    browser = Browser(tmp_path_factory.mktemp("chromium"))
    try:
        with serving(filled) as server:
            browser.resize(1400, 1000)
            browser.open(f"{server.url}/twap/twap_timeline?twap_id={twap_id}")
            browser.screenshot(SCREENSHOTS / "desktop-twap-fills.png")
            box = browser.evaluate(
                "JSON.stringify(document.querySelector('#twap-progress polyline.executed')"
                ".getBoundingClientRect())"
            )
            slices = browser.evaluate("document.querySelectorAll('#twap-slices tr').length")
            text = browser.text()
    finally:
        browser.close()
    width, height = (
        float(re.search(rf'"{k}":([\d.]+)', box).group(1)) for k in ("width", "height")
    )
    assert width > 50 and height > 5  # drawn, not collapsed
    assert slices > 2 and "Executed so far" in text and "Running as of" in text
