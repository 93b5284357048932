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


def test_an_answer_being_computed_is_waited_for_not_computed_again() -> None:
    cache = PageCache()
    computed: list[str] = []

    async def ask(name: str, status: int = 200) -> bytes | None:
        """One request: the cached answer, the one being computed, or computed here."""
        kept = cache.get(KEY) or await cache.computed(KEY, timeout=5)
        if kept is not None:
            return kept.body
        with cache.computing_answer(KEY):
            computed.append(name)
            await asyncio.sleep(0.05)  # rendering, while the others ask
            record = cache.recorder(KEY, lambda message: asyncio.sleep(0))
            await record(start(status))
            await record(body(name.encode()))
        return name.encode()

    async def crowd(status: int) -> list[bytes | None]:
        return await asyncio.gather(*(ask(f"r{n}", status) for n in range(5)))

    assert asyncio.run(crowd(200)) == [b"r0"] * 5 and computed == ["r0"]
    assert not cache.computing
    # An answer that is not kept (an error): each waiting request then computes its own.
    cache, computed = PageCache(), []
    assert asyncio.run(crowd(500)) == [b"r0", b"r1", b"r2", b"r3", b"r4"]
    assert computed[0] == "r0" and sorted(computed) == ["r0", "r1", "r2", "r3", "r4"]


def test_waiting_for_an_answer_is_bounded_in_time() -> None:
    cache = PageCache()

    async def run() -> float:
        with cache.computing_answer(KEY):  # never finishes while waited for
            started = asyncio.get_running_loop().time()
            assert await cache.computed(KEY, timeout=0.05) is None
            return asyncio.get_running_loop().time() - started

    assert 0.05 <= asyncio.run(run()) < 1
