"""Serve whatever version the publish path points at, each request on one version to its end.

Each published version is a Datasette database of its own, named `twap@<version>` and reached
at a private route of its own (`/twap-<version>/`). A request takes the version current when it
starts (checked with one readlink; a new one is added then) and keeps it for its whole life: its
path `/twap/...` is handed to Datasette as the version's private route, so every query Datasette
runs for it, each page of a CSV stream included, reads that one file; its answer names the
public route again. Hooks that ask for "the served version" get the request's own (`served`).

A version is held by the requests on it (counted) and, while any holds it, stays registered,
open and locked shared on disk (twap/publish/versions.py), so no publish removes or takes over
its file. When the last request on a replaced version finishes (a finally: a client leaving
counts), it leaves Datasette; its connections close once every request that could still list
it (a request started before it left) is done; then its lock is let go and the publication's
free versions are cleaned. Everything goes through Datasette's public API: `add_database`,
`remove_database`, its inspect data (each version's row counts, as `datasette inspect` writes
them), the `get_metadata` and `permission_allowed` hooks.
"""

from __future__ import annotations

import contextvars
import logging
import os
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasette.database import Database
from datasette.utils import tilde_decode

from twap.publish.versions import Publication, Version

if TYPE_CHECKING:
    from datasette.app import Datasette

logger = logging.getLogger(__name__)
DATABASE = "twap"
Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]


