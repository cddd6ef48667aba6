"""Regression tests of the SDK fixes the hardening tests forced (one test per fix)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async import _transport
from simapi_async._converter import structure_one
from simapi_async._validation import (
    normalize_iccid,
    normalize_imsi,
    normalize_inn,
    normalize_number,
)

from .conftest import (
    ICCID,
    NUMBER,
    SENTINEL_PASSWORD,
    SENTINEL_TOKEN,
    assert_no_secret,
    serve,
    session_on,
    texts_of,
)


@pytest.mark.parametrize("value", ["1" * 5000, "--5", "-"])
def test_unreadable_integer_strings_are_response_format_errors(value: str) -> None:
    """An integer field holding a 5000-digit or doubly signed string raises
    ResponseFormatError naming it, not a bare ValueError."""
    with pytest.raises(sa.ResponseFormatError) as info:
        structure_one({"number": NUMBER, "packet_id": value}, sa.Sim)
    assert info.value.field == "packet_id"


@pytest.mark.parametrize("flag", [False, 0, "false", "0"])
async def test_reads_answered_success_false_raise(flag: Any) -> None:
    """A read answered 200 `{"success": false, "message": ...}` raises ResponseFormatError
    carrying the message, instead of returning an empty SIM or an empty list."""
    async def refuse(request: web.Request) -> web.StreamResponse:
        return web.json_response({"success": flag, "message": "SIM card not found"})

    async with serve(refuse) as server, session_on(server.base_url) as api:
        for call in (api.sims.get(NUMBER), api.sims.list(), api.packets.list()):
            with pytest.raises(sa.ResponseFormatError, match="SIM card not found") as info:
                await call
            assert info.value.field == "success"


@pytest.mark.parametrize("status", [200, 500])
async def test_deeply_nested_json_is_not_a_recursion_error(
    status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the stdlib json decoder (no orjson), `[[[[...` 100,000 deep is a ServerError,
    not a RecursionError escaping the SDK."""
    monkeypatch.setattr(_transport, "_loads", json.loads)

    async def nested(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=b"[" * 100_000,
                            content_type="application/json")

    async with serve(nested) as server, session_on(server.base_url, max_retries=0) as api:
        with pytest.raises(sa.ServerError) as info:
            await api.sims.get(NUMBER)
    assert info.value.status == status


@pytest.mark.parametrize("value", [0, -1, True, "1000", 1.5, None])
def test_max_response_bytes_is_validated(value: Any) -> None:
    """max_response_bytes must be an int >= 1; anything else is InvalidInputError at once."""
    with pytest.raises(sa.InvalidInputError, match="max_response_bytes"):
        sa.AsyncSession("https://portal.example", token="t0ken", max_response_bytes=value)


async def test_identifiers_beyond_64_bits_never_reach_the_wire() -> None:
    """packet_id / small_packet_id beyond 64 bits raise InvalidInputError before sending,
    from the resources and from the session's own request path (used by bulk)."""
    async def ok(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    async with serve(ok) as server, session_on(server.base_url) as api:
        for huge in (2**63, 2**64, 10**5000):
            with pytest.raises(sa.InvalidInputError, match="packet_id"):
                await api.sims.activate(NUMBER, packet_id=huge, iccid=ICCID)
            with pytest.raises(sa.InvalidInputError, match="packet_id"):
                await api.sims.change_packet(NUMBER, packet_id=huge, date="2030-01-01",
                                             iccid=ICCID)
            with pytest.raises(sa.InvalidInputError, match="small_packet_id"):
                await api.sims.add_small_packet(NUMBER, small_packet_id=huge, iccid=ICCID)
        for op, huge, extra in (("activate", 2**64, {}),
                                ("change_packet", 10**5000, {"date": "2030-01-01"})):
            with pytest.raises(sa.InvalidInputError, match="cannot be sent"):
                await api.request(op, {"number": NUMBER, "iccid": ICCID, "packet_id": huge,
                                       **extra})
        assert (await api.sims.activate(NUMBER, packet_id=2**63 - 1, iccid=ICCID)).ok
    assert [r.path for r in server.requests] == ["/api/v2/login", f"/api/v2/sim/{NUMBER}"]


async def test_secrets_echoed_in_response_headers_are_scrubbed() -> None:
    """An error's headers keep no password or token a server echoed into them (a
    redirect's Location repeating the login query, a debug header repeating the bearer)."""
    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "no"}, status=404, headers={
            "X-Echo": request.headers.get("Authorization", ""),
            "Content-Location": f"/x?password={SENTINEL_PASSWORD}",
            "Set-Cookie": f"session={SENTINEL_TOKEN}",
        })

    async with serve(echo) as server, session_on(server.base_url) as api:
        with pytest.raises(sa.NotFoundError) as info:
            await api.sims.get(NUMBER)
    headers = info.value.headers
    assert headers["X-Echo"] == "Bearer ***"
    assert "Set-Cookie" not in headers
    assert_no_secret([repr(headers), *texts_of(info.value)])


@pytest.mark.parametrize(("normalize", "value", "expected"), [
    (normalize_number, "\ufeff79181111111", NUMBER),
    (normalize_number, "\ufeff +7 (918) 111-11-11", NUMBER),
    (normalize_iccid, " \ufeff8970199220150123456", ICCID),
    (normalize_imsi, "\ufeff250011234567890", "250011234567890"),
    (normalize_inn, "\ufeff7707083893", "7707083893"),
])
def test_a_leading_byte_order_mark_is_dropped(
    normalize: Callable[[object], str], value: str, expected: str
) -> None:
    """The invisible U+FEFF that starts a UTF-8 file saved by Excel (read without
    utf-8-sig) does not make the first number of a list invalid."""
    assert normalize(value) == expected
    with pytest.raises(sa.InvalidInputError):
        normalize("7918\ufeff1111111")  # elsewhere it is still a foreign character


@pytest.mark.parametrize(("option", "value"), [
    ("timeout", float("inf")), ("timeout", 10**400), ("timeout", float("nan")),
    ("session", "not a session"), ("trace_configs", "x"), ("trace_configs", 5),
    ("trace_configs", [object()]), ("endpoint_overrides", ["block"]),
    ("endpoint_overrides", {"block": "PUT"}), ("allow_insecure_http", "false"),
    ("allow_insecure_http", 1),
])
def test_session_plumbing_arguments_are_validated(option: str, value: Any) -> None:
    """A wrong type for timeout, session, trace_configs, endpoint_overrides or
    allow_insecure_http is InvalidInputError when the session is created (not an
    AttributeError at the first request, nor a truthy "false" allowing plain http)."""
    with pytest.raises(sa.InvalidInputError, match=option):
        sa.AsyncSession("https://portal.example", token="t0ken", **{option: value})
