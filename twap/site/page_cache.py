"""Whole answers remembered for a short while, per published version.

The same page asked again (the home page, a table's first page, a leaderboard) costs no SQL
and no rendering. The file of a version never changes; what does is the freshness banner's
"N minutes ago", hence the short life. Bounded in bytes; only plain, complete, successful
answers are kept.
"""

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]

KEEP_SECONDS = 30.0
MAX_BYTES = 64 * 1024 * 1024
MAX_ANSWER_BYTES = 1024 * 1024


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

    def get(self, key: tuple[str, ...]) -> Answer | None:
        answer = self.answers.get(key)
        if answer is None:
            return None
        if answer.expires < time.monotonic():
            self._drop(key)
            return None
        self.answers.move_to_end(key)
        return answer

    def put(self, key: tuple[str, ...], start: Message, body: bytes) -> None:
        if key in self.answers:
            self._drop(key)
        self.answers[key] = Answer(start, body, time.monotonic() + KEEP_SECONDS)
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
