"""The session against what it does not control: aiohttp's error texts and exceptions,
a caller's own ClientSession with other defaults, a second event loop."""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import pytest
from aioresponses import CallbackResult, aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

import simapi_async as sa
from simapi_async._redact import ScrubbedCause

from .conftest import BASE, BLOCK, LOGIN, PASSWORD, TOKEN, block, calls, login_ok

PASSWORDS = ["P@55w0rd#", "Summer 2024!", "50%+off&a=b", "пароль-Ключ€ 1"]


def spellings(secret: str) -> set[str]:
    """`secret` as typed, `quote`d, `quote_plus`ed and as yarl writes it in a query."""
    url = URL("http://h/").with_query({"p": secret})
    return {secret, quote(secret, safe=""), quote_plus(secret),
            str(url).partition("?p=")[2], url.human_repr().partition("?p=")[2]}


def chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything under it, by both ``__cause__`` and ``__context__``."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is not None and not any(current is seen for seen in out):
            out.append(current)
            todo += [current.__cause__, current.__context__]
    return out


def every_text(exc: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(exc))]
    for link in chain(exc):
        texts += [str(link), repr(link), *(repr(v) for v in vars(link).values())]
    return texts


# -- aiohttp's own error texts and exceptions ---------------------------------------------------


@pytest.mark.parametrize("password", PASSWORDS)
async def test_connect_timeout_naming_the_login_url_never_shows_the_password(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture, password: str
) -> None:
    """aiohttp's connect timeout names the full login URL (the password as yarl wrote
    it); no spelling of it reaches the error, its chain, its traceback or a DEBUG line."""
    caplog.set_level(logging.DEBUG, logger="simapi_async")

    def timeout(url: URL, **kwargs: Any) -> CallbackResult:
        raise aiohttp.ConnectionTimeoutError(f"Connection timeout to host {url}")

    mocked.post(LOGIN, callback=timeout, repeat=True)
    async with sa.AsyncSession(BASE, login="user", password=password, max_retries=1) as api:
        with pytest.raises(sa.AuthenticationError) as info:
            await block(api)
    assert "Connection timeout to host" in "".join(every_text(info.value))
    texts = [*every_text(info.value), *(r.getMessage() for r in caplog.records)]
    for form in spellings(password):
        for text in texts:
            assert form not in text, text


async def test_aiohttp_exception_holding_the_token_is_not_chained(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """An aiohttp exception whose request_info holds the Authorization header is replaced
    by a ScrubbedCause: the token is neither in __cause__ nor in __context__."""
    def refuse(url: URL, **kwargs: Any) -> CallbackResult:
        info = aiohttp.RequestInfo(
            url, "POST", CIMultiDictProxy(CIMultiDict(kwargs["headers"])), url)
        raise aiohttp.ClientResponseError(info, (), status=400, message="Got more than 8190 bytes")

    login_ok(mocked)
    mocked.post(BLOCK, callback=refuse, repeat=True)
    with pytest.raises(sa.APIConnectionError) as info:
        await block(api)
    links = chain(info.value)
    assert [type(link) for link in links[1:]] == [ScrubbedCause]
    assert links[1].type_name == "aiohttp.client_exceptions.ClientResponseError"
    assert info.value.__context__ is None
    for text in every_text(info.value):
        assert TOKEN not in text, text


# -- a caller's own ClientSession ---------------------------------------------------------------


async def test_callers_session_with_raise_for_status_keeps_status_mapping(
    mocked: aioresponses,
) -> None:
    """A session= made with raise_for_status=True still gives NotFoundError for a 404
    (one request, no retries) and re-logs in on a 401."""
    http = aiohttp.ClientSession(raise_for_status=True, auto_decompress=False)
    try:
        async with sa.AsyncSession(BASE, login="user", password=PASSWORD, session=http) as api:
            login_ok(mocked, repeat=True)
            mocked.post(BLOCK, status=404, payload={"message": "No such SIM."})
            with pytest.raises(sa.NotFoundError):
                await block(api)
            mocked.post(BLOCK, status=401, payload={"message": "Unauthenticated."})
            mocked.post(BLOCK, payload={"success": True})
            assert await block(api) == {"success": True}
    finally:
        await http.close()
    assert len(calls(mocked, "POST", BLOCK)) == 3
    assert len(calls(mocked, "POST", LOGIN)) == 2
    for call in calls(mocked, "POST", BLOCK):
        assert call.kwargs["raise_for_status"] is False
        assert call.kwargs["auto_decompress"] is True


async def test_callers_session_with_auth_is_refused() -> None:
    """A session= with its own auth= (which aiohttp cannot combine with the SDK's
    Authorization header) is refused when the AsyncSession is made."""
    with pytest.warns(DeprecationWarning, match="deprecated"):
        http = aiohttp.ClientSession(auth=aiohttp.BasicAuth("u", "p"))
    try:
        with pytest.raises(sa.InvalidInputError, match="auth="):
            sa.AsyncSession(BASE, token=TOKEN, session=http)
    finally:
        await http.close()


# -- event loops ----------------------------------------------------------------------------------


def test_session_used_from_another_event_loop_raises_a_typed_error(
    mocked: aioresponses,
) -> None:
    """A session whose pool was made in one event loop raises SimApiError, saying so,
    when called from another loop (a second asyncio.run)."""
    login_ok(mocked, repeat=True)
    mocked.post(BLOCK, payload={}, repeat=True)
    api = sa.AsyncSession(BASE, login="user", password=PASSWORD)
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(block(api)) == {}
        with pytest.raises(sa.SimApiError, match="another event loop"):
            asyncio.run(block(api))
        assert first.run_until_complete(block(api)) == {}  # still fine in its own loop
    finally:
        first.run_until_complete(api.aclose())
        first.close()


def test_unused_session_may_move_to_the_loop_that_uses_it(mocked: aioresponses) -> None:
    """A session made outside any loop and first used inside asyncio.run works there."""
    login_ok(mocked)
    mocked.post(BLOCK, payload={})
    api = sa.AsyncSession(BASE, login="user", password=PASSWORD)

    async def use() -> Any:
        async with api:
            return await block(api)

    assert asyncio.run(use()) == {}


async def test_callers_session_closed_by_the_caller_is_a_typed_error(
    mocked: aioresponses,
) -> None:
    """A session= the caller has already closed gives SimApiError, not aiohttp's
    RuntimeError."""
    http = aiohttp.ClientSession()
    api = sa.AsyncSession(BASE, token=TOKEN, session=http)
    await http.close()
    with pytest.raises(sa.SimApiError, match="session= is closed"):
        await block(api)
    await api.aclose()
