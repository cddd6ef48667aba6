"""The SDK's models: frozen, slotted attrs classes, structured by `simapi_async._converter`."""

from .cdr import InternetCdr
from .common import OperationResult, Page
from .packets import Packet, SmallPacket
from .sims import Sim

__all__ = ["InternetCdr", "OperationResult", "Packet", "Page", "Sim", "SmallPacket"]
