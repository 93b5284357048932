"""The published site through Datasette's in-process client, with the settings and plugins of
`twap serve`: metadata, filters, pagination, facets, canned queries, health, limits, refusals."""

import asyncio
import csv
import io
import json
import re
import shutil
import sqlite3
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import Twap, make_twap
from twap.publish.tables import PUBLISHED_TABLES, TEST_RESULTS, PublishedTable
from twap.site.app import make_datasette
from twap.site.guard import Guard, guard_of
from twap.site.page_cache import MAX_ANSWER_BYTES, MAX_BYTES, PageCache

PUBLISHED = {
    "fct_twaps",
    "fct_twap_status_events",
    "fct_twap_fills",
    "dim_wallets",
    "fct_coin_daily_flows",
    "fct_active_twaps",
    "ingest_objects",
    "dbt_test_results",
}


class Client:
    """Synchronous calls to one in-process Datasette."""

    def __init__(self, pointer: Path, cors: bool = False) -> None:
        self.datasette = make_datasette(pointer, cors=cors)

    def get(self, path: str) -> httpx.Response:
        return asyncio.run(self.datasette.client.get(path))

    def json(self, path: str) -> dict | list:
        response = self.get(path)
        assert response.status_code == 200, response.text[:500]
        return response.json()

    def refused(self, path: str) -> str:
        """The one-line error of a refused request."""
        response = self.get(path)
        assert response.status_code == 400, response.text[:500]
        return response.json()["error"]


def sql_path(sql: str) -> str:
    return f"/twap.json?sql={urllib.parse.quote(sql)}"


@pytest.fixture(scope="module")
def client(site: Twap) -> Client:
    return Client(site.home / "twap.db")


def test_every_published_table_and_column_is_described_from_dbt(client: Client) -> None:
    metadata = client.json("/-/metadata.json")
    tables = {t["name"]: t for t in client.json("/twap.json")["tables"]}
    assert set(tables) == PUBLISHED  # raw tables are not published
    described = metadata["databases"]["twap"]["tables"]
    for name, table in tables.items():
        assert described[name]["description"], name
        assert all(described[name]["columns"].get(c) for c in table["columns"]), name
    assert described["fct_twaps"]["columns"]["wallet"] == (
        "Wallet address that placed the TWAP, lower case."
    )
    assert described["ingest_objects"]["source"] == "dbt source hyperliquid.twap_ingest_objects"
    assert metadata["title"] == "Hyperliquid TWAP orders" and "Apache-2.0" in metadata["license"]


