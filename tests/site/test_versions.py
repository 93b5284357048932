"""Version choice (twap/site/versions.py) on small hand-made versions, no pipeline: the site
serves what the pointer names, switches on the next request, keeps the old version readable by
its name for requests that started on it, and takes row counts from the publish."""

import asyncio
import sqlite3
from pathlib import Path

from twap.publish.versions import Publication, Version
from twap.site.app import make_datasette
from twap.site.versions import inspect_entry, live_site


def publish(pointer: Path, label: str, rows: int) -> Version:
    """A version whose one table `t` holds `rows` rows labelled `label`."""
    publication = Publication(pointer)
    version = publication.new_version()
    with sqlite3.connect(version.database) as db:
        db.execute("create table t (id integer primary key, label text)")
        db.executemany("insert into t values (?, ?)", [(n, label) for n in range(rows)])
    db.close()
    metadata = {"databases": {"twap": {"tables": {"t": {"description": f"version {label}"}}}}}
    # A count the file does not have: the page must show the publish's, not count(*).
    facts = {
        "version": version.name,
        "published_at": "2026-12-07T11:00:00+00:00",
        "newest_event_at": "2026-12-07T10:30:00+00:00",
        "last_load_at": "2026-12-07T10:55:00+00:00",
        "objects": {"loaded": 1},
        "dbt_tests": {"pass": 1},
        "dbt_run_at": "2026-12-07T10:58:00+00:00",
        "tables": {"t": rows + 1000},
    }
    version.write_json(metadata, facts)
    publication.switch(version)
    return version


def test_the_site_follows_the_pointer_one_version_at_a_time(tmp_path: Path) -> None:
    pointer = tmp_path / "twap.db"
    first = publish(pointer, "a", 3)
    datasette = make_datasette(pointer)

    async def scenario() -> None:
        page = (await datasette.client.get("/twap/t.json?_shape=objects")).json()
        assert {row["label"] for row in page["rows"]} == {"a"}
        assert page["filtered_table_rows_count"] == 1003
        site = live_site(datasette)
        assert site is not None and site.served is not None
        assert site.served.version == first and site.owns(f"twap@{first.name}")

        second = publish(pointer, "b", 2)
        page = (await datasette.client.get("/twap/t.json?_shape=objects")).json()
        assert {row["label"] for row in page["rows"]} == {"b"}
        assert site.served.version == second
        # The old version: readable by its own name until it is retired, described as before.
        old_page = datasette.urls.table(f"twap@{first.name}", "t", format="json")
        old = await datasette.client.get(f"{old_page}?_shape=objects")
        assert {row["label"] for row in old.json()["rows"]} == {"a"}
        assert set(site.metadata()["databases"]) == {f"twap@{first.name}", f"twap@{second.name}"}
        names = [db["name"] for db in (await datasette.client.get("/-/databases.json")).json()]
        assert names == ["twap"]

    asyncio.run(scenario())


def test_inspect_data_is_the_publish_own_counts(tmp_path: Path) -> None:
    version = publish(tmp_path / "twap.db", "a", 1)
    entry = inspect_entry(version, version.read_publication())
    assert entry["hash"] == version.name and entry["file"] == str(version.database)
    assert entry["tables"] == {"t": {"count": 1001}}
    assert entry["size"] == version.database.stat().st_size
