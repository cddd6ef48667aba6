"""THE endpoint table: every operation of the API, declared once.

Each `Endpoint` says the HTTP method, the path template (relative to the base URL), where
each parameter goes (URL path, query string or JSON body), which parameters are required
(including "one of imsi or iccid" groups) and whether a retry is safe. The session's
request path, the resources, the emulator and the CLI are all built from this table, so a
method or path the scanned docs got wrong is corrected here, or per session::

    AsyncSession(..., endpoint_overrides={"block": {"method": "PUT"}})

The HTTP methods were lost in the scan of the docs (see API.md): reads are taken to be
GET and everything else POST.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from ._exceptions import InvalidInputError

__all__ = ["ENDPOINTS", "Endpoint", "In", "Param", "with_overrides"]


class In(enum.Enum):
    """Where a parameter travels."""

    PATH = "path"
    QUERY = "query"
    BODY = "body"


@attrs.frozen(slots=True)
class Param:
    """One parameter of an endpoint, by its name on the wire."""

    name: str
    where: In
    required: bool = False
    many: bool = False  # a list, sent as repeated `name` (e.g. `numbers[]`)


@attrs.frozen(slots=True)
class Endpoint:
    """One operation of the API.

    `one_of` lists groups of parameters of which at least one must be given (the API's
    "imsi or iccid"). `retry_safe` is False for the operations whose repeat has an effect
    of its own (a second SMS, a second billed packet).
    """

    name: str
    method: str
    path: str
    params: tuple[Param, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    retry_safe: bool = True
    authenticated: bool = True
    summary: str = ""
    # Derived once, for the hot path of `build`.
    _names: frozenset[str] = attrs.field(init=False, repr=False, eq=False)
    _in_path: tuple[tuple[str, str], ...] = attrs.field(init=False, repr=False, eq=False)
    _in_query: tuple[Param, ...] = attrs.field(init=False, repr=False, eq=False)
    _in_body: tuple[Param, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_names", frozenset(p.name for p in self.params))
        object.__setattr__(self, "_in_path", tuple(
            (p.name, "{" + p.name + "}") for p in self.params if p.where is In.PATH))
        object.__setattr__(self, "_in_query",
                           tuple(p for p in self.params if p.where is In.QUERY))
        object.__setattr__(self, "_in_body",
                           tuple(p for p in self.params if p.where is In.BODY))
        placeholders = set(_PLACEHOLDER.findall(self.path))
        declared = {name for name, _ in self._in_path}
        if placeholders != declared:
            raise ValueError(
                f"endpoint {self.name!r}: path {self.path!r} has placeholders "
                f"{sorted(placeholders)} but path parameters {sorted(declared)}"
            )
        if self.method != self.method.upper() or not self.method.isalpha():
            raise ValueError(f"endpoint {self.name!r}: bad HTTP method {self.method!r}")

    @property
    def is_write(self) -> bool:
        """True for operations that change state on the server."""
        return self.method != "GET"

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def build(
        self, args: Mapping[str, Any]
    ) -> tuple[str, list[tuple[str, str]], dict[str, Any] | None]:
        """Split `args` (wire names → values; None means absent) into path, query, body.

        Path values must already be validated digit strings: nothing else ever reaches a
        URL path. Query values are strings (bools as ``1``/``0``); body values keep their
        JSON types. A body is returned only for endpoints with body parameters.
        """
        get = args.get
        if not self._names.issuperset(args):
            unknown = set(args) - self._names
            raise InvalidInputError(
                "parameter", sorted(unknown)[0], f"is not a parameter of {self.name}"
            )
        path = self.path
        for name, placeholder in self._in_path:  # path parameters are always required
            value = get(name)
            if value is None:
                raise InvalidInputError(name, value, f"is required by {self.name}")
            text = value if type(value) is str else str(value)
            if not (text.isdigit() and text.isascii() and len(text) <= 32):
                raise InvalidInputError(name, value, "must be a validated digit string")
            path = path.replace(placeholder, text)
        query: list[tuple[str, str]] = []
        for p in self._in_query:
            value = get(p.name)
            if value is None:
                if p.required:
                    raise InvalidInputError(p.name, value, f"is required by {self.name}")
            elif p.many:
                query.extend((p.name, _query_value(v)) for v in value)
            else:
                query.append((p.name, value if type(value) is str else _query_value(value)))
        body: dict[str, Any] | None = None
        if self._in_body:  # an endpoint with body parameters always sends a body
            body = {}
            for p in self._in_body:
                value = get(p.name)
                if value is None:
                    if p.required:
                        raise InvalidInputError(p.name, value, f"is required by {self.name}")
                else:
                    body[p.name] = value
        for group in self.one_of:
            for n in group:
                if get(n) is not None:
                    break
            else:
                raise InvalidInputError(
                    " or ".join(group), None, f"one of them is required by {self.name}"
                )
        return path, query, body


_PLACEHOLDER: Final = re.compile(r"{(\w+)}")


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _id(where: In) -> tuple[Param, Param]:
    return Param("imsi", where), Param("iccid", where)


_NUMBER = Param("number", In.PATH, required=True)
_ID_GROUP = (("imsi", "iccid"),)

ENDPOINTS: Final[Mapping[str, Endpoint]] = {
    e.name: e
    for e in (
        Endpoint(
            "login", "POST", "api/v2/login",
            (Param("login", In.QUERY, True), Param("password", In.QUERY, True)),
            authenticated=False, summary="Log in (Auth user)",
        ),
        Endpoint(
            "cdr_internet", "GET", "api/v2/cdr/internet",
            # `page` is not documented for CDR: it is sent only to read on when an answer
            # comes as a Laravel paginator saying more pages exist (Laravel reads `page`).
            (Param("from", In.QUERY, True), Param("to", In.QUERY, True),
             Param("numbers[]", In.QUERY, many=True), Param("inn", In.QUERY),
             Param("page", In.QUERY)),
            summary="Internet CDR",
        ),
        Endpoint(
            "list_sims", "GET", "api/v2/sim/list",
            # Documented as body parameters of a GET: sent as query (Laravel reads both).
            (Param("inn", In.QUERY), Param("status", In.QUERY), Param("page", In.QUERY),
             Param("limit", In.QUERY)),
            summary="List SIM cards",
        ),
        Endpoint("list_packets", "GET", "api/v2/sim/packets", summary="Tariff packets info"),
        Endpoint(
            "activate", "POST", "api/v2/sim/{number}",
            (_NUMBER, Param("packet_id", In.BODY, True), *_id(In.BODY)),
            one_of=_ID_GROUP, summary="Activate SIM",
        ),
        Endpoint("get_sim", "GET", "api/v2/sim/{number}", (_NUMBER,),
                 summary="SIM info by number"),
        Endpoint("get_sim_by_iccid", "GET", "api/v2/sim/info/{iccid}",
                 (Param("iccid", In.PATH, True),), summary="SIM info by ICCID"),
        Endpoint(
            "change_packet", "POST", "api/v2/sim/packet/{number}",
            (_NUMBER, Param("packet_id", In.QUERY, True), Param("date", In.QUERY, True),
             *_id(In.QUERY)),
            one_of=_ID_GROUP, summary="Change tariff packet",
        ),
        Endpoint("block", "POST", "api/v2/sim/block/{number}", (_NUMBER, *_id(In.QUERY)),
                 one_of=_ID_GROUP, summary="Block SIM (full)"),
        Endpoint("unblock", "POST", "api/v2/sim/unblock/{number}", (_NUMBER, *_id(In.QUERY)),
                 one_of=_ID_GROUP, summary="Unblock SIM (full)"),
        Endpoint(
            "block_service", "POST", "api/v2/sim/block-service/{number}",
            (_NUMBER, Param("type", In.QUERY, True), *_id(In.QUERY)),
            one_of=_ID_GROUP, summary="Block one service",
        ),
        Endpoint(
            "unblock_service", "POST", "api/v2/sim/unblock-service/{number}",
            (_NUMBER, Param("type", In.QUERY, True), *_id(In.QUERY)),
            one_of=_ID_GROUP, summary="Unblock one service",
        ),
        Endpoint("block_finance", "POST", "api/v2/sim/block-finance/{number}",
                 (_NUMBER, *_id(In.QUERY)), one_of=_ID_GROUP, summary="Financial block"),
        Endpoint("unblock_finance", "POST", "api/v2/sim/unblock-finance/{number}",
                 (_NUMBER, *_id(In.QUERY)), one_of=_ID_GROUP, summary="Financial unblock"),
        Endpoint(
            "bind_number", "POST", "api/v2/sim/set/{number}",
            (_NUMBER, *_id(In.BODY), Param("cf", In.BODY)),
            one_of=_ID_GROUP, summary="Bind number to a SIM",
        ),
        Endpoint(
            "rebind_number", "POST", "api/v2/sim/refresh/{number}",
            (_NUMBER, *_id(In.QUERY), Param("current_imsi", In.QUERY),
             Param("current_iccid", In.QUERY)),
            one_of=(("imsi", "iccid"), ("current_imsi", "current_iccid")),
            summary="Re-bind number to another SIM",
        ),
        Endpoint(
            "add_small_packet", "POST", "api/v2/sim/small-packet/{number}",
            (_NUMBER, Param("small_packet_id", In.QUERY), *_id(In.QUERY)),
            one_of=_ID_GROUP, retry_safe=False, summary="Add a small (top-up) packet",
        ),
        Endpoint(
            "send_sms", "POST", "api/v2/sim/send-sms/{number}",
            (_NUMBER, Param("type", In.BODY, True)),
            retry_safe=False, summary="Send an info SMS to the subscriber",
        ),
    )
}


def with_overrides(
    table: Mapping[str, Endpoint], overrides: Mapping[str, Mapping[str, Any]] | None
) -> Mapping[str, Endpoint]:
    """A copy of `table` with some endpoints' `method`, `path` or `retry_safe` replaced.

    >>> t = with_overrides(ENDPOINTS, {"block": {"method": "PUT"}})
    >>> t["block"].method
    'PUT'
    """
    if not overrides:
        return table
    allowed = {"method", "path", "retry_safe"}
    out = dict(table)
    for name, changes in overrides.items():
        if name not in table:
            raise InvalidInputError("endpoint_overrides", name, "is not an operation name")
        bad: Sequence[str] = sorted(set(changes) - allowed)
        if bad:
            raise InvalidInputError(
                "endpoint_overrides", bad[0], f"only {sorted(allowed)} can be overridden"
            )
        try:
            out[name] = attrs.evolve(table[name], **changes)
        except ValueError as exc:
            raise InvalidInputError("endpoint_overrides", dict(changes), str(exc)) from exc
    return out
