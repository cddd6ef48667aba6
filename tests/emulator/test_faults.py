"""Fault injection against real sockets: errors, drops, hangs, 429s, rate limit, latency."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from simapi_async._exceptions import InvalidInputError
from simapi_async.testing import Emulator, Faults, SimState
from simapi_async.testing import _emulator as emulator_module

from .conftest import Client


def _sim(emu: Emulator) -> SimState:
    return next(s for s in emu.fleet.sims.values() if s.status == "active")


async def _block(api: Client, sim: SimState) -> int:
    return (await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})).status


@pytest.mark.parametrize("status", [500, 503])
async def test_error_rates_answer_json_and_apply_nothing(emu: Emulator, api: Client,
                                                         status: int) -> None:
    """error_rate_500/503 = 1 answer Laravel JSON errors and leave the SIM untouched."""
    emu.faults = Faults(error_rate_500=1.0) if status == 500 else Faults(error_rate_503=1.0)
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})
    assert r.status == status
    assert r.body == {"message": {500: "Server Error", 503: "Service Unavailable"}[status]}
    assert not sim.blocked
    assert emu.stats.injected[str(status)] == 1
    assert emu.stats.writes.total() == 0


@pytest.mark.parametrize(("retry_after", "header"), [(1.0, "1"), (0.25, "0.25"), (None, None)])
async def test_error_rate_429_answers_too_many_attempts(emu: Emulator, api: Client,
                                                       retry_after: float | None,
                                                       header: str | None) -> None:
    """error_rate_429 = 1: 429 with `retry_after` as Retry-After, and nothing applied."""
    emu.faults = Faults(error_rate_429=1.0, retry_after=retry_after)
    sim = _sim(emu)
    r = await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})
    assert r.status == 429
    assert r.headers.get("Retry-After") == header
    assert r.body == {"message": "Too Many Attempts."}
    assert not sim.blocked
    assert emu.stats.injected["429"] == 1


async def test_502_is_an_html_page(emu: Emulator, api: Client) -> None:
    """error_rate_502_html answers 502 with a proxy's text/html page."""
    emu.faults.error_rate_502_html = 1.0
    r = await api("GET", "api/v2/sim/packets")
    assert r.status == 502
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in r.text


async def test_drop_before_processing(emu: Emulator, api: Client) -> None:
    """A drop closes the connection unanswered; with drop_after_processing=False nothing applies."""
    emu.faults = Faults(drop_rate=1.0, drop_after_processing=False)
    sim = _sim(emu)
    with pytest.raises(aiohttp.ClientConnectionError):
        await _block(api, sim)
    assert not sim.blocked
    assert emu.stats.dropped == 1
    assert emu.stats.writes.total() == 0


async def test_drop_after_processing(emu: Emulator, api: Client) -> None:
    """With drop_after_processing=True the write is applied, then the connection dropped."""
    emu.faults = Faults(drop_rate=1.0, drop_after_processing=True)
    sim = _sim(emu)
    with pytest.raises(aiohttp.ClientConnectionError):
        await _block(api, sim)
    assert sim.blocked
    assert emu.stats.writes[("block", sim.number)] == 1
    emu.faults.drop_rate = 0.0
    assert await _block(api, sim) == 200


async def test_drop_default_applies_about_half() -> None:
    """By default about half of the dropped writes were applied (the client cannot tell)."""
    async with Emulator(sims=60, seed=5, faults=Faults(drop_rate=1.0)) as emu:
        async with aiohttp.ClientSession(emu.base_url + "/") as http:
            api = Client(http, emu.issue_token())
            for sim in list(emu.fleet.sims.values()):
                with pytest.raises(aiohttp.ClientConnectionError):
                    await api("POST", f"api/v2/sim/send-sms/{sim.number}", json={"type": "call"})
        applied = sum(len(s.sms_sent) for s in emu.fleet.sims.values())
        assert 15 <= applied <= 45
        assert emu.stats.dropped == 60


async def test_hang_until_client_gives_up(emu: Emulator, http: aiohttp.ClientSession) -> None:
    """hang_rate=1: no answer ever comes; the client's own timeout ends the wait."""
    emu.faults.hang_rate = 1.0
    with pytest.raises(asyncio.TimeoutError):
        async with http.get("api/v2/sim/packets", timeout=aiohttp.ClientTimeout(total=0.2),
                            headers={"Authorization": f"Bearer {emu.issue_token()}"}):
            pass
    assert emu.stats.hung == 1
    assert emu.stats.status_counts.total() == 0


