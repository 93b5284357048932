"""Versions as the site serves them (twap/site/versions.py), on small hand-made versions, no
pipeline: each request reads the version current when it started to its end (a CSV stream's
every page included), a page never fails because of a switch, and a replaced version is let go
(out of Datasette, its file removed) when its last request is done, not after a delay."""

import asyncio
import csv
import io
import json
import shutil
import signal
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

from dlt_pipelines.sample_data import generate
from tests.conftest import Twap, serving
from tests.run.test_faults import holding, start_and_block
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


class Stalled:
    """A GET of `path` from a real server whose client reads the head of the answer, then stops
    reading until `rest` (its receive buffer small): the server waits mid-stream, not done."""

    def __init__(self, url: str, path: str) -> None:
        address = urllib.parse.urlsplit(url)
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.socket.connect((address.hostname, address.port))
        # HTTP/1.0: the answer ends when the server closes, no chunks to decode.
        self.socket.sendall(f"GET {path} HTTP/1.0\r\nHost: {address.netloc}\r\n\r\n".encode())
        self.received = b""
        while b"\r\n\r\n" not in self.received:
            self.received += self.socket.recv(4096)

    def rest(self) -> tuple[str, bytes]:
        """The status line and the whole body, once read on to the end."""
        while chunk := self.socket.recv(1 << 16):
            self.received += chunk
        self.socket.close()
        head, body = self.received.split(b"\r\n\r\n", 1)
        return head.decode().splitlines()[0], body


class HomePages:
    """Readers asking for `/` again and again until stopped, each answer's status kept."""

    def __init__(self, url: str, readers: int = 2) -> None:
        self.url = url
        self.statuses: list[int] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.read) for _ in range(readers)]
        for thread in self.threads:
            thread.start()

    def read(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(f"{self.url}/", timeout=30) as page:
                    page.read()
                    self.statuses.append(page.status)
            except urllib.error.HTTPError as error:
                self.statuses.append(error.code)

    def stopped(self) -> list[int]:
        self.stop.set()
        for thread in self.threads:
            thread.join()
        return self.statuses


def version_rows(version: Version, table: str) -> list[list[str]]:
    """The rows of `table` in the file of `version` as CSV text, sorted."""
    with closing(sqlite3.connect(f"file:{version.database}?mode=ro", uri=True)) as db:
        rows = db.execute(f"select * from {table}").fetchall()
    return sorted(["" if value is None else str(value) for value in row] for row in rows)


def kill_a_publish_mid_write(twap: Twap) -> None:
    """`twap publish` killed -9 while it writes its version: it waits for a mart a test holds
    locked (after its first tables are written), then is killed; its connection ended too."""
    with holding(twap, "marts.fct_active_twaps", "access exclusive"):
        process, waiting = start_and_block(twap, "marts.fct_active_twaps", "publish")
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.stderr is not None
        process.stderr.close()
        twap.query(f"select pg_terminate_backend(pid) from unnest(array{waiting}) as pid")


def republish_without(publication: Publication, base: Version, where: str) -> Version:
    """A version of `base` without the events `where` says, switched to and cleaned after as a
    publish does: in milliseconds, where `twap publish` takes longer than a stream's budget on
    a busy machine."""
    version = publication.new_version()
    shutil.copyfile(base.database, version.database)
    with closing(sqlite3.connect(version.database)) as db, db:
        db.execute(f"delete from {EVENTS} where {where}")
        count = db.execute(f"select count(*) from {EVENTS}").fetchone()[0]
    facts = base.read_publication()
    tables = {**facts["tables"], EVENTS: count}
    version.write_json(base.read_metadata(), {**facts, "version": version.name, "tables": tables})
    publication.switch(version)
    publication.clean()
    return version


EVENTS = "fct_twap_status_events"


def test_twap_serve_streams_one_version_across_switches_and_cleans_a_killed_publish(
    twap: Twap, tmp_path: Path
) -> None:
    # Events enough that their CSV outgrows the server's socket buffers: the stream waits on
    # its client mid-way, with most of its pages still to query.
    generate(tmp_path / "source", days=1, seed=11, twaps_per_day=20000)
    twap("run", "--source", str(tmp_path / "source"))
    publication = Publication(twap.home / "twap.db")
    first = publication.current()
    assert first is not None

    with serving(twap) as server:
        stream = Stalled(server.url, f"/twap/{EVENTS}.csv?_stream=on&_size=max")
        expected = version_rows(first, EVENTS)
        pages = HomePages(server.url)
        switched = [republish_without(publication, first, f"twap_id % 4 = {n}") for n in range(4)]
        # Neither current nor the one kept for the next publish, but still streamed: kept.
        assert first.directory.exists() and publication.current() == switched[-1]
        statuses = pages.stopped()
        assert statuses and set(statuses) == {200}, statuses

        status, body = stream.rest()
        assert status.split()[1] == "200", status
        streamed = list(csv.reader(io.StringIO(body.decode())))
        assert sorted(streamed[1:]) == expected  # every row once, of the version it began on
        # Its last request done, the first version goes: out of the server and off the disk.
        deadline = time.monotonic() + 30
        while first.directory.exists():
            assert time.monotonic() < deadline, "the first version outlived its last request"
            time.sleep(0.05)

        kill_a_publish_mid_write(twap)
        complete = publication.versions()
        leftovers = [
            d
            for d in publication.versions_dir.iterdir()
            if d not in {v.directory for v in complete}
        ]
        assert len(leftovers) == 1
        twap("publish")
        assert not leftovers[0].exists()  # the next publish removed what the killed one left
        latest = publication.current()
        assert latest is not None
        with urllib.request.urlopen(f"{server.url}/-/healthz", timeout=30) as page:
            assert json.load(page)["version"] == latest.name
        with urllib.request.urlopen(f"{server.url}/", timeout=30) as page:
            assert page.status == 200
