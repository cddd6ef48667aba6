"""Safe fleet changes against the emulator: plan, skip what is already so, canary, undo."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async.bulk import UndoRefusedError
from simapi_async.testing import Emulator

from .conftest import connected, targets_of


def fleet_with_blocked(emu: Emulator, every: int = 10) -> tuple[list[str], list[str]]:
    """Every SIM unblocked, then every `every`-th blocked: (blocked, not blocked)."""
    numbers = emu.fleet.numbers
    for n in numbers:
        emu.fleet.sims[n].unblock()
    blocked = numbers[::every]
    for n in blocked:
        emu.fleet.sims[n].block()
    return blocked, [n for n in numbers if n not in set(blocked)]


def writes(emu: Emulator, op: str) -> Counter[str]:
    return Counter({n: c for (o, n), c in emu.stats.writes.items() if o == op})


async def test_plan_says_900_to_change_and_100_already_blocked() -> None:
    """1,000 SIMs of which 100 are blocked: the plan says 900 to change, 100 already so,
    reads them in one listing request and writes nothing."""
    async with Emulator(sims=1000, seed=11) as emu:
        fleet_with_blocked(emu)
        async with connected(emu) as api:
            emu.stats.reset()
            plan = await api.bulk.plan("block", emu.fleet.numbers)
        assert (plan.to_change, plan.already, plan.unknown_numbers, plan.bad_lines) == \
            (900, 100, 0, 0)
        assert plan.already_reasons == {"already blocked": 100}
        assert (plan.read_by, plan.read_requests, plan.requests_by_lookups) == \
            ("listing", 1, 1000)
        assert (plan.requests_skipping, plan.requests_sending_all) == (901, 1001)
        assert emu.stats.requests["list_sims"] == 1
        assert not emu.stats.writes


async def test_plan_counts_unknown_numbers_bad_targets_and_duplicates() -> None:
    """Unknown numbers (the API's 404), invalid targets and duplicates are counted apart,
    each unknown number named in the sample."""
    async with Emulator(sims=200, seed=12) as emu:
        numbers = emu.fleet.numbers
        targets = [*numbers, numbers[0], "78000000001", "not a number"]
        async with connected(emu) as api:
            plan = await api.bulk.plan("unblock", targets)
        assert (plan.total, plan.unknown_numbers, plan.bad_lines, plan.duplicates) == \
            (203, 1, 1, 1)
        assert plan.to_change + plan.already == 200
        assert plan.unknown_sample == ["78000000001"]
        assert not emu.stats.writes


async def test_plan_by_lookups_when_listing_costs_more() -> None:
    """Three targets at the end of a 5,000-SIM fleet: after the first page (which tells the
    fleet's size) they are read by a lookup each, not by four more pages."""
    async with Emulator(sims=5000, seed=13) as emu:
        async with connected(emu) as api:
            plan = await api.bulk.plan("block_finance", emu.fleet.numbers[-3:])
            assert (plan.read_by, plan.list_requests, plan.lookup_requests) == \
                ("listing and lookups", 1, 3)
            assert plan.to_change + plan.already == 3
            only = await api.bulk.plan("block_finance", emu.fleet.numbers[-3:],
                                       lookup="lookup")
        assert (only.read_by, only.read_requests) == ("lookups", 3)
        assert emu.stats.requests["get_sim"] == 6


async def test_skipping_sends_900_blocks_and_undo_unblocks_exactly_those(
        tmp_path: Path) -> None:
    """With skip_already the run sends 900 block requests (100 skipped as "already
    blocked"); its undo unblocks exactly those 900 and the 100 stay blocked."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=1000, seed=11) as emu:
        was_blocked, was_not = fleet_with_blocked(emu)
        async with connected(emu) as api:
            emu.stats.reset()
            seen: list[sa.ItemResult] = []
            report = await api.bulk.block(emu.fleet.numbers, skip_already=True,
                                          journal=journal, on_result=seen.append)
            assert emu.stats.requests["block"] == 900
            assert (report.succeeded, report.skipped, report.already) == (900, 100, 100)
            assert {r.skipped for r in seen if r.skipped} == {"already blocked"}
            assert all(s.blocked for s in emu.fleet.sims.values())
            emu.stats.reset()
            undone = await api.bulk.undo(journal)
        assert (undone.total, undone.succeeded) == (900, 900)
        assert set(writes(emu, "unblock")) == set(was_not)
        assert emu.stats.requests["unblock"] == 900
        assert all(emu.fleet.sims[n].blocked for n in was_blocked)
        assert not any(emu.fleet.sims[n].blocked for n in was_not)


async def test_without_skipping_undo_leaves_what_was_blocked_before(tmp_path: Path) -> None:
    """By default every target is sent (1,000 blocks), yet the undo unblocks only the 900
    that were not blocked before."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=1000, seed=11) as emu:
        was_blocked, was_not = fleet_with_blocked(emu)
        async with connected(emu) as api:
            emu.stats.reset()
            report = await api.bulk.block(emu.fleet.numbers, journal=journal)
            assert emu.stats.requests["block"] == 1000 == report.succeeded
            await api.bulk.undo(journal)
        assert set(writes(emu, "unblock")) == set(was_not)
        assert all(emu.fleet.sims[n].blocked for n in was_blocked)
        lines = [json.loads(x) for x in journal.read_text().splitlines()[1:]]
        assert Counter(json.dumps(x["b"]) for x in lines) == \
            {'{"blocked": false}': 900, '{"blocked": true}': 100}


async def test_change_packet_undo_puts_each_sim_back_on_its_own_packet(
        tmp_path: Path) -> None:
    """change_packet to 102 then undo: every SIM is back on its own previous packet; the
    ones already on 102 get no request (skipped by the plan's read, untouched by undo)."""
    journal = tmp_path / "packet.jsonl"
    today = dt.date.today().isoformat()
    async with Emulator(sims=1000, seed=14) as emu:
        before = {n: s.packet_id for n, s in emu.fleet.sims.items()}
        on_102 = {n for n, p in before.items() if p == 102}
        assert 0 < len(on_102) < 1000
        async with connected(emu) as api:
            plan = await api.bulk.plan("change_packet", emu.fleet.numbers, packet_id=102,
                                       date=today)
            assert (plan.to_change, plan.already) == (1000 - len(on_102), len(on_102))
            assert plan.already_reasons == {"already on packet 102": len(on_102)}
            emu.stats.reset()
            report = await api.bulk.change_packet(emu.fleet.numbers, packet_id=102,
                                                  date=today, journal=journal,
                                                  skip_already=True)
            assert emu.stats.requests["change_packet"] == 1000 - len(on_102) == report.succeeded
            assert all(s.packet_id == 102 for s in emu.fleet.sims.values())
            emu.stats.reset()
            undone = await api.bulk.undo(journal)
        assert undone.succeeded == 1000 - len(on_102)
        assert {n: s.packet_id for n, s in emu.fleet.sims.items()} == before
        assert not set(writes(emu, "change_packet")) & on_102


async def test_block_service_undo_unblocks_only_what_the_run_blocked(tmp_path: Path) -> None:
    """block_service sms with 100 SIMs already sms-blocked: 900 requests with skipping;
    the undo unblocks sms on exactly those 900."""
    journal = tmp_path / "sms.jsonl"
    async with Emulator(sims=1000, seed=15) as emu:
        numbers = emu.fleet.numbers
        already = set(numbers[::10])
        for n in numbers:
            emu.fleet.sims[n].blocked_services.discard("sms")
        for n in already:
            emu.fleet.sims[n].blocked_services.add("sms")
        async with connected(emu) as api:
            plan = await api.bulk.plan("block_service", numbers, service="sms")
            assert (plan.to_change, plan.already) == (900, 100)
            assert plan.already_reasons == {"service sms already blocked": 100}
            emu.stats.reset()
            await api.bulk.block_service(numbers, service="sms", journal=journal,
                                         skip_already=True)
            assert emu.stats.requests["block_service"] == 900
            emu.stats.reset()
            await api.bulk.undo(journal)
        assert emu.stats.requests["unblock_service"] == 900
        assert set(writes(emu, "unblock_service")) == set(numbers) - already
        assert {n for n in numbers if "sms" in emu.fleet.sims[n].blocked_services} == already


async def test_block_finance_undo(tmp_path: Path) -> None:
    """The financial block is undone like the full one (its state read from the listing)."""
    journal = tmp_path / "fin.jsonl"
    async with Emulator(sims=300, seed=16) as emu:
        numbers = emu.fleet.numbers
        for n in numbers[:30]:
            emu.fleet.sims[n].finance_blocked = True
        async with connected(emu) as api:
            await api.bulk.block_finance(numbers, journal=journal)
            await api.bulk.undo(journal)
        assert [n for n in numbers if emu.fleet.sims[n].finance_blocked] == numbers[:30]
        assert set(writes(emu, "unblock_finance")) == set(numbers[30:])


async def test_an_undo_is_resumable_from_its_own_journal(tmp_path: Path) -> None:
    """An undo run again with its journal sends nothing more: every target is done."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=200, seed=17) as emu:
        fleet_with_blocked(emu)
        async with connected(emu) as api:
            await api.bulk.block(emu.fleet.numbers, journal=journal)
            first = await api.bulk.undo(journal)
            emu.stats.reset()
            again = await api.bulk.undo(journal)
        assert first.succeeded == 180
        assert (again.skipped, again.succeeded) == (180, 0)
        assert emu.stats.requests["unblock"] == 0
        assert (tmp_path / "block.undo.jsonl").exists()


async def test_an_undo_can_itself_be_undone(tmp_path: Path) -> None:
    """The undo's journal records the state before too: undoing it blocks again exactly
    what the undo unblocked."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=200, seed=17) as emu:
        _, was_not = fleet_with_blocked(emu)
        async with connected(emu) as api:
            await api.bulk.block(emu.fleet.numbers, journal=journal)
            await api.bulk.undo(journal)
            emu.stats.reset()
            await api.bulk.undo(tmp_path / "block.undo.jsonl")
        assert set(writes(emu, "block")) == set(was_not)
        assert all(s.blocked for s in emu.fleet.sims.values())


async def test_undo_refuses_an_operation_with_no_inverse(tmp_path: Path) -> None:
    """An SMS cannot be unsent: undo refuses, names the numbers it went to, sends nothing."""
    journal = tmp_path / "sms.jsonl"
    async with Emulator(sims=50, seed=18) as emu:
        numbers = emu.fleet.numbers[:3]
        async with connected(emu) as api:
            await api.bulk.send_sms(numbers, type="internet", journal=journal)
            emu.stats.reset()
            with pytest.raises(UndoRefusedError) as caught:
                await api.bulk.undo(journal)
        assert caught.value.done == numbers
        assert "cannot be undone (an SMS cannot be unsent)" in str(caught.value)
        assert all(n in str(caught.value) for n in numbers)
        assert emu.stats.total_requests == 0


async def test_undo_of_a_journal_without_states_sends_nothing(tmp_path: Path) -> None:
    """A journal written before states were recorded (no "b") stays readable: its undo has
    nothing it can prove changed, so it sends nothing."""
    journal = tmp_path / "old.jsonl"
    async with Emulator(sims=50, seed=19) as emu:
        numbers = emu.fleet.numbers[:5]
        journal.write_text(json.dumps({"simapi_journal": 1, "op": "block", "params": {}})
                           + "\n" + "".join(json.dumps({"n": n, "o": "ok", "a": 1}) + "\n"
                                            for n in numbers))
        async with connected(emu) as api:
            report = await api.bulk.undo(journal)
            resumed = await api.bulk.block(numbers, journal=journal)
        assert report.total == 0
        assert resumed.skipped == 5
        assert not emu.stats.writes


def canary_targets(emu: Emulator, failing: int) -> list[str]:
    """The fleet's numbers with `failing` of the first 50 replaced by unknown numbers."""
    numbers = list(emu.fleet.numbers)
    for i in range(failing):
        numbers[i * 10] = f"7800000{i:04d}"
    return numbers


async def test_a_canary_with_10_percent_failures_stops_after_50(tmp_path: Path) -> None:
    """canary=50 with 5 of the first 50 failing (unknown numbers): the run stops after those
    50 with a report saying why; nothing after them is sent or read."""
    async with Emulator(sims=1000, seed=20) as emu:
        targets = canary_targets(emu, 5)
        pulled = 0

        def gen() -> Any:
            nonlocal pulled
            for t in targets:
                pulled += 1
                yield t

        async with connected(emu) as api:
            emu.stats.reset()
            report = await api.bulk.block(gen(), canary=50, journal=tmp_path / "j.jsonl")
        assert (report.total, report.succeeded, report.failed) == (50, 45, 5)
        assert str(report.stopped).startswith("canary: 5 of 50 failed (10%)")
        assert pulled == 50
        assert emu.stats.requests["block"] == 45


async def test_a_canary_within_its_share_goes_on_and_finishes(tmp_path: Path) -> None:
    """With no failure the canary goes on: the whole run finishes, in one report."""
    async with Emulator(sims=1000, seed=20) as emu:
        async with connected(emu) as api:
            emu.stats.reset()
            report = await api.bulk.block(emu.fleet.numbers, canary=50,
                                          journal=tmp_path / "j.jsonl")
        assert (report.total, report.succeeded, report.stopped) == (1000, 1000, None)
        assert emu.stats.requests["block"] == 1000


async def test_canary_max_failures_lets_a_small_failure_share_through() -> None:
    """canary_max_failures=0.1 lets 10 % failures through: the rest runs."""
    async with Emulator(sims=300, seed=21) as emu:
        async with connected(emu) as api:
            report = await api.bulk.block(canary_targets(emu, 5), canary=50,
                                          canary_max_failures=0.1)
        assert (report.total, report.failed, report.stopped) == (300, 5, None)


async def test_after_a_stopped_canary_the_rest_resumes_from_the_same_journal(
        tmp_path: Path) -> None:
    """A rerun with the canary's journal skips the 45 it did and sends the rest, once."""
    journal = tmp_path / "j.jsonl"
    async with Emulator(sims=300, seed=22) as emu:
        targets = canary_targets(emu, 5)
        async with connected(emu) as api:
            await api.bulk.block(targets, canary=50, journal=journal)
            rest = await api.bulk.block(targets, journal=journal)
        assert (rest.skipped, rest.failed, rest.succeeded) == (45, 5, 250)
        assert set(writes(emu, "block").values()) == {1}


async def test_on_canary_may_say_no() -> None:
    """on_canary (a coroutine function here) sees the canary's report; False stops the run."""
    async with Emulator(sims=300, seed=23) as emu:
        seen: list[sa.BulkReport] = []

        async def ask(report: sa.BulkReport) -> bool:
            seen.append(report)
            return False

        async with connected(emu) as api:
            report = await api.bulk.block(emu.fleet.numbers, canary=20, on_canary=ask)
        assert [r.succeeded for r in seen] == [20]
        assert (report.total, report.stopped) == (20, "canary: not continued")


async def test_bad_canary_arguments_are_refused_before_any_request() -> None:
    """canary must be >= 1 and canary_max_failures a share from 0 to 1."""
    async with Emulator(sims=10, seed=24) as emu:
        async with connected(emu) as api:
            with pytest.raises(sa.InvalidInputError, match="canary"):
                await api.bulk.block(emu.fleet.numbers, canary=0)
            with pytest.raises(sa.InvalidInputError, match="canary_max_failures"):
                await api.bulk.block(emu.fleet.numbers, canary=5, canary_max_failures=2)
            with pytest.raises(sa.InvalidInputError, match="undoable"):
                await api.bulk.send_sms(emu.fleet.numbers, type="call", undoable=True,
                                        journal="x.jsonl")
        assert emu.stats.total_requests == 0


async def test_largest_page_steps_down_to_what_the_server_accepts() -> None:
    """A server that refuses pages over 200 (422 on limit): the size is found once and
    kept; the bulk listing uses it too."""
    @web.middleware
    async def at_most_200(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.endswith("/sim/list") and int(request.query.get("limit", 50)) > 200:
            refused.append(request.query["limit"])
            return web.json_response({"message": "The limit may not be greater than 200.",
                                      "errors": {"limit": ["max 200"]}}, status=422)
        return cast(web.StreamResponse, await handler(request))

    refused: list[str] = []
    emu = Emulator(sims=500, seed=25)
    emu.app.middlewares.append(at_most_200)
    async with emu:
        async with connected(emu) as api:
            page = await api.sims.largest_page()
            assert (api.sims.page_size, len(page.items)) == (200, 200)
            plan = await api.bulk.plan("block", emu.fleet.numbers)
        assert plan.list_requests == 3  # 500 SIMs at 200 a page, the size already known
        assert refused == ["1000", "500"]  # refused once each


async def test_targets_with_iccids_get_their_state_before_recorded_too(tmp_path: Path) -> None:
    """Targets given with their ICCID (no identifiers needed) are still read for the undo:
    by one listing request here, and the undo reverses exactly what changed."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=300, seed=26) as emu:
        was_blocked, was_not = fleet_with_blocked(emu)
        async with connected(emu) as api:
            emu.stats.reset()
            await api.bulk.block(targets_of(emu), journal=journal)
            assert (emu.stats.requests["list_sims"], emu.stats.requests["get_sim"]) == (1, 0)
            await api.bulk.undo(journal)
        assert set(writes(emu, "unblock")) == set(was_not)
        assert all(emu.fleet.sims[n].blocked for n in was_blocked)


async def test_by_lookups_the_state_before_comes_from_each_lookup(tmp_path: Path) -> None:
    """lookup="lookup": each target's state comes from its lookup (one per target, as the
    write needs anyway), and the undo works the same."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=100, seed=27) as emu:
        was_blocked, was_not = fleet_with_blocked(emu)
        async with connected(emu) as api:
            emu.stats.reset()
            await api.bulk.block(emu.fleet.numbers, journal=journal, lookup="lookup",
                                 skip_already=True)
            assert emu.stats.requests["get_sim"] == 100
            assert emu.stats.requests["block"] == len(was_not)
            assert "list_sims" not in emu.stats.requests
            await api.bulk.undo(journal, lookup="lookup")
        assert set(writes(emu, "unblock")) == set(was_not)
        assert all(emu.fleet.sims[n].blocked for n in was_blocked)


async def test_undoable_false_records_no_state_and_reads_nothing_more(tmp_path: Path) -> None:
    """undoable=False: targets with ICCIDs are sent without any read, and the journal has
    no state before (so its undo sends nothing)."""
    journal = tmp_path / "block.jsonl"
    async with Emulator(sims=100, seed=28) as emu:
        async with connected(emu) as api:
            emu.stats.reset()
            await api.bulk.block(targets_of(emu), journal=journal, undoable=False)
            assert set(emu.stats.requests) == {"login", "block"}
            assert (await api.bulk.undo(journal)).total == 0
        assert '"b"' not in journal.read_text()


async def test_a_canary_counts_only_this_shards_targets() -> None:
    """With shard=(0, 2) the canary is the first 20 targets of shard 0, not of the input."""
    async with Emulator(sims=300, seed=29) as emu:
        async with connected(emu) as api:
            report = await api.bulk.block(emu.fleet.numbers, canary=20, shard=(0, 2),
                                          on_canary=lambda r: False)
        assert (report.total, report.succeeded) == (20, 20)
