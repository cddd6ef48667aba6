"""The operations a bulk run can do: their arguments, checked once, and how to call them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from .._envelopes import operation_result
from .._exceptions import InvalidInputError
from .._validation import (
    check_positive_int,
    normalize_date,
    normalize_service,
    normalize_sms_type,
)
from ..models import OperationResult
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


#: keyword argument → the API's parameter name, where they differ
_WIRE_NAMES = {"service": "type"}


@attrs.frozen(slots=True)
class Operation:
    """A bulk operation with its arguments validated: `call(api, target)` does one target.

    Targets and arguments are already normalised, so the call goes straight to the
    resource's write path (no second validation per target: this is the hot path).
    """

    name: str
    kwargs: dict[str, Any]
    retry_safe: bool
    extra: dict[str, Any] = attrs.field(init=False)
    #: What the journal records instead of `kwargs` (an undo: the journal it undoes).
    journal_as: dict[str, Any] | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        # The API's parameters besides number/iccid/imsi, computed once per run.
        wire = {_WIRE_NAMES.get(k, k): v for k, v in self.kwargs.items()}
        object.__setattr__(self, "extra", wire)

    @property
    def journal_params(self) -> dict[str, Any]:
        """What a journal records to refuse resuming with other arguments."""
        return dict(self.kwargs if self.journal_as is None else self.journal_as)

    def params(self, target: Target) -> dict[str, Any] | None:
        """The request's parameters for `target`; None when its SIM must be looked up
        first (no iccid or imsi given: `call` does that through the resource)."""
        if self.name == "send_sms":
            return {"number": target.number, **self.extra}
        if target.iccid is None and target.imsi is None:
            return None
        params = {"number": target.number, "iccid": target.iccid, "imsi": target.imsi}
        if self.extra:
            params.update(self.extra)
        return params

    async def call(self, api: AsyncSession, target: Target) -> OperationResult:
        if self.name == "send_sms":
            params = {"number": target.number, **self.extra}
            return operation_result(await api.request("send_sms", params))
        ids = {"iccid": target.iccid, "imsi": target.imsi}
        return await api.sims._write(self.name, target.number, ids, self.extra)


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
