"""Every endpoint's happy path, and the state it leaves in the fleet."""

from __future__ import annotations

import datetime as dt

import aiohttp

from simapi_async.testing import Emulator, SimState

from .conftest import Client


def _active(emu: Emulator, skip: int = 0) -> SimState:
    sims = [s for s in emu.fleet.sims.values() if s.status == "active"]
    return sims[skip]


async def test_get_sim(emu: Emulator, api: Client) -> None:
    """GET sim/{number} answers the SIM's canonical fields under data."""
    sim = _active(emu)
    r = await api("GET", f"api/v2/sim/{sim.number}")
    assert r.status == 200
    packet = emu.fleet.packet(sim.packet_id)
    assert packet is not None
    assert r.body["data"] == {
        "number": sim.number, "iccid": sim.iccid, "imsi": sim.imsi, "status": "active",
        "packet_id": sim.packet_id, "packet_name": packet.name, "inn": sim.inn,
        "blocked_services": [], "finance_blocked": False,
    }


async def test_get_sim_by_iccid(emu: Emulator, api: Client) -> None:
    """GET sim/info/{iccid} finds the SIM bound to that iccid."""
    sim = _active(emu, 3)
    r = await api("GET", f"api/v2/sim/info/{sim.iccid}")
    assert r.status == 200
    assert r.body["data"]["number"] == sim.number


async def test_list_sims_pages_in_number_order(emu: Emulator, api: Client) -> None:
    """sim/list pages through every number in order; page beyond the last is empty."""
    seen: list[str] = []
    page = 1
    while True:
        r = await api("GET", "api/v2/sim/list", params={"page": str(page), "limit": "70"})
        assert r.status == 200
        seen += [s["number"] for s in r.body["data"]]
        assert r.body["meta"] == {"current_page": page, "last_page": 3, "per_page": 70,
                                  "total": 200}
        if r.body["links"]["next"] is None:
            break
        page += 1
    assert seen == emu.fleet.numbers
    r = await api("GET", "api/v2/sim/list", params={"page": "4", "limit": "70"})
    assert r.body["data"] == []


async def test_list_sims_default_limit_is_50(api: Client) -> None:
    """Without page/limit, sim/list answers the first 50."""
    r = await api("GET", "api/v2/sim/list")
    assert len(r.body["data"]) == 50
    assert r.body["meta"]["per_page"] == 50


async def test_list_sims_filters(emu: Emulator, api: Client) -> None:
    """sim/list filters by inn and status together."""
    inn = emu.fleet.inns[0]
    expected = [n for n in emu.fleet.numbers_of(inn) if emu.fleet.sims[n].status == "active"]
    r = await api("GET", "api/v2/sim/list",
                  params={"inn": inn, "status": "active", "limit": "1000"})
    assert [s["number"] for s in r.body["data"]] == expected
    assert r.body["meta"]["total"] == len(expected)


async def test_list_packets(emu: Emulator, api: Client) -> None:
    """sim/packets lists every packet with its small packets."""
    r = await api("GET", "api/v2/sim/packets")
    assert [p["id"] for p in r.body["data"]] == [p.id for p in emu.fleet.packets]
    first = r.body["data"][0]
    assert set(first) == {"id", "name", "price", "volume", "small_packets"}
    assert len(first["small_packets"]) in (2, 3)


async def test_cdr_internet(emu: Emulator, api: Client) -> None:
    """cdr/internet answers every session of the numbers in the range, sorted by start."""
    numbers = emu.fleet.numbers[:5]
    r = await api("GET", "api/v2/cdr/internet",
                  params=[("from", "2024-02-27"), ("to", "2024-03-02"),
                          *(("numbers[]", n) for n in numbers)])
    assert r.status == 200
    rows = r.body["data"]
    expected = sorted(
        (rec for n in numbers for d in range(5)
         for rec in emu.fleet.cdr(n, dt.date(2024, 2, 27) + dt.timedelta(days=d))),
        key=lambda rec: rec.start)
    assert [(x["number"], x["start"]) for x in rows] == \
        [(e.number, e.start.isoformat()) for e in expected]
    assert {x["date"] for x in rows} <= {f"2024-0{m}-{d:02d}" for m, d in
                                         ((2, 27), (2, 28), (2, 29), (3, 1), (3, 2))}
    assert all(x["volume"] > 0 and x["end"] > x["start"] for x in rows)


async def test_cdr_by_inn(emu: Emulator, api: Client) -> None:
    """cdr/internet with inn covers only that client's numbers."""
    inn = emu.fleet.inns[0]
    r = await api("GET", "api/v2/cdr/internet",
                  params={"from": "2024-01-01", "to": "2024-01-03", "inn": inn})
    owned = set(emu.fleet.numbers_of(inn))
    assert r.body["data"]
    assert {x["number"] for x in r.body["data"]} <= owned


