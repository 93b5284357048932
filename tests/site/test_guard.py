"""The guard's pure pieces (twap/site/guard.py), called directly: URL refusals, facets asked
once, what counts as expensive, answers too large, work cancelled when the client leaves."""

import asyncio

from twap.site.guard import (
    MAX_FACETS,
    MAX_PARAMETERS,
    MAX_RESPONSE_BYTES,
    MAX_URL_BYTES,
    Client,
    ResponseState,
    is_expensive,
    refusal,
    without_repeated_facets,
)


def test_a_plain_request_is_not_refused() -> None:
    assert refusal("/twap/fct_twaps.json", b"coin=BTC&_size=5", [("coin", "BTC")]) is None


def test_urls_parameters_and_facets_are_bounded() -> None:
    long = refusal("/twap/fct_twaps", b"x" * MAX_URL_BYTES, [])
    assert long is not None and long.status == 414 and f"{MAX_URL_BYTES} bytes" in long.message
    many = [(f"p{n}", "1") for n in range(MAX_PARAMETERS + 1)]
    too_many = refusal("/", b"", many)
    assert too_many is not None and too_many.status == 400
    assert too_many.message == f"{MAX_PARAMETERS + 1} parameters: at most {MAX_PARAMETERS}"
    facets = [("_facet", f"c{n}") for n in range(MAX_FACETS + 1)]
    wide = refusal("/", b"", facets)
    assert wide is not None and wide.status == 400 and f"at most {MAX_FACETS}" in wide.message


def test_a_parameter_twice_is_refused_but_list_parameters_are_not() -> None:
    twice = refusal("/", b"", [("coin", "BTC"), ("coin", "ETH"), ("_size", "1"), ("_size", "2")])
    assert twice is not None and twice.message == "parameter _size, coin given more than once"
    assert refusal("/", b"", [("_facet", "coin"), ("_facet", "side"), ("_col", "a")]) is None


def test_through_is_refused_with_why() -> None:
    through = refusal("/", b"", [("_through", "{}")])
    assert through is not None and through.status == 400
    assert through.message == "_through follows a foreign key: the published tables have none"


def test_a_facet_named_twice_is_asked_once() -> None:
    pairs = [("_facet", "coin"), ("coin", "BTC"), ("_facet", "coin"), ("_facet", "side")]
    assert without_repeated_facets(pairs) == [
        ("_facet", "coin"),
        ("coin", "BTC"),
        ("_facet", "side"),
    ]
    assert without_repeated_facets([("coin", "A"), ("coin", "A")]) == [("coin", "A"), ("coin", "A")]


def test_sql_facets_and_streams_are_expensive() -> None:
    for name in ("sql", "_stream", "_where", "_search", "_facet", "_facet_array"):
        assert is_expensive([(name, "x")]), name
    assert not is_expensive([("coin", "BTC"), ("_size", "50"), ("_sort_desc", "started_at")])


def sent_by(state_messages: list[dict]) -> list[dict]:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> None:
        state = ResponseState(send)
        for message in state_messages:
            await state.send(message)

    asyncio.run(run())
    return sent


def test_a_whole_answer_too_large_becomes_a_413() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": []}
    big = {"type": "http.response.body", "body": b"x" * (MAX_RESPONSE_BYTES + 1)}
    sent = sent_by([start, big])
    assert sent[0]["status"] == 413
    assert b"ask for fewer rows" in b"".join(m.get("body", b"") for m in sent[1:])


def test_a_stream_passes_whatever_its_total_size() -> None:
    start = {"type": "http.response.start", "status": 200, "headers": []}
    part = {"type": "http.response.body", "body": b"x" * 1024, "more_body": True}
    end = {"type": "http.response.body", "body": b""}
    sent = sent_by([start, part, part, end])
    assert [m.get("status") for m in sent] == [200, None, None, None]


def test_the_client_leaving_is_seen_and_passed_on() -> None:
    async def run() -> tuple[dict, dict, bool]:
        messages = [{"type": "http.request", "body": b""}, {"type": "http.disconnect"}]

        async def receive() -> dict:
            return messages.pop(0)

        client = Client(receive)
        first = await client.app_receive()
        await asyncio.wait_for(client.watch(), timeout=1)
        return first, await client.app_receive(), client.gone.is_set()

    first, then, gone = asyncio.run(run())
    assert first == {"type": "http.request", "body": b"", "more_body": False}
    assert then == {"type": "http.disconnect"} and gone
