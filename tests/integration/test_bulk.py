"""The bulk engine against the emulator: bounds, faults, journal, resume, no duplicates."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async.bulk import _resolve
from simapi_async.testing import Emulator, Faults

from .conftest import connected, targets_of

_BOUND = 60.0  # a bound on a hang, never an assertion


async def test_5000_targets_concurrency_50_stays_within_bounds() -> None:
    """5,000 targets at concurrency 50: 5,000 results; exactly 50 in flight at the peak
    (the first blocks are held until 50 have arrived) and ≤ 50 connections."""
    emu = Emulator(sims=5000, seed=1)
    gate = asyncio.Event()
    held = {"now": 0, "peak": 0}

    @web.middleware
    async def hold_until_50(request: web.Request, handler: Any) -> web.StreamResponse:
        if "/sim/block/" not in request.path:
            return cast(web.StreamResponse, await handler(request))
        held["now"] += 1
        held["peak"] = max(held["peak"], held["now"])
        if held["now"] >= 50:
            gate.set()
        try:
            await gate.wait()
            return cast(web.StreamResponse, await handler(request))
        finally:
            held["now"] -= 1

    emu.app.middlewares.append(hold_until_50)
    async with emu:
        seen: list[sa.ItemResult] = []
        async with connected(emu) as api, asyncio.timeout(_BOUND):
            report = await api.bulk.block(targets_of(emu), concurrency=50,
                                          on_result=seen.append)
        assert len(seen) == 5000 == report.total == report.succeeded
        assert len({r.target.number for r in seen}) == 5000
        assert held["peak"] == 50
        assert emu.stats.max_in_flight <= 50
        assert emu.stats.connections <= 50
        assert all(s.blocked for s in emu.fleet.sims.values())


async def test_faulty_api_every_target_ends_blocked() -> None:
    """With 5% 500s and 2% dropped connections every target ends ok and every SIM blocked."""
    faults = Faults(error_rate_500=0.05, drop_rate=0.02, seed=3)
    async with Emulator(sims=2000, seed=2, faults=faults) as emu:
        async with connected(emu, max_retries=6) as api:
            report = await api.bulk.block(emu.fleet.numbers, concurrency=40)
        assert report.total == 2000
        assert report.succeeded == 2000, report.reasons
        assert emu.stats.injected["500"] > 0
        assert emu.stats.dropped > 0
        assert all(s.blocked for s in emu.fleet.sims.values())
        assert report.retries > 0


async def test_send_sms_under_faults_never_sends_twice() -> None:
    """Under 500s and drops, no subscriber gets a second SMS; unknown outcomes are reported."""
    faults = Faults(error_rate_500=0.05, drop_rate=0.02, seed=4)
    async with Emulator(sims=2000, seed=2, faults=faults) as emu:
        async with connected(emu, max_retries=6) as api:
            report = await api.bulk.send_sms(targets_of(emu), type="internet", concurrency=40)
        assert report.total == 2000
        assert emu.stats.duplicates("send_sms") == {}
        assert all(len(s.sms_sent) <= 1 for s in emu.fleet.sims.values())
        sent = sum(len(s.sms_sent) for s in emu.fleet.sims.values())
        assert sent >= report.succeeded
        assert report.failed > 0  # 500s and drops on send_sms are not retried ...
        assert report.unknown == report.failed  # ... and reported as "outcome unknown"


async def test_cancelled_run_resumes_from_its_journal(tmp_path: Path) -> None:
    """Cancel midway, rerun with the journal: finished targets skipped, the rest done once."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=3000, seed=5, faults=Faults(latency=0.001)) as emu:
        targets = targets_of(emu)
        async with connected(emu) as api:
            enough = asyncio.Event()
            finished: list[sa.ItemResult] = []

            def on_result(result: sa.ItemResult) -> None:
                finished.append(result)
                if len(finished) >= 1000:
                    enough.set()

            run = asyncio.create_task(
                api.bulk.block(targets, concurrency=30, journal=journal, on_result=on_result)
            )
            await enough.wait()
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            first_writes = sum(emu.stats.writes.values())
            journaled = [json.loads(line) for line in journal.read_text().splitlines()]
            done_lines = [e for e in journaled if e.get("o") == "ok"]
            assert len(done_lines) >= len(finished) >= 1000
            assert first_writes < 3000

            report = await api.bulk.block(targets, concurrency=30, journal=journal)
        assert report.total == 3000
        assert report.skipped == len(done_lines)
        assert report.succeeded == 3000 - len(done_lines)
        assert all(s.blocked for s in emu.fleet.sims.values())
        # Only the few in flight at the cancel may be sent twice (block is retry-safe).
        assert len(emu.stats.duplicates("block")) <= 30