def test_publish_refuses_a_column_without_description(site: Twap, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(site.home / "dbt" / "target", home / "dbt" / "target")
    manifest_path = home / "dbt" / "target" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["nodes"]["model.hyperliquid_twap.dim_wallets"]["columns"]["favourite_coin"][
        "description"
    ] = ""
    manifest_path.write_text(json.dumps(manifest))
    result = make_twap(home, site.database)("publish", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "no description for dim_wallets.favourite_coin" in errors[0]
    assert not (home / "twap.db").exists() and not any((home / "twap.db.versions").iterdir())


def test_wallet_filter_and_keyset_pages_match_postgres(client: Client, site: Twap) -> None:
    wallet, count = site.query(
        "select wallet, count(*) from marts.fct_twap_status_events group by 1 order by 2 desc limit 1"
    )[0]
    seen, path = [], f"/twap/fct_twap_status_events.json?wallet={wallet}&_size=7&_shape=objects"
    while path:
        page = client.json(path)
        seen += [(row["twap_id"], row["event_number"]) for row in page["rows"]]
        assert page["filtered_table_rows_count"] == count
        path = page["next_url"] and page["next_url"].removeprefix("http://localhost")
    assert len(seen) == len(set(seen)) == count


def test_default_facets_count_like_postgres(client: Client, site: Twap) -> None:
    page = client.json("/twap/fct_twaps.json?_size=0")
    # A facet over its time limit would be missing.
    assert set(page["facet_results"]) == {"coin", "status", "side", "market_type"}
    for column in ("status", "market_type"):
        counts = {r["value"]: r["count"] for r in page["facet_results"][column]["results"]}
        expected = site.query(f"select {column}, count(*) from marts.fct_twaps group by 1")
        assert counts == dict(expected)


def test_wallet_twaps_pages_by_keyset(client: Client, site: Twap) -> None:
    wallet, count = site.query(
        "select wallet, count(*) from marts.fct_twaps group by 1 order by 2 desc limit 1"
    )[0]
    ids, cursor = [], ""
    while True:
        page = client.json(
            f"/twap/wallet_twaps.json?_shape=array&wallet={wallet.upper().replace('0X', '0x')}"
            f"&page_size=25&before_twap_id={cursor}"
        )
        if not page:
            break
        ids += [row["twap_id"] for row in page]
        cursor = page[-1]["twap_id"]
    expected = site.query(
        "select twap_id from marts.fct_twaps where wallet = %s order by twap_id desc", (wallet,)
    )
    assert ids == [r[0] for r in expected] and len(ids) == count


def test_top_wallets_pages_by_keyset(client: Client, site: Twap) -> None:
    first = client.json("/twap/top_wallets.json?_shape=array&page_size=20")
    last = first[-1]
    second = client.json(
        f"/twap/top_wallets.json?_shape=array&page_size=20"
        f"&after_notional={last['executed_notional']!r}&after_wallet={last['wallet']}"
    )
    expected = site.query(
        "select wallet from marts.dim_wallets "
        "order by executed_notional_bought + executed_notional_sold desc, wallet limit 40"
    )
    assert [r["wallet"] for r in first + second] == [r[0] for r in expected]


def test_active_twaps_pressure_and_timeline(client: Client, site: Twap) -> None:
    coin, active = site.query(
        "select coin, count(*) from marts.fct_active_twaps group by 1 order by 2 desc limit 1"
    )[0]
    rows = client.json(f"/twap/active_twaps.json?_shape=array&coin={coin}&page_size=1000")
    assert len(rows) == active and {r["coin"] for r in rows} == {coin}
    assert all((r["remaining_notional_now"] or 0) >= 0 for r in rows)

    first_day, last_day = site.query(
        "select min(flow_date)::text, max(flow_date)::text from marts.fct_coin_daily_flows"
    )[0]
    pressure = client.json(
        f"/twap/coin_pressure.json?_shape=array&from_date={first_day}&to_date={last_day}"
    )
    net = dict(
        site.query(
            "select coin, sum(executed_notional_net)::float8 from marts.fct_coin_daily_flows group by 1"
        )
    )
    assert {r["coin"]: round(r["executed_notional_net"], 2) for r in pressure} == {
        coin: round(value, 2) for coin, value in net.items()
    }

    twap_id = site.query("select twap_id from marts.fct_twaps where event_count = 2 limit 1")[0][0]
    timeline = client.json(f"/twap/twap_timeline.json?_shape=array&twap_id={twap_id}")
    assert [e["event_number"] for e in timeline] == [1, 2]
    assert timeline[0]["status"] == "activated" and timeline[1]["is_latest_status"] == 1


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/twap/wallet_twaps.json?wallet=0x12", "wallet='0x12' is not a wallet address"),
        ("/twap/wallet_twaps.json", "wallet is required"),
        ("/twap/wallet_twaps.json?walet=0x1", "unknown parameter walet"),
        ("/twap/twap_timeline.json?twap_id=1;drop", "is not a whole number"),
        ("/twap/top_wallets.json?page_size=100000", "is not a page size from 1 to 1000"),
        ("/twap/coin_pressure.json?from_date=2026-02-30", "is not a date as YYYY-MM-DD"),
        ("/twap/active_twaps.json?coin=BTC'--", "is not a coin"),
    ],
)
def test_canned_queries_refuse_bad_parameters(client: Client, path: str, error: str) -> None:
    assert error in client.refused(path)


def test_canned_query_form_opens_without_parameters(client: Client) -> None:
    page = client.get("/twap/wallet_twaps")
    assert page.status_code == 200 and "A wallet&#39;s TWAPs" in page.text


