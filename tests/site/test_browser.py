"""What a person sees, in real headless Chromium (Debian's package) against `twap serve`: the
home page, a table with a facet, a canned query and the charts, after the browser has parsed
and laid them out and run their scripts under the site's content security policy (the DOM it
dumps, not the HTML sent); and a trader's way from the dashboard to a coin, a wallet and one of
its TWAPs, in a desktop and a phone-sized window, with screenshots under target/screenshots."""

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chromium import Browser, find_chromium
from tests.conftest import Server, Twap, serving
from twap.settings import PROJECT_DIR

pytestmark = pytest.mark.chromium
SCREENSHOTS = PROJECT_DIR / "target" / "screenshots"
# (name, width, height, mobile): the windows a trader looks from.
WINDOWS = (("desktop", 1400, 1000, False), ("phone", 390, 844, True))
# A float printed as it is stored (29698153.828167003): what readable cells never show.
FLOAT_NOISE = re.compile(r"\d\.\d{7,}")


@pytest.fixture(scope="module")
def server(site: Twap) -> Iterator[Server]:
    with serving(site) as running:
        yield running


def page(browser: str, url: str, profile: Path) -> str:
    """The DOM of `url` once loaded, as text with tags removed."""
    result = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def text(dom: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def test_a_person_sees_tables_facets_queries_and_charts(
    server: Server, site: Twap, tmp_path: Path
) -> None:
    browser = find_chromium()
    home = text(page(browser, f"{server.url}/", tmp_path))
    assert "Hyperliquid TWAP orders" in home and "Data up to" in home
    assert all(name in home for name in ("fct_twaps", "dim_wallets", "Charts", "Health"))

    table = page(browser, f"{server.url}/twap/fct_twaps?_facet=coin", tmp_path)
    coin, count = site.query(
        "select coin, count(*) from marts.fct_twaps group by 1 order by 2 desc limit 1"
    )[0]
    assert 'data-column="coin"' in table  # the facet's box
    # Datasette's scripts ran under the site's content security policy: column menus, editor.
    assert 'class="dropdown-menu-icon"' in table
    assert "CodeMirror" in page(browser, f"{server.url}/twap", tmp_path)
    assert f"{coin} {count:,}" in text(table)  # its top value with its count

    wallet, twap_id = site.query(
        "select wallet, max(twap_id) from marts.fct_twaps group by 1 limit 1"
    )[0]
    query = text(page(browser, f"{server.url}/twap/wallet_twaps?wallet={wallet}", tmp_path))
    assert "A wallet's TWAPs" in query and str(twap_id) in query

    charts = page(browser, f"{server.url}/-/charts", tmp_path)
    assert charts.count("<svg") == 3 and re.search(r'<rect class="buy"[^>]* height="[1-9]', charts)
    assert "Outcome mix over time" in text(charts)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    chromium = Browser(tmp_path_factory.mktemp("chromium"))
    yield chromium
    chromium.close()


@pytest.mark.parametrize(("name", "width", "height", "mobile"), WINDOWS)
def test_a_trader_goes_from_the_dashboard_to_a_coin_a_wallet_and_a_twap(
    server: Server, site: Twap, browser: Browser, name: str, width: int, height: int, mobile: bool
) -> None:
    browser.resize(width, height, mobile)
    browser.open(f"{server.url}/")
    browser.screenshot(SCREENSHOTS / f"{name}-1-dashboard.png")
    home = browser.text()
    # The sample is months old: what runs is as of its time.
    assert "Running as of" in home and not FLOAT_NOISE.search(home)
    # The coins by net pressure, each a link, above the fold; the most pressed first.
    assert browser.bottom("#dashboard tbody tr:nth-child(3)") < height
    top = browser.evaluate("document.querySelector('#dashboard a.coin').textContent")
    busiest = site.query(
        "select coin from marts.fct_active_twaps group by coin order by count(*) desc limit 1"
    )[0][0]
    assert busiest in home

    # Pick the busiest coin: its running TWAPs, largest first, with who is buying.
    url = browser.click(f"#dashboard a.coin[href$='coin={busiest}']")
    assert url.endswith(f"coin={busiest}"), (url, top)
    browser.screenshot(SCREENSHOTS / f"{name}-2-coin.png")
    coin = browser.text()
    assert "Net next hour" in coin and "buy" in coin and "%" in coin
    assert not FLOAT_NOISE.search(coin) and "UTC" in coin
    assert browser.bottom("#coin-summary") < height
    assert browser.bottom("table.rows-and-columns tbody tr:first-child td") < height
    assert browser.evaluate("document.querySelectorAll('table a.wallet').length") > 0

    # Its largest running TWAP's wallet: totals and history.
    browser.click("table.rows-and-columns tbody tr:first-child a.wallet")
    browser.screenshot(SCREENSHOTS / f"{name}-3-wallet.png")
    wallet = browser.text()
    assert "Bought" in wallet and "$" in wallet and not FLOAT_NOISE.search(wallet)
    assert browser.bottom("#wallet-summary") < height
    assert browser.bottom("table.rows-and-columns tbody tr:first-child td") < height

    # One of its TWAPs: progress and timeline.
    twap_id = browser.evaluate("document.querySelector('table a.twap').textContent")
    browser.click("table.rows-and-columns a.twap")
    browser.screenshot(SCREENSHOTS / f"{name}-4-twap.png")
    twap = browser.text()
    status = site.query("select status from marts.fct_twaps where twap_id = %s", (int(twap_id),))
    assert status[0][0] in twap and ("✓" in twap or "✗" in twap)
    # A running TWAP without fills loaded (this sample has none) has no average price to show.
    assert "Average price" in twap or "no fills loaded" in twap
    assert browser.bottom("#twap-summary") < height
    assert browser.evaluate("document.querySelector('#twap-summary a.wallet') !== null")


def test_the_query_forms_fit_a_phone(server: Server, site: Twap, browser: Browser) -> None:
    """At 375 px wide each box of a canned query's form is on screen with its whole value in
    view: a wallet's 42 characters, a TWAP's id; the page itself does not scroll sideways."""
    browser.resize(375, 812, True)
    wallet, twap_id = site.query(
        "select wallet, max(twap_id) from marts.fct_twaps group by 1 limit 1"
    )[0]
    boxes = (
        "[...document.querySelectorAll('form.parameters input[type=text], form.parameters select')]"
        ".map(e => { const r = e.getBoundingClientRect();"
        " return [e.name, r.left, r.right, e.scrollWidth, e.clientWidth]; })"
    )
    for path, names in (
        (f"/twap/wallet_twaps?wallet={wallet}", ["wallet", "page_size"]),
        (f"/twap/twap_timeline?twap_id={twap_id}", ["twap_id"]),
        ("/twap/leaderboard?window=week", ["window", "rank", "coin", "page_size"]),
    ):
        browser.open(f"{server.url}{path}")
        assert browser.evaluate("[innerWidth, document.documentElement.scrollWidth]") == [375, 375]
        found = browser.evaluate(boxes)
        assert [name for name, *_ in found] == names, path
        for name, left, right, content, shown in found:
            assert left >= 0 and right <= 375 and content <= shown, (path, name, left, right)