async def test_journal_skips_unknown_outcomes_of_non_idempotent_ops(tmp_path: Path) -> None:
    """A send_sms whose outcome was unknown is not repeated on resume (unless asked)."""
    journal = tmp_path / "sms.jsonl"
    async with Emulator(sims=50, seed=5) as emu:
        targets = targets_of(emu)
        journal.write_text(
            json.dumps({"simapi_journal": 1, "op": "send_sms", "params": {"type": "internet"}})
            + "\n" + json.dumps({"n": targets[0].number, "o": "unknown", "a": 1}) + "\n"
            + json.dumps({"n": targets[1].number, "o": "ok", "a": 1}) + "\n"
        )
        async with connected(emu) as api:
            report = await api.bulk.send_sms(targets, type="internet", journal=journal)
        assert report.skipped == 2
        assert report.succeeded == 48
        assert emu.fleet.sims[targets[0].number].sms_sent == []


async def test_torn_last_line_is_tolerated(tmp_path: Path) -> None:
    """A journal cut mid-line by a hard kill still resumes; the torn target is redone."""
    journal = tmp_path / "torn.jsonl"
    async with Emulator(sims=20, seed=5) as emu:
        targets = targets_of(emu)
        journal.write_text(
            json.dumps({"simapi_journal": 1, "op": "block", "params": {}}) + "\n"
            + json.dumps({"n": targets[0].number, "o": "ok", "a": 1}) + "\n"
            + '{"n": "' + targets[1].number[:5]
        )
        async with connected(emu) as api:
            report = await api.bulk.block(targets, journal=journal)
        assert (report.skipped, report.succeeded) == (1, 19)
        unreadable = 0
        for line in journal.read_text().splitlines():
            try:
                json.loads(line)
            except ValueError:
                unreadable += 1
        assert unreadable == 1  # the torn line stays alone on its line; the rest is valid


async def test_journal_of_another_operation_is_refused(tmp_path: Path, emu: Emulator) -> None:
    """Resuming block_service(sms) from a block_service(internet) journal is an error."""
    journal = tmp_path / "svc.jsonl"
    async with connected(emu) as api:
        await api.bulk.block_service(targets_of(emu, 3), service="internet", journal=journal)
        with pytest.raises(sa.InvalidInputError, match="journal"):
            await api.bulk.block_service(targets_of(emu, 3), service="sms", journal=journal)


async def test_bad_targets_fail_alone(emu: Emulator) -> None:
    """Invalid numbers, unknown numbers (404) and wrong ICCIDs (422) fail only themselves."""
    good = targets_of(emu, 10)
    other = emu.fleet.sims[emu.fleet.numbers[20]].iccid
    bad = ["not-a-number", "+7 999 000-00-00", sa.Target(emu.fleet.numbers[11], iccid=other)]
    async with connected(emu) as api:
        results = [r async for r in api.bulk.stream("block", [*good, *bad])]
    assert len(results) == 13
    failed = {r.target.number: r.error for r in results if not r.ok}
    assert isinstance(failed["not-a-number"], sa.InvalidInputError)
    assert isinstance(failed["79990000000"], sa.NotFoundError)
    assert isinstance(failed[emu.fleet.numbers[11]], sa.UnprocessableEntityError)
    assert sum(r.ok for r in results) == 10


async def test_duplicates_are_done_once_and_reported(emu: Emulator) -> None:
    """A number repeated in the input (in any spelling) is sent once, the rest skipped."""
    number = emu.fleet.numbers[0]
    spelled = ["+7 " + number[1:4] + " " + number[4:], "8" + number[1:], number]
    async with connected(emu) as api:
        report = await api.bulk.block(spelled)
    assert (report.total, report.succeeded, report.skipped, report.duplicates) == (3, 1, 2, 2)
    assert emu.stats.writes[("block", number)] == 1


async def test_max_failures_stops_and_reports_the_rest(emu: Emulator) -> None:
    """After max_failures failures the rest are reported not attempted, none lost."""
    unknown = [f"7990000{i:04d}" for i in range(30)]
    async with connected(emu) as api:
        report = await api.bulk.block([*unknown, *emu.fleet.numbers[:100]], max_failures=5,
                                      concurrency=2)
    assert report.total == 130
    assert report.stopped is not None
    assert report.not_attempted > 0
    assert report.succeeded + report.failed + report.skipped == 130
    assert sum(emu.stats.writes.values()) == report.succeeded


