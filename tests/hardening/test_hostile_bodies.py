"""Any JSON at all as the answer of any call: a model, or `ResponseFormatError` — never
another exception. An exhaustive grid (every field name x every hostile value x every
envelope x every call) and hypothesis over arbitrary JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simapi_async as sa
from simapi_async.resources import CdrResource, PacketsResource, SimsResource

from ..helpers import take
from .conftest import ICCID, NUMBER

FIELDS = [
    "number", "msisdn", "iccid", "imsi", "status", "packet_id", "packet", "packet_name",
    "inn", "blocked_services", "id", "name", "price", "volume", "traffic", "small_packets",
    "started_at", "start", "date", "end", "ended_at", "upload", "download", "volume_bytes",
    "bytes", "apn", "data", "meta", "links", "next", "next_page_url", "success", "message",
    "current_page", "last_page", "total", "per_page",
]
KEYS = st.sampled_from(FIELDS)
NASTY: list[Any] = [
    "1" * 5000, "--5", "-", "2024-13-01", "2024-03-01T10:00:00+25:00", "NaN", "1e400",
    "true", "0", "", " ", "9999-12-31T23:59:59+23:59", 10**30, -1, 1.5, float("inf"),
    float("nan"), True, [], {}, [1, "a"], {"id": "x"}, None,
]
_NASTY = st.sampled_from(NASTY)
_PLAIN = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12))
SCALARS = st.sampled_from((0, 1, 1)).flatmap(lambda i: (_PLAIN, _NASTY)[i])
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(KEYS | st.text(max_size=4), inner, max_size=6),
    max_leaves=25,
)
OBJECT = st.dictionaries(KEYS, JSON, min_size=1, max_size=8)
BODIES = st.one_of(
    JSON, OBJECT, st.builds(lambda o: {"data": o}, OBJECT), st.lists(OBJECT, max_size=3),
    st.builds(lambda items, meta: {"data": items, "meta": meta},
              st.lists(OBJECT, max_size=3), OBJECT),
)


class Answering:
    """A requester that answers every operation with the same body."""

    def __init__(self, body: Any) -> None:
        self.body = body

    async def request(self, operation: str, params: Mapping[str, Any]) -> Any:
        return self.body


CALLS: dict[str, Callable[[Answering], Coroutine[Any, Any, Any]]] = {
    "get": lambda r: SimsResource(r).get(NUMBER),
    "get_by_iccid": lambda r: SimsResource(r).get_by_iccid(ICCID),
    "list": lambda r: SimsResource(r).list(),
    "iter": lambda r: take(SimsResource(r).iter(limit=2), 10),
    "packets": lambda r: PacketsResource(r).list(),
    "cdr": lambda r: take(CdrResource(r).internet("2024-03-01", "2024-03-03"), 20),
    "block": lambda r: SimsResource(r).block(NUMBER),  # looks the SIM up first
    "send_sms": lambda r: SimsResource(r).send_sms(NUMBER, "internet"),
}


ENVELOPES: list[Callable[[dict[str, Any]], Any]] = [
    lambda o: o, lambda o: {"data": o}, lambda o: [o], lambda o: {"data": [o, o]},
    lambda o: {"data": [o], "meta": o, "links": o}, lambda o: {"success": True, **o},
]


def test_every_field_holding_every_hostile_value() -> None:
    """Each field name of the API, holding each hostile value, in each envelope, answered
    to each call: a model or ResponseFormatError naming a field — nothing else."""
    base = {"number": NUMBER, "iccid": ICCID, "id": 1}

    async def grid() -> list[str]:
        escaped: list[str] = []
        for field in FIELDS:
            for value in NASTY:
                for wrap in ENVELOPES:
                    body = wrap({**base, field: value})
                    for name, call in CALLS.items():
                        try:
                            await call(Answering(body))
                        except sa.ResponseFormatError as exc:
                            if not exc.field:
                                escaped.append(f"{name} {body!r:.80}: no field named")
                        except Exception as exc:
                            escaped.append(f"{name} {field}={value!r:.20}: {exc!r:.80}")
        return escaped

    assert asyncio.run(grid()) == []


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES, call=st.sampled_from(sorted(CALLS)))
def test_any_json_answer_is_a_model_or_a_response_format_error(body: Any, call: str) -> None:
    """Whatever JSON the server sends, a call returns or raises ResponseFormatError."""
    named: str | None = "(returned)"
    try:
        asyncio.run(CALLS[call](Answering(body)))
    except sa.ResponseFormatError as exc:
        named = exc.field
    assert named  # an error names the part of the answer that did not fit
