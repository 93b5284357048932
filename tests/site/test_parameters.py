"""Canned-query parameter checks (twap/site/parameters.py), called directly."""

import pytest

from twap.site.parameters import MAX_PAGE_SIZE, problem, valid

WALLET = "0x" + "ab" * 20
PARAMETERS = {
    "wallet": {"type": "wallet", "required": True},
    "page_size": {"type": "page_size"},
}


@pytest.mark.parametrize(
    ("kind", "good", "bad"),
    [
        ("wallet", WALLET, "0x123"),
        ("coin", "xyz:NVDA", "BTC;drop"),
        ("integer", "42", "4.2"),
        ("number", "1234.5", "1,234"),
        ("date", "2026-02-28", "2026-02-30"),
        ("page_size", str(MAX_PAGE_SIZE), str(MAX_PAGE_SIZE + 1)),
        ("page_size", "1", "0"),
        ("window", "week", "year"),
        ("rank", "net_buy", "net"),
    ],
)
def test_each_type_takes_its_values_only(kind: str, good: str, bad: str) -> None:
    assert valid(kind, good) and not valid(kind, bad)


def test_good_values_pass() -> None:
    assert (
        problem(PARAMETERS, {"wallet": WALLET, "page_size": "10", "_shape": "array"}, True) is None
    )


def test_an_unknown_parameter_names_what_the_query_takes() -> None:
    message = problem(PARAMETERS, {"wallet": WALLET, "coin": "BTC"}, True)
    assert message == "unknown parameter coin: this query takes wallet, page_size"


def test_a_required_parameter_is_asked_by_the_api_not_by_the_empty_form() -> None:
    assert problem(PARAMETERS, {}, True) == (
        "wallet is required: a wallet address: 0x and 40 hex digits"
    )
    assert problem(PARAMETERS, {}, False) is None  # the HTML form, empty
    assert problem(PARAMETERS, {"page_size": "5"}, False) is not None


def test_a_bad_value_is_quoted_short() -> None:
    message = problem(PARAMETERS, {"wallet": "x" * 500}, True)
    assert message == f"wallet={'x' * 60!r} is not a wallet address: 0x and 40 hex digits"
