"""Versions as the site serves them (twap/site/versions.py), on small hand-made versions, no
pipeline: each request reads the version current when it started to its end (a CSV stream's
every page included), a page never fails because of a switch, and a replaced version is let go
(out of Datasette, its file removed) when its last request is done, not after a delay."""

import asyncio
import csv
import io
import sqlite3
from pathlib import Path
from typing import Any

from twap.publish.versions import Publication, Version
from twap.site.app import make_datasette
from twap.site.versions import closable, inspect_entry, live_site, unread

# More rows than one page of Datasette's (max_returned_rows): a stream asks several pages.
ROWS = {"alpha": 2500, "bravo": 2600, "charlie": 2700, "delta": 2800, "echo": 2900}
# The home page's dashboard query, answered from the version's own rows.
COINS_NOW = """
select label as coin, 'perp' as market_type, 1.0 as net_next_hour, 1.0 as net_next_day,
  1.0 as buy_remaining_notional, 0.0 as sell_remaining_notional, 1 as running_twaps,
  1 as buying_twaps, 0 as selling_twaps, '2026-12-07T10:30:00+00:00' as as_of
from t limit 1
"""


def publish(pointer: Path, label: str, rows: int | None = None) -> Version:
    """A version whose one table `t` holds `rows` rows labelled `label`, switched to."""
    rows = ROWS[label] if rows is None else rows
    publication = Publication(pointer)
    version = publication.new_version()
    with sqlite3.connect(version.database) as db:
        db.execute("create table t (id integer primary key, label text)")
        db.executemany("insert into t values (?, ?)", [(n, label) for n in range(rows)])
    db.close()
    metadata = {
        "title": f"version {label}",
        "databases": {
            "twap": {
                "tables": {"t": {"description": f"version {label}"}},
                "queries": {"coins_now": {"sql": COINS_NOW}},
            }
        },
    }
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
    publication.clean()  # as every publish does after its switch
    return version


class Held:
    """A GET through the site's ASGI app whose client reads the first part of the answer, then
    waits until `read_on` (or leaves at `leave`): the request stays open in between."""

    def __init__(self, app: Any, path: str, query: str = "") -> None:
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "headers": [(b"host", b"localhost")],
            "client": ("127.0.0.1", 50000),
            "server": ("localhost", 80),
            "root_path": "",
        }
        self.status = 0
        self.body = b""
        self.started = asyncio.Event()
        self.go_on = asyncio.Event()
        self.gone = asyncio.Event()
        self._asked = False
        self.task = asyncio.create_task(app(self.scope, self.receive, self.send))

    async def receive(self) -> dict[str, Any]:
        if not self._asked:
            self._asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            return
        self.body += message.get("body", b"")
        self.started.set()
        await self.go_on.wait()

    async def read_on(self) -> None:
        self.go_on.set()
        await self.task

    async def leave(self) -> None:
        self.gone.set()
        await self.task


async def rows(datasette: Any) -> list[dict[str, Any]]:
    page = await datasette.client.get("/twap/t.json?_shape=objects")
    return page.json()["rows"]


def test_the_site_follows_the_pointer_one_version_at_a_time(tmp_path: Path) -> None:
    pointer = tmp_path / "twap.db"
    first = publish(pointer, "alpha", 3)
    datasette = make_datasette(pointer)

    async def scenario() -> None:
        page = (await datasette.client.get("/twap/t.json?_shape=objects")).json()
        assert {row["label"] for row in page["rows"]} == {"alpha"}
        assert page["filtered_table_rows_count"] == 1003
        site = live_site(datasette)
        assert site is not None and site.served is not None
        assert site.served.version == first and site.owns(f"twap@{first.name}")

        second = publish(pointer, "bravo", 2)
        page = (await datasette.client.get("/twap/t.json?_shape=objects")).json()
        assert {row["label"] for row in page["rows"]} == {"bravo"}
        assert site.served.version == second
        # Nobody reads the first any more: it is out of Datasette (its file kept for the
        # next publish to take over), and its private route is not asked from outside.
        assert set(site.versions) == {f"twap@{second.name}"}
        assert f"twap@{first.name}" not in datasette.databases
        assert first.directory.exists()
        private = await datasette.client.get(f"/{site.served.route}/t.json")
        assert private.status_code == 404
        names = [db["name"] for db in (await datasette.client.get("/-/databases.json")).json()]
        assert names == ["twap"]

    asyncio.run(scenario())


def test_a_page_names_the_public_route_not_the_version(tmp_path: Path) -> None:
    pointer = tmp_path / "twap.db"
    publish(pointer, "alpha", 120)
    datasette = make_datasette(pointer)

    async def scenario() -> None:
        site = live_site(datasette)
        page = await datasette.client.get("/twap/t?_size=50")
        assert page.status_code == 200
        assert site is not None and site.current is not None
        assert site.current.route not in page.text and 'href="/twap/t?' in page.text
        data = (await datasette.client.get("/twap/t.json?_size=50")).json()
        assert data["next_url"].startswith("http://localhost/twap/t.json?")
        moved = await datasette.client.get("/twap/t.jsono")  # a redirect names the route too
        assert moved.headers["location"].startswith("/twap/t.json?")

    asyncio.run(scenario())


