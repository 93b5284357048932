"""Whole answers remembered (twap/site/page_cache.py), called directly: what is kept, the
bounds in bytes, the answer replayed as it was."""

import asyncio
import math

from twap.site.page_cache import KEEP_SECONDS, MAX_ANSWER_BYTES, MAX_BYTES, PageCache, keep_seconds

KEY = ("v1", "/twap/fct_twaps.json", "_size=5")


def answer(cache: PageCache, start: dict, *bodies: dict) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> None:
        record = cache.recorder(KEY, send)
        for message in (start, *bodies):
            await record(message)

    asyncio.run(run())
    return sent


def start(status: int = 200, headers: list | None = None) -> dict:
    return {"type": "http.response.start", "status": status, "headers": headers or []}


def body(data: bytes, more: bool = False) -> dict:
    return {"type": "http.response.body", "body": data, "more_body": more}


def test_a_whole_successful_answer_is_kept_and_replayed() -> None:
    cache = PageCache()
    passed = answer(cache, start(), body(b"rows"))
    assert [m["type"] for m in passed] == ["http.response.start", "http.response.body"]
    kept = cache.get(KEY)
    assert kept is not None and kept.body == b"rows" and kept.start["status"] == 200
    replayed: list[dict] = []

    async def send(message: dict) -> None:
        replayed.append(message)

    asyncio.run(kept.replay(send))
    assert replayed == [start(), {"type": "http.response.body", "body": b"rows"}]


def test_errors_cookies_streams_and_big_answers_are_not_kept() -> None:
    for first, bodies in (
        (start(400), [body(b"no")]),
        (start(200, [(b"set-cookie", b"a=1")]), [body(b"yes")]),
        (start(), [body(b"part", more=True), body(b"")]),
        (start(), [body(b"x" * (MAX_ANSWER_BYTES + 1))]),
    ):
        cache = PageCache()
        answer(cache, first, *bodies)
        assert cache.get(KEY) is None, (first, bodies[0]["body"][:10])


def test_the_cache_is_bounded_in_bytes_least_recently_used_out_first() -> None:
    cache = PageCache()
    for number in range(200):
        cache.put(("v", str(number), ""), {"status": 200}, b"x" * MAX_ANSWER_BYTES)
    assert cache.bytes <= MAX_BYTES and len(cache.answers) < 200
    assert cache.get(("v", "199", "")) is not None and cache.get(("v", "0", "")) is None


def test_pages_are_replayed_for_a_while_data_for_its_version_life() -> None:
    html = [(b"content-type", b"text/html; charset=utf-8")]
    assert keep_seconds(html) == KEEP_SECONDS  # its banner says how long ago the data is
    assert keep_seconds([(b"Content-Type", b"application/json; charset=utf-8")]) == math.inf
    assert keep_seconds([(b"content-type", b"text/plain; charset=utf-8")]) == math.inf
    assert keep_seconds([]) == math.inf
