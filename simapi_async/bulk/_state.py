"""A SIM's state as a bulk run reads it, and what each operation makes of it.

The fleet listing (`sim/list`) and a lookup (`GET sim/{number}`) both tell a SIM's
state besides its identifiers. A run that reads it can skip what is already so
(`skip_already=True`) and records, in its journal, the state each target had before the
run changed it, so that `api.bulk.undo(journal)` reverses exactly that.

    already_so("block", {}, seen)       -> "already blocked" | None
    before("change_packet", kw, seen)   -> {"packet_id": 101}     (the journal's "b")
    changed("block", {}, {"blocked": False}) -> True
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from ..models import Sim

__all__ = ["INVERSES", "NO_INVERSE", "Seen", "already_so", "before", "changed", "seen_of",
           "state_value"]

BLOCKED: Final = "blocked"


class Seen(NamedTuple):
    """What was read of one SIM (None: the server did not say)."""

    status: str | None
    packet_id: int | None
    services: tuple[str, ...] | None
    finance_blocked: bool | None


def seen_of(sim: Sim) -> Seen:
    """The state fields of `sim` (`finance_blocked` from the raw object when present)."""
    finance = sim.raw.get("finance_blocked") if sim.raw else None
    if finance in (0, 1, "0", "1", "true", "false"):
        finance = finance in (1, "1", "true")
    return Seen(sim.status, sim.packet_id,
                None if sim.blocked_services is None else tuple(sim.blocked_services),
                finance if type(finance) is bool else None)


#: operation → the operation that undoes it (its arguments are the original's).
INVERSES: Final = {
    "block": "unblock", "unblock": "block",
    "block_service": "unblock_service", "unblock_service": "block_service",
    "block_finance": "unblock_finance", "unblock_finance": "block_finance",
    "change_packet": "change_packet",
}
#: Operations with no inverse, and why.
NO_INVERSE: Final = {
    "send_sms": "an SMS cannot be unsent",
    "add_small_packet": "an added (and billed) small packet cannot be taken back",
    "activate": "the API has no way to deactivate a SIM",
    "bind_number": "the previous binding is not known to the API",
    "rebind_number": "the previous binding is not known to the API",
}


def state_value(op: str, kwargs: dict[str, Any], seen: Seen) -> tuple[str, Any]:
    """The journal key of the state `op` changes and its value in `seen` (None: unknown)."""
    if op in ("block", "unblock"):
        return "blocked", None if seen.status is None else seen.status == BLOCKED
    if op in ("block_service", "unblock_service"):
        services = seen.services
        return "service_blocked", None if services is None else kwargs["service"] in services
    if op in ("block_finance", "unblock_finance"):
        return "finance_blocked", seen.finance_blocked
    if op in ("change_packet", "activate"):
        return "packet_id", seen.packet_id
    return "", None


def _wanted(op: str, kwargs: dict[str, Any]) -> Any:
    """The value of that state once `op` is done."""
    if op in ("change_packet", "activate"):
        return kwargs["packet_id"]
    return not op.startswith("unblock")


_REASONS: Final = {
    "block": "already blocked", "unblock": "not blocked",
    "block_finance": "already financially blocked",
    "unblock_finance": "not financially blocked",
}


def already_so(op: str, kwargs: dict[str, Any], seen: Seen) -> str | None:
    """Why `op` would change nothing on a SIM in state `seen` (None: it would, or unknown)."""
    key, value = state_value(op, kwargs, seen)
    if not key or value is None or value != _wanted(op, kwargs):
        return None
    if op == "activate":
        return f"already active on packet {value}" if seen.status == "active" else None
    if op == "change_packet":
        return f"already on packet {value}"
    if op == "block_service":
        return f"service {kwargs['service']} already blocked"
    if op == "unblock_service":
        return f"service {kwargs['service']} not blocked"
    return _REASONS[op]


def before(op: str, kwargs: dict[str, Any], seen: Seen) -> dict[str, Any] | None:
    """What the journal keeps of the state before `op` (None: nothing to undo with)."""
    if op not in INVERSES:
        return None
    key, value = state_value(op, kwargs, seen)
    return None if value is None else {key: value}


def changed(op: str, kwargs: dict[str, Any], recorded: dict[str, Any]) -> bool:
    """Whether `op` changed a SIM whose state before was `recorded` (the journal's "b")."""
    key, _ = state_value(op, kwargs, Seen(None, None, None, None))
    return key in recorded and recorded[key] != _wanted(op, kwargs)
