"""`api.sims` over a fake requester: parameters sent, answers converted, lookups cached."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import pytest

from simapi_async._exceptions import InvalidInputError, NotFoundError, ResponseFormatError
from simapi_async._validation import luhn_check_digit
from simapi_async.models import OperationResult, Page, Sim
from simapi_async.resources import SimsResource

NUMBER = "79181111111"
ICCID = "897019922015012345" + luhn_check_digit("897019922015012345")
ICCID2 = "897019922015099999" + luhn_check_digit("897019922015099999")
IMSI = "250011234567890"
INN = "7707083893"


# -- reads ---------------------------------------------------------------------------------

async def test_get_normalises_the_number_and_converts_the_answer(fake, sims, sim_body):
    """`get` sends the canonical number and returns the `Sim` of the answer."""
    fake.on("get_sim", {"data": sim_body(packet_id=3)})
    sim = await sims.get("+7 (918) 111-11-11")
    assert fake.calls == [("get_sim", {"number": NUMBER})]
    assert sim == Sim(number=NUMBER, iccid=ICCID, imsi=IMSI, status="active", packet_id=3)


async def test_get_by_iccid_sends_the_iccid_in_the_path(fake, sims, sim_body):
    """`get_by_iccid` calls get_sim_by_iccid with the normalised ICCID."""
    fake.on("get_sim_by_iccid", sim_body())
    sim = await sims.get_by_iccid(f" {ICCID} ")
    assert fake.calls == [("get_sim_by_iccid", {"iccid": ICCID})]
    assert sim.number == NUMBER


async def test_list_sends_filters_and_page_and_builds_a_page(fake, sims, sim_body):
    """`list` sends inn/status/page/limit as given and reads the paginator into the Page."""
    fake.on("list_sims", {"data": [sim_body()], "meta": {"current_page": 2, "last_page": 3,
                                                         "total": 101, "per_page": 50}})
    page = await sims.list(inn=INN, status="Active", page=2, limit=50)
    assert fake.calls == [("list_sims", {"inn": INN, "status": "active", "page": 2, "limit": 50})]
    assert isinstance(page, Page)
    assert (page.page, page.limit, page.total, page.last_page) == (2, 50, 101, 3)
    assert page.has_next is True
    assert list(page) == [Sim(number=NUMBER, iccid=ICCID, imsi=IMSI, status="active")]


# -- iteration -----------------------------------------------------------------------------

FLEET = [{"msisdn": 79000000000 + i, "iccid": None, "imsi": str(250010000000000 + i)}
         for i in range(237)]


def _bare(params: dict[str, Any]) -> list[dict[str, Any]]:
    start = (params["page"] - 1) * params["limit"]
    return FLEET[start:start + params["limit"]]


def _data(params: dict[str, Any]) -> dict[str, Any]:
    return {"data": _bare(params)}


def _meta(params: dict[str, Any]) -> dict[str, Any]:
    page, last = params["page"], -(-len(FLEET) // params["limit"])
    return {"data": _bare(params),
            "meta": {"current_page": page, "last_page": last, "total": len(FLEET)},
            "links": {"next": f"https://x/?page={page + 1}" if page < last else None}}


def _top_level(params: dict[str, Any]) -> dict[str, Any]:
    page, last = params["page"], -(-len(FLEET) // params["limit"])
    return {"data": _bare(params), "current_page": page, "last_page": last,
            "per_page": params["limit"], "total": len(FLEET),
            "next_page_url": f"https://x/?page={page + 1}" if page < last else None,
            "links": [{"url": None, "label": "&laquo; Previous", "active": False}]}


def _links_only(params: dict[str, Any]) -> dict[str, Any]:
    page, last = params["page"], -(-len(FLEET) // params["limit"])
    return {"data": _bare(params),
            "links": {"next": f"https://x/?page={page + 1}" if page < last else None}}


@pytest.mark.parametrize("server", [_bare, _data, _meta, _top_level, _links_only])
async def test_iter_yields_237_unique_sims_in_5_requests(fake, sims, server):
    """Every envelope: 237 SIMs at limit=50 come out once each, in order, in 5 requests."""
    fake.on("list_sims", server)
    got = [sim.number async for sim in sims.iter(limit=50)]
    assert got == [str(79000000000 + i) for i in range(237)]
    assert [p["page"] for p in fake.sent("list_sims")] == [1, 2, 3, 4, 5]
    assert all(p["limit"] == 50 for p in fake.sent("list_sims"))


async def test_iter_stops_at_an_empty_page(fake, sims):
    """A bare-list server whose pages are all full ends at the first empty page."""
    fake.on("list_sims", lambda p: _bare(p) if p["page"] <= 2 else [])
    got = [sim async for sim in sims.iter(limit=100)]
    assert len(got) == 200
    assert len(fake.calls) == 3


async def test_iter_stops_when_the_server_repeats_a_page(fake, sims, caplog):
    """A server that ignores `page` (same full page every time) stops with a warning."""
    fake.on("list_sims", lambda p: FLEET[:50])
    with caplog.at_level(logging.WARNING, logger="simapi_async"):
        got = [sim async for sim in sims.iter(limit=50)]
    assert len(got) == 50
    assert len(fake.calls) == 2
    assert "repeats an earlier page" in caplog.text


async def test_iter_stops_when_the_server_cycles_between_pages(fake, sims, caplog):
    """A server alternating two pages forever (paginator always says more) is stopped."""
    def cycling(p: dict[str, Any]) -> dict[str, Any]:
        chunk = FLEET[:50] if p["page"] % 2 else FLEET[50:100]
        return {"data": chunk, "meta": {"current_page": p["page"], "last_page": 10**6}}
    fake.on("list_sims", cycling)
    with caplog.at_level(logging.WARNING, logger="simapi_async"):
        got = [sim async for sim in sims.iter(limit=50)]
    assert len(got) == 100
    assert len(fake.calls) == 3


async def test_iter_passes_filters_on_every_page(fake, sims):
    """`inn` and `status` are sent with every page request."""
    fake.on("list_sims", _bare)
    [sim async for sim in sims.iter(inn=INN, status="blocked", limit=100)]
    assert {(p["inn"], p["status"]) for p in fake.sent("list_sims")} == {(INN, "blocked")}


@pytest.mark.parametrize("kwargs", [{"limit": 0}, {"limit": 1001}, {"inn": "123"},
                                    {"status": "act ive"}, {"limit": "x"}])
def test_iter_checks_its_arguments_when_called(fake, sims, kwargs):
    """`iter` raises InvalidInputError at the call, before iterating or sending anything."""
    with pytest.raises(InvalidInputError):
        sims.iter(**kwargs)
    assert fake.calls == []


# -- writes --------------------------------------------------------------------------------

WRITES: list[tuple[str, tuple[Any, ...], dict[str, Any], str, dict[str, Any]]] = [
    ("activate", (NUMBER,), {"packet_id": 7, "iccid": ICCID}, "activate",
     {"number": NUMBER, "packet_id": 7, "iccid": ICCID}),
    ("change_packet", (NUMBER,), {"packet_id": "8", "date": dt.date(2024, 5, 1), "imsi": IMSI},
     "change_packet", {"number": NUMBER, "packet_id": 8, "date": "2024-05-01", "imsi": IMSI}),
    ("block", (NUMBER,), {"iccid": ICCID}, "block", {"number": NUMBER, "iccid": ICCID}),
    ("unblock", (NUMBER,), {"imsi": IMSI}, "unblock", {"number": NUMBER, "imsi": IMSI}),
    ("block_service", (NUMBER, "data"), {"iccid": ICCID}, "block_service",
     {"number": NUMBER, "type": "internet", "iccid": ICCID}),
    ("unblock_service", (NUMBER, "SMS"), {"iccid": ICCID}, "unblock_service",
     {"number": NUMBER, "type": "sms", "iccid": ICCID}),
    ("block_finance", (NUMBER,), {"iccid": ICCID}, "block_finance",
     {"number": NUMBER, "iccid": ICCID}),
    ("unblock_finance", (NUMBER,), {"iccid": ICCID, "imsi": IMSI}, "unblock_finance",
     {"number": NUMBER, "iccid": ICCID, "imsi": IMSI}),
    ("bind_number", (NUMBER,), {"iccid": ICCID2, "call_forwarding": False}, "bind_number",
     {"number": NUMBER, "iccid": ICCID2, "cf": False}),
    ("rebind_number", (NUMBER,), {"imsi": IMSI, "current_iccid": ICCID}, "rebind_number",
     {"number": NUMBER, "imsi": IMSI, "current_iccid": ICCID}),
    ("add_small_packet", (NUMBER,), {"small_packet_id": 2, "iccid": ICCID}, "add_small_packet",
     {"number": NUMBER, "small_packet_id": 2, "iccid": ICCID}),
    ("add_small_packet", (NUMBER,), {"iccid": ICCID}, "add_small_packet",
     {"number": NUMBER, "iccid": ICCID}),
    ("send_sms", ("8 918 111 11 11", "call"), {}, "send_sms", {"number": NUMBER, "type": "call"}),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "operation", "params"), WRITES)
async def test_each_write_sends_its_operation_and_parameters(
    fake, sims, method, args, kwargs, operation, params
):
    """Every write sends exactly its operation's wire parameters and returns an OperationResult."""
    fake.on(operation, {"success": True, "message": "done"})
    result = await getattr(sims, method)(*args, **kwargs)
    assert fake.sent(operation) == [params]
    assert fake.ops() == [operation]
    assert result == OperationResult(ok=True, message="done")