async def test_fail_next_429_with_retry_after(emu: Emulator, api: Client) -> None:
    """fail_next(2) answers exactly the next two requests 429 with Retry-After, then recovers."""
    emu.fail_next(2, status=429, retry_after=0.25)
    for _ in range(2):
        r = await api("GET", "api/v2/sim/packets")
        assert r.status == 429
        assert r.headers["Retry-After"] == "0.25"
        assert r.body == {"message": "Too Many Attempts."}
    assert (await api("GET", "api/v2/sim/packets")).status == 200
    assert emu.stats.status_counts[429] == 2


async def test_fail_next_other_statuses(emu: Emulator, api: Client,
                                        creds: dict[str, str]) -> None:
    """fail_next queues any status: 503 carries Retry-After, 502 is HTML; login is affected."""
    emu.fail_next(1, status=503, retry_after=2)
    emu.fail_next(1, status=502)
    r = await api("POST", "api/v2/login", params=creds, auth=False)
    assert (r.status, r.headers["Retry-After"]) == (503, "2")
    r = await api("GET", "api/v2/sim/packets")
    assert r.status == 502
    assert "Bad Gateway" in r.text


async def test_rate_limit(emu: Emulator, api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """rate_limit: within it X-RateLimit headers; beyond it 429 with a Retry-After that
    counts down on the emulator's clock (a fake one here: no wall time involved)."""
    clock = {"now": 1000.0}
    monkeypatch.setattr(emulator_module, "_now", lambda: clock["now"])
    emu.faults.rate_limit = 0.1  # one request, then one more every 10 s
    ok = await api("GET", "api/v2/sim/packets")
    assert ok.status == 200
    assert (ok.headers["X-RateLimit-Limit"], ok.headers["X-RateLimit-Remaining"]) == ("1", "0")
    limited = await api("GET", "api/v2/sim/packets")
    assert limited.status == 429
    assert float(limited.headers["Retry-After"]) == 10.0
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    clock["now"] += 4.0
    later = await api("GET", "api/v2/sim/packets")
    assert float(later.headers["Retry-After"]) == pytest.approx(6.0)
    clock["now"] += 6.0
    assert (await api("GET", "api/v2/sim/packets")).status == 200
    assert emu.stats.injected["429"] == 2


async def test_latency(emu: Emulator, api: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """latency (fixed or a range) delays each answer by a value in that range."""
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(emulator_module, "_sleep", record)
    emu.faults.latency = 0.5
    await api("GET", "api/v2/sim/packets")
    emu.faults.latency = (0.01, 0.02)
    for _ in range(5):
        await api("GET", "api/v2/sim/packets")
    assert delays[0] == 0.5
    assert all(0.01 <= d <= 0.02 for d in delays[1:])
    assert len(delays) == 6


async def test_same_seed_same_faults() -> None:
    """Two emulators with the same seed inject faults into the same requests."""
    runs = []
    for _ in range(2):
        async with Emulator(sims=5, seed=9, faults=Faults(error_rate_503=0.5)) as emu, \
                aiohttp.ClientSession(emu.base_url + "/") as http:
            api = Client(http, emu.issue_token())
            runs.append([(await api("GET", "api/v2/sim/packets")).status for _ in range(30)])
    assert runs[0] == runs[1]
    assert set(runs[0]) == {200, 503}


@pytest.mark.parametrize("kwargs", [
    {"error_rate_500": 1.5}, {"drop_rate": -0.1}, {"latency": (0.2, 0.1)},
    {"latency": -1}, {"rate_limit": 0}, {"token_ttl": -5}, {"hang_rate": "often"},
    {"error_rate_429": 2}, {"retry_after": -1}, {"retry_after": True},
])
def test_bad_faults_are_invalid_input(kwargs: dict[str, object]) -> None:
    """Out-of-range fault settings raise InvalidInputError."""
    with pytest.raises(InvalidInputError):
        Faults(**kwargs)  # type: ignore[arg-type]


def test_faults_validated_on_assignment() -> None:
    """Setting a fault at runtime is validated like at creation."""
    faults = Faults()
    with pytest.raises(InvalidInputError):
        faults.error_rate_503 = 2.0
