"""Fault soak: 50,000 targets through 5 % 500s, 2 % dropped connections, 1 % 429s and a
token revoked every 2,000 requests. Nothing lost, nothing done twice, one login per
revoked token.

Why `max_retries=10`: a request fails here with p ≈ 0.08 (500 + drop + 429), and a
target fails only when all of its `max_retries + 1` attempts do: 0.08¹¹ ≈ 9·10⁻¹³ per
target, ≈ 4·10⁻⁸ for the run. With the default 3 it would be 0.08⁴ ≈ 4·10⁻⁵ per target,
i.e. about two failed targets per run: "every target ends ok" would be flaky. The retry
budget stays full (each success refills 0.2, a retry costs 1: it drains only past ~17 %
failures), so it never cuts a retry short. Retry sleeps are off in tests (conftest).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

import simapi_async as sa
from simapi_async.testing import Faults

from ._chaos import ChaosEmulator
from .conftest import connected

SOAK_TARGETS = 50_000
SMS_TARGETS = 10_000
FAULTS = {"error_rate_500": 0.05, "drop_rate": 0.02, "error_rate_429": 0.01}
MAX_RETRIES = 10
REVOKE_EVERY = 2_000


def _targets(emu: ChaosEmulator) -> list[sa.Target | str]:
    """Every SIM of the fleet; one in ten as a bare number (its iccid looked up)."""
    fleet = emu.fleet
    return [n if i % 10 == 0 else sa.Target(n, iccid=fleet.sims[n].iccid)
            for i, n in enumerate(fleet.numbers)]


def _check_logins(emu: ChaosEmulator, api: sa.AsyncSession) -> None:
    """One login at the start and one per revoked token that was refused — never two for
    one token (single flight), so at most one per revocation. Logins whose answer the
    drop fault swallowed are retried by the client and not counted against it."""
    refused = len(emu.refused_tokens)
    facts = (emu.stats.logins, emu.lost_logins, api.stats.logins, refused, emu.revocations)
    assert api.stats.logins == 1 + refused, facts
    assert emu.stats.logins - emu.lost_logins == api.stats.logins, facts
    assert api.stats.logins <= emu.revocations + 1, facts
    assert refused >= emu.revocations // 2, facts  # the revocations hit a busy session


@pytest.mark.soak
async def test_fault_soak_50k_block_every_target_accounted_for() -> None:
    """50,000 blocks under 500s, drops, 429s and token revocations: one result per
    target, every one ok, every SIM blocked, one login per revoked token."""
    emu = ChaosEmulator(sims=SOAK_TARGETS, seed=11, faults=Faults(**FAULTS, seed=12),
                        revoke_every=REVOKE_EVERY, fast=True)
    async with emu:
        targets = _targets(emu)
        seen: Counter[str] = Counter()
        started = time.perf_counter()
        async with connected(emu, max_retries=MAX_RETRIES) as api:
            report = await api.bulk.block(
                targets, concurrency=50, on_result=lambda r: seen.update((r.number,)))
            _check_logins(emu, api)
        elapsed = time.perf_counter() - started
        print(f"soak: {SOAK_TARGETS} targets in {elapsed:.1f}s, "
              f"{emu.stats.total_requests} requests, {report.retries} retries, "
              f"{emu.revocations} revocations, {emu.stats.logins} logins")

        assert report.total == SOAK_TARGETS
        assert report.succeeded == SOAK_TARGETS, report.reasons
        assert seen == Counter(emu.fleet.numbers)  # each target exactly once
        assert all(sim.blocked for sim in emu.fleet.sims.values())
        # The faults really happened, at about the rates asked for.
        assert emu.stats.injected["500"] > 1000
        assert emu.stats.dropped > 400
        assert emu.stats.injected["429"] > 200
        assert emu.revocations >= 20


@pytest.mark.soak
async def test_fault_soak_send_sms_never_twice_even_after_a_resume(tmp_path: Path) -> None:
    """10,000 SMS under the same faults, then a rerun with the journal: no subscriber gets
    two SMS; ok ones got exactly one, failed ones none, unknown ones at most one."""
    journal = tmp_path / "sms.jsonl"
    emu = ChaosEmulator(sims=SMS_TARGETS, seed=21, faults=Faults(**FAULTS, seed=22),
                        revoke_every=REVOKE_EVERY, fast=True)
    async with emu:
        targets = _targets(emu)
        outcome: dict[str, str] = {}
        started = time.perf_counter()
        async with connected(emu, max_retries=MAX_RETRIES) as api:
            first = await api.bulk.send_sms(
                targets, type="internet", concurrency=50, journal=journal,
                on_result=lambda r: outcome.__setitem__(r.number, r.outcome))
            sent = {n: len(s.sms_sent) for n, s in emu.fleet.sims.items()}
            second = await api.bulk.send_sms(targets, type="internet", concurrency=50,
                                             journal=journal)
            _check_logins(emu, api)
        print(f"sms soak: {SMS_TARGETS} targets twice in "
              f"{time.perf_counter() - started:.1f}s; first run {first.succeeded} ok, "
              f"{first.unknown} unknown, {first.failed - first.unknown} failed")

        assert first.total == second.total == SMS_TARGETS
        assert len(outcome) == SMS_TARGETS
        assert emu.stats.duplicates("send_sms") == {}
        by_outcome: dict[str, Counter[int]] = {}
        for number, how in outcome.items():
            by_outcome.setdefault(how, Counter())[sent[number]] += 1
        assert set(by_outcome["ok"]) == {1}
        assert set(by_outcome.get("failed", {0: 1})) == {0}
        assert set(by_outcome["unknown"]) <= {0, 1}
        assert first.unknown > 0  # 500s and drops on send_sms are never retried
        # The rerun skips what is done or unknown, resends only what provably failed.
        assert second.skipped == first.succeeded + first.unknown
        assert all(len(s.sms_sent) <= 1 for s in emu.fleet.sims.values())
