"""`emu.stats`: logins, requests, writes and duplicates, in-flight maximum, connections."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from simapi_async.testing import Emulator
from simapi_async.testing import _emulator as emulator_module

from .conftest import Client


async def test_counts_logins_requests_statuses(emu: Emulator, anon: Client,
                                               creds: dict[str, str]) -> None:
    """Logins, requests per operation, total requests and statuses are counted."""
    r = await anon("POST", "api/v2/login", params=creds)
    anon.token = r.body["token"]
    await anon("GET", "api/v2/sim/packets")
    await anon("GET", "api/v2/sim/123")
    await anon("GET", "api/v2/nowhere")
    s = emu.stats
    assert s.logins == 1
    assert s.requests == {"login": 1, "list_packets": 1, "get_sim": 1}
    assert s.total_requests == 4
    assert s.status_counts == {200: 2, 422: 1, 404: 1}


async def test_writes_and_duplicates(emu: Emulator, api: Client) -> None:
    """Only applied writes count; duplicates() lists numbers written more than once."""
    a, b = (emu.fleet.sims[n] for n in emu.fleet.numbers[:2])
    await api("POST", f"api/v2/sim/block/{a.number}", params={"iccid": a.iccid})
    await api("POST", f"api/v2/sim/block/{a.number}", params={"iccid": a.iccid})
    await api("POST", f"api/v2/sim/block/{b.number}", params={"iccid": b.iccid})
    await api("POST", f"api/v2/sim/block/{b.number}", params={"iccid": a.iccid})  # 422
    assert emu.stats.writes == {("block", a.number): 2, ("block", b.number): 1}
    assert emu.stats.duplicates("block") == {a.number: 2}
    assert emu.stats.duplicates("unblock") == {}


async def test_max_in_flight(emu: Emulator, api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Five requests held inside the emulator at once show as in_flight and max_in_flight 5."""
    gate, all_in = asyncio.Event(), asyncio.Event()
    arrived = 0

    async def held(_: float) -> None:
        nonlocal arrived
        arrived += 1
        if arrived == 5:
            all_in.set()
        await gate.wait()

    monkeypatch.setattr(emulator_module, "_sleep", held)
    emu.faults.latency = 1.0
    tasks = [asyncio.create_task(api("GET", "api/v2/sim/packets")) for _ in range(5)]
    await all_in.wait()
    assert emu.stats.in_flight == 5
    gate.set()
    assert [r.status for r in await asyncio.gather(*tasks)] == [200] * 5
    assert (emu.stats.in_flight, emu.stats.max_in_flight) == (0, 5)
    assert emu.stats.connections == 5


async def test_connections_count_distinct_tcp_connections(emu: Emulator) -> None:
    """A keep-alive session counts one connection however many requests; a new one adds one."""
    token = emu.issue_token()
    for expected in (1, 2):
        async with aiohttp.ClientSession(emu.base_url + "/") as http:
            api = Client(http, token)
            for _ in range(4):
                await api("GET", "api/v2/sim/packets")
        assert emu.stats.connections == expected
    assert emu.stats.total_requests == 8


async def test_reset(emu: Emulator, api: Client) -> None:
    """reset() zeroes every counter."""
    sim = emu.fleet.sims[emu.fleet.numbers[0]]
    await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})
    emu.stats.reset()
    s = emu.stats
    assert (s.logins, s.total_requests, s.connections, s.max_in_flight, s.dropped) == (0,) * 5
    assert not (s.requests)
    assert not (s.writes)
    assert not (s.status_counts)
    assert not s.injected
    await api("GET", "api/v2/sim/packets")
    assert (s.total_requests, s.connections) == (1, 1)