async def test_bind_number_sends_call_forwarding_true_by_default(fake, sims):
    """`bind_number` sends ``cf: true`` unless told otherwise."""
    fake.on("bind_number", None)
    result = await sims.bind_number(NUMBER, imsi=IMSI)
    assert fake.sent("bind_number") == [{"number": NUMBER, "imsi": IMSI, "cf": True}]
    assert result.ok is True


async def test_a_write_answered_success_false_is_not_ok(fake, sims):
    """``{"success": false}`` gives ok=False with the server's message."""
    fake.on("block", {"success": False, "message": "already blocked"})
    result = await sims.block(NUMBER, iccid=ICCID)
    assert (result.ok, result.message) == (False, "already blocked")


BAD_CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("block", ("7918abc1111",), {"iccid": ICCID}),
    ("block", (NUMBER,), {"iccid": "123"}),
    ("block", (NUMBER,), {"imsi": "25001x"}),
    ("activate", (NUMBER,), {"packet_id": 0, "iccid": ICCID}),
    ("activate", (NUMBER,), {"packet_id": True, "iccid": ICCID}),
    ("change_packet", (NUMBER,), {"packet_id": 1, "date": "01.05.2024", "iccid": ICCID}),
    ("block_service", (NUMBER, "mms"), {"iccid": ICCID}),
    ("bind_number", (NUMBER,), {}),
    ("bind_number", (NUMBER,), {"iccid": ICCID, "call_forwarding": "yes"}),
    ("rebind_number", (NUMBER,), {"current_iccid": ICCID}),
    ("add_small_packet", (NUMBER,), {"small_packet_id": -1}),
    ("send_sms", (NUMBER, "sms"), {}),
    ("get", ("+1 555 0100",), {}),
    ("get_by_iccid", ("8970/1992",), {}),
    ("list", (), {"page": 0}),
]


