"""Typed canned-query parameters: a bad value gets a one-line 400 before any SQL runs.

Each canned query in datasette/queries.yml declares `parameters: {name: {type, required}}`;
the types are in twap/parameters.py.
"""

import re
import urllib.parse
from typing import Any

from datasette import hookimpl
from datasette.app import Datasette
from datasette.utils.asgi import Request, Response

from twap.live import live_site
from twap.parameters import problem

QUERY_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<query>[^/]+?)(?P<json>\.json)?$")


async def _refuse(
    datasette: Datasette, scope: dict, receive: Any, send: Any, message: str, json: bool
) -> None:
    if json:
        response = Response.json(
            {"ok": False, "error": message, "status": 400, "title": "Invalid parameter"},
            status=400,
        )
    else:
        await datasette.invoke_startup()  # a no-op unless this is the first request
        html = await datasette.render_template(
            "error.html",
            {"ok": False, "error": message, "status": 400, "title": "Invalid parameter"},
            # Outside Datasette's CSRF middleware: the error page has no form to protect.
            request=Request(dict(scope, csrftoken=lambda: ""), receive),
        )
        response = Response.html(html, status=400)
    await response.asgi_send(send)


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Any:
    def wrap(app: Any) -> Any:
        async def validate(scope: dict, receive: Any, send: Any) -> None:
            match = QUERY_PATH.match(scope.get("path", "")) if scope["type"] == "http" else None
            site = live_site(datasette)
            if match and site is not None and match["database"] == site.name:
                queries = datasette.metadata("queries", database=site.name) or {}
                query = queries.get(match["query"])
                if query is not None:
                    given = dict(urllib.parse.parse_qsl(scope.get("query_string", b"").decode()))
                    json = bool(match["json"]) or given.get("_format") == "json"
                    message = problem(query.get("parameters", {}), given, json)
                    if message:
                        return await _refuse(datasette, scope, receive, send, message, json)
            await app(scope, receive, send)

        return validate

    return wrap