def test_health_reports_freshness_loads_and_tests(client: Client, site: Twap) -> None:
    health = client.json("/-/healthz")
    loaded = site.query("select count(*) from raw.twap_ingest_objects where status = 'loaded'")
    # The sample's newest event is months old: stale, and only that.
    assert health["status"] == "degraded" and health["stale"]
    (problem,) = health["problems"]
    assert re.fullmatch(r"newest event or fill \d+ days ago, over 2 hours", problem)
    assert health["objects"] == {"loaded": loaded[0][0], "failed": 0}
    tests = client.json("/twap/dbt_test_results.json?_size=0")["filtered_table_rows_count"]
    assert health["dbt_tests"] == {"pass": tests} and tests > 30
    # The ages are the request's now less the published times (the fixture's run may be long ago).
    now = datetime.now(UTC)
    for moment, age in (
        ("published_at", "published_age_seconds"),
        ("last_load_at", "last_load_age_seconds"),
    ):
        since = (now - datetime.fromisoformat(health[moment])).total_seconds()
        assert 0 <= health[age] <= since < health[age] + 5, (moment, health)
    assert health["data_age_seconds"] > 0 and health["newest_event_at"].endswith("Z")
    home = client.get("/").text
    assert "twap-freshness message-error" in home  # red: degraded
    assert "Data up to" in home and "dbt tests:" in home and problem in home


def test_limits_and_refusals(client: Client) -> None:
    assert client.refused("/twap/fct_twaps.json?_size=100000") == "_size must be <= 1000"
    for sql in (
        "update fct_twaps set status = 'x'",
        "insert into fct_twaps (twap_id) values (1)",
        "attach database '/tmp/evil.db' as evil",
        "drop table fct_twaps",
    ):
        assert client.refused(sql_path(sql)) == "Statement must be a SELECT"
    assert client.refused(sql_path("select load_extension('x')")) == "not authorized"
    started = time.monotonic()
    runaway = (
        "with recursive n(x) as (select 1 union all select x + 1 from n) select count(*) from n"
    )
    assert "took too long" in client.refused(sql_path(runaway))
    assert time.monotonic() - started < 5
    deep = client.json(sql_path("select * from fct_twaps limit 10 offset 100000000"))
    assert deep["rows"] == []
    assert client.json("/twap/fct_twaps.json?_next=999999999999")["rows"] == []
    assert client.get("/twap.db").status_code == 403  # no download of the whole file
    assert client.get("/robots.txt").text == "User-agent: *\nDisallow: /\n"


def test_cors_only_when_asked(site: Twap, client: Client) -> None:
    assert "access-control-allow-origin" not in client.get("/twap/fct_twaps.json").headers
    open_client = Client(site.home / "twap.db", cors=True)
    assert open_client.get("/twap/fct_twaps.json").headers["access-control-allow-origin"] == "*"


def test_charts_render_inline_svg(client: Client, site: Twap) -> None:
    coin = site.query("select coin from marts.fct_coin_daily_flows limit 1")[0][0]
    page = client.get(f"/-/charts?coin={coin}")
    assert page.status_code == 200
    assert page.text.count("<svg") == 3 and 'class="buy"' in page.text
    assert 'class="finished"' in page.text
    assert "<script src" not in page.text and "<link" not in page.text.split("</head>")[1]
    assert client.get("/-/charts?coin=<script>").status_code == 400


def published_table(name: str) -> PublishedTable:
    return next(t for t in (*PUBLISHED_TABLES, TEST_RESULTS) if t.name == name)


def sortable(client: Client) -> dict[str, list[str]]:
    tables = client.json("/-/metadata.json")["databases"]["twap"]["tables"]
    return {name: tables[name]["sortable_columns"] for name in PUBLISHED}


