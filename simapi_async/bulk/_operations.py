"""The operations a bulk run can do: their arguments, checked once, and how to call them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from .._exceptions import InvalidInputError
from .._validation import (
    check_positive_int,
    normalize_date,
    normalize_service,
    normalize_sms_type,
)
from ._targets import Target

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["OPERATIONS", "Operation", "make_operation"]

Validator = Callable[[Any, str], Any]


def _optional_id(value: Any, field: str) -> int | None:
    return None if value is None else check_positive_int(value, field)


#: operation → its keyword arguments: name → (validator, required)
OPERATIONS: dict[str, dict[str, tuple[Validator, bool]]] = {
    "block": {},
    "unblock": {},
    "block_finance": {},
    "unblock_finance": {},
    "block_service": {"service": (normalize_service, True)},
    "unblock_service": {"service": (normalize_service, True)},
    "activate": {"packet_id": (check_positive_int, True)},
    "change_packet": {"packet_id": (check_positive_int, True), "date": (normalize_date, True)},
    "add_small_packet": {"small_packet_id": (_optional_id, False)},
    "send_sms": {"type": (normalize_sms_type, True)},
}


@attrs.frozen(slots=True)
class Operation:
    """A bulk operation with its arguments validated: `call(api, target)` does one target."""

    name: str
    kwargs: dict[str, Any]
    retry_safe: bool

    @property
    def journal_params(self) -> dict[str, Any]:
        """What a journal records to refuse resuming with other arguments."""
        return dict(self.kwargs)

    def call(self, api: AsyncSession, target: Target) -> Awaitable[Any]:
        sims = api.sims
        name, kw = self.name, self.kwargs
        if name == "send_sms":
            return sims.send_sms(target.number, kw["type"])
        if name in ("block_service", "unblock_service"):
            service_call: Awaitable[Any] = getattr(sims, name)(
                target.number, kw["service"], iccid=target.iccid, imsi=target.imsi
            )
            return service_call
        method = getattr(sims, name)
        pending: Awaitable[Any] = method(target.number, iccid=target.iccid, imsi=target.imsi, **kw)
        return pending


def make_operation(api: AsyncSession, name: str, kwargs: dict[str, Any]) -> Operation:
    """Check the operation's name and arguments before anything is sent."""
    spec = OPERATIONS.get(name)
    if spec is None:
        raise InvalidInputError(
            "operation", name, f"is not a bulk operation; one of {sorted(OPERATIONS)}"
        )
    unknown = sorted(set(kwargs) - set(spec))
    if unknown:
        raise InvalidInputError(unknown[0], kwargs[unknown[0]], f"is not an argument of {name}")
    clean: dict[str, Any] = {}
    for arg, (validate, required) in spec.items():
        if arg not in kwargs or kwargs[arg] is None:
            if required:
                raise InvalidInputError(arg, None, f"is required by bulk {name}")
            continue
        clean[arg] = validate(kwargs[arg], arg)
    return Operation(name, clean, api.endpoints[name].retry_safe)
