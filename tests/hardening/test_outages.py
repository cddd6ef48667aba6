"""Outages: an API answering only 503, and a server that accepts and never answers.

An outage must cost a bounded number of requests (the retry budget), end every call with
a typed error at its timeout, and end a bulk run with every target failed — not hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import simapi_async as sa
from simapi_async.testing import Emulator, Faults

from .conftest import ICCID, NUMBER, SENTINEL_TOKEN, connected, targets_of

API_DOWN_TARGETS = 10_000
BUDGET = sa.RetryBudget().capacity  # the default retry budget: 100 retries


@pytest.mark.parametrize("op", ["block", "send_sms"])
async def test_api_down_10k_targets_cost_at_most_targets_plus_budget(op: str) -> None:
    """Only 503s: 10,000 targets all fail with 503, and the emulator sees at most
    10,000 + the retry budget requests, not 10,000 * (max_retries + 1)."""
    # The default policy: max_retries=3, a budget of 100 retries.
    async with Emulator(sims=API_DOWN_TARGETS, seed=4, fast=True) as emu, \
            connected(emu) as api:
        await api.authenticate()
        emu.faults.error_rate_503 = 1.0
        before = emu.stats.total_requests
        kwargs: dict[str, Any] = {"type": "internet"} if op == "send_sms" else {}
        report = await api.bulk.run(op, targets_of(emu), concurrency=50, **kwargs)
        made = emu.stats.total_requests - before
        exhausted = api.stats.budget_exhausted
    print(f"API down ({op}): {made} requests for {API_DOWN_TARGETS} targets")
    assert report.total == report.failed == API_DOWN_TARGETS
    assert set(report.reasons) == {"503 ServerError"}
    assert API_DOWN_TARGETS <= made <= API_DOWN_TARGETS + BUDGET
    if op == "send_sms":  # a 503 is never retried for it: one request per target
        assert made == API_DOWN_TARGETS
        assert report.unknown == API_DOWN_TARGETS  # a 5xx cannot prove it was not sent
    else:
        assert exhausted > 0
    assert emu.stats.logins == 1
    assert sum(emu.stats.writes.values()) == 0


async def test_api_down_including_login_every_target_fails_with_bounded_requests() -> None:
    """Only 503s from the start, login included: every target fails (AuthenticationError
    from the shared login) and the requests stay within targets + budget."""
    targets = 2_000
    async with Emulator(sims=targets, seed=4, fast=True,
                        faults=Faults(error_rate_503=1.0)) as emu, connected(emu) as api:
        report = await api.bulk.block(targets_of(emu), concurrency=50)
    assert report.total == report.failed == targets
    assert set(report.reasons) == {"503 AuthenticationError"}
    assert emu.stats.requests["login"] == emu.stats.total_requests
    # One shared login for every wave of the 50 workers, each login tried at most
    # max_retries + 1 = 4 times: 4 * (2000 / 50 + 1) = 164 (not one per target).
    assert emu.stats.total_requests <= 4 * (targets // 50 + 1)
    assert emu.stats.total_requests <= targets + BUDGET


# -- a server that accepts and never answers -------------------------------------------


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, list[int]]]:
    """Accepts connections and reads requests, never answers; yields (base URL, counter
    of connections)."""
    connections = [0]
    writers: list[asyncio.StreamWriter] = []
    closing = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections[0] += 1
        writers.append(writer)
        reading = asyncio.ensure_future(reader.read())
        await asyncio.wait([reading, asyncio.ensure_future(closing.wait())],
                           return_when=asyncio.FIRST_COMPLETED)
        reading.cancel()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        closing.set()
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


async def _drain(it: Any) -> list[Any]:
    return [x async for x in it]


CALLS: dict[str, Callable[[sa.AsyncSession], Awaitable[Any]]] = {
    "get": lambda api: api.sims.get(NUMBER),
    "get_by_iccid": lambda api: api.sims.get_by_iccid(ICCID),
    "list": lambda api: api.sims.list(),
    "packets": lambda api: api.packets.list(),
    "cdr": lambda api: _drain(api.cdr.internet("2024-03-01", "2024-03-01")),
    "block": lambda api: api.sims.block(NUMBER, iccid=ICCID),
    "change_packet": lambda api: api.sims.change_packet(NUMBER, packet_id=2,
                                                        date="2030-01-01", iccid=ICCID),
    "send_sms": lambda api: api.sims.send_sms(NUMBER, "call"),
    "add_small_packet": lambda api: api.sims.add_small_packet(NUMBER, iccid=ICCID),
}
NOT_IDEMPOTENT = {"send_sms", "add_small_packet"}


async def test_every_call_ends_at_its_timeout_with_api_timeout_error() -> None:
    """Against a server that never answers, every kind of call raises APITimeoutError
    (reads and idempotent writes after their retries, send_sms and add_small_packet
    after one attempt: they may have reached the server)."""
    async with silent_server() as (base_url, connections), \
            sa.AsyncSession(base_url, token=SENTINEL_TOKEN, timeout=0.2, max_retries=1) as api:
        outcomes = await asyncio.gather(*(call(api) for call in CALLS.values()),
                                        return_exceptions=True)
        attempts = api.stats.requests
    for name, outcome in zip(CALLS, outcomes, strict=True):
        assert isinstance(outcome, sa.APITimeoutError), (name, outcome)
        assert outcome.reached_server is None  # connected, then nothing: unknown
    expected = sum(1 if name in NOT_IDEMPOTENT else 2 for name in CALLS)
    assert attempts == expected
    assert connections[0] >= expected  # a timed-out connection is never reused


async def test_login_against_a_silent_server_is_an_authentication_error_caused_by_timeout(
) -> None:
    """A login that times out raises AuthenticationError whose cause is APITimeoutError."""
    async with silent_server() as (base_url, _), \
            sa.AsyncSession(base_url, login="user", password="pw-1234", timeout=0.2,
                            max_retries=1) as api:
        with pytest.raises(sa.AuthenticationError) as info:
            await api.sims.get(NUMBER)
    assert isinstance(info.value.__cause__, sa.APITimeoutError)


@pytest.mark.parametrize(("op", "outcome"), [("block", "failed"), ("send_sms", "unknown")])
async def test_bulk_over_a_silent_server_finishes_with_every_target_failed(
    op: str, outcome: str
) -> None:
    """A bulk run over a server that never answers still finishes: every target failed
    with APITimeoutError (send_sms: outcome unknown, sent once)."""
    targets = [sa.Target(f"7918{i:07d}", iccid=ICCID) for i in range(200)]
    kwargs: dict[str, Any] = {"type": "call"} if op == "send_sms" else {}
    async with silent_server() as (base_url, _), \
            sa.AsyncSession(base_url, token=SENTINEL_TOKEN, timeout=0.2, max_retries=2) as api:
        results = [r async for r in api.bulk.stream(op, targets, concurrency=100, **kwargs)]
        requests = api.stats.requests
    assert len(results) == 200
    assert all(isinstance(r.error, sa.APITimeoutError) for r in results)
    assert {r.outcome for r in results} == {outcome}
    if op == "send_sms":
        assert requests == 200
    else:
        assert 200 < requests <= 200 + BUDGET
