"""Serve whatever version the publish path points at, switching without a restart.

Each request first checks the pointer (one readlink). When it names a new version, the new file
is added as a database of its own name (`twap@<version>`) at the route `/twap/`, and the old
one moves off that route: Datasette keys a database's thread connections and metadata by name,
so a request that started on the old version reads the old file to its end (rows, count and
facets alike), and one that starts after the switch reads only the new file. The old version
is removed once requests on it have had time to finish. Everything goes through Datasette's
public API: `add_database`, `remove_database`, the `get_metadata` and `permission_allowed` hooks.
"""

import asyncio
import json
import logging
import os
import signal
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

from datasette.app import Datasette
from datasette.database import Database, Results

from twap.publish.versions import Publication, Version

logger = logging.getLogger(__name__)
DATABASE = "twap"
SLOW_QUERY_SECONDS = 0.02
# Remembered answers of slow queries, per version: bounded in count and in bytes.
REMEMBERED_QUERIES = 500
REMEMBERED_BYTES = 32 * 1024 * 1024
# Tables people open first, asked once after a switch so their slow facets are remembered.
WARM_TABLES = ("fct_twaps", "fct_twap_status_events")
# Longer than a request's time budget (twap/guard.py): requests on the old version are done.
CLOSE_OLD_AFTER_SECONDS = 90.0
# Datasette keeps a few schema rows per database name it has seen; a worker that has switched
# this many times exits and its supervisor starts a fresh one, so they never pile up.
SWITCHES_PER_WORKER = 200
# Marks the warm-up's own requests, so that request metrics tell them from the visitors'.
INTERNAL_HEADER = "x-twap-internal"


def results_bytes(results: Results) -> int:
    """About what an answer holds in memory: its values as text, plus a little per value."""
    return sum(len(str(value)) + 8 for row in results.rows for value in row)


class VersionDatabase(Database):
    """An immutable database of one published version; remembers the answers of slow queries."""

    def __init__(self, datasette: Datasette, version: Version, publication: dict[str, Any]):
        super().__init__(datasette, path=str(version.database), is_mutable=False)
        self.version = version
        self.publication = publication
        self.metadata = version.read_metadata()
        self.remember_slow_queries = True
        self.remembered: OrderedDict[str, tuple[Results, int]] = OrderedDict()
        self.remembered_bytes = 0

    @property
    def hash(self) -> str:
        """The version's name: hashing a year's file would read all of it."""
        return self.version.name

    async def table_counts(self, limit: int = 10) -> dict[str, int]:
        """Counts from the publish itself: no count(*) over a year of rows."""
        return dict(self.publication["tables"])

    async def execute(
        self,
        sql: str,
        params: dict[str, Any] | list[Any] | None = None,
        truncate: bool = False,
        custom_time_limit: int | None = None,
        page_size: int | None = None,
        log_sql_errors: bool = True,
    ) -> Results:
        """Datasette's execute; the answers of slow queries are kept (the file never changes).

        Facets over a year of TWAPs take ~100 ms each in SQLite; asked again, they are instant.
        """
        key = json.dumps([sql, params, truncate, custom_time_limit, page_size], default=str)
        if key in self.remembered:
            self.remembered.move_to_end(key)
            return self.remembered[key][0]
        started = asyncio.get_running_loop().time()
        results = await super().execute(
            sql, params, truncate, custom_time_limit, page_size, log_sql_errors
        )
        slow = asyncio.get_running_loop().time() - started > SLOW_QUERY_SECONDS
        if self.remember_slow_queries and slow:
            self.remember(key, results)
        return results

    def remember(self, key: str, results: Results) -> None:
        size = results_bytes(results) + len(key)
        if size > REMEMBERED_BYTES // 10:  # one huge answer would push out all the others
            return
        self.remembered[key] = (results, size)
        self.remembered_bytes += size
        while len(self.remembered) > REMEMBERED_QUERIES or self.remembered_bytes > REMEMBERED_BYTES:
            self.remembered_bytes -= self.remembered.popitem(last=False)[1][1]

    def forget(self) -> None:
        self.remembered.clear()
        self.remembered_bytes = 0


