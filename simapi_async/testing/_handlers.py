"""One function per operation of the endpoint table (login lives with the tokens).

Each takes the routed `Call` and its validated parameters, looks the SIM up (`404`),
checks that the given iccid/imsi belong to it (`422`), applies the change to the fleet
and answers in the emulator's current `Shapes`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web

from ._fleet import Fleet, SimState, SpareSim
from ._shapes import cdr_json, list_body, packet_json, sim_json
from ._validate import Call
from ._wire import Reject, json_response, validation_error

__all__ = ["HANDLERS", "Handler"]

Handler = Callable[[Call, dict[str, Any]], web.Response]
_NOT_FOUND: Final = {"message": "SIM card not found."}


def _object(call: Call, obj: dict[str, Any]) -> web.Response:
    return json_response({"data": obj} if call.shapes.objects == "data" else obj)


def _written(call: Call, sim: SimState, message: str) -> web.Response:
    """Count the applied write and answer in the current `writes` shape."""
    call.stats.writes[(call.op.name, sim.number)] += 1
    shape = call.shapes.writes
    if shape == "empty":
        return web.Response(status=200)
    if shape == "success":
        return json_response({"success": True, "message": message})
    return json_response({"data": sim_json(sim, call.fleet, call.shapes.fields == "alt")})


def _matches(sim: SimState | SpareSim, iccid: str | None, imsi: str | None) -> bool:
    return (iccid is None or sim.iccid == iccid) and (imsi is None or sim.imsi == imsi)


def _sim(call: Call, clean: Mapping[str, Any], *, identify: bool = True) -> SimState:
    """The SIM of the path's number (else 404) whose iccid/imsi were given (else 422)."""
    sim = call.fleet.sims.get(clean["number"])
    if sim is None:
        raise Reject(404, _NOT_FOUND)
    if identify:
        errors = {
            name: [f"The {name} does not match the number."]
            for name in ("iccid", "imsi")
            if name in clean and clean[name] != getattr(sim, name)
        }
        if errors:
            raise validation_error(errors)
    return sim


def _find(fleet: Fleet, iccid: str | None, imsi: str | None) -> SimState | SpareSim | None:
    """The SIM card (bound or spare) with this iccid and/or imsi."""
    found: SimState | SpareSim | None = fleet.by_iccid(iccid) if iccid else (
        fleet.by_imsi(imsi) if imsi else None)
    if found is None:
        found = fleet.spare(iccid=iccid, imsi=imsi)
    return found if found is not None and _matches(found, iccid, imsi) else None


def _packet_exists(call: Call, packet_id: int) -> None:
    if call.fleet.packet(packet_id) is None:
        raise validation_error({"packet_id": ["The selected packet id is invalid."]})


