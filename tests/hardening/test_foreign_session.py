"""A caller's own aiohttp ClientSession (`session=`) with defaults of its own: the SDK's
status mapping, retries, re-login and Authorization header stay what they are."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

import simapi_async as sa

from .conftest import NUMBER, SENTINEL_TOKEN, serve, session_on


async def test_callers_session_defaults_do_not_change_what_a_status_means() -> None:
    """With raise_for_status=True, auto_decompress=False, another base_url and a default
    Authorization header, a 404 is one NotFoundError, a 401 re-logs in and replays once,
    and the calls carry the SDK's bearer token."""
    answers = [web.json_response({"message": "No such SIM."}, status=404),
               web.json_response({"message": "Unauthenticated."}, status=401),
               web.json_response({"number": NUMBER})]

    async def handler(request: web.Request) -> web.StreamResponse:
        return answers.pop(0)

    http = aiohttp.ClientSession(raise_for_status=True, auto_decompress=False,
                                 base_url="http://elsewhere.invalid/",
                                 headers={"Authorization": "Basic Zm9vOmJhcg=="})
    try:
        async with serve(handler) as server, session_on(server.base_url, session=http) as api:
            with pytest.raises(sa.NotFoundError):
                await api.sims.get(NUMBER)
            sim = await api.sims.get(NUMBER)
    finally:
        await http.close()
    assert sim.number == NUMBER
    calls = [r for r in server.requests if not r.path.endswith("/login")]
    assert len(calls) == 3  # the 404 once, the 401 and its replay
    assert sum(1 for r in server.requests if r.path.endswith("/login")) == 2
    assert {r.headers["Authorization"] for r in calls} == {f"Bearer {SENTINEL_TOKEN}"}
