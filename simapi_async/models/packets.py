"""Tariff packets and their small (top-up) packets."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

__all__ = ["Packet", "SmallPacket"]


@attrs.frozen(slots=True)
class SmallPacket:
    """A small (top-up) packet that can be added to a SIM on a tariff packet.

    `price` is a `Decimal` (money is never a float); `volume` is the number the server
    gives, in the server's unit (the docs do not say which).
    """

    id: int | None = None
    name: str | None = None
    price: Decimal | None = None
    volume: float | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)


@attrs.frozen(slots=True)
class Packet:
    """A tariff packet; `small_packets` is empty when the server lists none."""

    id: int | None = None
    name: str | None = None
    price: Decimal | None = None
    volume: float | None = None
    small_packets: tuple[SmallPacket, ...] = ()
    raw: dict[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
