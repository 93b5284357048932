"""Errors answered quietly with the right status, no file paths or server internals shown.

A 4xx for what the request got wrong, never a 500; `/-/databases.json` names the route and
version only; Datasette's threads and versions pages are 404.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Base400, Request, Response
from datasette.views.base import DatasetteError

from twap.site.guard import too_large_message
from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

logger = logging.getLogger("twap.serve")


def status_and_message(exception: Exception) -> tuple[int, str]:
    if isinstance(exception, Base400):
        return exception.status, str(exception.args[0])
    if isinstance(exception, DatasetteError):
        # Datasette raises these for what the request asked (a sort on no column, ...): 4xx.
        return (exception.status if exception.status < 500 else 400), str(exception.message)
    if isinstance(exception, MemoryError):
        return 413, too_large_message()
    logger.error("server error", exc_info=exception)
    return 500, "server error (logged)"


@hookimpl
def handle_exception(
    datasette: Datasette, request: Request, exception: Exception
) -> Callable[[], Awaitable[Response]]:
    """The error page or JSON, with a 4xx for what the request got wrong. Datasette answers
    with the first handler's response; its own default runs last (twap/site/workarounds.py)."""

    async def answer() -> Response:
        status, message = status_and_message(exception)
        info = {"ok": False, "error": message, "status": status, "title": None}
        if request.path.endswith(".json"):
            return Response.json(info, status=status)
        templates = [f"{status}.html", "error.html"]
        html = await datasette.render_template(templates, info, request=request)
        return Response.html(html, status=status)

    return answer


async def databases(datasette: Datasette) -> Response:
    """The served database by its route, without the file path Datasette shows."""
    site = live_site(datasette)
    if site is None or site.served is None:
        return Response.json([])
    served = {"name": site.route, "route": site.route, "version": site.served.version.name}
    return Response.json([{**served, "is_mutable": False, "is_memory": False}])


async def not_here() -> Response:
    return Response.json({"ok": False, "error": "not shown here", "status": 404}, status=404)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/databases(\.json)?$", databases),
        (r"^/-/(threads|versions)(\.json)?$", not_here),
    ]
