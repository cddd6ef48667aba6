"""Regression tests of the SDK fixes the hardening tests forced (one test per fix)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async._converter import structure_one

from .conftest import NUMBER, serve, session_on


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
