"""Under the operator's quota: every target finishes, one request each, few 429s.

The emulator's `Faults(rate_limit=Q)` is a token bucket of one second's worth that answers
`429` + `Retry-After` + `X-RateLimit-Limit/Remaining`, as Laravel's throttle does; with
`rate_window=W` it is Laravel's fixed window instead. Counts are asserted, never times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import simapi_async as sa
from simapi_async import _retry
from simapi_async.testing import Emulator, Faults

from .conftest import connected, targets_of


@pytest.fixture
def real_pauses() -> Iterator[None]:
    """Pauses the server asks for (`Retry-After`) are really waited out in this test."""
    _retry.set_testing(False)
    yield
    _retry.set_testing(True)


async def test_500_number_only_targets_under_a_quota_of_50_all_succeed() -> None:
    """rate_limit=50, 500 targets by number only, default settings: 500 ok, 0 failed,
    at most 1.05 requests a target, at most 5 % of the answers 429, the run paced."""
    async with Emulator(sims=1000, seed=5, faults=Faults(rate_limit=50.0)) as emu:
        numbers = emu.fleet.numbers[:500]
        paced: list[float | None] = []
        async with connected(emu) as api:
            report = await api.bulk.block(
                numbers, on_progress=lambda p: paced.append(p.pacing_rate))
            learned = api.quota.learned
        requests = emu.stats.total_requests
        assert (report.succeeded, report.failed) == (500, 0), report.reasons
        assert requests / 500 <= 1.05, emu.stats.requests
        assert emu.stats.status_counts[429] <= 0.05 * requests
        assert emu.stats.requests["get_sim"] == 0  # identifiers came from one listing
        assert report.list_requests == emu.stats.requests["list_sims"] == 1
        assert all(emu.fleet.sims[n].blocked for n in numbers)
        assert learned is not None
        assert learned > 0
        assert any(rate is not None for rate in paced)  # the progress said it was paced


async def test_concurrent_single_calls_share_the_learned_quota() -> None:
    """Many concurrent single calls (a service) are paced by the session: all succeed
    with at most 5 % of the answers 429, though no call knows the quota."""
    async with Emulator(sims=100, seed=5, faults=Faults(rate_limit=30.0)) as emu:
        async with connected(emu) as api:
            sims = [await api.sims.get(n) for n in emu.fleet.numbers[:1]]
            for _ in range(3):
                got = await _gather(api, emu.fleet.numbers[:40])
                sims.extend(got)
            quota = api.quota
        assert len(sims) == 121
        assert emu.stats.status_counts[429] <= 0.05 * emu.stats.total_requests
        assert quota.limit == 30
        assert quota.learned is not None


async def _gather(api: sa.AsyncSession, numbers: list[str]) -> list[sa.Sim]:
    import asyncio

    return list(await asyncio.gather(*(api.sims.get(n) for n in numbers)))


async def test_a_429_never_fails_a_bulk_target_even_past_max_retries() -> None:
    """With max_retries=0 every 429 would end the call: in a bulk run the target goes
    back in line instead, and the run finishes with no failure."""
    async with Emulator(sims=200, seed=2, faults=Faults(error_rate_429=0.2, seed=4)) as emu:
        async with connected(emu, max_retries=0) as api:
            await api.authenticate()
            report = await api.bulk.block(targets_of(emu, 150), concurrency=50)
        assert (report.succeeded, report.failed) == (150, 0), report.reasons
        assert report.rate_limited == emu.stats.injected["429"] > 10
        assert all(emu.fleet.sims[n].blocked for n in emu.fleet.numbers[:150])


async def test_a_server_answering_only_429_makes_the_run_wait_then_resume(
    tmp_path: Path,
) -> None:
    """Every answer 429 Retry-After: 1: nothing fails; the run waits until it is stopped
    (max_duration), reports every target not attempted, and a resume does them all."""
    journal = tmp_path / "j.jsonl"
    async with Emulator(sims=60, seed=2) as emu, connected(emu) as api:
        await api.authenticate()
        emu.fail_next(10**6, 429, retry_after=1.0)
        stopped = await api.bulk.block(targets_of(emu, 60), journal=journal, max_duration=0.5)
        assert stopped.total == stopped.failed == stopped.not_attempted == 60
        assert stopped.stopped is not None
        assert "max_duration" in stopped.stopped
        assert set(stopped.reasons) == {"NotAttemptedError"}
        assert sum(emu.stats.writes.values()) == 0
        emu.fail_next(0, 429)
        emu._engine._forced.clear()  # the server is healthy again
        resumed = await api.bulk.block(targets_of(emu, 60), journal=journal)
    assert (resumed.succeeded, resumed.failed) == (60, 0)
    assert all(emu.fleet.sims[n].blocked for n in emu.fleet.numbers)


async def test_maintenance_503s_with_retry_after_are_waited_through_and_sms_sent_once() -> None:
    """Laravel's maintenance mode (503 + Retry-After before any controller runs): a bulk
    send_sms waits through it and sends every SMS exactly once, none "unknown"."""
    async with Emulator(sims=30, seed=2) as emu, connected(emu, max_retries=1) as api:
        await api.authenticate()
        emu.fail_next(80, 503, retry_after=0.01)
        report = await api.bulk.send_sms(emu.fleet.numbers[:20], type="internet")
    assert (report.succeeded, report.failed, report.unknown) == (20, 0, 0), report.reasons
    assert emu.stats.injected["503"] == 80
    assert emu.stats.duplicates("send_sms") == {}
    assert sum(c for (op, _), c in emu.stats.writes.items() if op == "send_sms") == 20


async def test_maintenance_fault_answers_503_with_retry_after() -> None:
    """Faults(maintenance=True) answers every request 503 with Retry-After, nothing run."""
    faults = Faults(maintenance=True, retry_after=7.0)
    async with Emulator(sims=5, seed=2, faults=faults) as emu:
        number = emu.fleet.numbers[0]
        api = sa.AsyncSession(emu.base_url, token=emu.issue_token(), max_retries=0)
        async with api:
            with pytest.raises(sa.ServerError) as info:
                await api.sims.block(number, iccid=emu.fleet.sims[number].iccid)
            paused = api.quota.pauses
    assert info.value.status == 503
    assert info.value.headers["Retry-After"] == "7"
    assert sum(emu.stats.writes.values()) == 0
    assert paused == 1  # the session took the pause the server asked for


async def test_a_fixed_window_quota_is_learned_and_filled(real_pauses: None) -> None:
    """Laravel's throttle (a fixed window): the window is learned, every target done,
    and the few 429s come from the first window only."""
    async with Emulator(sims=200, seed=3,
                        faults=Faults(rate_limit=15.0, rate_window=4.0)) as emu:
        async with connected(emu) as api:
            report = await api.bulk.block(targets_of(emu, 100), concurrency=20)
            quota = api.quota
        assert (report.succeeded, report.failed) == (100, 0), report.reasons
        assert quota.window is not None
        assert 3.0 < quota.window < 6.0  # 60 requests per 4 s, learned from the answers
        assert emu.stats.status_counts[429] <= 25  # the first window's overshoot


async def test_bulk_rate_limit_counts_every_request_lookups_included() -> None:
    """A bulk run's rate_limit paces lookups too: 20 number-only targets looked up one by
    one make 40 requests, so the run takes at least 39 intervals."""
    async with Emulator(sims=30, seed=2) as emu, connected(emu) as api:
        await api.authenticate()
        report = await api.bulk.block(emu.fleet.numbers[:20], rate_limit=200.0,
                                      lookup="lookup")
    assert report.succeeded == 20
    assert emu.stats.requests["get_sim"] == emu.stats.requests["block"] == 20
    assert report.elapsed >= 39 / 200.0  # a lower bound the limiter guarantees


async def test_a_token_is_picked_after_the_wait_for_the_quota_not_before() -> None:
    """30 calls queued behind rate_limit=20 (1.5 s of waiting) with tokens living 1.2 s:
    each call takes the token current when its turn comes, so none is sent with a token
    that expired in the queue (no 401, no re-login)."""
    async with Emulator(sims=50, token_ttl=1.2) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password, rate_limit=20) as api:
        await api.authenticate()
        number = emu.fleet.numbers[0]
        await asyncio.gather(*(api.sims.get(number) for _ in range(30)))
        assert api.stats.relogins == 0
    assert emu.stats.status_counts[401] == 0
    assert emu.stats.logins >= 2  # the token was renewed on the way
