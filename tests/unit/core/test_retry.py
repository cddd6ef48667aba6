"""Retry decisions, Retry-After, backoff, the retry budget and the testing switch."""

from __future__ import annotations

import asyncio
import random
from typing import Any
from unittest import mock

import aiohttp
import backoff._async
import pytest
from aioresponses import aioresponses

import simapi_async as sa
from simapi_async._redact import ScrubbedCause
from simapi_async._retry import backoff_delay, parse_retry_after, set_testing, should_retry

from .conftest import BASE, BLOCK, NUMBER, SMS, block, calls


def _connector_error() -> aiohttp.ClientConnectorError:
    key = mock.Mock(host="portal.example", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))


@pytest.fixture
async def api() -> Any:
    async with sa.AsyncSession(BASE, token="t") as session:
        yield session


def sms(api: sa.AsyncSession) -> Any:
    return api.request("send_sms", {"number": NUMBER, "type": "internet"})


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_retry_safe_operations_are_retried_on_transient_statuses(
    mocked: aioresponses, api: sa.AsyncSession, status: int
) -> None:
    """A block answered by a transient status is retried and then succeeds."""
    mocked.post(BLOCK, status=status, payload={"message": "busy"})
    mocked.post(BLOCK, payload={"success": True})
    assert await block(api) == {"success": True}
    assert len(calls(mocked, "POST", BLOCK)) == 2
    assert api.stats.retries == 1


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_client_errors_are_not_retried(
    mocked: aioresponses, api: sa.AsyncSession, status: int
) -> None:
    """4xx other than 401/429 are final: one request, a typed error."""
    mocked.post(BLOCK, status=status, payload={"message": "no"}, repeat=True)
    with pytest.raises(sa.APIStatusError) as info:
        await block(api)
    assert info.value.status == status
    assert len(calls(mocked, "POST", BLOCK)) == 1


async def test_retries_stop_after_max_retries(mocked: aioresponses) -> None:
    """max_retries=3 means four attempts, then the last error is raised."""
    mocked.post(BLOCK, status=503, payload={"message": "down"}, repeat=True)
    async with sa.AsyncSession(BASE, token="t", max_retries=3) as api:
        with pytest.raises(sa.ServerError):
            await block(api)
    assert len(calls(mocked, "POST", BLOCK)) == 4


async def test_max_retries_zero_makes_one_attempt(mocked: aioresponses) -> None:
    """max_retries=0 turns retrying off."""
    mocked.post(BLOCK, status=503, payload={}, repeat=True)
    async with sa.AsyncSession(BASE, token="t", max_retries=0) as api:
        with pytest.raises(sa.ServerError):
            await block(api)
    assert len(calls(mocked, "POST", BLOCK)) == 1