@pytest.mark.parametrize(("method", "args", "kwargs"), BAD_CALLS)
async def test_bad_input_raises_before_any_request(fake, sims, method, args, kwargs):
    """Invalid numbers, ids, dates, types and ids-less binds raise InvalidInputError, unsent."""
    with pytest.raises(InvalidInputError):
        await getattr(sims, method)(*args, **kwargs)
    assert fake.calls == []


# -- the lookup of a SIM's ids by number ---------------------------------------------------

async def test_two_writes_for_one_number_make_one_lookup(fake, sims, sim_body):
    """Writes without iccid/imsi look the SIM up once and reuse its iccid."""
    fake.on("get_sim", {"data": sim_body()})
    fake.on("block", None)
    fake.on("unblock", None)
    await sims.block("+79181111111")
    await sims.unblock(NUMBER)
    assert fake.ops() == ["get_sim", "block", "unblock"]
    assert fake.sent("block") == [{"number": NUMBER, "iccid": ICCID}]
    assert fake.sent("unblock") == [{"number": NUMBER, "iccid": ICCID}]


async def test_concurrent_writes_share_one_lookup(fake, sims, sim_body):
    """Ten concurrent writes for one number wait on a single lookup request."""
    arrived, gate = asyncio.Event(), asyncio.Event()

    async def slow_lookup(params: dict[str, Any]) -> dict[str, Any]:
        arrived.set()
        await gate.wait()
        return sim_body()

    fake.on("get_sim", slow_lookup)
    fake.on("block_service", None)
    writes = [asyncio.create_task(sims.block_service(NUMBER, "sms")) for _ in range(10)]
    await arrived.wait()
    gate.set()
    await asyncio.gather(*writes)
    assert fake.ops().count("get_sim") == 1
    assert len(fake.sent("block_service")) == 10