class LiveSite:
    """The served version of one Datasette instance, at the route `/<route>/`."""

    def __init__(self, datasette: Datasette, pointer: Path, route: str = DATABASE) -> None:
        self.datasette = datasette
        self.publication = Publication(pointer)
        self.route = route
        self.database: VersionDatabase | None = None
        # Versions still readable by name for requests that started on them.
        self.retiring: dict[str, VersionDatabase] = {}
        self.switches = 0
        # Set in `twap serve` workers only: a supervisor starts the next one.
        self.max_switches: int | None = None
        self._lock = asyncio.Lock()
        self._warming: asyncio.Task | None = None
        self._served_link: str | None = None

    def _link(self) -> str | None:
        try:
            return os.readlink(self.publication.pointer)
        except OSError:  # nothing published (yet, or any more): keep what is served
            return None

    def metadata(self) -> dict[str, Any]:
        """The served version's metadata, its database entry under each live version's name."""
        if self.database is None:
            return {}
        entry = self.database.metadata.get("databases", {}).get(self.route, {})
        databases = {db.name: db.metadata["databases"][self.route] for db in self.retiring.values()}
        return {**self.database.metadata, "databases": {**databases, self.database.name: entry}}

    def owns(self, name: str) -> bool:
        """Whether the database `name` is one of this site's versions."""
        return name.startswith(f"{self.route}@")

    async def refresh(self) -> None:
        """Switch to the version the pointer names, if it is another one."""
        link = self._link()
        if link is None or link == self._served_link:
            return
        async with self._lock:
            version = self.publication.current()
            self._served_link = link
            if version is None or (self.database and version == self.database.version):
                return
            self._switch(version)

    def _switch(self, version: Version) -> None:
        new = VersionDatabase(self.datasette, version, version.read_publication())
        old = self.database
        # No await in here: a request finds either the old version at the route or the new one.
        if old is not None:
            self.datasette.remove_database(old.name)
            self.retiring[old.name] = old
        self.datasette.add_database(new, name=f"{self.route}@{version.name}", route=self.route)
        if old is not None:
            self.datasette.add_database(old, name=old.name, route=old.name)
        self.database = new
        self.switches += 1
        logger.info("serving version %s", version.name)
        loop = asyncio.get_running_loop()
        if old is not None:
            loop.call_later(CLOSE_OLD_AFTER_SECONDS, self._retire, old)
        self._warming = loop.create_task(self._warm())

    def _retire(self, old: VersionDatabase) -> None:
        self.retiring.pop(old.name, None)
        self.datasette.remove_database(old.name)
        old.close()
        if self.max_switches is not None and self.switches >= self.max_switches:
            logger.info("worker %d: %d versions served, handing over", os.getpid(), self.switches)
            os.kill(os.getpid(), signal.SIGTERM)

    async def _warm(self) -> None:
        for table in WARM_TABLES:
            await self.datasette.client.get(
                f"/{self.route}/{table}.json?_size=0", headers={INTERNAL_HEADER: "1"}
            )


_sites: "weakref.WeakKeyDictionary[Datasette, LiveSite]" = weakref.WeakKeyDictionary()


def attach(datasette: Datasette, pointer: Path) -> LiveSite:
    """Serve the versions behind `pointer` on `datasette` (done before its first request)."""
    if "_memory" in datasette.databases:  # Datasette adds it when started without a file
        datasette.remove_database("_memory")
    site = _sites[datasette] = LiveSite(datasette, pointer)
    return site


def live_site(datasette: Datasette) -> LiveSite | None:
    """The live site of `datasette`, or None if it serves something else."""
    return _sites.get(datasette)
