"""Request URLs built from encoded parts are exactly the URLs yarl would build."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from simapi_async._endpoints import ENDPOINTS
from simapi_async._urls import UrlBuilder

BASES = [
    "http://127.0.0.1:8080/",
    "https://portal.example/",
    "https://portal.example/proxy/v%20x/",
    "http://[::1]:9000/",
    "https://xn--e1afmkfd.xn--p1ai/",
]
KEYS = sorted({p.name for e in ENDPOINTS.values() for p in e.params} | {"a b", "ключ"})
VALUES = st.one_of(
    st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True),
    st.text(max_size=12),
)


def _yarl(url: str, query: list[tuple[str, str]]) -> URL:
    """What aiohttp sends for ``request(url, params=query)``."""
    return URL(url).extend_query(query) if query else URL(url)


@given(
    base=st.sampled_from(BASES),
    path=st.sampled_from(["api/v2/sim/block/79001234567", "api/v2/login", "api/v2/cdr/internet"]),
    query=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), max_size=5),
)
def test_the_url_is_what_yarl_builds(base: str, path: str, query: list[tuple[str, str]]) -> None:
    """Same string, same host, same path, same decoded query, whatever the values."""
    base = str(URL(base))
    url = base + path
    built = UrlBuilder(base).build(url, query)
    expected = _yarl(url, query)
    assert str(built) == str(expected)
    assert (built.host, built.port, built.raw_path) == (expected.host, expected.port,
                                                        expected.raw_path)
    assert list(built.query.items()) == query


@pytest.mark.parametrize("base", BASES)
def test_a_digits_only_query_takes_the_encoded_path(base: str) -> None:
    """The common case (numbers, iccids, dates) is assembled, not re-parsed."""
    builder = UrlBuilder(str(URL(base)))
    assert builder._query_string([("iccid", "8970199402812545072"), ("date", "2024-03-01"),
                                  ("numbers[]", "79001234567")]) == (
        "iccid=8970199402812545072&date=2024-03-01&numbers%5B%5D=79001234567")
    assert builder._query_string([("text", "a b")]) is None  # quoted by yarl instead
