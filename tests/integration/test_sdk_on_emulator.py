"""Every SDK call against the emulator over real sockets, with the fleet's end state checked."""

from __future__ import annotations

import datetime as dt

import pytest

import simapi_async as sa
from simapi_async.testing import Emulator, Shapes

from .conftest import connected


async def test_reads(emu: Emulator) -> None:
    """get, get_by_iccid, list, iter and packets.list return the fleet's data as models."""
    number = emu.fleet.numbers[0]
    state = emu.fleet.sims[number]
    async with connected(emu) as api:
        sim = await api.sims.get("+7 " + number[1:])
        assert (sim.number, sim.iccid, sim.imsi, sim.inn) == \
            (number, state.iccid, state.imsi, state.inn)
        assert await api.sims.get_by_iccid(state.iccid) == sim
        page = await api.sims.list(limit=50)
        assert len(page.items) == 50
        assert page.has_next
        assert page.total == 300
        every = [s.number async for s in api.sims.iter(limit=70)]
        assert every == emu.fleet.numbers
        inn = emu.fleet.inns[0]
        mine = [s.number async for s in api.sims.iter(inn=inn)]
        assert mine == emu.fleet.numbers_of(inn)
        packets = await api.packets.list()
        assert [p.id for p in packets] == [p.id for p in emu.fleet.packets]
        assert all(p.small_packets for p in packets)


async def test_writes_change_the_fleet(emu: Emulator) -> None:
    """Each write call reaches the server and the SIM's state shows its effect."""
    a, b = emu.fleet.numbers[:2]
    sims = emu.fleet.sims
    packet = emu.fleet.packets[2]
    async with connected(emu) as api:
        assert (await api.sims.block(a)).ok
        assert sims[a].blocked
        assert (await api.sims.unblock(a, iccid=sims[a].iccid)).ok
        assert not sims[a].blocked
        await api.sims.block_service(a, "sms")
        assert sims[a].blocked_services == {"sms"}
        await api.sims.unblock_service(a, "sms", imsi=sims[a].imsi)
        assert sims[a].blocked_services == set()
        await api.sims.block_finance(a)
        assert sims[a].finance_blocked
        await api.sims.unblock_finance(a)
        assert not sims[a].finance_blocked
        await api.sims.activate(b, packet_id=packet.id)
        assert sims[b].status == "active"
        assert sims[b].packet_id == packet.id
        await api.sims.change_packet(b, packet_id=emu.fleet.packets[0].id,
                                     date=dt.date(2030, 1, 1))
        assert sims[b].scheduled_packet == (emu.fleet.packets[0].id, dt.date(2030, 1, 1))
        await api.sims.add_small_packet(b)
        assert sims[b].small_packets == [packet.small_packets[0].id]
        await api.sims.send_sms(b, "call")
        assert sims[b].sms_sent == ["call"]


async def test_bind_and_rebind_numbers(emu: Emulator) -> None:
    """bind_number puts a new number on a spare SIM; rebind_number moves it to another one."""
    spare1, spare2 = emu.fleet.spare_sims[:2]
    number = "79990001122"
    async with connected(emu) as api:
        await api.sims.bind_number(number, iccid=spare1.iccid, call_forwarding=False)
        assert emu.fleet.sims[number].iccid == spare1.iccid
        assert emu.fleet.sims[number].call_forwarding is False
        await api.sims.rebind_number(number, iccid=spare2.iccid)  # current SIM looked up
        assert emu.fleet.sims[number].iccid == spare2.iccid
        with pytest.raises(sa.InvalidInputError):
            await api.sims.bind_number(number)  # the new SIM must be given


async def test_lookup_by_number_happens_once(emu: Emulator) -> None:
    """Writes without iccid/imsi look the SIM up once per session, then reuse it."""
    number = emu.fleet.numbers[5]
    async with connected(emu) as api:
        await api.sims.block(number)
        await api.sims.unblock(number)
        await api.sims.block_finance(number)
    assert emu.stats.requests["get_sim"] == 1


