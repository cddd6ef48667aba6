"""The SIM card as the API describes it."""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["Sim"]


@attrs.frozen(slots=True)
class Sim:
    """A SIM card and the number bound to it.

    Every field is None when the server leaves it out. `raw` is the object exactly as
    received (so a field the SDK does not map is never lost); it takes no part in
    comparisons or the repr, so one SIM answered with ``number`` or ``msisdn`` compares
    equal.
    """

    number: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    status: str | None = None
    packet_id: int | None = None
    packet_name: str | None = None
    inn: str | None = None
    blocked_services: tuple[str, ...] | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