async def test_activate(emu: Emulator, api: Client) -> None:
    """activate sets status active and the packet, identified by imsi from the body."""
    sim = next(s for s in emu.fleet.sims.values() if s.status == "inactive")
    r = await api("POST", f"api/v2/sim/{sim.number}", json={"packet_id": 105, "imsi": sim.imsi})
    assert r.status == 200
    assert r.body == {"success": True, "message": "SIM card activated."}
    assert (sim.status, sim.packet_id) == ("active", 105)


async def test_activate_blocked_sim_stays_blocked(emu: Emulator, api: Client) -> None:
    """Activating a fully blocked SIM keeps the block; unblocking then makes it active."""
    sim = next(s for s in emu.fleet.sims.values() if s.blocked)
    await api("POST", f"api/v2/sim/{sim.number}", json={"packet_id": 101, "iccid": sim.iccid})
    assert sim.status == "blocked"
    await api("POST", f"api/v2/sim/unblock/{sim.number}", params={"iccid": sim.iccid})
    assert (sim.status, sim.blocked, sim.packet_id) == ("active", False, 101)


async def test_change_packet_future_is_scheduled(emu: Emulator, api: Client) -> None:
    """A tariff change with a future date is scheduled; the current packet stays."""
    sim = _active(emu)
    before = sim.packet_id
    r = await api("POST", f"api/v2/sim/packet/{sim.number}",
                  params={"packet_id": "104", "date": "2099-01-01", "iccid": sim.iccid})
    assert r.status == 200
    assert sim.scheduled_packet == (104, dt.date(2099, 1, 1))
    assert sim.packet_id == before


async def test_change_packet_past_applies_now(emu: Emulator, api: Client) -> None:
    """A tariff change dated today or earlier applies at once."""
    sim = _active(emu)
    await api("POST", f"api/v2/sim/packet/{sim.number}",
              params={"packet_id": "103", "date": "2020-01-01", "imsi": sim.imsi})
    assert (sim.packet_id, sim.scheduled_packet) == (103, None)


async def test_block_and_unblock_are_idempotent(emu: Emulator, api: Client) -> None:
    """Blocking twice and unblocking twice succeed, and the state is as after once."""
    sim = _active(emu)
    for _ in range(2):
        r = await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})
        assert r.status == 200
        assert (sim.status, sim.blocked) == ("blocked", True)
    for _ in range(2):
        r = await api("POST", f"api/v2/sim/unblock/{sim.number}", params={"imsi": sim.imsi})
        assert r.status == 200
        assert (sim.status, sim.blocked) == ("active", False)
    assert emu.stats.writes[("block", sim.number)] == 2


async def test_block_and_unblock_service(emu: Emulator, api: Client) -> None:
    """block-service adds the service to blocked_services, unblock-service removes it."""
    sim = _active(emu)
    for service in ("sms", "call", "sms"):
        r = await api("POST", f"api/v2/sim/block-service/{sim.number}",
                      params={"type": service, "iccid": sim.iccid})
        assert r.status == 200
    assert sim.blocked_services == {"sms", "call"}
    await api("POST", f"api/v2/sim/unblock-service/{sim.number}",
              params={"type": "sms", "iccid": sim.iccid})
    assert sim.blocked_services == {"call"}
    r = await api("GET", f"api/v2/sim/{sim.number}")
    assert r.body["data"]["blocked_services"] == ["call"]


async def test_finance_block(emu: Emulator, api: Client) -> None:
    """block-finance and unblock-finance flip finance_blocked."""
    sim = _active(emu)
    await api("POST", f"api/v2/sim/block-finance/{sim.number}", params={"iccid": sim.iccid})
    assert sim.finance_blocked
    await api("POST", f"api/v2/sim/unblock-finance/{sim.number}", params={"iccid": sim.iccid})
    assert not sim.finance_blocked


async def test_bind_number_to_spare_sim(emu: Emulator, api: Client) -> None:
    """sim/set binds a free number to a spare SIM: a new inactive subscriber; repeat is fine."""
    spare = emu.fleet.spare_sims[0]
    number = "79990000001"
    for _ in range(2):
        r = await api("POST", f"api/v2/sim/set/{number}",
                      json={"iccid": spare.iccid, "cf": False})
        assert r.status == 200
    sim = emu.fleet.sims[number]
    assert (sim.iccid, sim.imsi, sim.status, sim.call_forwarding) == \
        (spare.iccid, spare.imsi, "inactive", False)
    assert spare not in emu.fleet.spare_sims
    assert number in emu.fleet.numbers
    r = await api("POST", f"api/v2/sim/{number}", json={"packet_id": 101, "iccid": spare.iccid})
    assert (r.status, sim.status) == (200, "active")


