"""Serve whatever version the publish path points at, switching without a restart.

Each request first checks the pointer (one readlink). When it names a new version, the served
database is replaced by one opened on the new file, and the metadata by the new version's. A
request keeps the database object it started with, so it reads one version whole; the old
object's connections are closed once requests on it have had time to finish.
"""

import asyncio
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasette.app import Datasette
from datasette.database import Database, Results

from twap.publication import Publication, Version

logger = logging.getLogger(__name__)
SLOW_QUERY_SECONDS = 0.02
REMEMBERED_QUERIES = 500
# Tables people open first, asked once after a switch so their slow facets are remembered.
WARM_TABLES = ("fct_twaps", "fct_twap_status_events")
# Longer than the SQL time limit and a page render: requests on the old version are done by then.
CLOSE_OLD_AFTER_SECONDS = 30.0


class VersionDatabase(Database):
    """An immutable database of one published version, with per-version thread connections.

    Datasette keeps read connections per thread under the database's *name*; two versions share
    the name, so this class keeps its own, or threads would go on reading the old file.
    """

    def __init__(self, datasette: Datasette, version: Version, publication: dict[str, Any]):
        super().__init__(datasette, path=str(version.database), is_mutable=False)
        self.version = version
        self.publication = publication
        # Counts from the publish itself: no count(*) over a year of rows on first view.
        self._cached_table_counts = dict(publication["tables"])
        self.cached_hash = version.name
        self._local = threading.local()
        self.remember_slow_queries = True
        self._remembered: OrderedDict[str, Results] = OrderedDict()

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
        if key in self._remembered:
            self._remembered.move_to_end(key)
            return self._remembered[key]
        started = time.perf_counter()
        results = await super().execute(
            sql, params, truncate, custom_time_limit, page_size, log_sql_errors
        )
        if self.remember_slow_queries and time.perf_counter() - started > SLOW_QUERY_SECONDS:
            self._remembered[key] = results
            if len(self._remembered) > REMEMBERED_QUERIES:
                self._remembered.popitem(last=False)
        return results

    async def execute_fn(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        if self.ds.executor is None:
            return await super().execute_fn(fn)

        def in_thread() -> Any:
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self.connect()
                self.ds._prepare_connection(connection, self.name)
                self._local.connection = connection
            return fn(connection)

        return await asyncio.get_running_loop().run_in_executor(self.ds.executor, in_thread)


class LiveSite:
    """The served version of one Datasette instance."""

    def __init__(self, datasette: Datasette, pointer: Path, name: str) -> None:
        self.datasette = datasette
        self.publication = Publication(pointer)
        self.name = name
        self.database: VersionDatabase | None = None
        self._lock = asyncio.Lock()
        self._warming: asyncio.Task | None = None
        self._served_link: str | None = None

    def _link(self) -> str | None:
        try:
            return os.readlink(self.publication.pointer)
        except OSError:  # nothing published (yet, or any more): keep what is served
            return None

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
            new = VersionDatabase(self.datasette, version, version.read_publication())
            metadata = version.read_metadata()
            old = self.datasette.databases.get(self.name)
            new.name = new.route = self.name
            # No await between these two: a request sees the new database and metadata or neither.
            self.datasette.databases = {**self.datasette.databases, self.name: new}
            self.datasette._metadata_local = metadata
            self.database = new
            await self._forget_schema()
            logger.info("serving version %s", version.name)
            loop = asyncio.get_running_loop()
            if old is not None:
                loop.call_later(CLOSE_OLD_AFTER_SECONDS, old.close)
            self._warming = loop.create_task(self._warm())

    async def _warm(self) -> None:
        for table in WARM_TABLES:
            await self.datasette.client.get(f"/{self.name}/{table}.json?_size=0")

    async def _forget_schema(self) -> None:
        """Make Datasette re-read the table schemas of the new file on the next page."""
        internal = self.datasette.databases.get("_internal")
        if internal is not None and self.datasette.internal_db_created:
            await internal.execute_write(
                "delete from databases where database_name = ?", [self.name]
            )


_sites: "weakref.WeakKeyDictionary[Datasette, LiveSite]" = weakref.WeakKeyDictionary()


def live_site(datasette: Datasette) -> LiveSite | None:
    """The live site of `datasette`, made from its `twap` plugin settings; None without them."""
    site = _sites.get(datasette)
    if site is None:
        config = datasette.plugin_config("twap") or {}
        if "pointer" not in config:
            return None
        site = _sites[datasette] = LiveSite(datasette, Path(config["pointer"]), config["database"])
    return site
