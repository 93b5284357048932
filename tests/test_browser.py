"""What a person sees, in real headless Chromium (Debian's package) against `twap serve`: the
home page, a table with a facet, a canned query and the charts, after the browser has parsed
and laid them out and run their scripts under the site's content security policy (the DOM it
dumps, not the HTML sent)."""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Server, Twap, serving


def find_chromium() -> str:
    """Debian's chromium; a missing browser fails the test on CI and skips it elsewhere."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        message = "chromium not found (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return browser


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
    assert charts.count("<svg") == 2 and re.search(r'<rect class="buy"[^>]* height="[1-9]', charts)
    assert "Outcome mix over time" in text(charts)
