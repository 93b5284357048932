"""The published SQLite file through a real Datasette: JSON queries, filters, facets, serving."""

import asyncio
import sqlite3
from pathlib import Path

import pytest
from datasette.app import Datasette

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap, get_json, serving


def datasette_json(datasette: Datasette, path: str) -> dict | list:
    async def fetch() -> dict | list:
        response = await datasette.client.get(path)
        assert response.status_code == 200, response.text
        return response.json()

    return asyncio.run(fetch())


def test_datasette_answers_filters_and_facets(site: Twap) -> None:
    datasette = Datasette(immutables=[str(site.home / "twap.db")])
    wallet, count = site.query(
        "select wallet, count(*) from marts.fct_twaps group by wallet order by 2 desc, 1 limit 1"
    )[0]
    rows = datasette_json(datasette, f"/twap/fct_twaps.json?wallet={wallet}&_shape=array&_size=max")
    assert len(rows) == count
    assert {row["wallet"] for row in rows} == {wallet}

    faceted = datasette_json(datasette, "/twap/fct_twaps.json?_facet=coin&_size=0")
    assert faceted["primary_keys"] == ["twap_id"]
    coins = {item["value"]: item["count"] for item in faceted["facet_results"]["coin"]["results"]}
    assert coins == dict(site.query("select coin, count(*) from marts.fct_twaps group by coin"))

    twap_id = rows[0]["twap_id"]
    row_page = datasette_json(datasette, f"/twap/fct_twaps/{twap_id}.json?_shape=array")
    assert row_page == [rows[0]]

    active = datasette_json(
        datasette, "/twap.json?sql=select+count(*)+as+n+from+fct_twaps+where+is_active&_shape=array"
    )
    assert active == [
        {"n": site.query("select count(*) from marts.fct_twaps where is_active")[0][0]}
    ]


def test_published_file_has_indexes_and_exact_rows(site: Twap) -> None:
    with sqlite3.connect(site.home / "twap.db") as db:
        indexes = [row[0] for row in db.execute("select name from pragma_index_list('fct_twaps')")]
        leading = {db.execute(f"pragma index_info('{name}')").fetchone()[2] for name in indexes}
        first = db.execute(
            "select twap_id, status, status_at, executed_notional from fct_twaps order by twap_id limit 1"
        ).fetchone()
    assert {"wallet", "coin", "status", "side", "market_type", "status_at"} <= leading
    expected = site.query(
        """
        select twap_id, status, to_char(status_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               executed_notional::float8
        from marts.fct_twaps order by twap_id limit 1
        """
    )[0]
    assert first == expected


def test_publish_swaps_versions_and_keeps_the_newest_replaced_one(
    twap: Twap, tmp_path: Path
) -> None:
    generate(tmp_path / "sample", days=1, seed=9, twaps_per_day=100)
    twap("run", "--source", str(tmp_path / "sample"))
    published = twap.home / "twap.db"
    first = published.resolve()
    twap("publish")
    second = published.resolve()
    # The publish path is a symlink switched in one rename; each version is a directory of its own.
    assert published.is_symlink() and second != first and first.exists()
    assert sorted(p.name for p in published.parent.glob("*twap.db*")) == [
        "twap.db",
        "twap.db.versions",
    ]
    assert sorted(p.name for p in second.parent.iterdir()) == [
        "metadata.json",
        "publication.json",
        "twap.db",
    ]
    # A replaced version nobody reads goes at the next publish, but for the newest one (the
    # publish after takes its file over); one a reader holds stays (tests/publish/test_versions.py).
    twap("publish")
    third = published.resolve()
    assert not first.parent.exists() and second.exists() and third.exists()


def test_twap_serve_runs_datasette_read_only(site: Twap) -> None:
    with serving(site) as server:
        body = get_json(f"{server.url}/twap/fct_twaps.json?_size=1&_shape=objects")
        assert body["rows"][0]["twap_id"] > 0
        databases = get_json(f"{server.url}/-/databases.json")
        assert [(db["name"], db["is_mutable"]) for db in databases] == [("twap", False)]
    # Stopped with SIGTERM (as by a service manager), it takes Datasette with it.
    with pytest.raises(OSError):
        get_json(f"{server.url}/-/healthz")
    assert server.process.returncode == 0


def test_serve_without_a_published_file_says_what_to_do(twap: Twap) -> None:
    result = twap("serve", check=False)
    assert result.returncode == 1
    assert "nothing published" in result.stderr and "twap run" in result.stderr
