"""Bounds on every request: the ASGI middleware Datasette runs through its `asgi_wrapper` hook.

Before Datasette sees a request: GET and HEAD only; the URL, its parameters and its facets
bounded; a parameter given twice refused (but for the few Datasette reads as lists), a facet
named twice asked once; canned-query parameters typed (twap/site/parameters.py), whatever the
renderer. Around it: one time budget for the whole request, its work cancelled when the client
leaves, expensive requests (SQL, facets, streams) admitted a few at a time so that the others
keep answering (twap/site/slots.py), answers too large refused, answers asked again replayed
for a while (twap/site/page_cache.py), and security headers on every answer. First of all it
takes the request's version (twap/site/versions.py), held until the answer is done: a request
sees one version, and a version's private route is not asked from outside.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import weakref
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from datasette.database import Database
from datasette.utils.asgi import Request, Response

from twap.site import metrics
from twap.site.page_cache import PageCache
from twap.site.parameters import problem
from twap.site.slots import Slots, machine_slots
from twap.site.versions import LiveSite, live_site
from twap.site.workarounds import first_page_in_key_order

if TYPE_CHECKING:
    from datasette.app import Datasette

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

METHODS = ("GET", "HEAD")
MAX_URL_BYTES = 4096
MAX_PARAMETERS = 40
MAX_FACETS = 6
# Parameters Datasette reads as lists; any other one given twice is a mistake or an attack.
LIST_PARAMETERS = {"_facet", "_facet_array", "_facet_date", "_col", "_nocol"}
# What makes a request expensive: its own SQL, facets or filters beyond the served ones, streams.
EXPENSIVE_PARAMETERS = {"sql", "_stream", "_where", "_search"}
EXPENSIVE_PREFIXES = ("_facet",)
# Expensive requests run in the machine's slots (twap/site/slots.py: half its cores); a few more
# wait in each worker, up to REQUEST_SECONDS.
EXPENSIVE_WAITING = 4
# A whole request, however many queries it runs (each is also held to sql_time_limit_ms).
REQUEST_SECONDS = 5.0
STREAM_SECONDS = 60.0
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
UNCACHED_PATHS = ("/-/healthz", "/-/metrics")
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    # Datasette's pages use inline scripts and styles, and nothing from elsewhere.
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; "
        b"style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
        b"base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
]


@dataclass(frozen=True)
class Refusal:
    status: int
    message: str
    # Why, for the request metrics (twap/site/metrics.py): a bound of the URL unless said.
    reason: str = "bounds"


@dataclass
class Load:
    """Expensive requests of this worker: running, waiting, refused since it started."""

    running: int = 0
    waiting: int = 0
    refused: int = 0
    over_budget: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


_guards: weakref.WeakKeyDictionary[Datasette, Guard] = weakref.WeakKeyDictionary()


def guarded(app: App, datasette: Datasette) -> Guard:
    """`app` behind a guard (Datasette's asgi_wrapper); the first one made is the one that
    serves (a worker builds its app once; in-process clients build theirs first)."""
    guard = Guard(app, datasette)
    _guards.setdefault(datasette, guard)
    return guard


def guard_of(datasette: Datasette) -> Guard | None:
    """The guard of `datasette`'s requests (its load for /-/healthz, its remembered pages)."""
    return _guards.get(datasette)


def refusal(path: str, query_string: bytes, pairs: list[tuple[str, str]]) -> Refusal | None:
    """What is wrong with a request's URL, in one line, before anything runs."""
    if len(path.encode()) + len(query_string) > MAX_URL_BYTES:
        return Refusal(414, f"the URL is over {MAX_URL_BYTES} bytes")
    if len(pairs) > MAX_PARAMETERS:
        return Refusal(400, f"{len(pairs)} parameters: at most {MAX_PARAMETERS}")
    counts = Counter(name for name, _ in pairs)
    repeated = sorted(n for n, c in counts.items() if c > 1 and n not in LIST_PARAMETERS)
    if repeated:
        return Refusal(400, f"parameter {', '.join(repeated)} given more than once")
    facets = {(n, v) for n, v in pairs if n.startswith("_facet") and n in LIST_PARAMETERS}
    if len(facets) > MAX_FACETS:
        return Refusal(400, f"{len(facets)} facets: at most {MAX_FACETS} at once")
    if "_through" in counts:
        return Refusal(400, "_through follows a foreign key: the published tables have none")
    return None


def without_repeated_facets(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The parameters with each facet asked once (Datasette would compute it each time)."""
    return [p for i, p in enumerate(pairs) if not p[0].startswith("_facet") or p not in pairs[:i]]


def cache_key(scope: Scope, site: LiveSite | None) -> tuple[str, ...] | None:
    """What a remembered answer is found by, if this request's may be remembered: the health
    report is live, a stream long."""
    if site is None or site.served is None or scope["method"] != "GET":
        return None
    if scope["path"] in UNCACHED_PATHS or b"_stream=" in scope["query_string"]:
        return None
    return (site.served.version.name, scope["path"], scope["query_string"].decode())


def left_of(budget: float, started: float) -> float:
    """What is left of a request's `budget` seconds, `started` on the monotonic clock."""
    return budget - (time.monotonic() - started)


def is_expensive(pairs: list[tuple[str, str]]) -> bool:
    return any(n in EXPENSIVE_PARAMETERS or n.startswith(EXPENSIVE_PREFIXES) for n, _ in pairs)


def secured(send: Send) -> Send:
    """`send` with the security headers added to the response's start."""

    async def send_secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return send_secured


class Guard:
    """The ASGI wrapper: refusals, admission, budget and cancellation around `app`."""

    def __init__(self, app: App, datasette: Datasette) -> None:
        self.app = app
        self.datasette = datasette
        self._slots: Slots | None = None
        self.load = Load()
        self.pages = PageCache()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = secured(send)
        site = live_site(self.datasette)
        if site is None:
            return await self.answer(scope, receive, send, None)
        async with site.request():  # the request's version, held until its answer is done
            return await self.answer(scope, receive, send, site)

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, site: LiveSite | None
    ) -> None:
        started = time.monotonic()
        if site is not None and site.private(scope["path"]):
            refused = Refusal(404, "not found: pages are under /" + site.route + "/", "bounds")
            return await self.refuse(scope, receive, send, refused)
        if scope["method"] not in METHODS:
            refused = Refusal(
                405, f"{scope['method']} is not allowed: this site is read-only", "method"
            )
            return await self.refuse(scope, receive, send, refused, (("allow", "GET, HEAD"),))
        query_string = scope.get("query_string", b"")
        pairs = urllib.parse.parse_qsl(query_string.decode("utf-8", "replace"), True)
        pairs = without_repeated_facets(pairs)
        refused = refusal(scope["path"], query_string, pairs) or self.canned_refusal(scope, pairs)
        if refused is not None:
            return await self.refuse(scope, receive, send, refused)
        ordered = await self.in_key_order(scope["path"], pairs)
        if isinstance(ordered, Refusal):
            return await self.refuse(scope, receive, send, ordered)
        scope = {**scope, "query_string": urllib.parse.urlencode(ordered).encode()}
        key = cache_key(scope, site)
        if key is None:
            return await self.admit(scope, receive, send, pairs, site, started)
        answer = self.pages.get(key) or await self.pages.computed(
            key, left_of(REQUEST_SECONDS, started)
        )
        if answer is not None:
            return await answer.replay(send)
        with self.pages.computing_answer(key):
            send = self.pages.recorder(key, send)
            return await self.admit(scope, receive, send, pairs, site, started)

    async def admit(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        pairs: list[tuple[str, str]],
        site: LiveSite | None,
        started: float,
    ) -> None:
        """Run the request within what is left of its budget; an expensive one once it has a
        slot (429 when too many wait already)."""
        budget = STREAM_SECONDS if any(n == "_stream" for n, _ in pairs) else REQUEST_SECONDS
        if site is None or not is_expensive(pairs):
            return await self.run(scope, receive, send, left_of(budget, started), site)
        if self.load.waiting >= EXPENSIVE_WAITING:
            return await self.busy(scope, receive, send)
        self.load.waiting += 1
        try:
            # No longer than the request's budget allows, waiting for an answer included.
            async with asyncio.timeout(min(REQUEST_SECONDS, left_of(budget, started))):
                slot = await self.slots(site).acquire()
        except TimeoutError:
            return await self.busy(scope, receive, send)
        finally:
            self.load.waiting -= 1
        self.load.running += 1
        try:
            await self.run(scope, receive, send, left_of(budget, started), site)
        finally:
            self.load.running -= 1
            Slots.release(slot)

    def page_of(self, path: str) -> tuple[Database, str, str] | None:
        """The served version, and the table or query `/<route>/<name>[.<format>]` names."""
        site = live_site(self.datasette)
        parts = path.strip("/").split("/")
        if site is None or site.served is None or len(parts) != 2 or parts[0] != site.route:
            return None
        name, _, extension = parts[1].partition(".")
        return site.served.database, name, extension

    async def in_key_order(
        self, path: str, pairs: list[tuple[str, str]]
    ) -> list[tuple[str, str]] | Refusal:
        """A table page's parameters, its rows in key order (twap/site/workarounds.py)."""
        page = self.page_of(path)
        if page is None:
            return pairs
        database, table, _ = page
        ordered = await first_page_in_key_order(self.datasette, database, table, pairs)
        return Refusal(400, ordered) if isinstance(ordered, str) else ordered

    def slots(self, site: LiveSite) -> Slots:
        """The machine's slots for expensive requests to this site."""
        if self._slots is None:
            self._slots = Slots(site.publication.pointer, machine_slots())
        return self._slots

    def canned_refusal(self, scope: Scope, pairs: list[tuple[str, str]]) -> Refusal | None:
        """A canned query's parameters checked, for every renderer (.json, .csv, the page)."""
        page = self.page_of(scope["path"])
        if page is None:
            return None
        database, name, extension = page
        queries = self.datasette.metadata("queries", database=database.name) or {}
        if name not in queries:
            return None
        given = dict(pairs)
        data = extension not in ("", "html") or given.get("_format", "html") != "html"
        message = problem(queries[name].get("parameters", {}), given, data)
        return Refusal(400, message) if message else None

    async def busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.load.refused += 1
        message = "too many expensive requests (SQL, facets, streams) at once: retry shortly"
        refused = Refusal(429, message, "busy")
        await self.refuse(scope, receive, send, refused, (("retry-after", "2"),))

    async def run(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        budget: float,
        site: LiveSite | None = None,
    ) -> None:
        """`app` within `budget` seconds, on the request's version; stopped as soon as the
        client leaves."""
        client = Client(receive)
        response = ResponseState(send)
        app_scope, app_send = scope, response.send
        served = site.served if site is not None else None
        if site is not None and served is not None:
            app_scope, app_send = site.scope(scope, served), site.public_send(app_send, served)
        answering = asyncio.ensure_future(self.app(app_scope, client.app_receive, app_send))
        watching = asyncio.ensure_future(client.watch())
        try:
            done, _ = await asyncio.wait(
                {answering, watching}, timeout=budget, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            watching.cancel()
            if not answering.done():
                answering.cancel()
        if answering in done:
            return answering.result()
        await asyncio.gather(answering, return_exceptions=True)
        if watching in done:  # the client left: nobody to answer
            return None
        self.load.over_budget += 1
        message = f"this request took over its {budget:.0f} s budget: narrow it down"
        if not response.started:
            return await self.refuse(scope, receive, send, Refusal(400, message, "over_budget"))
        metrics.refused("over_budget")
        if not response.finished:
            await send({"type": "http.response.body", "body": f"\n{message}\n".encode()})
        return None

    async def refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        refused: Refusal,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        metrics.refused(refused.reason)
        info = {"ok": False, "error": refused.message, "status": refused.status, "title": None}
        path = scope["path"]
        if path.endswith(".json") or b"_format=json" in scope.get("query_string", b""):
            response = Response.json(info, status=refused.status, headers=dict(headers))
        elif "." in path.rsplit("/", 1)[-1]:
            response = Response.text(refused.message, status=refused.status, headers=dict(headers))
        else:
            await self.datasette.invoke_startup()  # a no-op unless this is the first request
            html = await self.datasette.render_template(
                "error.html",
                info,
                # Outside Datasette's CSRF middleware: the error page has no form to protect.
                request=Request(dict(scope, csrftoken=lambda: ""), receive),
            )
            response = Response.html(html, status=refused.status, headers=dict(headers))
        await response.asgi_send(send)


class Client:
    """The request's side: its (empty) body for the app, and whether the client has gone."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.gone = asyncio.Event()
        self.body_given = False

    async def watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass  # a GET's body, if any: ignored
        self.gone.set()

    async def app_receive(self) -> Message:
        if not self.body_given:
            self.body_given = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}


class ResponseState:
    """What has been sent so far. A whole answer (one body) over MAX_RESPONSE_BYTES is replaced
    by a 413; a stream is held to max_csv_mb by Datasette itself."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: Message | None = None
        self.started = self.finished = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message  # sent with the first body, once its size is known
            return
        if message["type"] != "http.response.body":
            return await self._send(message)
        if self.finished:  # the 413 went instead
            return None
        whole = not message.get("more_body", False)
        if self._start is not None:
            start, self._start = self._start, None
            self.started = True
            if whole and len(message.get("body", b"")) > MAX_RESPONSE_BYTES:
                self.finished = True
                metrics.refused("too_large")
                too_large = {"ok": False, "status": 413, "error": too_large_message()}
                return await Response.json(too_large, status=413).asgi_send(self._send)
            await self._send(start)
        self.finished = whole
        await self._send(message)


def too_large_message() -> str:
    return (
        f"the answer is over {MAX_RESPONSE_BYTES // 1024**2} MB: ask for fewer rows or columns "
        "(_size, _col), or page with _next"
    )