async def test_bind_refuses_bound_sim_and_bound_number(emu: Emulator, api: Client) -> None:
    """sim/set with a SIM of another number, or a number already bound, answers 422."""
    sim = _active(emu)
    r = await api("POST", "api/v2/sim/set/79990000002", json={"iccid": sim.iccid})
    assert (r.status, list(r.body["errors"])) == (422, ["iccid"])
    r = await api("POST", f"api/v2/sim/set/{sim.number}",
                  json={"imsi": emu.fleet.spare_sims[0].imsi})
    assert (r.status, list(r.body["errors"])) == (422, ["number"])
    r = await api("POST", "api/v2/sim/set/79990000002", json={"iccid": "8970199000000000001"})
    assert (r.status, r.body["errors"]) == (422, {"iccid": ["The selected iccid is invalid."]})


async def test_rebind_number(emu: Emulator, api: Client) -> None:
    """sim/refresh moves the number to a spare SIM; the old SIM becomes spare; repeat is fine."""
    sim = _active(emu)
    old_iccid, old_imsi = sim.iccid, sim.imsi
    spare = emu.fleet.spare_sims[0]
    params = {"iccid": spare.iccid, "current_iccid": old_iccid}
    for _ in range(2):
        r = await api("POST", f"api/v2/sim/refresh/{sim.number}", params=params)
        assert r.status == 200
    assert (sim.iccid, sim.imsi) == (spare.iccid, spare.imsi)
    assert (old_iccid, old_imsi) in {(s.iccid, s.imsi) for s in emu.fleet.spare_sims}
    assert emu.fleet.by_iccid(spare.iccid) is sim
    assert emu.fleet.by_iccid(old_iccid) is None


async def test_rebind_with_wrong_current_sim_is_422(emu: Emulator, api: Client) -> None:
    """sim/refresh with a current iccid that is not the number's SIM answers 422."""
    sim, other = _active(emu), _active(emu, 1)
    r = await api("POST", f"api/v2/sim/refresh/{sim.number}",
                  params={"imsi": emu.fleet.spare_sims[0].imsi, "current_iccid": other.iccid})
    assert r.status == 422
    assert r.body["errors"] == {"current_iccid": ["The current iccid does not match the number."]}


async def test_rebind_requires_both_groups(emu: Emulator, api: Client) -> None:
    """sim/refresh needs one of imsi/iccid and one of current_imsi/current_iccid."""
    r = await api("POST", f"api/v2/sim/refresh/{_active(emu).number}",
                  params={"iccid": emu.fleet.spare_sims[0].iccid})
    assert r.status == 422
    assert set(r.body["errors"]) == {"current_imsi", "current_iccid"}


async def test_add_small_packet(emu: Emulator, api: Client) -> None:
    """small-packet adds the tariff's first small packet by default, and each call adds one."""
    sim = _active(emu)
    packet = emu.fleet.packet(sim.packet_id)
    assert packet is not None
    first, last = packet.small_packets[0].id, packet.small_packets[-1].id
    await api("POST", f"api/v2/sim/small-packet/{sim.number}", params={"iccid": sim.iccid})
    await api("POST", f"api/v2/sim/small-packet/{sim.number}",
              params={"iccid": sim.iccid, "small_packet_id": str(last)})
    assert sim.small_packets == [first, last]
    assert emu.stats.writes[("add_small_packet", sim.number)] == 2


async def test_send_sms(emu: Emulator, api: Client) -> None:
    """send-sms records each SMS; repeats are recorded too and show as duplicates."""
    sim = _active(emu)
    for kind in ("call", "internet", "internet"):
        r = await api("POST", f"api/v2/sim/send-sms/{sim.number}", json={"type": kind})
        assert r.status == 200
    assert sim.sms_sent == ["call", "internet", "internet"]
    assert emu.stats.duplicates("send_sms") == {sim.number: 3}


async def test_list_filter_follows_state_changes(emu: Emulator, api: Client) -> None:
    """sim/list?status= reflects blocks made through the API and edits made by hand."""
    async def blocked() -> list[str]:
        r = await api("GET", "api/v2/sim/list", params={"status": "blocked", "limit": "1000"})
        return [s["number"] for s in r.body["data"]]

    before = await blocked()
    sim = _active(emu)
    await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})
    assert sorted([*before, sim.number]) == await blocked()
    other = _active(emu, 1)
    other.status = "blocked"
    assert other.number in await blocked()


async def test_restart_keeps_state(emu: Emulator, api: Client) -> None:
    """An emulator stopped and started again serves the same fleet state and tokens."""
    sim = _active(emu)
    await api("POST", f"api/v2/sim/block-finance/{sim.number}", params={"iccid": sim.iccid})
    await emu.stop()
    await emu.start()
    async with aiohttp.ClientSession(emu.base_url + "/") as http:
        r = await Client(http, api.token)("GET", f"api/v2/sim/{sim.number}")
    assert r.body["data"]["finance_blocked"] is True