def test_every_sort_key_is_indexed_and_not_null(client: Client, site: Twap) -> None:
    """Datasette's descending keyset page on a nullable column is a sort of the whole table."""
    database = sqlite3.connect(f"file:{site.home / 'twap.db'}?immutable=1", uri=True)
    metadata = client.json("/-/metadata.json")["databases"]["twap"]["tables"]
    for table, keys in sortable(client).items():
        published = published_table(table)
        assert keys == published.sort_columns and keys, table
        assert published.default_sort.items() <= metadata[table].items(), table
        not_null = {row[1] for row in database.execute(f"pragma table_info({table})") if row[3]}
        leading = {
            database.execute(f"pragma index_info('{index[1]}')").fetchone()[2]
            for index in database.execute(f"pragma index_list({table})")
        }
        for key in keys:
            assert key in leading or key == published.primary_key[0], (table, key)
            assert key in not_null or key in published.nullable, (table, key)


def test_page_two_of_every_sort_of_every_table(client: Client) -> None:
    """Rows 6-10 by keyset are rows 6-10 of one page of ten, in every order offered, ties
    (many rows share a twap_count, a flow_date, a last_attempt_at) included."""
    for table, keys in sortable(client).items():
        for key in keys:
            for order in ("_sort", "_sort_desc"):
                path = f"/twap/{table}.json?{order}={key}&_shape=objects&_nofacet=1"
                first = client.json(f"{path}&_size=10")["rows"]
                if len(first) < 10:  # no fills in this sample: test_remaining.py pages them
                    continue
                page = client.json(f"{path}&_size=5")
                second = client.json(page["next_url"].removeprefix("http://localhost"))
                assert page["rows"] + second["rows"] == first, (table, key, order)


@pytest.mark.parametrize("table", sorted(PUBLISHED))
def test_csv_streams_every_row_once_in_every_order_they_offer(client: Client, table: str) -> None:
    count = client.json(f"/twap/{table}.json?_size=0&_nofacet=1")["filtered_table_rows_count"]
    key_columns = published_table(table).primary_key
    for key in sortable(client)[table]:
        streamed = 0
        for order in ("_sort", "_sort_desc"):
            response = client.get(f"/twap/{table}.csv?_stream=on&{order}={key}&_size=7")
            if response.status_code == 400:  # the other way round is offered
                assert f"CSV streams by {key} run descending" in response.text, response.text
                continue
            assert response.status_code == 200, response.text[:300]
            rows = list(csv.DictReader(io.StringIO(response.text)))
            keys = {tuple(row[k] for k in key_columns) for row in rows}
            assert len(rows) == len(keys) == count, (key, order)
            streamed += 1
        assert streamed, key


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/twap/fct_twaps.json?_sort=nope", 400, "Cannot sort table by nope"),
        ("GET", "/twap/fct_twaps.json?_sort_desc=wallet", 400, "Cannot sort table by wallet"),
        ("GET", "/twap/fct_twaps?_sort=nope", 400, "Cannot sort table by nope"),
        ("GET", "/twap/fct_twaps.json?_through=x", 400, "_through follows a foreign key"),
        ("POST", "/twap/wallet_twaps", 405, "POST is not allowed"),
        ("POST", "/twap/wallet_twaps.json", 405, "POST is not allowed"),
        ("TRACE", "/", 405, "TRACE is not allowed"),
        ("DELETE", "/twap/fct_twaps/1", 405, "DELETE is not allowed"),
        ("GET", "/twap/wallet_twaps.csv?wallet=0x12", 400, "wallet='0x12' is not a wallet"),
        ("GET", "/twap/wallet_twaps.csv", 400, "wallet is required"),
        ("GET", "/twap/twap_timeline.json?twap_id=1&twap_id=2", 400, "twap_id given more than"),
        ("GET", "/twap/fct_twaps.json?coin=BTC&coin=ETH", 400, "coin given more than once"),
        (
            "GET",
            "/twap/fct_twaps.json?" + "&".join(f"_facet=c{i}" for i in range(7)),
            400,
            "7 facets",
        ),
        (
            "GET",
            "/twap/fct_twaps.json?" + "&".join(f"p{i}=1" for i in range(41)),
            400,
            "41 parameters",
        ),
        ("GET", "/twap/fct_twaps.json?coin=" + "A" * 5000, 414, "over 4096 bytes"),
    ],
)
def test_client_errors_are_4xx_in_one_line(
    client: Client, method: str, path: str, status: int, error: str
) -> None:
    response = asyncio.run(client.datasette.client.request(method, path))
    assert response.status_code == status, response.text[:300]
    assert error in response.text