async def test_send_sms_is_not_retried_after_500(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """A 500 on send_sms may have sent the SMS: no retry, ServerError raised."""
    mocked.post(SMS, status=500, payload={"message": "oops"}, repeat=True)
    with pytest.raises(sa.ServerError):
        await sms(api)
    assert len(calls(mocked, "POST", SMS)) == 1


@pytest.mark.parametrize("exc", [aiohttp.ServerDisconnectedError(), TimeoutError()])
async def test_send_sms_is_not_retried_when_it_may_have_reached_the_server(
    mocked: aioresponses, api: sa.AsyncSession, exc: Exception
) -> None:
    """A dropped connection or timeout on send_sms is final: the outcome is unknown."""
    mocked.post(SMS, exception=exc, repeat=True)
    with pytest.raises(sa.APIConnectionError) as info:
        await sms(api)
    assert info.value.reached_server is None
    assert len(calls(mocked, "POST", SMS)) == 1


async def test_send_sms_is_retried_when_it_never_reached_the_server(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """Connection refused proves the SMS was not sent: retried, then sent once."""
    mocked.post(SMS, exception=_connector_error())
    mocked.post(SMS, payload={"success": True})
    assert await sms(api) == {"success": True}


async def test_send_sms_is_retried_after_429(mocked: aioresponses, api: sa.AsyncSession) -> None:
    """A 429 means the server did not act: even send_sms is retried."""
    mocked.post(SMS, status=429, headers={"Retry-After": "0"}, payload={})
    mocked.post(SMS, payload={"success": True})
    assert await sms(api) == {"success": True}


async def test_connection_errors_and_timeouts_are_retried_for_safe_operations(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """Drops and timeouts on a block are retried."""
    mocked.post(BLOCK, exception=aiohttp.ServerDisconnectedError())
    mocked.post(BLOCK, exception=TimeoutError())
    mocked.post(BLOCK, payload={})
    assert await block(api) == {}
    assert api.stats.retries == 2


async def test_exhausted_connection_retries_raise_api_connection_error(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """After the last retry the typed error escapes, a scrubbed stand-in of the aiohttp
    error (its type name and text, not its request) chained under it."""
    mocked.post(BLOCK, exception=_connector_error(), repeat=True)
    with pytest.raises(sa.APIConnectionError) as info:
        await block(api)
    assert info.value.reached_server is False
    cause = info.value.__cause__
    assert isinstance(cause, ScrubbedCause)
    assert cause.type_name == "aiohttp.client_exceptions.ClientConnectorError"
    assert "Cannot connect to host" in str(cause)


async def test_timeout_raises_api_timeout_error(mocked: aioresponses, api: sa.AsyncSession) -> None:
    """A request timing out ends in APITimeoutError (an APIConnectionError)."""
    mocked.post(BLOCK, exception=TimeoutError(), repeat=True)
    with pytest.raises(sa.APITimeoutError):
        await block(api)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff sleeps switched back on, but recorded instead of slept."""
    set_testing(False)
    recorded: list[float] = []
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float, *args: Any) -> None:
        recorded.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(backoff._async.asyncio, "sleep", fake_sleep)
    return recorded


async def test_retry_after_one_second_is_waited(
    mocked: aioresponses, api: sa.AsyncSession, waits: list[float]
) -> None:
    """`Retry-After: 1` makes the retry wait exactly 1 s (not the jittered backoff)."""
    mocked.post(BLOCK, status=429, headers={"Retry-After": "1"}, payload={})
    mocked.post(BLOCK, payload={})
    await block(api)
    assert 1.0 in waits


async def test_retry_after_is_capped(mocked: aioresponses, waits: list[float]) -> None:
    """A Retry-After beyond max_retry_after waits only max_retry_after."""
    mocked.post(BLOCK, status=503, headers={"Retry-After": "3600"}, payload={})
    mocked.post(BLOCK, payload={})
    policy = sa.RetryPolicy(max_retry_after=2.5)
    async with sa.AsyncSession(BASE, token="t", retry=policy) as api:
        await block(api)
    assert 2.5 in waits


async def test_rate_limit_error_carries_retry_after(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """When 429s outlast the retries, RateLimitError.retry_after holds the hint."""
    mocked.post(BLOCK, status=429, headers={"Retry-After": "7"}, payload={}, repeat=True)
    with pytest.raises(sa.RateLimitError) as info:
        await block(api)
    assert info.value.retry_after == 7.0


async def test_retry_budget_exhausted_makes_calls_fail_fast(mocked: aioresponses) -> None:
    """With an empty budget, failures are not retried: 10 calls make 10 + capacity requests."""
    mocked.post(BLOCK, status=503, payload={}, repeat=True)
    policy = sa.RetryPolicy(max_retries=3, budget=sa.RetryBudget(capacity=5))
    async with sa.AsyncSession(BASE, token="t", retry=policy) as api:
        results = await asyncio.gather(*(block(api) for _ in range(10)), return_exceptions=True)
        assert all(isinstance(r, sa.ServerError) for r in results)
        assert len(calls(mocked, "POST", BLOCK)) == 10 + 5
        assert api.stats.budget_exhausted > 0


async def test_successes_refill_the_retry_budget(mocked: aioresponses) -> None:
    """Successful calls put tokens back, so retries are possible again."""
    policy = sa.RetryPolicy(budget=sa.RetryBudget(capacity=1, success_refill=1.0))
    async with sa.AsyncSession(BASE, token="t", retry=policy) as api:
        mocked.post(BLOCK, status=503, payload={})
        mocked.post(BLOCK, payload={})  # spends the one token, then succeeds (refill)
        await block(api)
        mocked.post(BLOCK, status=503, payload={})
        mocked.post(BLOCK, payload={})
        await block(api)  # possible only because the success refilled the budget
    assert len(calls(mocked, "POST", BLOCK)) == 4


def test_should_retry_table() -> None:
    """The decision function: what each kind of error allows, for safe and unsafe ops."""
    err = sa.ServerError("x", status=500)
    assert should_retry(err, retry_safe=True)
    assert not should_retry(err, retry_safe=False)
    assert should_retry(sa.ServerError("x", status=503), retry_safe=True)
    assert not should_retry(sa.ServerError("x", status=503), retry_safe=False)
    assert should_retry(sa.RateLimitError("x", status=429), retry_safe=False)
    assert not should_retry(sa.NotFoundError("x", status=404), retry_safe=True)
    assert should_retry(sa.APIConnectionError("x", reached_server=False), retry_safe=False)
    assert not should_retry(sa.APIConnectionError("x"), retry_safe=False)
    assert should_retry(sa.APITimeoutError("x"), retry_safe=True)
    assert not should_retry(sa.InvalidInputError("f", 1, "bad"), retry_safe=True)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("1", 1.0), ("0.5", 0.5), ("-3", 0.0), ("soon", None), (None, None), ("nan", None)],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    """Delta-seconds are read, negative clamped to 0, garbage ignored."""
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    """An HTTP date is turned into the seconds from now until then."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


def test_backoff_is_full_jitter_and_capped() -> None:
    """Delays lie in [0, min(max_delay, base * 2**n)] and reach the cap."""
    policy = sa.RetryPolicy(base_delay=0.5, max_delay=8.0)
    rng = random.Random(1)
    for n in range(10):
        ceiling = min(8.0, 0.5 * 2**n)
        samples = [backoff_delay(n, policy, rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8


def test_retry_policy_rejects_bad_values() -> None:
    """Out-of-range retry settings are refused when the session is made."""
    with pytest.raises(sa.InvalidInputError, match="max_retries"):
        sa.AsyncSession(BASE, token="t", max_retries=-1)
    with pytest.raises(ValueError, match="base_delay"):
        sa.RetryPolicy(base_delay=-1)
