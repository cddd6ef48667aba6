"""Every endpoint through the real `AsyncSession` (aioresponses): the exact HTTP request of
API.md, and every documented answer shape converted to the same models."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from aioresponses import aioresponses

from simapi_async._session import AsyncSession
from simapi_async._validation import luhn_check_digit
from simapi_async.models import Packet, Sim, SmallPacket
from simapi_async.resources import CdrResource, PacketsResource, SimsResource

BASE = "https://portal.example"
NUMBER = "79181111111"
ICCID = "897019922015012345" + luhn_check_digit("897019922015012345")
ICCID2 = "897019922015099999" + luhn_check_digit("897019922015099999")
IMSI = "250011234567890"
INN = "7707083893"
LOGIN = re.compile(r"^https://portal\.example/api/v2/login(\?.*)?$")
OTHER = re.compile(r"^https://portal\.example/api/v2/(?!login).*$")


class Api:
    """The three resources over one real session."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.sims = SimsResource(session)
        self.packets = PacketsResource(session)
        self.cdr = CdrResource(session)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    async with AsyncSession(BASE, login="user", password="pw") as session:
        yield Api(session)


@pytest.fixture
def http() -> Any:
    with aioresponses() as mocked:
        mocked.post(LOGIN, payload={"token": "tok"}, repeat=True)
        yield mocked


def _requests(http: Any) -> list[tuple[str, str, Any]]:
    """(method, path, kwargs) of every request made, the login excluded; kwargs["query"]
    is the query string sent, as (name, value) pairs."""
    return [(method, url.path, {**call.kwargs, "query": list(url.query.items())})
            for (method, url), calls in http.requests.items() for call in calls
            if not url.path.endswith("/login")]


async def _list(it: AsyncIterator[Any]) -> list[Any]:
    return [x async for x in it]


Q = list[tuple[str, str]]
CASES: list[tuple[str, Callable[[Api], Awaitable[Any]], str, str, Q, dict[str, Any] | None]] = [
    ("cdr_internet",
     lambda a: _list(a.cdr.internet("2024-03-01", "2024-03-02", window_days=2,
                                    numbers=["+7 918 111-11-11", "89182222222"], inn=INN)),
     "GET", "/api/v2/cdr/internet",
     [("from", "2024-03-01"), ("to", "2024-03-02"), ("numbers[]", NUMBER),
      ("numbers[]", "79182222222"), ("inn", INN)], None),
    ("list_sims", lambda a: a.sims.list(inn=INN, status="active", page=2, limit=10),
     "GET", "/api/v2/sim/list",
     [("inn", INN), ("status", "active"), ("page", "2"), ("limit", "10")], None),
    ("list_packets", lambda a: a.packets.list(), "GET", "/api/v2/sim/packets", [], None),
    ("activate", lambda a: a.sims.activate(NUMBER, packet_id=5, iccid=ICCID),
     "POST", f"/api/v2/sim/{NUMBER}", [], {"packet_id": 5, "iccid": ICCID}),
    ("get_sim", lambda a: a.sims.get("8 (918) 111-11-11"),
     "GET", f"/api/v2/sim/{NUMBER}", [], None),
    ("get_sim_by_iccid", lambda a: a.sims.get_by_iccid(ICCID),
     "GET", f"/api/v2/sim/info/{ICCID}", [], None),
    ("change_packet",
     lambda a: a.sims.change_packet(NUMBER, packet_id=6, date=dt.date(2024, 6, 1), imsi=IMSI),
     "POST", f"/api/v2/sim/packet/{NUMBER}",
     [("packet_id", "6"), ("date", "2024-06-01"), ("imsi", IMSI)], None),
    ("block", lambda a: a.sims.block(NUMBER, iccid=ICCID),
     "POST", f"/api/v2/sim/block/{NUMBER}", [("iccid", ICCID)], None),
    ("unblock", lambda a: a.sims.unblock(NUMBER, iccid=ICCID),
     "POST", f"/api/v2/sim/unblock/{NUMBER}", [("iccid", ICCID)], None),
    ("block_service", lambda a: a.sims.block_service(NUMBER, "data", iccid=ICCID),
     "POST", f"/api/v2/sim/block-service/{NUMBER}", [("type", "internet"), ("iccid", ICCID)],
     None),
    ("unblock_service", lambda a: a.sims.unblock_service(NUMBER, "call", imsi=IMSI),
     "POST", f"/api/v2/sim/unblock-service/{NUMBER}", [("type", "call"), ("imsi", IMSI)], None),
    ("block_finance", lambda a: a.sims.block_finance(NUMBER, iccid=ICCID),
     "POST", f"/api/v2/sim/block-finance/{NUMBER}", [("iccid", ICCID)], None),
    ("unblock_finance", lambda a: a.sims.unblock_finance(NUMBER, iccid=ICCID),
     "POST", f"/api/v2/sim/unblock-finance/{NUMBER}", [("iccid", ICCID)], None),
    ("bind_number", lambda a: a.sims.bind_number(NUMBER, iccid=ICCID2),
     "POST", f"/api/v2/sim/set/{NUMBER}", [], {"iccid": ICCID2, "cf": True}),
    ("rebind_number",
     lambda a: a.sims.rebind_number(NUMBER, iccid=ICCID2, current_imsi=IMSI),
     "POST", f"/api/v2/sim/refresh/{NUMBER}", [("iccid", ICCID2), ("current_imsi", IMSI)],
     None),
    ("add_small_packet", lambda a: a.sims.add_small_packet(NUMBER, small_packet_id=3, iccid=ICCID),
     "POST", f"/api/v2/sim/small-packet/{NUMBER}", [("small_packet_id", "3"), ("iccid", ICCID)],
     None),
    ("send_sms", lambda a: a.sims.send_sms(NUMBER, "internet"),
     "POST", f"/api/v2/sim/send-sms/{NUMBER}", [], {"type": "internet"}),
]