def test_a_stream_reads_one_version_across_publishes_then_lets_it_go(tmp_path: Path) -> None:
    pointer = tmp_path / "twap.db"
    first = publish(pointer, "alpha")
    datasette = make_datasette(pointer)
    app = datasette.app()

    async def scenario() -> None:
        site = live_site(datasette)
        assert site is not None
        stream = Held(app, "/twap/t.csv", "_stream=on&_size=max")
        await stream.started.wait()  # the header is out; every page of rows is still to come

        publish(pointer, "bravo")
        assert {row["label"] for row in await rows(datasette)} == {"bravo"}
        latest = publish(pointer, "charlie")
        assert {row["label"] for row in await rows(datasette)} == {"charlie"}
        # Neither current nor kept for the next publish, but read: still there.
        assert first.directory.exists() and f"twap@{first.name}" in datasette.databases

        await stream.read_on()
        assert stream.status == 200
        streamed = list(csv.DictReader(io.StringIO(stream.body.decode())))
        assert len(streamed) == ROWS["alpha"]
        assert {row["label"] for row in streamed} == {"alpha"}
        assert [int(row["id"]) for row in streamed] == list(range(ROWS["alpha"]))
        # Its last request done: out of Datasette, its file removed at once.
        assert not first.directory.exists()
        assert set(site.versions) == {f"twap@{latest.name}"} and not site.closing

    asyncio.run(scenario())


def test_a_client_leaving_a_stream_lets_its_version_go(tmp_path: Path) -> None:
    pointer = tmp_path / "twap.db"
    first = publish(pointer, "alpha")
    datasette = make_datasette(pointer)
    app = datasette.app()

    async def scenario() -> None:
        stream = Held(app, "/twap/t.csv", "_stream=on&_size=max")
        await stream.started.wait()
        publish(pointer, "bravo")
        publish(pointer, "charlie")
        assert {row["label"] for row in await rows(datasette)} == {"charlie"}
        assert first.directory.exists()

        await stream.leave()
        assert not first.directory.exists()
        assert f"twap@{first.name}" not in datasette.databases

    asyncio.run(scenario())


def test_home_pages_rendered_across_switches_never_fail(tmp_path: Path) -> None:
    pointer = tmp_path / "twap.db"
    names = list(ROWS)
    publish(pointer, names[0], 10)
    datasette = make_datasette(pointer)
    answers: list[tuple[int, str]] = []

    async def reader() -> None:
        for _ in range(12):
            page = await datasette.client.get("/")
            answers.append((page.status_code, page.text))

    async def publisher() -> None:
        for label in names[1:]:
            await asyncio.sleep(0)  # between the readers' awaits: mid-render for some
            publish(pointer, label, 10)
            await datasette.client.get("/-/healthz")

    async def scenario() -> None:
        await asyncio.gather(*(reader() for _ in range(8)), publisher())

    asyncio.run(scenario())
    assert [status for status, _ in answers] == [200] * len(answers)
    for _, text in answers:
        shown = [label for label in names if f">{label.upper()}<" in text or label in text]
        assert len(shown) == 1, shown  # one version's dashboard and title per page
    site = live_site(datasette)
    assert site is not None and len(site.versions) == 1 and not site.closing


def test_inspect_data_is_the_publish_own_counts(tmp_path: Path) -> None:
    version = publish(tmp_path / "twap.db", "alpha", 1)
    entry = inspect_entry(version, version.read_publication())
    assert entry["hash"] == version.name and entry["file"] == str(version.database)
    assert entry["tables"] == {"t": {"count": 1001}}
    assert entry["size"] == version.database.stat().st_size


def test_a_replaced_version_is_unread_once_its_requests_are_counted_out() -> None:
    assert unread({"twap@1": 0, "twap@2": 0}, "twap@2") == ["twap@1"]
    assert unread({"twap@1": 1, "twap@2": 0, "twap@3": 0}, "twap@3") == ["twap@2"]
    assert unread({"twap@3": 0}, "twap@3") == []  # the current one, read or not, stays
    assert unread({"twap@1": 0}, None) == ["twap@1"]


def test_a_version_closes_once_no_request_started_before_it_left_runs() -> None:
    # Left after the 4th request started: the 4th and older may still list it.
    assert closable({"twap@1": 4}, running={3, 5}, started=5) == []
    assert closable({"twap@1": 4}, running={4}, started=5) == []
    assert closable({"twap@1": 4}, running={5, 6}, started=6) == ["twap@1"]
    assert closable({"twap@1": 4, "twap@2": 6}, running={5, 7}, started=7) == ["twap@1"]
    assert closable({"twap@1": 4, "twap@2": 6}, running=set(), started=7) == ["twap@1", "twap@2"]
