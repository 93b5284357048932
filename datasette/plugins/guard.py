"""Every request bounded (twap/guard.py); errors answered quietly with the right status; no
file paths or server internals shown."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from datasette import hookimpl
from datasette.app import Datasette
from datasette.plugins import pm
from datasette.utils.asgi import Base400, Request, Response
from datasette.views.base import DatasetteError

from twap.guard import guarded, too_large_message
from twap.live import live_site
from twap.site_metrics import Metered

logger = logging.getLogger("twap.serve")
# Datasette runs every exception handler, and its own prints each 400 with a rich traceback of
# all locals (~250 ms and pages of log for the caller's mistake): this one answers instead.
if pm.has_plugin("datasette.handle_exception"):
    pm.unregister(name="datasette.handle_exception")


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[Any], Any]:
    # Metered outside the guard: its refusals and replayed answers are counted and timed too.
    return lambda app: Metered(guarded(app, datasette), datasette)


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
    """The error page or JSON, with a 4xx for what the request got wrong."""

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
    if site is None or site.database is None:
        return Response.json([])
    served = {"name": site.route, "route": site.route, "version": site.database.version.name}
    return Response.json([{**served, "is_mutable": False, "is_memory": False}])


async def not_here() -> Response:
    return Response.json({"ok": False, "error": "not shown here", "status": 404}, status=404)


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    return [
        (r"^/-/databases(\.json)?$", databases),
        (r"^/-/(threads|versions)(\.json)?$", not_here),
    ]