async def test_shards_split_the_input_without_overlap(emu: Emulator) -> None:
    """shard=(i, 3) runs partition the input: together they cover every target once."""
    numbers = emu.fleet.numbers[:90]
    async with connected(emu) as api:
        parts = [[r.target.number async for r in api.bulk.stream("unblock", numbers,
                                                                   shard=(i, 3))]
                 for i in range(3)]
    assert sorted(n for part in parts for n in part) == sorted(numbers)
    assert all(parts)


@pytest.mark.parametrize("kind", ["with_iccid", "lookup"])
async def test_targets_are_read_lazily(kind: str) -> None:
    """A generator is consumed as workers free up: never far ahead of the concurrency
    (targets with identifiers, or number-only targets looked up one by one)."""
    async with Emulator(sims=200, seed=1, faults=Faults(latency=0.001)) as emu:
        pulled = 0
        ahead: list[int] = []

        def gen() -> Iterator[str]:
            nonlocal pulled
            for n in emu.fleet.numbers:
                pulled += 1
                yield n if kind == "lookup" else sa.Target(n, iccid=emu.fleet.sims[n].iccid)

        async with connected(emu) as api:
            finished = 0

            def on_result(_: sa.ItemResult) -> None:
                nonlocal finished
                finished += 1
                ahead.append(pulled - finished)

            await api.bulk.block(gen(), concurrency=5, on_result=on_result, lookup="lookup")
        assert max(ahead) <= 5 + 2 * 5  # workers plus the bounded result queue


