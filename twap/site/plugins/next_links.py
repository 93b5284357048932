"""Next links on the JSON of the keyset-paged canned queries (their `next_page` in
queries.yml), as Datasette's tables have them: a `Link: <…>; rel="next"` header in every shape
and `next_url` in the object ones, while a page is full. The page's own link is in pages.py."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from datasette import hookimpl
from datasette.utils.asgi import Request

from twap.site.plugins.pages import next_page
from twap.site.versions import live_site

if TYPE_CHECKING:
    from datasette.app import Datasette

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def page_rows(body: bytes) -> tuple[Any, list[dict]] | None:
    """A canned query's JSON answer and its rows as dicts, in any `_shape` (or `_nl`), or None."""
    try:
        if body.lstrip().startswith((b"{", b"[")):
            answer = json.loads(body)
        else:
            return None, [json.loads(line) for line in body.splitlines() if line.strip()]
    except ValueError:
        return None
    if isinstance(answer, list):
        return answer, answer
    rows, columns = answer.get("rows"), answer.get("columns")
    if not isinstance(rows, list) or not isinstance(columns, list):
        return None
    return answer, [
        row if isinstance(row, dict) else dict(zip(columns, row, strict=True)) for row in rows
    ]


class NextLinks:
    """A keyset-paged canned query's JSON answer with its next page: a `Link: <…>; rel="next"`
    header in every shape, and `next_url` in the object ones (as Datasette's tables have)."""

    def __init__(self, app: App, datasette: Datasette) -> None:
        self.app = app
        self.datasette = datasette

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = await self.keyset(scope) if scope.get("type") == "http" else None
        if not found:
            await self.app(scope, receive, send)
            return
        held: list[dict[str, Any]] = []

        async def hold(message: dict[str, Any]) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        await self.answer(scope, receive, *found, held, send)

    async def keyset(self, scope: dict[str, Any]) -> tuple[dict, str] | None:
        """The canned query's keyset, and the request's path under the public route."""
        site = live_site(self.datasette)
        path = scope.get("path", "")
        if site is None or site.served is None or not path.endswith(".json"):
            return None
        # The guard hands Datasette the version's private route; its answer names the public one.
        prefix = next(
            (p for p in (f"/{site.served.route}/", f"/{site.route}/") if path.startswith(p)), None
        )
        name = path.removeprefix(prefix or "/").removesuffix(".json")
        if prefix is None or "/" in name:
            return None
        query = await self.datasette.get_canned_query(site.served.database.name, name, None)
        keyset = (query or {}).get("next_page")
        # The link names the public route: the answer's length is fixed here, after the guard's
        # own renaming of the private route.
        return (keyset, f"/{site.route}/{name}.json") if keyset else None

    async def answer(
        self, scope: dict[str, Any], receive: Any, keyset: dict, public: str, held: list, send: Any
    ) -> None:
        start, *bodies = held
        body = b"".join(message.get("body", b"") for message in bodies)
        found = page_rows(body) if start.get("status") == 200 else None
        url = ""
        if found is not None:
            request = Request(scope, receive)
            path = next_page(public, request.query_string, keyset, found[1], keep=True)
            url = self.datasette.absolute_url(request, path) if path else ""
        headers = list(start.get("headers", []))
        if url:
            answer = found[0]
            if isinstance(answer, dict):
                body = json.dumps({**answer, "next_url": url}).encode()
            headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
            headers += [
                (b"content-length", str(len(body)).encode()),
                (b"link", f'<{url}>; rel="next"'.encode()),
            ]
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@hookimpl
def asgi_wrapper(datasette: Datasette) -> Callable[[App], App]:
    return lambda app: NextLinks(app, datasette)