def test_a_facet_asked_many_times_is_computed_once(client: Client) -> None:
    page = client.json("/twap/fct_twaps.json?_size=0&" + "&".join(["_facet=wallet"] * 200))
    assert sorted(page["facet_results"]) == ["coin", "market_type", "side", "status", "wallet"]


def test_sqlite_limits_cap_values_and_statements(client: Client) -> None:
    for sql in ("select zeroblob(100000000)", "select randomblob(1000000000)"):
        started = time.monotonic()
        assert "too big" in client.refused(sql_path(sql))
        assert time.monotonic() - started < 5
    assert len(client.json(sql_path("select zeroblob(50000) as b"))["rows"]) == 1
    assert "too large" in client.refused(sql_path("select 1" + "+1" * 150))  # depth over 100


def test_security_headers_on_every_answer(client: Client) -> None:
    for path in ("/", "/twap/fct_twaps", "/twap/fct_twaps.json", "/-/healthz", "/nope"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path


def test_no_file_paths_or_internals_shown(client: Client, site: Twap) -> None:
    assert client.json("/-/databases.json") == [
        {
            "name": "twap",
            "route": "twap",
            "version": client.json("/-/healthz")["version"],
            "is_mutable": False,
            "is_memory": False,
        }
    ]
    for path in ("/-/metadata.json", "/-/plugins.json", "/-/settings.json", "/.json", "/twap.json"):
        assert str(site.home.parent) not in client.get(path).text, path
    for path in ("/-/threads.json", "/-/versions.json", "/_memory.json?sql=select+1"):
        assert client.get(path).status_code == 404, path


def test_an_answer_too_large_is_a_413(client: Client) -> None:
    # 200 rows of 99 kB of text: within SQLite's limits, over the 16 MB an answer may have.
    big = "select hex(zeroblob(49500)) from fct_twaps limit 200"
    response = client.get(sql_path(big))
    assert response.status_code == 413 and "ask for fewer rows" in response.json()["error"]


def test_a_request_over_its_budget_is_cut_and_says_so(client: Client) -> None:
    """A stream of one row per page (thousands of pages) given one second, its client staying."""
    guard = Guard(client.datasette.app(), client.datasette)
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/twap/fct_twap_status_events.csv",
        "raw_path": b"/twap/fct_twap_status_events.csv",
        "query_string": b"_stream=on&_size=1",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
    }
    sent: list[dict] = []

    async def receive() -> dict:
        await asyncio.sleep(3600)  # the client stays
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(guard.run(scope, receive, send, budget=1.0))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert sent[0]["status"] == 200 and not sent[-1].get("more_body")
    assert body.endswith(b"this request took over its 1 s budget: narrow it down\n")
    events = client.json("/twap/fct_twap_status_events.json?_size=0")["filtered_table_rows_count"]
    assert 1 < len(body.splitlines()) < events


def test_answers_asked_again_are_replayed_per_version_within_bounds(client: Client) -> None:
    guard = guard_of(client.datasette)
    guard.pages = PageCache()
    path = "/twap/top_wallets.json?_shape=array&page_size=3"
    first = client.get(path)
    version = client.json("/-/healthz")["version"]
    assert (version, "/twap/top_wallets.json", path.split("?")[1]) in guard.pages.answers
    again = client.get(path)
    assert again.content == first.content and again.headers["x-frame-options"] == "DENY"
    kept = len(guard.pages.answers)
    client.get("/twap/fct_twaps.json?_sort=nope")  # errors and the health report are not kept
    client.get("/-/healthz")
    assert len(guard.pages.answers) == kept
    for number in range(200):
        guard.pages.put(("v", str(number), ""), {"status": 200}, b"x" * MAX_ANSWER_BYTES)
    assert guard.pages.bytes <= MAX_BYTES and len(guard.pages.answers) < 200