@pytest.mark.parametrize(("name", "call", "method", "path", "query", "body"), CASES,
                         ids=[c[0] for c in CASES])
async def test_each_endpoint_sends_the_documented_request(
    api, http, name, call, method, path, query, body
):
    """Method, path, query and JSON body of every operation are exactly API.md's."""
    answer: Any = [] if name in ("cdr_internet", "list_sims", "list_packets") else {
        "number": NUMBER, "iccid": ICCID}
    http.get(OTHER, payload=answer)
    http.post(OTHER, payload=answer)
    await call(api)
    [(sent_method, sent_path, kwargs)] = _requests(http)
    assert (sent_method, sent_path) == (method, path)
    assert kwargs.get("params") is None  # the query is in the URL, encoded once
    assert sorted(kwargs["query"]) == sorted(query)
    sent_body = kwargs["data"]
    assert (None if sent_body is None else json.loads(sent_body)) == body
    assert kwargs["headers"]["Authorization"] == "Bearer tok"


async def test_login_sends_its_credentials_as_query_parameters(api, http):
    """The first call logs in with POST api/v2/login?login=..&password=.. (no body)."""
    http.get(OTHER, payload={"number": NUMBER})
    await api.sims.get(NUMBER)
    [(url, calls)] = [(u, c) for (m, u), c in http.requests.items() if u.path.endswith("/login")]
    assert [m for (m, u) in http.requests if u == url] == ["POST"]
    assert url.path == "/api/v2/login"
    assert sorted(url.query.items()) == [("login", "user"), ("password", "pw")]
    assert calls[0].kwargs["data"] is None


SIM = Sim(number=NUMBER, iccid=ICCID, imsi=IMSI, status="active", packet_id=2,
          packet_name="M2M")
