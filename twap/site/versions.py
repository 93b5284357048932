"""Serve whatever version the publish path points at, switching without a restart.

Each request first checks the pointer (one readlink). When it names a new version, the new file
is added as a database of its own name (`twap@<version>`) at the route `/twap/`, and the old
one moves off that route: Datasette keys a database's thread connections and metadata by name,
so a request that started on the old version reads the old file to its end (rows, count and
facets alike), and one that starts after the switch reads only the new file. The old version
is removed once requests on it have had time to finish. Everything goes through Datasette's
public API: `add_database`, `remove_database`, its inspect data (each version's row counts,
as `datasette inspect` writes them), the `get_metadata` and `permission_allowed` hooks.
"""

from __future__ import annotations

import asyncio
import logging
import os
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasette.database import Database

from twap.publish.versions import Publication, Version

if TYPE_CHECKING:
    from datasette.app import Datasette

logger = logging.getLogger(__name__)
DATABASE = "twap"
# Longer than a request's time budget (twap/site/guard.py): requests on the old version are done.
CLOSE_OLD_AFTER_SECONDS = 90.0


@dataclass(frozen=True)
class Served:
    """One published version as Datasette serves it."""

    database: Database
    version: Version
    publication: dict[str, Any]
    metadata: dict[str, Any]


def inspect_entry(version: Version, publication: dict[str, Any]) -> dict[str, Any]:
    """What `datasette inspect` would say of the version, from its publish: hashing or
    counting a year's file would read all of it."""
    return {
        "hash": version.name,
        "size": version.database.stat().st_size,
        "file": str(version.database),
        "tables": {name: {"count": count} for name, count in publication["tables"].items()},
    }


class LiveSite:
    """The served version of one Datasette instance, at the route `/<route>/`."""

    def __init__(self, datasette: Datasette, pointer: Path, route: str = DATABASE) -> None:
        self.datasette = datasette
        self.publication = Publication(pointer)
        self.route = route
        self.served: Served | None = None
        # Versions still readable by name for requests that started on them.
        self.retiring: dict[str, Served] = {}
        self._lock = asyncio.Lock()
        self._served_link: str | None = None

    def _link(self) -> str | None:
        try:
            return os.readlink(self.publication.pointer)
        except OSError:  # nothing published (yet, or any more): keep what is served
            return None

    def metadata(self) -> dict[str, Any]:
        """The served version's metadata, its database entry under each live version's name."""
        if self.served is None:
            return {}
        entry = self.served.metadata.get("databases", {}).get(self.route, {})
        databases = {
            old.database.name: old.metadata["databases"][self.route]
            for old in self.retiring.values()
        }
        return {
            **self.served.metadata,
            "databases": {**databases, self.served.database.name: entry},
        }

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
            if version is None or (self.served and version == self.served.version):
                return
            self._switch(version)

    def _switch(self, version: Version) -> None:
        name = f"{self.route}@{version.name}"
        publication = version.read_publication()
        self.datasette.inspect_data[name] = inspect_entry(version, publication)
        database = Database(self.datasette, path=str(version.database), is_mutable=False)
        new = Served(database, version, publication, version.read_metadata())
        old = self.served
        # No await in here: a request finds either the old version at the route or the new one.
        if old is not None:
            self.datasette.remove_database(old.database.name)
            self.retiring[old.database.name] = old
        self.datasette.add_database(database, name=name, route=self.route)
        if old is not None:
            self.datasette.add_database(
                old.database, name=old.database.name, route=old.database.name
            )
            asyncio.get_running_loop().call_later(CLOSE_OLD_AFTER_SECONDS, self._retire, old)
        self.served = new
        logger.info("serving version %s", version.name)

    def _retire(self, old: Served) -> None:
        name = old.database.name
        self.retiring.pop(name, None)
        self.datasette.remove_database(name)
        self.datasette.inspect_data.pop(name, None)
        old.database.close()


_sites: weakref.WeakKeyDictionary[Datasette, LiveSite] = weakref.WeakKeyDictionary()


def attach(datasette: Datasette, pointer: Path) -> LiveSite:
    """Serve the versions behind `pointer` on `datasette` (done before its first request)."""
    if "_memory" in datasette.databases:  # Datasette adds it when started without a file
        datasette.remove_database("_memory")
    site = _sites[datasette] = LiveSite(datasette, pointer)
    return site


def live_site(datasette: Datasette) -> LiveSite | None:
    """The live site of `datasette`, or None if it serves something else."""
    return _sites.get(datasette)
