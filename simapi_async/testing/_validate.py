"""Laravel-style request validation, driven by the endpoint table.

Each parameter is read only from the place the table declares (path, query or JSON
body): one sent elsewhere counts as missing. Empty strings count as missing (Laravel's
`ConvertEmptyStringsToNull`). All errors of a request are collected into one `422`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs
from aiohttp import web
from multidict import MultiMapping

from .._endpoints import Endpoint, In, Param
from ._fleet import SERVICES, STATUSES, Fleet
from ._shapes import Shapes
from ._stats import EmulatorStats
from ._wire import validation_error

__all__ = ["MAX_LIMIT", "Call", "validate"]

MAX_LIMIT: Final = 1000
_NUMBER: Final = re.compile(r"7\d{10}")
_ICCID: Final = re.compile(r"\d{19,20}")
_IMSI: Final = re.compile(r"\d{1,15}")
_INN: Final = re.compile(r"\d{10}|\d{12}")
_DATE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT: Final = re.compile(r"-?\d{1,18}")


@attrs.define(slots=True, eq=False)
class Call:
    """One routed request, with what its handler needs."""

    op: Endpoint
    path: Mapping[str, str]
    query: MultiMapping[str]
    body: Mapping[str, Any]
    request: web.BaseRequest
    fleet: Fleet
    shapes: Shapes
    stats: EmulatorStats

    def raw(self, p: Param) -> Any:
        """The parameter's value from its declared place only; None when absent or ""."""
        if p.where is In.PATH:
            value: Any = self.path.get(p.name)
        elif p.where is In.QUERY:
            value = self.query.getall(p.name, []) if p.many else self.query.get(p.name)
        else:
            value = self.body.get(p.name)
        return None if value == "" or value == [] else value


def _label(name: str) -> str:
    return name.removesuffix("[]").replace("_", " ")


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _pattern(regex: re.Pattern[str]) -> Callable[[str, Any], tuple[Any, str | None]]:
    def check(name: str, value: Any) -> tuple[Any, str | None]:
        text = _text(value)
        if text is None or not regex.fullmatch(text):
            return None, f"The {_label(name)} format is invalid."
        return text, None

    return check


def _integer(low: int, high: int | None = None) -> Callable[[str, Any], tuple[Any, str | None]]:
    def check(name: str, value: Any) -> tuple[Any, str | None]:
        text = _text(value)
        if text is None or not _INT.fullmatch(text):
            return None, f"The {_label(name)} field must be an integer."
        number = int(text)
        if number < low:
            return None, f"The {_label(name)} field must be at least {low}."
        if high is not None and number > high:
            return None, f"The {_label(name)} field must not be greater than {high}."
        return number, None

    return check


def _date(name: str, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str) and _DATE.fullmatch(value):
        try:
            return dt.date.fromisoformat(value), None
        except ValueError:
            pass
    return None, f"The {_label(name)} field must match the format Y-m-d."


def _choice(*allowed: str) -> Callable[[str, Any], tuple[Any, str | None]]:
    def check(name: str, value: Any) -> tuple[Any, str | None]:
        if value not in allowed:
            return None, f"The selected {_label(name)} is invalid."
        return value, None

    return check


def _boolean(name: str, value: Any) -> tuple[Any, str | None]:
    if value in (True, False, 1, 0, "1", "0", "true", "false"):
        return value in (True, 1, "1", "true"), None
    return None, f"The {_label(name)} field must be true or false."


def _string(name: str, value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str):
        return value, None
    return None, f"The {_label(name)} field must be a string."


_CHECKS: Final[Mapping[str, Callable[[str, Any], tuple[Any, str | None]]]] = {
    "number": _pattern(_NUMBER),
    "iccid": _pattern(_ICCID),
    "current_iccid": _pattern(_ICCID),
    "imsi": _pattern(_IMSI),
    "current_imsi": _pattern(_IMSI),
    "inn": _pattern(_INN),
    "status": _choice(*STATUSES),
    "packet_id": _integer(1),
    "small_packet_id": _integer(1),
    "page": _integer(1),
    "limit": _integer(1, MAX_LIMIT),
    "date": _date,
    "from": _date,
    "to": _date,
    "cf": _boolean,
    "login": _string,
    "password": _string,
}
_TYPES: Final[Mapping[str, Callable[[str, Any], tuple[Any, str | None]]]] = {
    "send_sms": _choice("call", "internet"),
}


def validate(call: Call) -> dict[str, Any]:
    """Every declared parameter that was sent, checked and converted; else `Reject(422)`.

    Dates become `datetime.date`, integers `int`, `numbers[]` a list of numbers.
    """
    op = call.op
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    sent: set[str] = set()
    for p in op.params:
        value = call.raw(p)
        if value is None:
            if p.required:
                errors.setdefault(p.name, []).append(f"The {_label(p.name)} field is required.")
            continue
        sent.add(p.name)
        if p.many:
            items = []
            for i, item in enumerate(value):
                text, error = _pattern(_NUMBER)(f"{_label(p.name)}.{i}", item)
                if error:
                    errors.setdefault(f"{_label(p.name)}.{i}", []).append(error)
                items.append(text)
            clean[p.name] = items
            continue
        if p.name == "type":
            check = _TYPES.get(op.name, _choice(*SERVICES))
        else:
            check = _CHECKS.get(p.name, lambda _n, v: (v, None))
        converted, error = check(p.name, value)
        if error:
            errors.setdefault(p.name, []).append(error)
        else:
            clean[p.name] = converted
    for group in op.one_of:
        if not sent.intersection(group):
            for name in group:
                others = " / ".join(_label(o) for o in group if o != name)
                errors.setdefault(name, []).append(
                    f"The {_label(name)} field is required when {others} is not present."
                )
    if "from" in clean and "to" in clean and clean["to"] < clean["from"]:
        errors.setdefault("to", []).append(
            "The to field must be a date after or equal to from."
        )
    if errors:
        raise validation_error(errors)
    return clean
