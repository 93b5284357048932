"""The version `twap publish` points at, served and described (twap/site/versions.py).

A new one is picked up without a restart, checked before each request by twap/site/guard.py;
a page lists only its own request's version, though older ones stay registered for the
requests still reading them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Response

from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette


@hookimpl
def startup(datasette: Datasette) -> Callable[[], Awaitable[None]]:
    async def serve_current_version() -> None:
        site = live_site(datasette)
        if site is not None:
            site.refresh()

    return serve_current_version


@hookimpl
def permission_allowed(datasette: Datasette, action: str, resource: Any) -> bool | None:
    site = live_site(datasette)
    if action != "view-database" or site is None or not isinstance(resource, str):
        return None
    return False if site.owns(resource) and not site.visible(resource) else None


@hookimpl
def get_metadata(datasette: Datasette) -> dict[str, Any]:
    site = live_site(datasette)
    return site.metadata() if site is not None else {}


async def metadata_json(datasette: Datasette) -> Response:
    """The served version's metadata as published (by route, not by version name)."""
    site = live_site(datasette)
    return Response.json(site.served.metadata if site and site.served else {})


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [(r"^/-/metadata(\.json)?$", metadata_json)]
