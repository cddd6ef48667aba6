"""Retries, re-login and errors against injected faults over real sockets."""

from __future__ import annotations

import asyncio

import pytest

import simapi_async as sa
from simapi_async.testing import Emulator, Faults

from .conftest import connected, targets_of


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_transient_statuses_are_retried(emu: Emulator, status: int) -> None:
    """The next two answers fail with a transient status; the call still succeeds."""
    number = emu.fleet.numbers[0]
    iccid = emu.fleet.sims[number].iccid
    async with connected(emu) as api:
        await api.authenticate()
        emu.fail_next(2, status=status, retry_after=0)
        assert (await api.sims.block(number, iccid=iccid)).ok
        assert api.stats.retries == 2
    assert emu.fleet.sims[number].blocked


async def test_html_502_pages_are_survived_and_reported() -> None:
    """502 HTML pages are retried (the login's and a call's: two attempts each with
    max_retries=1); when they persist, ServerError names the status."""
    emu = Emulator(sims=10, faults=Faults(error_rate_502_html=1.0))
    async with emu, connected(emu, max_retries=1) as api:
        with pytest.raises(sa.AuthenticationError) as info:
            await api.sims.get(emu.fleet.numbers[0])
        assert isinstance(info.value.__cause__, sa.ServerError)
        assert "502" in str(info.value)
        assert api.stats.retries == 1
        assert emu.stats.injected["502"] == 2
        emu.faults.error_rate_502_html = 0.0
        await api.authenticate()
        emu.faults.error_rate_502_html = 1.0
        with pytest.raises(sa.ServerError) as call_info:
            await api.sims.get(emu.fleet.numbers[0])
        assert call_info.value.status == 502
        assert api.stats.retries == 2
        assert emu.stats.injected["502"] == 4
        assert emu.stats.requests["get_sim"] == 2


async def test_revoked_token_causes_one_relogin_for_many_calls(emu: Emulator) -> None:
    """After revocation, 50 concurrent calls see 401s and share one new login."""
    targets = targets_of(emu, 50)
    async with connected(emu) as api:
        await api.authenticate()
        emu.revoke_tokens()
        await asyncio.gather(*(api.sims.block(t.number, iccid=t.iccid) for t in targets))
        assert api.stats.logins == 2
    assert emu.stats.logins == 2


async def test_token_ttl_is_renewed_proactively() -> None:
    """With a token TTL announced by login, the SDK renews before expiry (no 401 needed)."""
    async with Emulator(sims=5, token_ttl=3600) as emu, connected(emu) as api:
        await api.authenticate()
        api._tokens._renew_at = 0.0  # as if the renewal margin had been reached
        await api.sims.get(emu.fleet.numbers[0])
        flight = api._tokens._flight
        if flight is not None:
            await flight
        assert api.stats.logins == 2
        assert emu.stats.status_counts[401] == 0


async def test_dropped_connections_are_retried_for_safe_calls() -> None:
    """Connections closed without an answer are retried for reads and idempotent writes."""
    async with Emulator(sims=50, faults=Faults(drop_rate=0.3, seed=2)) as emu:
        async with connected(emu, max_retries=10) as api:
            for number in emu.fleet.numbers[:20]:
                await api.sims.block(number)
        assert emu.stats.dropped > 0
        assert all(emu.fleet.sims[n].blocked for n in emu.fleet.numbers[:20])


async def test_hanging_server_ends_in_api_timeout_error() -> None:
    """A server that accepts and never answers: the call ends at its timeout, typed."""
    emu = Emulator(sims=5, faults=Faults(hang_rate=1.0))
    async with emu:
        api = sa.AsyncSession(emu.base_url, token=emu.issue_token(), timeout=0.2, max_retries=1)
        async with api:
            with pytest.raises(sa.APITimeoutError):
                await api.sims.get(emu.fleet.numbers[0])


async def test_api_down_bulk_requests_are_bounded_by_the_retry_budget() -> None:
    """Only 503s: a 1,000-target run fails every target in about 1,000 + budget requests."""
    async with Emulator(sims=1000, seed=4) as emu:
        policy = sa.RetryPolicy(max_retries=3, budget=sa.RetryBudget(capacity=50))
        async with connected(emu, retry=policy) as api:
            await api.authenticate()
            emu.faults.error_rate_503 = 1.0
            before = emu.stats.total_requests
            report = await api.bulk.block(targets_of(emu), concurrency=20)
        made = emu.stats.total_requests - before
        assert report.failed == 1000
        assert made <= 1000 + 50
        assert set(report.reasons) == {"503 ServerError"}


async def test_server_rate_limit_is_respected_with_retry_after() -> None:
    """A server-side rate limit answers 429 with Retry-After; every call still succeeds."""
    async with Emulator(sims=100, faults=Faults(rate_limit=500.0)) as emu:
        async with connected(emu, max_retries=10) as api:
            results = await asyncio.gather(*(api.sims.get(n) for n in emu.fleet.numbers[:100]))
        assert len(results) == 100