class Shared(dict[str, Any]):
    """Part of a served version's metadata: read once per version, and never replaced while
    served, so a deep copy of it (Datasette makes several per request, one per permission
    check, of all that the metadata hook returns) is itself."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Shared:
        return self


def shared(value: Any) -> Any:
    """`value` (parsed JSON) with each object in it a `Shared` one."""
    if isinstance(value, dict):
        return Shared({key: shared(item) for key, item in value.items()})
    if isinstance(value, list):
        return [shared(item) for item in value]
    return value


@dataclass
class Served:
    """One published version as Datasette serves it, and the requests reading it."""

    database: Database
    version: Version
    publication: dict[str, Any]
    metadata: dict[str, Any]
    # Its shared lock on disk (twap/publish/versions.py) while registered.
    lock: int
    requests: int = 0
    # The last request started before it left Datasette: once that one is done, none reads it.
    closes_after: int = -1
    route: str = field(init=False)

    def __post_init__(self) -> None:
        self.route = self.database.route


# The version a request runs on, for the hooks and views it calls.
_pinned: contextvars.ContextVar[Served | None] = contextvars.ContextVar("twap_pinned", default=None)


def unread(requests: Mapping[str, int], current: str | None) -> list[str]:
    """The replaced versions no request holds, of the registered ones and their requests."""
    return [name for name, count in requests.items() if name != current and count == 0]


def closable(closes_after: Mapping[str, int], running: Collection[int], started: int) -> list[str]:
    """The versions out of Datasette no running request can still reach: each left once the
    request numbered `closes_after[name]` had started, and every one running started after it
    (`started` requests so far)."""
    oldest = min(running, default=started + 1)
    return [name for name, last in closes_after.items() if last < oldest]


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
    """The versions of one Datasette instance, served at the public route `/<route>/`."""

    def __init__(self, datasette: Datasette, pointer: Path, route: str = DATABASE) -> None:
        self.datasette = datasette
        self.publication = Publication(pointer)
        self.route = route
        self.current: Served | None = None
        # Every registered version by database name: the current one and those still read.
        self.versions: dict[str, Served] = {}
        # Versions out of Datasette whose connections close once older requests are done.
        self.closing: dict[str, Served] = {}
        self.running: set[int] = set()
        self._started = 0
        self._current_link: str | None = None

    @property
    def served(self) -> Served | None:
        """The version of the request being answered, or the current one outside a request."""
        pinned = _pinned.get()
        if pinned is not None and self.versions.get(pinned.database.name) is pinned:
            return pinned
        return self.current

    def metadata(self) -> dict[str, Any]:
        """The request's version's metadata, the database entry of each registered version
        under its name."""
        served = self.served
        if served is None:
            return {}
        databases = {
            name: served.metadata.get("databases", {}).get(self.route, {})
            for name, served in self.versions.items()
        }
        return Shared({**served.metadata, "databases": Shared(databases)})

    def owns(self, name: str) -> bool:
        """Whether the database `name` is one of this site's versions."""
        return name.startswith(f"{self.route}@")

    def visible(self, name: str) -> bool:
        """Whether a page lists the database `name`: only the request's own version."""
        served = self.served
        return served is not None and name == served.database.name

    def private(self, path: str) -> bool:
        """Whether `path` names a version's private route: never asked from outside."""
        first = tilde_decode(path.lstrip("/").split("/")[0].split(".")[0])
        return first.startswith(f"{self.route}-")

    @asynccontextmanager
    async def request(self) -> AsyncIterator[Served | None]:
        """The version current now, held (and the hooks' `served`) until the block ends."""
        self.refresh()
        served = self.current
        self._started += 1
        number = self._started
        self.running.add(number)
        if served is not None:
            served.requests += 1
        token = _pinned.set(served)
        try:
            yield served
        finally:
            _pinned.reset(token)
            self.running.discard(number)
            if served is not None:
                served.requests -= 1
            self._retire_unread()

    def refresh(self) -> None:
        """Switch to the version the pointer names, if it is another one (no await: a request
        finds the old version current or the new one)."""
        try:
            link = os.readlink(self.publication.pointer)
        except OSError:  # nothing published (yet, or any more): keep what is served
            return
        if link == self._current_link:
            return
        version = self.publication.current()
        if version is None or (self.current and version == self.current.version):
            self._current_link = link
            return
        served = self._open(version)
        if served is None:  # its publish is still letting go of it: the next request tries
            return
        self._current_link = link
        self.current = served
        self.versions[served.database.name] = served
        logger.info("serving version %s", version.name)
        self._retire_unread()

    def _open(self, version: Version) -> Served | None:
        lock = version.hold()
        if lock is None:
            return None
        name = f"{self.route}@{version.name}"
        publication = version.read_publication()
        self.datasette.inspect_data[name] = inspect_entry(version, publication)
        database = Database(self.datasette, path=str(version.database), is_mutable=False)
        route = f"{self.route}-{version.name.replace('.', '-')}"
        self.datasette.add_database(database, name=name, route=route)
        return Served(database, version, publication, shared(version.read_metadata()), lock)

    def _retire_unread(self) -> None:
        """Take replaced versions no request reads out of Datasette; close those no request
        started before could still reach (Datasette lists every database for some pages)."""
        current = self.current.database.name if self.current else None
        for name in unread({n: s.requests for n, s in self.versions.items()}, current):
            served = self.closing[name] = self.versions.pop(name)
            self.datasette.remove_database(name)
            served.closes_after = self._started
        after = {name: served.closes_after for name, served in self.closing.items()}
        names = closable(after, self.running, self._started)
        if not names:
            return
        for name in names:
            served = self.closing.pop(name)
            served.database.close()
            self.datasette.inspect_data.pop(name, None)
            os.close(served.lock)
        removed = self.publication.clean()
        if removed:
            logger.info("removed %d unread versions", len(removed))

    def scope(self, scope: dict[str, Any], served: Served) -> dict[str, Any]:
        """The request's scope with the public route replaced by its version's private one."""
        public = f"/{self.route}"
        path: str = scope["path"]
        if path != public and not path.startswith((f"{public}/", f"{public}.")):
            return scope
        private = f"/{served.route}"
        scope = {**scope, "path": private + path[len(public) :]}
        raw: bytes | None = scope.get("raw_path")
        if raw is not None and raw.startswith(public.encode()):
            scope["raw_path"] = private.encode() + raw[len(public) :]
        return scope

    def public_send(self, send: Send, served: Served) -> Send:
        """`send` with the version's private route named by the public one in the answer's
        links (Datasette builds them from the route it served)."""
        private, public = f"/{served.route}".encode(), f"/{self.route}".encode()
        start: list[Message] = []  # held until the body's length is known

        async def send_public(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(n, v.replace(private, public)) for n, v in message.get("headers", [])]
                start.append({**message, "headers": headers})
                return
            if message["type"] == "http.response.body":
                body = message.get("body", b"").replace(private, public)
                message = {**message, "body": body}
                if start:
                    # A renamed body is shorter: its length is the renamed one's, or (streamed)
                    # left to the server's chunked encoding.
                    head = start.pop()
                    headers = [(n, v) for n, v in head["headers"] if n.lower() != b"content-length"]
                    if not message.get("more_body"):
                        headers.append((b"content-length", str(len(body)).encode()))
                    await send({**head, "headers": headers})
            await send(message)

        return send_public


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
