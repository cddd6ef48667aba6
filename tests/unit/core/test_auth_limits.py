"""Login under hostile conditions: skewed expiry, a 401 to every fresh token, tokens that
cannot be sent, a session closed mid-login, refusals worded by the server."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Any

import pytest
from aioresponses import CallbackResult, aioresponses

import simapi_async as sa
from simapi_async._config import LOGIN_BREAKER_THRESHOLD

from .conftest import BASE, BLOCK, LOGIN, PASSWORD, TOKEN, block, calls, login_ok


class Clock:
    """A hand-moved monotonic clock for the token manager (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _past(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)).isoformat()


# -- an expiry that cannot be used -----------------------------------------------------------


@pytest.mark.parametrize("expiry", [{"expires_at": _past(240)}, {"expires_in": 0.2},
                                    {"expires_in": -30}, {"data": {"expires_at": _past(1)}}])
async def test_unusable_expiry_means_valid_until_a_401(
    mocked: aioresponses, api: sa.AsyncSession, caplog: pytest.LogCaptureFixture,
    expiry: dict[str, Any],
) -> None:
    """An expiry already past (server clock skew) or under a second makes no login per
    call: one login serves every call, and one WARNING says why."""
    caplog.set_level(logging.DEBUG, logger="simapi_async")
    body: dict[str, Any] = {"token": TOKEN, **expiry}
    if "data" in expiry:
        body = {"data": {"token": TOKEN, **expiry["data"]}}
    mocked.post(LOGIN, payload=body, repeat=True)
    mocked.post(BLOCK, payload={}, repeat=True)
    for _ in range(20):
        await block(api)
    await asyncio.gather(*(block(api) for _ in range(20)))
    assert len(calls(mocked, "POST", LOGIN)) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "expiry" in warnings[0].getMessage()


