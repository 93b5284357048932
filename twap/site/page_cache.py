"""Whole answers remembered for a short while, per published version.

The same page asked again (the home page, a table's first page, a leaderboard) costs no SQL
and no rendering. The file of a version never changes, so data (JSON, CSV, feeds: its rows,
counts and facets) is replayed for as long as its version is served; what does change is an
HTML page's freshness banner ("N minutes ago"), hence a short life for pages. Bounded in bytes
(least recently used out first, an old version's answers too); only plain, complete,
successful answers are kept.

An answer being computed is not computed again meanwhile: a request asking for it waits for
it (a page that just expired, or a new version's first minute, under many clients), then is
answered from the cache, or computes it itself if none was kept.
"""

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]

KEEP_SECONDS = 30.0
MAX_BYTES = 64 * 1024 * 1024
MAX_ANSWER_BYTES = 1024 * 1024


def keep_seconds(headers: list[tuple[bytes, bytes]]) -> float:
    """How long an answer with `headers` is replayed: KEEP_SECONDS for a page, else as long as
    its version is served."""
    kinds = [value for name, value in headers if name.lower() == b"content-type"]
    return KEEP_SECONDS if any(kind.startswith(b"text/html") for kind in kinds) else math.inf


@dataclass(frozen=True)
class Answer:
    start: Message
    body: bytes
    expires: float

    async def replay(self, send: Send) -> None:
        await send(self.start)
        await send({"type": "http.response.body", "body": self.body})


class PageCache:
    """Answers by (version, path, query string), least recently used out first."""

    def __init__(self) -> None:
        self.answers: OrderedDict[tuple[str, ...], Answer] = OrderedDict()
        self.bytes = 0
        # Answers a request of this worker is computing, set once it is done (kept or not).
        self.computing: dict[tuple[str, ...], asyncio.Event] = {}

    def get(self, key: tuple[str, ...]) -> Answer | None:
        answer = self.answers.get(key)
        if answer is None:
            return None
        if answer.expires < time.monotonic():
            self._drop(key)
            return None
        self.answers.move_to_end(key)
        return answer

    async def computed(self, key: tuple[str, ...], timeout: float) -> Answer | None:
        """The answer for `key` once the request computing it is done, if it was kept; None at
        once when no request computes it, or after `timeout` seconds."""
        event = self.computing.get(key)
        if event is None:
            return None
        with suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await event.wait()
        return self.get(key)

    @contextmanager
    def computing_answer(self, key: tuple[str, ...]) -> Iterator[None]:
        """While the answer for `key` is computed, others asking for it wait (`computed`)."""
        event = self.computing[key] = asyncio.Event()
        try:
            yield
        finally:
            if self.computing.get(key) is event:
                del self.computing[key]
            event.set()

    def put(self, key: tuple[str, ...], start: Message, body: bytes) -> None:
        if key in self.answers:
            self._drop(key)
        expires = time.monotonic() + keep_seconds(start.get("headers", []))
        self.answers[key] = Answer(start, body, expires)
        self.bytes += len(body)
        while self.bytes > MAX_BYTES:
            self._drop(next(iter(self.answers)))

    def _drop(self, key: tuple[str, ...]) -> None:
        self.bytes -= len(self.answers.pop(key).body)

    def recorder(self, key: tuple[str, ...], send: Send) -> Send:
        """`send`, keeping the answer if it is one body, a 200 and sets no cookie."""
        return Recorder(self, key, send).send


class Recorder:
    """Passes an answer on, and keeps it in the cache if it is worth keeping."""

    def __init__(self, cache: PageCache, key: tuple[str, ...], send: Send) -> None:
        self.cache = cache
        self.key = key
        self._send = send
        self.start: Message = {}
        self.bodies = 0

    async def send(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.start":
            self.start = message
            return
        self.bodies += 1
        body = message.get("body", b"")
        whole = self.bodies == 1 and not message.get("more_body")
        headers = self.start.get("headers", [])
        cookies = any(name.lower() == b"set-cookie" for name, _ in headers)
        small = len(body) <= MAX_ANSWER_BYTES
        if whole and small and not cookies and self.start.get("status") == 200:
            self.cache.put(self.key, self.start, body)