async def test_errors_are_typed(emu: Emulator) -> None:
    """Unknown numbers give NotFoundError; a mismatched ICCID gives 422 with field errors."""
    a, b = emu.fleet.numbers[:2]
    async with connected(emu) as api:
        with pytest.raises(sa.NotFoundError):
            await api.sims.get("79990000000")
        with pytest.raises(sa.UnprocessableEntityError) as info:
            await api.sims.block(a, iccid=emu.fleet.sims[b].iccid)
        assert "iccid" in info.value.errors
        with pytest.raises(sa.InvalidInputError):
            await api.sims.block("12345")
    assert not emu.fleet.sims[a].blocked


async def test_cdr_over_a_range_comes_in_date_order(emu: Emulator) -> None:
    """cdr.internet over 10 days yields each record once, sorted by start time."""
    numbers = emu.fleet.numbers[:40]
    async with connected(emu) as api:
        records = [r async for r in api.cdr.internet("2026-01-01", "2026-01-10", numbers=numbers,
                                                     batch_size=15)]
    assert records
    starts = [r.started_at for r in records]
    assert all(s is not None for s in starts)
    assert starts == sorted(starts)  # type: ignore[type-var]
    assert {r.number for r in records} <= set(numbers)
    keys = [(r.number, r.started_at) for r in records]
    assert len(keys) == len(set(keys))
    assert emu.stats.requests["cdr_internet"] == 10 * 3


@pytest.mark.parametrize("lists", ["meta", "flat"])
async def test_cdr_answered_in_pages_loses_nothing(emu: Emulator, lists: str) -> None:
    """A server paginating CDR (7 records a page): the SDK reads every page of every
    window, and yields exactly what the one-page answers give."""
    numbers = emu.fleet.numbers[:12]
    async with connected(emu) as api:
        whole = [r async for r in api.cdr.internet("2026-01-01", "2026-01-03", numbers=numbers)]
        emu.shapes.lists, emu.shapes.cdr_page_size = lists, 7
        emu.stats.reset()
        paged = [r async for r in api.cdr.internet("2026-01-01", "2026-01-03", numbers=numbers)]
    assert len(whole) > 3 * 7  # several pages per window
    assert paged == whole
    assert emu.stats.requests["cdr_internet"] > 3


@pytest.mark.parametrize(
    "shapes",
    [
        Shapes(login="access_token", lists="bare", objects="bare", writes="empty"),
        Shapes(login="data.token", lists="data", objects="data", writes="object", fields="alt"),
        Shapes(login="data.access_token", lists="flat", objects="bare", writes="success",
               fields="alt"),
    ],
)
async def test_every_response_shape_gives_the_same_models(shapes: Shapes) -> None:
    """The SDK reads each answer shape the docs allow into the same models."""
    plain, other = Emulator(sims=120, seed=9), Emulator(sims=120, seed=9, shapes=shapes)
    async with plain, other, connected(plain) as a, connected(other) as b:
        assert [s async for s in a.sims.iter(limit=50)] == \
            [s async for s in b.sims.iter(limit=50)]
        number = plain.fleet.numbers[3]
        assert await a.sims.get(number) == await b.sims.get(number)
        assert await a.packets.list() == await b.packets.list()
        assert (await b.sims.block(number)).ok
        assert other.fleet.sims[number].blocked


async def test_credentials_in_body_against_a_server_that_wants_them_there() -> None:
    """credentials_in='body' logs in where the server expects; the default query fails there."""
    async with Emulator(sims=10, credentials_in="body") as emu:
        async with connected(emu, credentials_in="body") as api:
            await api.sims.get(emu.fleet.numbers[0])
        async with connected(emu) as api:
            with pytest.raises(sa.AuthenticationError):
                await api.sims.get(emu.fleet.numbers[0])