async def test_past_expiry_token_is_renewed_after_a_401(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """A token kept despite a past expiry is replaced as usual once the server says 401."""
    login_ok(mocked, token="first-token", expires_at=_past(60))
    login_ok(mocked, token="second-token", expires_at=_past(60))
    mocked.post(BLOCK, payload={})
    mocked.post(BLOCK, status=401, payload={"message": "Unauthenticated."})
    mocked.post(BLOCK, payload={})
    await block(api)
    await block(api)
    sent = [c.kwargs["headers"]["Authorization"] for c in calls(mocked, "POST", BLOCK)]
    assert sent == ["Bearer first-token", "Bearer first-token", "Bearer second-token"]


# -- the login breaker ------------------------------------------------------------------------


def _storm(mocked: aioresponses, accept: dict[str, bool] | None = None) -> list[str]:
    """Every login succeeds with a new token; every call is answered 401 (unless
    `accept["on"]` is set, then 200). Returns the tokens issued so far."""
    issued: list[str] = []

    def login(url: Any, **kwargs: Any) -> CallbackResult:
        issued.append(f"fresh-token-{len(issued):04d}")
        return CallbackResult(payload={"token": issued[-1]})

    def answer(url: Any, **kwargs: Any) -> CallbackResult:
        if accept is not None and accept["on"]:
            return CallbackResult(payload={})
        return CallbackResult(status=401, payload={"message": "Unauthenticated."})

    mocked.post(LOGIN, callback=login, repeat=True)
    mocked.post(BLOCK, callback=answer, repeat=True)
    return issued


async def test_401_to_every_fresh_token_stops_the_logins(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """When every fresh token is refused, calls fail with AuthenticationError after a
    bounded number of logins, not one login per call."""
    issued = _storm(mocked)
    errors = []
    for _ in range(50):
        with pytest.raises(sa.AuthenticationError) as info:
            await block(api)
        errors.append(info.value)
    assert len(issued) == LOGIN_BREAKER_THRESHOLD
    assert len(calls(mocked, "POST", BLOCK)) == LOGIN_BREAKER_THRESHOLD
    assert "rejects every fresh token" in str(errors[-1])
    assert all(e.status == 401 for e in errors)


async def test_concurrent_401s_count_each_token_once(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """Fifty calls refused with the same fresh token count as one refusal: the logins
    stay bounded and every call gets AuthenticationError."""
    issued = _storm(mocked)
    for _ in range(5):
        results = await asyncio.gather(*(block(api) for _ in range(50)),
                                       return_exceptions=True)
        assert all(isinstance(r, sa.AuthenticationError) for r in results), results
    assert len(issued) == LOGIN_BREAKER_THRESHOLD


async def test_breaker_probes_after_a_doubling_pause_and_closes_on_success(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """After the pause one probe login is made; refused again, the pause doubles; an
    accepted request closes the breaker and logins are normal again."""
    clock = Clock()
    api._tokens._clock = clock
    accept = {"on": False}
    issued = _storm(mocked, accept)
    for _ in range(LOGIN_BREAKER_THRESHOLD):
        with pytest.raises(sa.AuthenticationError):
            await block(api)
    assert len(issued) == LOGIN_BREAKER_THRESHOLD  # the breaker is open for 1 s
    clock.now += 0.9
    with pytest.raises(sa.AuthenticationError, match="rejects every fresh token"):
        await block(api)
    assert len(issued) == LOGIN_BREAKER_THRESHOLD
    clock.now += 0.2  # the pause is over: one probe, refused, and a 2 s pause
    with pytest.raises(sa.AuthenticationError):
        await block(api)
    assert len(issued) == LOGIN_BREAKER_THRESHOLD + 1
    clock.now += 1.5
    with pytest.raises(sa.AuthenticationError, match="rejects every fresh token"):
        await block(api)
    assert len(issued) == LOGIN_BREAKER_THRESHOLD + 1
    clock.now += 1.0
    accept["on"] = True
    assert await block(api) == {}  # the probe's token works: closed
    assert len(issued) == LOGIN_BREAKER_THRESHOLD + 2
    assert api._tokens.refused_in_a_row == 0
    accept["on"] = False  # a later refusal is one 401, one re-login, one replay again
    with pytest.raises(sa.AuthenticationError) as info:
        await block(api)
    assert "rejects every fresh token" not in str(info.value)
    assert len(issued) == LOGIN_BREAKER_THRESHOLD + 3


async def test_one_stale_token_still_gets_one_relogin_and_one_replay(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """The breaker leaves the promise intact: a 401 logs in again and replays once; a
    second 401 raises AuthenticationError."""
    issued = _storm(mocked)
    with pytest.raises(sa.AuthenticationError):
        await block(api)
    assert len(issued) == 2
    assert len(calls(mocked, "POST", BLOCK)) == 2


# -- tokens that cannot be sent in a header -----------------------------------------------------


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "abc\ndef", "abc\x00def",
                                   "abc\rdef", "tab\tbed", "токен-тест", " padded-token"])
async def test_login_token_that_is_not_a_header_value_is_refused(
    mocked: aioresponses, api: sa.AsyncSession, token: str
) -> None:
    """A login answer whose token holds CR, LF, NUL, other controls or non-ASCII is an
    AuthenticationError that does not show it; nothing is sent with it."""
    mocked.post(LOGIN, payload={"token": token}, repeat=True)
    mocked.post(BLOCK, payload={}, repeat=True)
    with pytest.raises(sa.AuthenticationError, match="not a valid header value") as info:
        await block(api)
    assert token.strip() not in str(info.value)
    assert token.strip() not in repr(info.value)
    assert calls(mocked, "POST", BLOCK) == []


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "abc\x00def", "токен"])
def test_pre_issued_token_that_is_not_a_header_value_is_invalid_input(token: str) -> None:
    """token= with characters no header may carry is refused when the session is made."""
    with pytest.raises(sa.InvalidInputError, match="not a valid HTTP header value") as info:
        sa.AsyncSession(BASE, token=token)
    assert info.value.field == "token"
    assert token not in str(info.value)


# -- closing during a login -----------------------------------------------------------------------


async def _login_in_flight(mocked: aioresponses) -> asyncio.Event:
    """The login hangs until cancelled; the returned event is set when it started."""
    started = asyncio.Event()

    async def hang(url: Any, **kwargs: Any) -> CallbackResult:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")  # pragma: no cover

    mocked.post(LOGIN, callback=hang)
    return started


async def test_aclose_during_login_ends_waiting_calls_with_simapi_error(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """Calls waiting for a login that aclose() cancels end with SimApiError saying the
    session was closed, not with a bare CancelledError."""
    started = await _login_in_flight(mocked)
    callers = [asyncio.create_task(block(api)) for _ in range(3)]
    await started.wait()
    await api.aclose()
    results = await asyncio.gather(*callers, return_exceptions=True)
    for caller, result in zip(callers, results, strict=True):
        assert not caller.cancelled()
        assert type(result) is sa.SimApiError, result
        assert "closed" in str(result)


async def test_a_cancelled_caller_still_gets_cancelled_error(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """A caller whose own task is cancelled while it waits for the login is cancelled
    (CancelledError), and the login goes on for the others."""
    started = await _login_in_flight(mocked)
    caller = asyncio.create_task(block(api))
    other = asyncio.create_task(block(api))
    await started.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert not other.done()
    await api.aclose()
    with pytest.raises(sa.SimApiError, match="closed"):
        await other


# -- what a refused login says ------------------------------------------------------------------


@pytest.mark.parametrize(("answer", "shown"), [
    ({"payload": {"error": "Unauthorized"}}, "login refused: Unauthorized"),
    ({"payload": {"message": "Invalid credentials."}}, "login refused: Invalid credentials."),
    ({"payload": {"error": "invalid_grant", "error_description": "Bad credentials"}},
     "login refused: invalid_grant: Bad credentials"),
    ({"payload": {"error_description": "Bad credentials"}}, "login refused: Bad credentials"),
    ({"payload": {"detail": "Not authenticated"}}, "login refused: Not authenticated"),
    ({"payload": {"error": {"message": "Token rejected"}}}, "login refused: Token rejected"),
    ({"payload": {"message": "Unauthenticated."}}, "login refused: Unauthenticated."),
    ({"payload": {}}, "login refused: HTTP 401, the answer gives no reason"),
    ({"body": ""}, "login refused: HTTP 401, the answer gives no reason"),
])
async def test_refused_login_shows_what_the_server_said(
    mocked: aioresponses, api: sa.AsyncSession, answer: dict[str, Any], shown: str
) -> None:
    """A refused login reports the server's own words (message, error, error_description,
    detail), and says so when the answer gives none, never a text it did not send."""
    mocked.post(LOGIN, status=401, **answer)
    with pytest.raises(sa.AuthenticationError) as info:
        await api.authenticate()
    assert info.value.message == shown
    assert info.value.status == 401


async def test_refused_login_words_are_scrubbed(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """The server's words about a refused login never carry the password back."""
    mocked.post(LOGIN, status=401, payload={"error": f"wrong password {PASSWORD}"})
    with pytest.raises(sa.AuthenticationError) as info:
        await api.authenticate()
    assert info.value.message == "login refused: wrong password ***"
    assert PASSWORD not in json.dumps(info.value.body)
