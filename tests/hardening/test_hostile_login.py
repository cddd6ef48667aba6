"""Hostile login servers against whole bulk runs: each run ends with its report, and the
number of logins stays bounded whatever the server does with its tokens."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from aiohttp import web

import simapi_async as sa

from .conftest import ICCID, SENTINEL_TOKEN, serve, session_on

TARGETS = [sa.Target(str(79180000000 + i), iccid=ICCID) for i in range(300)]


def _logins(requests: list[object]) -> int:
    return sum(1 for r in requests if getattr(r, "path", "").endswith("/login"))


async def ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"success": True})


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "abc\x00def", "токен-тест"])
async def test_bulk_run_with_a_token_that_is_no_header_value_ends_with_a_report(
    token: str,
) -> None:
    """A login answer with CR/LF/NUL or non-ASCII in its token fails every target with
    AuthenticationError; the run itself ends with its report."""
    async def login(request: web.Request) -> web.StreamResponse:
        return web.json_response({"token": token})

    async with serve(ok, login=login) as server, session_on(server.base_url) as api:
        report = await api.bulk.block(TARGETS[:50], concurrency=10)
    assert (report.total, report.failed) == (50, 50)
    assert all(isinstance(f.error, sa.AuthenticationError) for f in report.failures)
    assert all("not a valid header value" in str(f.error) for f in report.failures)
    assert [r for r in server.requests if not r.path.endswith("/login")] == []


async def test_bulk_run_with_expires_at_in_the_past_logs_in_once() -> None:
    """A server whose clock is five minutes behind issues tokens 'expired' on arrival: a
    bulk run still logs in once, not once per target."""
    async def login(request: web.Request) -> web.StreamResponse:
        skewed = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5) + dt.timedelta(seconds=60)
        return web.json_response({"token": SENTINEL_TOKEN, "expires_at": skewed.isoformat()})

    async with serve(ok, login=login) as server, session_on(server.base_url) as api:
        report = await api.bulk.block(TARGETS, concurrency=20)
    assert report.succeeded == len(TARGETS)
    assert _logins(server.requests) == 1


async def test_bulk_run_against_401_to_every_token_makes_few_logins() -> None:
    """A server that answers 401 to every fresh token: the run fails every target with
    AuthenticationError after a bounded number of logins, and ends with its report."""
    counter = itertools.count()

    async def login(request: web.Request) -> web.StreamResponse:
        return web.json_response({"token": f"fresh-{next(counter):06d}-token"})

    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "Unauthenticated."}, status=401)

    async with serve(refuse, login=login) as server, session_on(server.base_url) as api:
        report = await api.bulk.block(TARGETS, concurrency=50)
    assert (report.total, report.failed) == (len(TARGETS), len(TARGETS))
    assert all(isinstance(f.error, sa.AuthenticationError) for f in report.failures)
    assert _logins(server.requests) <= 3
    assert len(server.requests) - _logins(server.requests) <= 3 * 50
