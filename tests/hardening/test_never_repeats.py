"""Never repeats a non-idempotent call: not aiohttp on its own, not a resume after an
answer that says the server may have acted, not a cancelled run's never-sent targets."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async._endpoints import ENDPOINTS, with_overrides
from simapi_async.testing import Emulator, Faults

from .conftest import SENTINEL_TOKEN, Handler, serve, session_on

NUMBERS = [f"7918000{i:04d}" for i in range(12)]
ICCID = "8970199220150123459"


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()
            if line.strip() and '"n"' in line]


# -- aiohttp's own resend ------------------------------------------------------------------


@pytest.mark.parametrize("own_session", [False, True])
async def test_a_write_overridden_to_put_is_sent_once_when_the_connection_drops(
    own_session: bool,
) -> None:
    """With send_sms's method overridden to PUT, a drop after the server applied it ends
    the call with one request (aiohttp's silent resend of idempotent methods is off),
    also on a ClientSession the caller brings."""
    table = with_overrides(ENDPOINTS, {"send_sms": {"method": "PUT"}})
    async with Emulator(sims=20, seed=1, endpoints=table,
                        faults=Faults(drop_after_processing=True)) as emu:
        http = aiohttp.ClientSession() if own_session else None
        try:
            async with sa.AsyncSession(emu.base_url, login=emu.login, password=emu.password,
                                       session=http,
                                       endpoint_overrides={"send_sms": {"method": "PUT"}}
                                       ) as api:
                await api.authenticate()  # the connection is now a reused keep-alive one
                emu.faults.drop_rate = 1.0
                number = emu.fleet.numbers[0]
                with pytest.raises(sa.APIConnectionError):
                    await api.sims.send_sms(number, "internet")
        finally:
            if http is not None:
                await http.close()
        assert emu.stats.requests["send_sms"] == 1
        assert emu.stats.writes[("send_sms", number)] == 1


# -- what an answer says about "may have been processed" -----------------------------------


def _answering(status: int, sent: Counter[str]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if "/sim/send-sms/" not in request.path:
            return web.json_response({"number": request.path.rsplit("/", 1)[-1],
                                      "iccid": ICCID})
        sent[request.path.rsplit("/", 1)[-1]] += 1
        headers = {"Location": "/api/v2/sim/sms-status"} if 300 <= status < 400 else {}
        return web.json_response({"message": "as you wish"}, status=status, headers=headers)
    return handler


@pytest.mark.parametrize("status", [301, 302, 303, 304, 307, 308, 500, 502, 503])
async def test_answers_that_may_follow_processing_are_unknown_and_never_resent(
    status: int, tmp_path: Path
) -> None:
    """A send_sms answered 3xx (a Post/Redirect/Get 303 follows processing) or 5xx ends
    "unknown": a resume from the journal skips it, so each number got one request."""
    journal = tmp_path / "sms.jsonl"
    sent: Counter[str] = Counter()
    async with serve(_answering(status, sent)) as server, \
            session_on(server.base_url) as api:
        first = await api.bulk.send_sms(NUMBERS, type="internet", journal=journal)
        again = await api.bulk.send_sms(NUMBERS, type="internet", journal=journal)
    assert (first.failed, first.unknown) == (len(NUMBERS), len(NUMBERS))
    assert {line["o"] for line in _lines(journal) if line["o"] != "started"} == {"unknown"}
    assert again.skipped == len(NUMBERS)
    assert sent == Counter({n: 1 for n in NUMBERS})


@pytest.mark.parametrize("status", [400, 403, 404, 405, 409, 422])
async def test_refusals_are_failed_and_retried_by_a_resume(status: int, tmp_path: Path) -> None:
    """A send_sms answered with a 4xx refusal ends "failed" (the server did not act): a
    resume from the journal sends it again."""
    journal = tmp_path / "sms.jsonl"
    sent: Counter[str] = Counter()
    async with serve(_answering(status, sent)) as server, \
            session_on(server.base_url) as api:
        first = await api.bulk.send_sms(NUMBERS, type="internet", journal=journal)
        again = await api.bulk.send_sms(NUMBERS, type="internet", journal=journal)
    assert (first.failed, first.unknown) == (len(NUMBERS), 0)
    assert (again.failed, again.unknown, again.skipped) == (len(NUMBERS), 0, 0)
    assert sent == Counter({n: 2 for n in NUMBERS})


async def test_a_failed_lookup_before_a_non_idempotent_write_is_failed() -> None:
    """A 503 on the SIM lookup before add_small_packet means the write never left:
    "failed" (resumable), not "unknown"."""
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "down"}, status=503)

    async with serve(handler) as server, session_on(server.base_url, max_retries=0) as api:
        report = await api.bulk.add_small_packet(NUMBERS[:3])
    assert (report.failed, report.unknown) == (3, 0)
    assert all(f.attempts == 0 for f in report.failures)


# -- what counts as an attempt -----------------------------------------------------------


async def test_attempts_count_the_operations_own_requests_only() -> None:
    """ItemResult.attempts is what the server saw for the target's operation: the login
    (started by the first worker) and the SIM lookups do not count."""
    async with Emulator(sims=40, seed=3) as emu, \
            sa.AsyncSession(emu.base_url, login=emu.login, password=emu.password) as api:
        results: list[sa.ItemResult] = []
        report = await api.bulk.block(emu.fleet.numbers, concurrency=8, lookup="lookup",
                                      on_result=results.append)
    assert report.succeeded == 40
    assert emu.stats.logins == 1
    assert emu.stats.requests["get_sim"] == 40
    assert [r.attempts for r in results] == [1] * 40
    assert sum(r.attempts for r in results) == emu.stats.requests["block"]


class _Gated:
    """A server whose SIM lookups (or login) wait for a gate the test opens."""

    def __init__(self, *, gate_login: bool) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0
        self.all_waiting = asyncio.Event()
        self.expected = 0
        self.gate_login = gate_login
        self.writes: Counter[str] = Counter()

    async def _wait(self) -> None:
        self.waiting += 1
        if self.waiting >= self.expected:
            self.all_waiting.set()
        await self.gate.wait()

    async def login(self, request: web.Request) -> web.StreamResponse:
        if self.gate_login:
            await self._wait()
        return web.json_response({"token": SENTINEL_TOKEN})

    async def handler(self, request: web.Request) -> web.StreamResponse:
        number = request.path.rsplit("/", 1)[-1]
        if request.method == "GET":
            await self._wait()
            return web.json_response({"number": number, "iccid": ICCID})
        self.writes[number] += 1
        return web.json_response({"success": True})


@pytest.mark.parametrize(("op", "kwargs", "gate_login"), [
    ("add_small_packet", {}, False),   # every worker waits in its SIM lookup
    ("send_sms", {"type": "internet"}, True),  # every worker waits for the one login
])
async def test_cancelling_never_journals_unsent_targets_unknown(
    op: str, kwargs: dict[str, str], gate_login: bool, tmp_path: Path
) -> None:
    """A run cancelled while its targets wait for a lookup or the login journals them
    "failed" (cancelled before it was sent), so a resume sends each of them once."""
    journal = tmp_path / "run.jsonl"
    server_state = _Gated(gate_login=gate_login)
    server_state.expected = 1 if gate_login else 6
    async with serve(server_state.handler, login=server_state.login) as server, \
            session_on(server.base_url) as api:
        run = asyncio.create_task(
            getattr(api.bulk, op)(NUMBERS, journal=journal, concurrency=6, lookup="lookup",
                                  **kwargs))
        await server_state.all_waiting.wait()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert not server_state.writes
        outcomes = Counter(line["o"] for line in _lines(journal) if line["o"] != "started")
        assert outcomes == Counter({"failed": 6})
        server_state.gate.set()
        again = await getattr(api.bulk, op)(NUMBERS, journal=journal, concurrency=6,
                                            lookup="lookup", **kwargs)
    assert again.succeeded == len(NUMBERS)
    assert server_state.writes == Counter({n: 1 for n in NUMBERS})