SIM_ANSWERS = [
    {"number": NUMBER, "iccid": ICCID, "imsi": IMSI, "status": "active", "packet_id": 2,
     "packet_name": "M2M"},
    {"data": {"msisdn": int(NUMBER), "iccid": ICCID, "imsi": int(IMSI), "status": "active",
              "packet": {"id": 2, "name": "M2M"}, "extra": True}},
    {"success": True, "data": {"msisdn": NUMBER, "iccid": int(ICCID), "imsi": IMSI,
                               "status": "active", "packet_id": "2", "packet": "M2M"}},
]


@pytest.mark.parametrize("answer", SIM_ANSWERS)
async def test_every_sim_answer_shape_gives_the_same_sim(api, http, answer):
    """A SIM answered bare or under `data`, in any spelling, is the same Sim."""
    http.get(OTHER, payload=answer)
    assert await api.sims.get(NUMBER) == SIM


PACKETS = [{"id": 1, "name": "M2M", "price": "99.90", "traffic": 1024,
            "small_packets": [{"id": 7, "name": "+1GB", "price": 50, "volume": 1024}]}]


@pytest.mark.parametrize("answer", [
    PACKETS, {"data": PACKETS}, {"data": PACKETS, "meta": {"current_page": 1, "last_page": 1}},
    {"data": PACKETS, "current_page": 1, "last_page": 1, "next_page_url": None},
])
async def test_every_packet_list_shape_gives_the_same_packets(api, http, answer):
    """Packets come out equal from a bare array, `data`, or either paginator."""
    http.get(OTHER, payload=answer)
    packets = await api.packets.list()
    assert packets == [Packet(id=1, name="M2M", price=Decimal("99.90"), volume=1024,
                              small_packets=(SmallPacket(id=7, name="+1GB", price=50,
                                                         volume=1024),))]
    assert str(packets[0].price) == "99.90"


@pytest.mark.parametrize("answer", [
    {"body": ""}, {"status": 204, "body": ""}, {"payload": {"success": True, "message": "OK"}},
    {"payload": {"message": "OK"}},
])
async def test_every_write_answer_shape_is_success(api, http, answer):
    """An empty body, a 204 or a success object all give ok=True."""
    http.post(OTHER, **answer)
    result = await api.sims.block(NUMBER, iccid=ICCID)
    assert result.ok is True


async def test_the_sim_lookup_goes_over_http_once(api, http):
    """Two writes without ids: one GET sim/{number}, then both writes with its iccid."""
    http.get(OTHER, payload={"data": {"number": NUMBER, "iccid": ICCID}})
    http.post(OTHER, payload={"success": True}, repeat=True)
    await api.sims.block(NUMBER)
    await api.sims.unblock(NUMBER)
    sent = _requests(http)
    assert [(m, p) for m, p, _ in sent] == [
        ("GET", f"/api/v2/sim/{NUMBER}"), ("POST", f"/api/v2/sim/block/{NUMBER}"),
        ("POST", f"/api/v2/sim/unblock/{NUMBER}"),
    ]
    assert all(kw["query"] == [("iccid", ICCID)] for m, _, kw in sent if m == "POST")


async def test_sims_iter_pages_over_http(api, http):
    """237 SIMs behind a meta/links paginator come out once each in five GETs."""
    fleet = [{"msisdn": 79000000000 + i, "imsi": str(250010000000000 + i)} for i in range(237)]
    for page in range(1, 6):
        http.get(OTHER, payload={
            "data": fleet[(page - 1) * 50:page * 50],
            "meta": {"current_page": page, "last_page": 5, "total": 237},
            "links": {"next": None if page == 5 else f"{BASE}/api/v2/sim/list?page={page + 1}"},
        })
    got = [sim.number async for sim in api.sims.iter(limit=50)]
    assert got == [str(79000000000 + i) for i in range(237)]
    pages = [dict(kw["query"])["page"] for _, _, kw in _requests(http)]
    assert sorted(pages) == ["1", "2", "3", "4", "5"]
