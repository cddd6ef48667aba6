"""What every resource shares: the one method it needs from the session, and the SIM lookup.

Resources do not import the session (no import cycle): they are given any object with
`request(operation, params)` — the `AsyncSession`, or a fake in tests.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from .._config import DEFAULT_LOOKUP_CACHE_SIZE
from .._exceptions import InvalidInputError
from ..models import Sim

__all__ = ["Requester", "Resource", "SimIds", "SimLookup"]

log = logging.getLogger("simapi_async")

#: A SIM's (iccid, imsi), either possibly None.
SimIds = tuple[str | None, str | None]


class Requester(Protocol):
    """The session as the resources see it: call one operation of the endpoint table.

    `params` maps wire parameter names to validated values (None: absent); the answer is
    the decoded JSON body of a 2xx (dict, list, or None when empty), else an SDK error.
    """

    async def request(self, operation: str, params: Mapping[str, Any]) -> Any: ...


class Resource:
    """Base of the sub-clients: holds the session they send through."""

    __slots__ = ("_session",)

    def __init__(self, session: Requester) -> None:
        self._session = session

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class SimLookup:
    """number → (iccid, imsi), fetched once and kept in a bounded LRU cache.

    Concurrent lookups of one number share one request (single flight); a failed lookup
    is not cached, so the next call tries again. Only the two identifiers are kept (not
    the whole `Sim`), so 100,000 entries stay a few tens of MB.
    """

    def __init__(
        self, fetch: Callable[[str], Awaitable[Sim]], maxsize: int = DEFAULT_LOOKUP_CACHE_SIZE
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise InvalidInputError("lookup_cache_size", maxsize, "must be an int >= 0")
        self._fetch = fetch
        self._maxsize = maxsize
        self._cache: OrderedDict[str, SimIds] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[SimIds]] = {}

    def __len__(self) -> int:
        return len(self._cache)

    async def ids(self, number: str) -> SimIds:
        """The SIM's (iccid, imsi) for a normalised `number`, from cache or one request."""
        hit = self._cache.get(number)
        if hit is not None:
            self._cache.move_to_end(number)
            return hit
        task = self._inflight.get(number)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._load(number), name=f"simapi lookup {number}"
            )
            self._inflight[number] = task
            task.add_done_callback(functools.partial(self._landed, number))
        # A caller that gives up does not cancel the lookup the others are waiting on.
        return await asyncio.shield(task)

    def remember(self, number: str | None, iccid: str | None, imsi: str | None) -> None:
        """Record what is known of a SIM (from any answer); ignored without an id."""
        if not number or (iccid is None and imsi is None) or self._maxsize == 0:
            return
        self._cache[number] = (iccid, imsi)
        self._cache.move_to_end(number)
        while len(self._cache) > self._maxsize:
            self._cache.popitem(last=False)

    def forget(self, number: str) -> None:
        """Drop what is known of `number` (its SIM changed: bind, re-bind)."""
        self._cache.pop(number, None)

    async def _load(self, number: str) -> SimIds:
        sim = await self._fetch(number)
        return sim.iccid, sim.imsi

    def _landed(self, number: str, task: asyncio.Task[SimIds]) -> None:
        if self._inflight.get(number) is task:
            del self._inflight[number]
        if task.cancelled():
            return
        if task.exception() is None:  # also marks a failure as retrieved
            self.remember(number, *task.result())
