"""Response shapes: the variants API.md says a real server may use, one chosen per kind.

The SDK must read every variant; the emulator serves the chosen one, so a test can run
the same scenario against each::

    Emulator(shapes=Shapes(lists="bare", fields="alt"))
    emu.shapes.login = "data.access_token"          # changeable at runtime
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

import attrs
from yarl import URL

from .._exceptions import InvalidInputError
from ._fleet import CdrRecord, Fleet, Packet, SimState, SmallPacket

__all__ = ["Shapes", "cdr_json", "list_body", "login_body", "packet_json", "sim_json"]

LOGIN_SHAPES: Final = ("token", "access_token", "data.token", "data.access_token")
LIST_SHAPES: Final = ("bare", "data", "meta", "flat")
OBJECT_SHAPES: Final = ("bare", "data")
WRITE_SHAPES: Final = ("empty", "success", "object")
FIELD_SHAPES: Final = ("canonical", "alt")


def _one_of(*allowed: str) -> Any:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in allowed:
            raise InvalidInputError(attribute.name, value, f"must be one of {list(allowed)}")

    return check


def _page_size(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (type(value) is not int or value < 1):
        raise InvalidInputError(attribute.name, value, "must be a positive integer or None")


@attrs.define(slots=True, kw_only=True)
class Shapes:
    """Which response variant the emulator serves, per kind of answer.

    - `login`: where the token is: "token" | "access_token" | "data.token" |
      "data.access_token".
    - `lists`: "bare" (a JSON array) | "data" ({"data": [...]}) | "meta" (with
      `meta.current_page/last_page/total/per_page` and `links.next`) | "flat" (the same
      paginator fields at top level, with `next_page_url`).
    - `objects`: "bare" | "data" (the object under `data`).
    - `writes`: "empty" (200, empty body) | "success" ({"success": true, "message"})
      | "object" ({"data": <the SIM after the write>}).
    - `fields`: "canonical" (`number`, `volume`, `start`...) | "alt" (`msisdn`,
      `packet`, `traffic`, `started_at`/`ended_at` as "YYYY-MM-DD HH:MM:SS",
      `upload` + `download`, prices as strings).
    - `cdr_page_size`: None (default: `cdr/internet` answers one page, as documented) |
      records per page: with `lists` "meta" or "flat", CDR answers are paginated too and
      read on with `page` (the other list shapes cannot say that more pages exist).
    """

    login: str = attrs.field(default="token", validator=_one_of(*LOGIN_SHAPES))
    lists: str = attrs.field(default="meta", validator=_one_of(*LIST_SHAPES))
    objects: str = attrs.field(default="data", validator=_one_of(*OBJECT_SHAPES))
    writes: str = attrs.field(default="success", validator=_one_of(*WRITE_SHAPES))
    fields: str = attrs.field(default="canonical", validator=_one_of(*FIELD_SHAPES))
    cdr_page_size: int | None = attrs.field(default=None, validator=_page_size)


def login_body(shapes: Shapes, token: str, ttl: float | None) -> dict[str, Any]:
    key = "access_token" if shapes.login.endswith("access_token") else "token"
    inner: dict[str, Any] = {key: token, "token_type": "Bearer"}
    if ttl is not None:
        inner["expires_in"] = int(ttl) if float(ttl).is_integer() else ttl
    return {"data": inner} if shapes.login.startswith("data.") else inner


def sim_json(sim: SimState, fleet: Fleet, alt: bool) -> dict[str, Any]:
    packet = fleet.packet(sim.packet_id)
    name = packet.name if packet is not None else None
    return {
        "msisdn" if alt else "number": sim.number,
        "iccid": sim.iccid,
        "imsi": sim.imsi,
        "status": sim.status,
        "packet_id": sim.packet_id,
        "packet" if alt else "packet_name": name,
        "inn": sim.inn,
        "blocked_services": sorted(sim.blocked_services),
        "finance_blocked": sim.finance_blocked,
    }


def _price(value: float, alt: bool) -> float | str:
    return f"{value:.2f}" if alt else value


def _small_json(s: SmallPacket, alt: bool) -> dict[str, Any]:
    return {"id": s.id, "name": s.name, "price": _price(s.price, alt),
            "traffic" if alt else "volume": s.volume_mb}


def packet_json(p: Packet, alt: bool) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "price": _price(p.price, alt),
        "traffic" if alt else "volume": p.volume_mb,
        "small_packets": [_small_json(s, alt) for s in p.small_packets],
    }


def _laravel_time(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S")


def cdr_json(r: CdrRecord, alt: bool) -> dict[str, Any]:
    if alt:
        return {"msisdn": r.number, "started_at": _laravel_time(r.start),
                "ended_at": _laravel_time(r.end), "upload": r.upload,
                "download": r.download, "apn": r.apn, "imsi": r.imsi, "iccid": r.iccid}
    return {"number": r.number, "date": r.start.date().isoformat(),
            "start": r.start.isoformat(), "end": r.end.isoformat(), "volume": r.volume,
            "apn": r.apn, "imsi": r.imsi, "iccid": r.iccid}


def list_body(
    shapes: Shapes, items: list[Any], *, page: int = 1, per_page: int | None = None,
    total: int | None = None, url: URL | None = None,
) -> Any:
    """A list answer in the chosen shape; `per_page=None` means one page holds everything."""
    if shapes.lists == "bare":
        return items
    if shapes.lists == "data":
        return {"data": items}
    total = len(items) if total is None else total
    per_page = per_page or max(total, 1)
    last_page = max(1, -(-total // per_page))
    next_url = None
    if page < last_page and url is not None:
        next_url = str(url.update_query(page=str(page + 1)))
    pager = {"current_page": page, "last_page": last_page, "per_page": per_page,
             "total": total}
    if shapes.lists == "meta":
        return {"data": items, "meta": pager, "links": {"next": next_url}}
    return {"data": items, **pager, "next_page_url": next_url}
