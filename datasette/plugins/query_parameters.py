"""Typed canned-query parameters: a bad value gets a one-line 400 before any SQL runs.

Each canned query in datasette/queries.yml declares `parameters: {name: {type, required}}`.
"""

import re
import urllib.parse
from datetime import date

from datasette.utils.asgi import Request, Response

from datasette import hookimpl
from twap.live import live_site

MAX_PAGE_SIZE = 1000
TYPES = {
    "wallet": (r"0x[0-9a-fA-F]{40}", "a wallet address: 0x and 40 hex digits"),
    "coin": (r"[A-Za-z0-9@:._/-]{1,40}", "a coin such as BTC, @107 or xyz:NVDA"),
    "integer": (r"\d{1,18}", "a whole number"),
    "number": (r"\d{1,20}(\.\d{1,20})?([eE][+-]?\d{1,3})?", "a number of USD, e.g. 1234.5"),
    "date": (r"\d{4}-\d{2}-\d{2}", "a date as YYYY-MM-DD"),
    "page_size": (r"\d{1,4}", f"a page size from 1 to {MAX_PAGE_SIZE}"),
}
QUERY_PATH = re.compile(r"^/(?P<database>[^/]+)/(?P<query>[^/]+?)(?P<json>\.json)?$")


def problem(parameters: dict[str, dict], given: dict[str, str], json: bool) -> str | None:
    """What is wrong with the `given` values, in one line, or None."""
    unknown = sorted(name for name in given if not name.startswith("_") and name not in parameters)
    if unknown:
        return f"unknown parameter {', '.join(unknown)}: this query takes {', '.join(parameters)}"
    for name, spec in parameters.items():
        value = given.get(name, "")
        if not value:
            # The HTML page without parameters shows the empty form; the JSON API needs them.
            if spec.get("required") and (json or given):
                return f"{name} is required: {TYPES[spec['type']][1]}"
            continue
        pattern, expected = TYPES[spec["type"]]
        if not re.fullmatch(pattern, value) or not _in_range(spec["type"], value):
            return f"{name}={value[:60]!r} is not {expected}"
    return None


def _in_range(kind: str, value: str) -> bool:
    if kind == "page_size":
        return 1 <= int(value) <= MAX_PAGE_SIZE
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
    return True


async def _refuse(datasette, scope, receive, send, message: str, json: bool) -> None:
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
def asgi_wrapper(datasette):
    def wrap(app):
        async def validate(scope, receive, send):
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