async def test_lookup_uses_imsi_when_the_sim_has_no_iccid(fake, sims):
    """A looked-up SIM without an iccid is addressed by its imsi."""
    fake.on("get_sim", {"msisdn": 79181111111, "imsi": 250011234567890})
    fake.on("block_finance", None)
    await sims.block_finance(NUMBER)
    assert fake.sent("block_finance") == [{"number": NUMBER, "imsi": IMSI}]


async def test_lookup_of_a_sim_without_ids_is_a_clear_error(fake, sims):
    """A looked-up SIM with neither iccid nor imsi raises ResponseFormatError; nothing written."""
    fake.on("get_sim", {"number": NUMBER, "status": "active"})
    with pytest.raises(ResponseFormatError, match="pass iccid= or imsi="):
        await sims.block(NUMBER)
    assert fake.ops() == ["get_sim"]


async def test_a_failed_lookup_is_not_cached(fake, sims, sim_body):
    """After a lookup fails, the next write looks the SIM up again."""
    answers = iter([NotFoundError("Not found.", status=404), sim_body()])

    def lookup(params: dict[str, Any]) -> dict[str, Any]:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    fake.on("get_sim", lookup)
    fake.on("block", None)
    with pytest.raises(NotFoundError):
        await sims.block(NUMBER)
    await sims.block(NUMBER)
    assert fake.ops() == ["get_sim", "get_sim", "block"]


async def test_get_and_list_fill_the_lookup_cache(fake, sims, sim_body):
    """SIMs already seen through get or list need no lookup before a write."""
    fake.on("get_sim", sim_body())
    fake.on("list_sims", [sim_body("79182222222")])
    fake.on("block", None)
    await sims.get(NUMBER)
    await sims.list()
    await sims.block(NUMBER)
    await sims.block("79182222222")
    assert fake.ops() == ["get_sim", "list_sims", "block", "block"]


async def test_rebind_looks_up_the_current_sim_and_then_caches_the_new_one(fake, sims, sim_body):
    """rebind_number finds the current SIM by number; later writes use the new SIM's ids."""
    fake.on("get_sim", sim_body())
    fake.on("rebind_number", {"success": True})
    fake.on("block", None)
    await sims.rebind_number(NUMBER, iccid=ICCID2)
    await sims.block(NUMBER)
    assert fake.sent("rebind_number") == [
        {"number": NUMBER, "iccid": ICCID2, "current_iccid": ICCID}
    ]
    assert fake.sent("block") == [{"number": NUMBER, "iccid": ICCID2}]
    assert fake.ops().count("get_sim") == 1


async def test_a_failed_bind_forgets_the_cached_sim(fake, sims, sim_body):
    """After bind_number fails, the number's SIM is looked up afresh."""
    def refuse(params: dict[str, Any]) -> None:
        raise NotFoundError("Not found.", status=404)

    fake.on("get_sim", sim_body())
    fake.on("bind_number", refuse)
    fake.on("block", None)
    await sims.get(NUMBER)
    with pytest.raises(NotFoundError):
        await sims.bind_number(NUMBER, iccid=ICCID2)
    await sims.block(NUMBER)
    assert fake.ops() == ["get_sim", "bind_number", "get_sim", "block"]


async def test_the_lookup_cache_is_bounded(fake, sim_body):
    """With room for two SIMs, the least recently used third one is looked up again."""
    sims = SimsResource(fake, lookup_cache_size=2)
    fake.on("get_sim", lambda p: sim_body(p["number"]))
    fake.on("block", None)
    for number in ("79180000001", "79180000002", "79180000003", "79180000001"):
        await sims.block(number)
    assert fake.ops().count("get_sim") == 4
