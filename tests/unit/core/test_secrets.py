"""Secrets never reach logs, reprs or exception texts, whatever goes wrong."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

import simapi_async as sa

from ...helpers import texts_of
from .conftest import BASE, BLOCK, LOGIN, PASSWORD, TOKEN, block


def _assert_clean(texts: list[str]) -> None:
    for text in texts:
        assert PASSWORD not in text, text
        assert TOKEN not in text, text


@pytest.mark.parametrize(
    "login_answer",
    [
        {"status": 401, "payload": {"message": "Invalid credentials."}},
        {"status": 422, "payload": {"message": "bad", "errors": {"password": [PASSWORD]}}},
        {"status": 500, "body": f"<html>password={PASSWORD}</html>", "content_type": "text/html"},
        {"exception": aiohttp.InvalidURL(f"{BASE}/api/v2/login?password={PASSWORD}")},
        {"exception": aiohttp.ServerDisconnectedError(f"password={PASSWORD}")},
        {"exception": TimeoutError(f"login?login=user&password={PASSWORD}")},
        {"status": 200, "payload": {"unexpected": True}},
    ],
)
async def test_failed_logins_never_show_the_password(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture, login_answer: dict[str, Any]
) -> None:
    """Whatever the login answers, no text the SDK produces contains the password."""
    caplog.set_level(logging.DEBUG)
    mocked.post(LOGIN, repeat=True, **login_answer)
    async with sa.AsyncSession(BASE, login="user", password=PASSWORD) as api:
        with pytest.raises(sa.SimApiError) as info:
            await block(api)
        _assert_clean([*texts_of(info.value), repr(api)])
    _assert_clean([r.getMessage() for r in caplog.records])


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "payload": {"message": "Unauthenticated."}},
        {"status": 503, "body": f"token {TOKEN}", "content_type": "text/plain"},
        {"status": 404, "payload": {"message": f"no such token {TOKEN}"}},
        {"exception": aiohttp.ClientOSError(f"Bearer {TOKEN}")},
    ],
)
async def test_failed_calls_never_show_the_token(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture, answer: dict[str, Any]
) -> None:
    """Errors of authenticated calls, and the debug log, never contain the bearer token."""
    caplog.set_level(logging.DEBUG)
    mocked.post(LOGIN, payload={"token": TOKEN}, repeat=True)
    mocked.post(BLOCK, repeat=True, **answer)
    async with sa.AsyncSession(BASE, login="user", password=PASSWORD) as api:
        with pytest.raises(sa.SimApiError) as info:
            await block(api)
        _assert_clean([*texts_of(info.value), repr(api), repr(api._tokens), repr(api.stats)])
    _assert_clean([r.getMessage() for r in caplog.records])


async def test_debug_log_shows_requests_with_redacted_url(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """SIMAPI_LOG-style debug logging names method, redacted URL and status."""
    caplog.set_level(logging.DEBUG, logger="simapi_async")
    mocked.post(LOGIN, payload={"token": TOKEN})
    mocked.post(BLOCK, payload={})
    async with sa.AsyncSession(BASE, login="user", password=PASSWORD) as api:
        await block(api)
    lines = [r.getMessage() for r in caplog.records]
    assert any("POST" in line and "login" in line and "password=%2A%2A%2A" in line
               for line in lines), lines
    assert any("/sim/block/" in line and "-> 200 (attempt 1," in line for line in lines), lines
    _assert_clean(lines)


def test_credentials_repr_hides_password() -> None:
    """The credentials value object never shows the password."""
    from simapi_async._auth import Credentials

    assert PASSWORD not in repr(Credentials("user", PASSWORD))


async def test_debug_log_numbers_the_attempts(
    mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """Each retry's log line carries its attempt number."""
    caplog.set_level(logging.DEBUG, logger="simapi_async")
    mocked.post(BLOCK, status=503, payload={})
    mocked.post(BLOCK, status=503, payload={})
    mocked.post(BLOCK, payload={})
    async with sa.AsyncSession(BASE, token=TOKEN) as api:
        await block(api)
    lines = [r.getMessage() for r in caplog.records if "/sim/block/" in r.getMessage()
             and "->" in r.getMessage()]
    assert [line.split("(attempt ")[1].split(",")[0] for line in lines] == ["1", "2", "3"]
