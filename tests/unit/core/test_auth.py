"""Login, token discovery, single flight, renewal and 401 handling."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses

import simapi_async as sa
from simapi_async._auth import TokenManager, parse_login_response

from .conftest import (
    BASE,
    BLOCK,
    ICCID,
    LOGIN,
    NUMBER,
    PASSWORD,
    block,
    calls,
    login_ok,
    sent_queries,
    url_re,
)


@pytest.mark.parametrize(
    "body",
    [
        {"token": "T"},
        {"access_token": "T"},
        {"data": {"token": "T"}},
        {"data": {"access_token": "T"}},
    ],
)
def test_token_is_found_at_every_documented_place(body: dict[str, Any]) -> None:
    """The login token is read from token, access_token, data.token and data.access_token."""
    assert parse_login_response(body).token == "T"


def test_expiry_is_read_from_expires_in_or_expires_at() -> None:
    """expires_in (seconds) and expires_at (ISO time) both give the token a lifetime."""
    assert parse_login_response({"token": "T", "expires_in": 3600}).lifetime == 3600.0
    at = parse_login_response({"data": {"token": "T", "expires_at": "2999-01-01T00:00:00Z"}})
    assert at.lifetime is not None
    assert at.lifetime > 1e9
    assert parse_login_response({"token": "T"}).lifetime is None


def test_login_answer_without_token_is_an_authentication_error() -> None:
    """A login answer with no token anywhere raises AuthenticationError, not KeyError."""
    with pytest.raises(sa.AuthenticationError, match="no token"):
        parse_login_response({"data": {"user": 1}})


async def test_login_is_lazy_and_sends_credentials_in_query(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """No request before the first call; then one POST login with query credentials."""
    assert mocked.requests == {}
    login_ok(mocked)
    mocked.post(BLOCK, payload={"success": True})
    await block(api)
    (login_call,) = calls(mocked, "POST", LOGIN)
    assert sent_queries(mocked, "POST", LOGIN) == [[("login", "user"), ("password", PASSWORD)]]
    assert login_call.kwargs["data"] is None
    (block_call,) = calls(mocked, "POST", BLOCK)
    assert block_call.kwargs["headers"]["Authorization"] == "Bearer tok-SENTINEL-1234567890"


async def test_credentials_in_body_option(mocked: aioresponses) -> None:
    """credentials_in='body' sends login and password as a JSON body, not in the URL."""
    login_ok(mocked)
    mocked.post(BLOCK, payload={})
    async with sa.AsyncSession(BASE, login="user", password=PASSWORD,
                               credentials_in="body") as api:
        await block(api)
    (login_call,) = calls(mocked, "POST", LOGIN)
    assert sent_queries(mocked, "POST", LOGIN) == [[]]
    assert b'"password"' in login_call.kwargs["data"]


async def test_preissued_token_makes_no_login(mocked: aioresponses) -> None:
    """token= is used as is: no login request at all."""
    mocked.post(BLOCK, payload={})
    async with sa.AsyncSession(BASE, token="pre-issued") as api:
        await block(api)
    assert calls(mocked, "POST", LOGIN) == []
    (call,) = calls(mocked, "POST", BLOCK)
    assert call.kwargs["headers"]["Authorization"] == "Bearer pre-issued"


async def test_preissued_token_rejected_raises_authentication_error(mocked: aioresponses) -> None:
    """With only a token, a 401 cannot be healed by a login: AuthenticationError."""
    mocked.post(BLOCK, status=401, payload={"message": "Unauthenticated."})
    async with sa.AsyncSession(BASE, token="pre-issued") as api:
        with pytest.raises(sa.AuthenticationError) as info:
            await block(api)
    assert info.value.status == 401


async def test_concurrent_first_calls_cause_exactly_one_login(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """50 calls at once on a fresh session share a single login."""
    login_ok(mocked, repeat=True)
    mocked.post(BLOCK, payload={}, repeat=True)
    await asyncio.gather(*(block(api) for _ in range(50)))
    assert len(calls(mocked, "POST", LOGIN)) == 1
    assert api.stats.logins == 1


async def test_200_calls_after_token_expiry_cause_one_login(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """200 concurrent calls hitting 401 on an expired token: exactly one re-login."""
    tokens = iter(["old", "new", "newer"])
    mocked.post(LOGIN, callback=lambda url, **kw: CallbackResult(payload={"token": next(tokens)}),
                repeat=True)

    def answer(url: Any, **kwargs: Any) -> CallbackResult:
        if kwargs["headers"]["Authorization"] == "Bearer old":
            return CallbackResult(status=401, payload={"message": "Unauthenticated."})
        return CallbackResult(payload={"success": True})

    mocked.post(BLOCK, callback=answer, repeat=True)
    await api.authenticate()  # holds "old", which the server no longer accepts
    results = await asyncio.gather(*(block(api) for _ in range(200)))
    assert all(r == {"success": True} for r in results)
    assert len(calls(mocked, "POST", LOGIN)) == 2
    assert api.stats.logins == 2


async def test_ttl_expiry_renews_once_for_many_waiters(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """When expires_in has passed, 200 concurrent calls wait for one login."""
    login_ok(mocked, repeat=True, expires_in=600)
    mocked.post(BLOCK, payload={}, repeat=True)
    now = [1000.0]
    api._tokens._clock = lambda: now[0]
    await api.authenticate()
    now[0] += 10_000  # long past expiry
    await asyncio.gather(*(block(api) for _ in range(200)))
    assert len(calls(mocked, "POST", LOGIN)) == 2


async def test_token_is_renewed_before_it_expires(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """Inside the renewal margin, a call still uses the valid token and a renewal starts."""
    tokens = iter(["first", "second"])
    mocked.post(LOGIN, callback=lambda url, **kw: CallbackResult(
        payload={"token": next(tokens), "expires_in": 600}), repeat=True)
    mocked.post(BLOCK, payload={}, repeat=True)
    now = [0.0]
    api._tokens._clock = lambda: now[0]
    await api.authenticate()
    now[0] = 600 - 30  # margin is min(60, 600/10) = 60 s; 30 s remain
    token, _ = await api._tokens.get()
    assert token == "first"  # still valid: used while the renewal runs
    flight = api._tokens._flight
    assert flight is not None  # a renewal started in the background
    await flight
    await block(api)
    await block(api)
    used = [c.kwargs["headers"]["Authorization"] for c in calls(mocked, "POST", BLOCK)]
    assert used == ["Bearer second", "Bearer second"]
    assert api.stats.logins == 2


async def test_second_401_after_relogin_raises(mocked: aioresponses, api: sa.AsyncSession) -> None:
    """A 401 is answered by one re-login and one replay; a second 401 raises."""
    login_ok(mocked, repeat=True)
    mocked.post(BLOCK, status=401, payload={"message": "Unauthenticated."}, repeat=True)
    with pytest.raises(sa.AuthenticationError):
        await block(api)
    assert len(calls(mocked, "POST", BLOCK)) == 2
    assert len(calls(mocked, "POST", LOGIN)) == 2


async def test_failed_login_fails_every_waiter_from_one_attempt(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """Bad credentials: 30 concurrent calls all get AuthenticationError from one login."""
    mocked.post(LOGIN, status=401, payload={"message": "Invalid credentials."}, repeat=True)
    results = await asyncio.gather(*(block(api) for _ in range(30)), return_exceptions=True)
    assert all(isinstance(r, sa.AuthenticationError) for r in results)
    assert len(calls(mocked, "POST", LOGIN)) == 1
    assert calls(mocked, "POST", BLOCK) == []


async def test_late_401_for_old_token_keeps_newer_token() -> None:
    """invalidate() with an old generation does not drop the current token."""
    tokens = iter(["a", "b"])

    async def login() -> Any:
        from simapi_async._auth import LoginResult
        return LoginResult(next(tokens))

    manager = TokenManager(login)
    _, gen_a = await manager.get()
    assert manager.invalidate(gen_a)
    token_b, gen_b = await manager.get()
    assert token_b == "b"
    assert not manager.invalidate(gen_a)  # a late 401 from a request that used "a"
    assert await manager.get() == ("b", gen_b)


async def test_request_with_body_placement_uses_json(mocked: aioresponses) -> None:
    """Body parameters travel as a JSON body; query parameters in the URL."""
    mocked.post(f"{BASE}/api/v2/sim/{NUMBER}", payload={})
    async with sa.AsyncSession(BASE, token="t") as api:
        await api.request("activate", {"number": NUMBER, "packet_id": 7, "iccid": ICCID})
    (call,) = calls(mocked, "POST", url_re(f"api/v2/sim/{NUMBER}"))
    assert sent_queries(mocked, "POST", url_re(f"api/v2/sim/{NUMBER}")) == [[]]
    assert json.loads(call.kwargs["data"]) == {"packet_id": 7, "iccid": ICCID}
