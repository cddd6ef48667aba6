"""`api.packets`: the tariff packets on offer."""

from __future__ import annotations

import builtins
import logging

from .._converter import structure_list
from .._envelopes import unwrap_list
from ..models import Packet
from ._base import Resource

__all__ = ["PacketsResource"]

log = logging.getLogger("simapi_async")


class PacketsResource(Resource):
    """Tariff packets: ``api.packets``."""

    __slots__ = ()

    async def list(self) -> builtins.list[Packet]:
        """Every tariff packet, with its small (top-up) packets.

        >>> for packet in await api.packets.list():
        ...     print(packet.id, packet.name, [s.id for s in packet.small_packets])
        """
        body = await self._session.request("list_packets", {})
        items, info = unwrap_list(body)
        if info.more_pages:
            log.warning(
                "sim/packets answered page %s of %s, but the API documents no page "
                "parameter: only this page was read", info.page, info.last_page,
            )
        return structure_list(items, Packet, where=info.where, body=body)
