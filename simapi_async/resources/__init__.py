"""The sub-clients of `AsyncSession`: `sims`, `packets`, `cdr` (thin coroutines over the
endpoint table)."""

from ._base import Requester, Resource, SimLookup
from .cdr import CdrResource
from .packets import PacketsResource
from .sims import SimsResource

__all__ = ["CdrResource", "PacketsResource", "Requester", "Resource", "SimLookup", "SimsResource"]