async def test_number_only_targets_are_read_ahead_one_window_at_most(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Listing the fleet for identifiers reads targets ahead by one window, never more."""
    monkeypatch.setattr(_resolve, "WINDOW", 40)
    async with Emulator(sims=200, seed=1) as emu:
        pulled = 0
        ahead: list[int] = []

        def gen() -> Iterator[str]:
            nonlocal pulled
            for n in emu.fleet.numbers:
                pulled += 1
                yield n

        async with connected(emu) as api:
            finished = 0

            def on_result(_: sa.ItemResult) -> None:
                nonlocal finished
                finished += 1
                ahead.append(pulled - finished)

            report = await api.bulk.block(gen(), concurrency=5, on_result=on_result)
        assert report.succeeded == 200
        assert max(ahead) <= 40 + 5 + 2 * 5  # one window, the workers, the result queue
        assert emu.stats.requests["get_sim"] == 0  # every identifier came from listing
        assert report.list_requests == emu.stats.requests["list_sims"] == 5


async def test_async_iterable_targets(emu: Emulator) -> None:
    """An async generator of numbers works the same as a list."""
    async def agen() -> AsyncIterator[str]:
        for n in emu.fleet.numbers[:25]:
            yield n

    async with connected(emu) as api:
        report = await api.bulk.block_finance(agen(), concurrency=4)
    assert report.succeeded == 25
    assert all(emu.fleet.sims[n].finance_blocked for n in emu.fleet.numbers[:25])


async def test_every_bulk_operation_changes_the_fleet(emu: Emulator) -> None:
    """Each bulk operation reaches its endpoint and the SIM state shows it."""
    n = emu.fleet.numbers[:3]
    packet = emu.fleet.packets[1]
    async with connected(emu) as api:
        assert (await api.bulk.block_service(n, service="data")).ok
        assert all("internet" in emu.fleet.sims[x].blocked_services for x in n)
        assert (await api.bulk.unblock_service(n, service="internet")).ok
        assert all(not emu.fleet.sims[x].blocked_services for x in n)
        assert (await api.bulk.activate(n, packet_id=packet.id)).ok
        assert all(emu.fleet.sims[x].packet_id == packet.id for x in n)
        assert (await api.bulk.change_packet(n, packet_id=packet.id, date="2030-01-01")).ok
        assert all(emu.fleet.sims[x].scheduled_packet is not None for x in n)
        assert (await api.bulk.add_small_packet(n)).ok
        assert all(len(emu.fleet.sims[x].small_packets) == 1 for x in n)
        for x in n:  # what the last two lift
            emu.fleet.sims[x].finance_blocked = emu.fleet.sims[x].blocked = True
        assert (await api.bulk.unblock_finance(n)).ok
        assert all(not emu.fleet.sims[x].finance_blocked for x in n)
        assert all(emu.fleet.sims[x].blocked for x in n)
        assert (await api.bulk.unblock(n)).ok
        assert all(not emu.fleet.sims[x].blocked for x in n)


async def test_bad_operation_arguments_fail_before_any_request(emu: Emulator) -> None:
    """A wrong service type or a missing packet_id raises before anything is sent."""
    async with connected(emu) as api:
        with pytest.raises(sa.InvalidInputError, match="service"):
            await api.bulk.block_service(emu.fleet.numbers, service="fax")
        with pytest.raises(sa.InvalidInputError, match="packet_id"):
            await api.bulk.run("activate", emu.fleet.numbers)
        with pytest.raises(sa.InvalidInputError, match="concurrency"):
            await api.bulk.block(emu.fleet.numbers, concurrency=0)
        with pytest.raises(sa.InvalidInputError, match="targets"):
            await api.bulk.block("79181111111")
    assert emu.stats.total_requests == 0


async def test_429s_slow_the_whole_run_down() -> None:
    """Under a server-side rate limit the run lowers its concurrency and still finishes."""
    async with Emulator(sims=400, seed=1, faults=Faults(rate_limit=2000.0)) as emu:
        limits: list[int] = []
        async with connected(emu, max_retries=8) as api:
            report = await api.bulk.block(
                targets_of(emu), concurrency=40, progress_interval=0.0,
                on_progress=lambda p: limits.append(p.concurrency),
            )
        assert report.succeeded == 400
        if emu.stats.status_counts[429]:
            assert min(limits) < 40


async def test_raise_for_failures(emu: Emulator) -> None:
    """raise_for_failures raises BulkError carrying the report when a target failed."""
    async with connected(emu) as api:
        report = await api.bulk.block(["79990000000", *emu.fleet.numbers[:2]])
    with pytest.raises(sa.BulkError) as info:
        report.raise_for_failures()
    assert info.value.report is report
    assert "404 NotFoundError" in str(info.value)


async def test_a_burst_of_429s_at_the_end_does_not_stall_the_run(emu: Emulator) -> None:
    """Workers parked by the 429 slow-down still finish once the input runs out."""
    async with connected(emu) as api:
        await api.authenticate()
        emu.fail_next(20, status=429, retry_after=0)
        report = await asyncio.wait_for(api.bulk.block(targets_of(emu, 100), concurrency=20), 60)
    assert report.succeeded == 100


async def test_failed_targets_are_retried_from_the_journal_and_done_ones_skipped(
    tmp_path: Path,
) -> None:
    """A run where some targets fail (422, 503 with no retries left) journals them
    failed; the rerun with that journal sends exactly those again (they succeed now)
    and skips every one that succeeded."""
    emu = Emulator(sims=40, seed=5)
    numbers = emu.fleet.numbers[:30]
    refuse = {numbers[3]: 422, numbers[11]: 503, numbers[20]: 422}
    state = {"refusing": True, "refused": 0}

    @web.middleware
    async def refuse_some(request: web.Request, handler: Any) -> web.StreamResponse:
        number = request.path.rsplit("/", 1)[-1]
        if state["refusing"] and "/sim/block/" in request.path and number in refuse:
            state["refused"] += 1
            return web.json_response({"message": "not now"}, status=refuse[number])
        return cast(web.StreamResponse, await handler(request))

    emu.app.middlewares.append(refuse_some)
    journal = tmp_path / "block.jsonl"
    async with emu, connected(emu, max_retries=0) as api:
        targets = targets_of(emu, 30)
        first = await api.bulk.block(targets, journal=journal)
        assert (first.succeeded, first.failed) == (27, 3)
        failed_lines = [json.loads(line) for line in journal.read_text().splitlines()
                        if '"failed"' in line]
        assert sorted(line["n"] for line in failed_lines) == sorted(refuse)
        state["refusing"] = False
        again = await api.bulk.block(targets, journal=journal)
    assert (again.skipped, again.succeeded, again.failed) == (27, 3, 0)
    assert state["refused"] == 3  # the first run's failures, refused before processing
    assert emu.stats.requests["block"] == 27 + 3  # the rerun sent those 3 and no other
    assert all(emu.stats.writes[("block", n)] == 1 for n in numbers)
    assert all(emu.fleet.sims[n].blocked for n in numbers)