def get_sim(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    return _object(call, sim_json(sim, call.fleet, call.shapes.fields == "alt"))


def get_sim_by_iccid(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = call.fleet.by_iccid(clean["iccid"])
    if sim is None:
        raise Reject(404, _NOT_FOUND)
    return _object(call, sim_json(sim, call.fleet, call.shapes.fields == "alt"))


def list_sims(call: Call, clean: dict[str, Any]) -> web.Response:
    fleet = call.fleet
    numbers = fleet.select(clean.get("inn"), clean.get("status"))
    page, limit = clean.get("page", 1), clean.get("limit", 50)
    chunk = numbers[(page - 1) * limit: page * limit]
    alt = call.shapes.fields == "alt"
    items = [sim_json(fleet.sims[n], fleet, alt) for n in chunk]
    body = list_body(call.shapes, items, page=page, per_page=limit, total=len(numbers),
                     url=call.request.url)
    return json_response(body)


def list_packets(call: Call, clean: dict[str, Any]) -> web.Response:
    alt = call.shapes.fields == "alt"
    return json_response(list_body(call.shapes, [packet_json(p, alt) for p in call.fleet.packets]))


def cdr_internet(call: Call, clean: dict[str, Any]) -> web.Response:
    fleet = call.fleet
    numbers: list[str] = fleet.numbers
    if "inn" in clean:
        numbers = fleet.numbers_of(clean["inn"])
    if "numbers[]" in clean:
        wanted = set(numbers)
        numbers = [n for n in dict.fromkeys(clean["numbers[]"]) if n in wanted]
    alt = call.shapes.fields == "alt"
    items: list[dict[str, Any]] = []
    day: dt.date = clean["from"]
    while day <= clean["to"]:
        records = [r for n in numbers for r in fleet.cdr(n, day)]
        records.sort(key=lambda r: (r.start, r.number))
        items.extend(cdr_json(r, alt) for r in records)
        day += dt.timedelta(days=1)
    size = call.shapes.cdr_page_size
    if size is None or call.shapes.lists not in ("meta", "flat"):
        return json_response(list_body(call.shapes, items))
    page = clean.get("page", 1)
    chunk = items[(page - 1) * size: page * size]
    return json_response(list_body(call.shapes, chunk, page=page, per_page=size,
                                   total=len(items), url=call.request.url))


def activate(call: Call, clean: dict[str, Any]) -> web.Response:
    _packet_exists(call, clean["packet_id"])
    sim = _sim(call, clean)
    sim.activate(clean["packet_id"])
    return _written(call, sim, "SIM card activated.")


def change_packet(call: Call, clean: dict[str, Any]) -> web.Response:
    _packet_exists(call, clean["packet_id"])
    sim = _sim(call, clean)
    when: dt.date = clean["date"]
    if when <= dt.date.today():
        sim.packet_id, sim.scheduled_packet = clean["packet_id"], None
        return _written(call, sim, "Tariff packet changed.")
    sim.scheduled_packet = (clean["packet_id"], when)
    return _written(call, sim, f"Tariff packet change scheduled for {when.isoformat()}.")


def block(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.block()
    return _written(call, sim, "SIM card blocked.")


def unblock(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.unblock()
    return _written(call, sim, "SIM card unblocked.")


def block_service(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.blocked_services.add(clean["type"])
    return _written(call, sim, f"Service {clean['type']} blocked.")


def unblock_service(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.blocked_services.discard(clean["type"])
    return _written(call, sim, f"Service {clean['type']} unblocked.")


def block_finance(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.finance_blocked = True
    return _written(call, sim, "SIM card financially blocked.")


def unblock_finance(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.finance_blocked = False
    return _written(call, sim, "SIM card financially unblocked.")


def bind_number(call: Call, clean: dict[str, Any]) -> web.Response:
    """Bind a free number to a spare SIM card (binding it again to the same SIM is fine)."""
    fleet, number = call.fleet, clean["number"]
    iccid, imsi = clean.get("iccid"), clean.get("imsi")
    key = "iccid" if iccid else "imsi"
    card = _find(fleet, iccid, imsi)
    if card is None:
        raise validation_error({key: [f"The selected {key} is invalid."]})
    if isinstance(card, SimState):
        if card.number == number:
            return _written(call, card, "Number bound.")
        raise validation_error({key: ["The SIM card is already bound to another number."]})
    if number in fleet.sims:
        raise validation_error({"number": ["The number is already bound to a SIM card."]})
    sim = fleet.bind(number, card, call_forwarding=clean.get("cf", True))
    return _written(call, sim, "Number bound.")


def rebind_number(call: Call, clean: dict[str, Any]) -> web.Response:
    """Move the number to a spare SIM; repeating a finished move succeeds and changes nothing."""
    fleet = call.fleet
    sim = _sim(call, clean, identify=False)
    iccid, imsi = clean.get("iccid"), clean.get("imsi")
    cur_iccid, cur_imsi = clean.get("current_iccid"), clean.get("current_imsi")
    key = "iccid" if iccid else "imsi"
    new = _find(fleet, iccid, imsi)
    if new is None:
        raise validation_error({key: [f"The selected {key} is invalid."]})
    if new is sim and isinstance(_find(fleet, cur_iccid, cur_imsi), SpareSim):
        return _written(call, sim, "Number moved to the new SIM card.")
    errors = {
        f"current_{name}": [f"The current {name} does not match the number."]
        for name, given in (("iccid", cur_iccid), ("imsi", cur_imsi))
        if given is not None and given != getattr(sim, name)
    }
    if isinstance(new, SimState):
        errors[key] = ["The SIM card is already bound to a number."]
    if errors:
        raise validation_error(errors)
    assert isinstance(new, SpareSim)
    fleet.move(sim, new)
    return _written(call, sim, "Number moved to the new SIM card.")


def add_small_packet(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    packet = call.fleet.packet(sim.packet_id)
    if packet is None or not packet.small_packets:
        raise validation_error({"small_packet_id": ["The SIM card has no tariff packet."]})
    small_id = clean.get("small_packet_id", packet.small_packets[0].id)
    if small_id not in {s.id for s in packet.small_packets}:
        raise validation_error({"small_packet_id": ["The selected small packet id is invalid."]})
    sim.small_packets.append(small_id)
    return _written(call, sim, "Small packet added.")


def send_sms(call: Call, clean: dict[str, Any]) -> web.Response:
    sim = _sim(call, clean)
    sim.sms_sent.append(clean["type"])
    return _written(call, sim, "SMS sent.")


HANDLERS: Final[Mapping[str, Handler]] = {
    f.__name__: f
    for f in (
        get_sim, get_sim_by_iccid, list_sims, list_packets, cdr_internet, activate,
        change_packet, block, unblock, block_service, unblock_service, block_finance,
        unblock_finance, bind_number, rebind_number, add_small_packet, send_sms,
    )
}
