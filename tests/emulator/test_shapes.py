"""Response shapes: each variant of `Shapes`, chosen per emulator and changed at runtime."""

from __future__ import annotations

import pytest

from simapi_async._exceptions import InvalidInputError
from simapi_async.testing import Emulator, Shapes

from .conftest import Client


@pytest.mark.parametrize(("shape", "path"), [
    ("token", ("token",)), ("access_token", ("access_token",)),
    ("data.token", ("data", "token")), ("data.access_token", ("data", "access_token")),
])
async def test_login_shapes(emu: Emulator, anon: Client, creds: dict[str, str],
                            shape: str, path: tuple[str, ...]) -> None:
    """Each login shape puts the token where it says, and that token works."""
    emu.shapes.login = shape
    emu.token_ttl = 60
    r = await anon("POST", "api/v2/login", params=creds)
    holder = r.body if len(path) == 1 else r.body["data"]
    assert holder["expires_in"] == 60
    anon.token = holder[path[-1]]
    assert (await anon("GET", "api/v2/sim/packets")).status == 200


async def test_lists_bare(emu: Emulator, api: Client) -> None:
    """lists="bare": a JSON array, one page of `limit` items."""
    emu.shapes.lists = "bare"
    r = await api("GET", "api/v2/sim/list", params={"limit": "7", "page": "2"})
    assert isinstance(r.body, list)
    assert [s["number"] for s in r.body] == emu.fleet.numbers[7:14]


async def test_lists_data(emu: Emulator, api: Client) -> None:
    """lists="data": the items under `data` and nothing else."""
    emu.shapes.lists = "data"
    r = await api("GET", "api/v2/sim/packets")
    assert list(r.body) == ["data"]
    assert len(r.body["data"]) == 5


async def test_lists_meta(emu: Emulator, api: Client) -> None:
    """lists="meta": Laravel resource pagination with meta and links.next."""
    r = await api("GET", "api/v2/sim/list", params={"limit": "150", "status": "active"})
    total = sum(1 for s in emu.fleet.sims.values() if s.status == "active")
    assert r.body["meta"] == {"current_page": 1, "last_page": 2, "per_page": 150,
                              "total": total}
    assert r.body["links"]["next"] == \
        f"{emu.base_url}/api/v2/sim/list?limit=150&status=active&page=2"


async def test_lists_flat(emu: Emulator, api: Client) -> None:
    """lists="flat": paginator fields at top level with next_page_url (null on the last)."""
    emu.shapes.lists = "flat"
    r = await api("GET", "api/v2/sim/list", params={"limit": "100", "page": "2"})
    assert (r.body["current_page"], r.body["last_page"], r.body["total"],
            r.body["per_page"], r.body["next_page_url"]) == (2, 2, 200, 100, None)
    assert len(r.body["data"]) == 100


async def test_objects_bare(emu: Emulator, api: Client) -> None:
    """objects="bare": the SIM object itself, no `data` wrapper."""
    emu.shapes.objects = "bare"
    number = emu.fleet.numbers[0]
    r = await api("GET", f"api/v2/sim/{number}")
    assert r.body["number"] == number


async def test_writes_empty(emu: Emulator, api: Client) -> None:
    """writes="empty": 200 with an empty body."""
    emu.shapes.writes = "empty"
    sim = emu.fleet.sims[emu.fleet.numbers[0]]
    r = await api("POST", f"api/v2/sim/block/{sim.number}", params={"iccid": sim.iccid})
    assert (r.status, r.text) == (200, "")


async def test_writes_object(emu: Emulator, api: Client) -> None:
    """writes="object": the SIM after the write, under data."""
    emu.shapes.writes = "object"
    sim = emu.fleet.sims[emu.fleet.numbers[0]]
    r = await api("POST", f"api/v2/sim/block-finance/{sim.number}", params={"iccid": sim.iccid})
    assert r.body["data"]["number"] == sim.number
    assert r.body["data"]["finance_blocked"] is True


async def test_fields_alt(emu: Emulator, api: Client) -> None:
    """fields="alt": msisdn, packet, traffic, string prices, started_at, upload+download."""
    emu.shapes = Shapes(fields="alt", lists="data", objects="bare")
    sim = emu.fleet.sims[emu.fleet.numbers[0]]
    r = await api("GET", f"api/v2/sim/{sim.number}")
    assert r.body["msisdn"] == sim.number
    assert "number" not in r.body
    assert "packet" in r.body
    assert "packet_name" not in r.body
    packets = (await api("GET", "api/v2/sim/packets")).body["data"]
    assert isinstance(packets[0]["price"], str)
    assert "traffic" in packets[0]
    assert "volume" not in packets[0]
    assert "traffic" in packets[0]["small_packets"][0]
    cdr = (await api("GET", "api/v2/cdr/internet",
                     params={"from": "2024-05-01", "to": "2024-05-03"})).body["data"]
    assert set(cdr[0]) == {"msisdn", "started_at", "ended_at", "upload", "download",
                           "apn", "imsi", "iccid"}
    assert len(cdr[0]["started_at"]) == len("2024-05-01 00:00:00")


def test_bad_shape_is_invalid_input() -> None:
    """An unknown shape name raises InvalidInputError, at creation and on assignment."""
    with pytest.raises(InvalidInputError):
        Shapes(lists="pages")
    shapes = Shapes()
    with pytest.raises(InvalidInputError):
        shapes.login = "jwt"


async def test_cdr_pages(emu: Emulator, api: Client) -> None:
    """cdr_page_size: with a paginator list shape, CDR comes `cdr_page_size` records a page."""
    params = {"from": "2024-05-01", "to": "2024-05-01"}
    whole = (await api("GET", "api/v2/cdr/internet", params=params)).body["data"]
    emu.shapes.cdr_page_size = 5
    first = (await api("GET", "api/v2/cdr/internet", params=params)).body
    assert first["data"] == whole[:5]
    assert first["meta"]["last_page"] == -(-len(whole) // 5)
    assert "page=2" in first["links"]["next"]
    second = (await api("GET", "api/v2/cdr/internet", params={**params, "page": "2"})).body
    assert second["data"] == whole[5:10]
    emu.shapes.lists = "data"  # a shape that cannot say "more pages": one answer, as before
    assert (await api("GET", "api/v2/cdr/internet", params=params)).body == {"data": whole}


@pytest.mark.parametrize("size", [0, -1, 2.5, "7", True])
def test_cdr_page_size_is_checked(size: object) -> None:
    with pytest.raises(InvalidInputError, match="cdr_page_size"):
        Shapes(cdr_page_size=size)  # type: ignore[arg-type]
