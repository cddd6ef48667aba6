"""Routing: methods and paths come from the endpoint table; misuse gets Laravel's answers."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from simapi_async._endpoints import ENDPOINTS, with_overrides
from simapi_async.testing import Emulator

from .conftest import Client


async def test_wrong_method_on_template_path_is_405(emu: Emulator, api: Client) -> None:
    """GET on a POST-only path answers 405 with Laravel's message and an Allow header."""
    number = emu.fleet.numbers[0]
    r = await api("GET", f"api/v2/sim/block/{number}")
    assert r.status == 405
    assert r.body == {"message": f"The GET method is not supported for route "
                                 f"api/v2/sim/block/{number}. Supported methods: POST."}
    assert r.headers["Allow"] == "POST"


async def test_wrong_method_on_literal_path_is_405(api: Client) -> None:
    """POST on the GET-only `sim/list` is 405, not a match of `sim/{number}`."""
    r = await api("POST", "api/v2/sim/list")
    assert r.status == 405
    assert r.body["message"].startswith(
        "The POST method is not supported for route api/v2/sim/list")
    assert "GET, HEAD" in r.body["message"]


async def test_login_with_get_is_405(anon: Client, creds: dict[str, str]) -> None:
    """Login is POST only: GET with the right credentials is refused with 405."""
    r = await anon("GET", "api/v2/login", params=creds)
    assert r.status == 405


async def test_unknown_path_is_404_json(api: Client) -> None:
    """An unknown route answers 404 with a JSON message naming it."""
    r = await api("GET", "api/v2/sims/everything")
    assert r.status == 404
    assert r.body == {"message": "The route api/v2/sims/everything could not be found."}


async def test_trailing_segment_is_404(emu: Emulator, api: Client) -> None:
    """A path with an extra segment matches no template and is 404."""
    r = await api("GET", f"api/v2/sim/{emu.fleet.numbers[0]}/extra")
    assert r.status == 404


async def test_same_path_two_methods(emu: Emulator, api: Client) -> None:
    """`sim/{number}` serves GET (get_sim) and POST (activate) as two operations."""
    number = emu.fleet.numbers[0]
    await api("GET", f"api/v2/sim/{number}")
    await api("POST", f"api/v2/sim/{number}", json={"packet_id": 101,
                                                     "iccid": emu.fleet.sims[number].iccid})
    assert emu.stats.requests["get_sim"] == 1
    assert emu.stats.requests["activate"] == 1


async def test_head_is_served_like_get(emu: Emulator, api: Client) -> None:
    """HEAD on a GET route answers 200 (Laravel serves HEAD for GET routes)."""
    r = await api("HEAD", f"api/v2/sim/{emu.fleet.numbers[0]}")
    assert r.status == 200


async def test_endpoint_overrides_move_routes() -> None:
    """An overridden table is served as given: the old method becomes 405."""
    table = with_overrides(ENDPOINTS, {"block": {"method": "PUT"}})
    async with Emulator(sims=10, endpoints=table) as emu, \
            aiohttp.ClientSession(emu.base_url + "/") as http:
        api = Client(http, emu.issue_token())
        sim = emu.fleet.sims[emu.fleet.numbers[0]]
        path = f"api/v2/sim/block/{sim.number}"
        assert (await api("POST", path, params={"iccid": sim.iccid})).status == 405
        assert (await api("PUT", path, params={"iccid": sim.iccid})).status == 200
        assert sim.blocked


async def test_mounted_on_outer_app() -> None:
    """`make_app()` mounted under a prefix serves the API there, sharing the state."""
    emu = Emulator(sims=20, seed=3)
    outer = web.Application()
    outer.add_subapp("/prefix/", emu.make_app())
    runner = web.AppRunner(outer)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}/prefix/") as http:
            api = Client(http, emu.issue_token())
            number = emu.fleet.numbers[0]
            r = await api("POST", f"api/v2/sim/block/{number}",
                          params={"iccid": emu.fleet.sims[number].iccid})
            assert r.status == 200
            listed = await api("GET", "api/v2/sim/list", params={"limit": "5"})
            assert listed.body["links"]["next"].startswith(f"http://127.0.0.1:{port}/prefix/")
        assert emu.fleet.sims[number].blocked
    finally:
        await runner.cleanup()


async def test_base_url_before_start_raises() -> None:
    """`base_url` of an emulator that is not serving raises instead of lying."""
    emu = Emulator(sims=1)
    with pytest.raises(RuntimeError, match="not started"):
        _ = emu.base_url
