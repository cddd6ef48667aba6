"""Identifiers for targets given by number only: one listing instead of a lookup each.

Most writes need the SIM's `iccid` or `imsi` besides its number. A target without them
costs a lookup (`GET sim/{number}`) before its write: two requests a target, half the
quota gone to reads. Listing the fleet (`sim/list`, up to 1,000 SIMs a page) gets the
identifiers of a thousand targets a request. `Resolver` reads the targets ahead in
windows (at most `WINDOW` at a time, so memory is bounded by the window, not by the run
or the fleet), lists the fleet page by page while that costs fewer requests than looking
up the targets still missing, and hands the targets on with their identifiers filled in.
A target the listing did not find keeps the lookup (whose 404 is the server's own word).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Container
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import SimApiError, UnprocessableEntityError
from ._targets import Target, bare_number, in_shard

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["WINDOW", "Resolver"]

log = logging.getLogger("simapi_async")

#: Targets read ahead at most (about 25 MB of targets and identifiers at the most).
WINDOW: Final = 100_000
#: Page sizes tried, largest first: the first one the server accepts is kept.
PAGE_SIZES: Final = (1000, 500, 200, 100, 50)


class Resolver:
    """Fills in the identifiers of number-only targets from the fleet listing.

    `mode`: ``"auto"`` (list when cheaper than lookups), ``"list"`` (always list first).
    `skip(number)` says a target needs nothing (done in a previous run, another shard's).
    """

    def __init__(
        self,
        api: AsyncSession,
        mode: str,
        *,
        done: Container[str] | None = None,
        shard: tuple[int, int] | None = None,
        window: int | None = None,
    ) -> None:
        self.api = api
        self.mode = mode
        self.done = done
        self.shard = shard
        self.window = WINDOW if window is None else window
        self.requests = 0  # listing requests made
        self.found = 0
        self._limit: int | None = None

    async def stream(self, next_raw: Callable[[], Any], end: object) -> AsyncIterator[Any]:
        """The raw targets from `next_raw()` (an awaitable's result, `end` at the end), in
        order, those given by number only replaced by a `Target` with identifiers.

        Targets that need nothing pass straight through; a number-only one starts a
        window: up to `window` targets are read ahead, their identifiers listed, then
        they are handed on."""
        while True:
            raw = await next_raw()
            if raw is end:
                return
            number = self._needs_ids(raw)
            if number is None:
                yield raw
                continue
            raws: list[Any] = [raw]
            wanted: dict[str, int] = {number: 0}  # number -> index in raws
            finished = False
            while len(raws) < self.window:
                raw = await next_raw()
                if raw is end:
                    finished = True
                    break
                number = self._needs_ids(raw)
                if number is not None and number not in wanted:
                    wanted[number] = len(raws)
                raws.append(raw)
            ids = await self._list(wanted)
            for number, (iccid, imsi) in ids.items():
                raws[wanted[number]] = Target(number, iccid=iccid, imsi=imsi)
            for raw in raws:
                yield raw
            if finished:
                return

    def _needs_ids(self, raw: Any) -> str | None:
        number = bare_number(raw)
        if number is None:
            return None  # has its identifiers, or is invalid (the worker reports it)
        if self.shard is not None and not in_shard(number, self.shard):
            return None
        if self.done is not None and number in self.done:
            return None
        return number

    async def _list(self, wanted: dict[str, int]) -> dict[str, tuple[str | None, str | None]]:
        """Page through `sim/list` while that is cheaper than the lookups still missing."""
        need = len(wanted)
        if self.mode == "auto" and need < 2:
            return {}
        found: dict[str, tuple[str | None, str | None]] = {}
        page, pages, first = 1, None, None
        before = self.requests
        while len(found) < need:
            missing = need - len(found)
            if self.mode == "auto" and page > 1:
                left: int | None = pages - page + 1 if pages is not None else None
                # Listing the rest costs `left` requests; looking the missing up, `missing`.
                if (left if left is not None else page - 1) >= missing:
                    break
            try:
                result = await self._page(page)
            except SimApiError as exc:
                log.warning("bulk: listing the fleet for identifiers failed (%s); the "
                            "remaining targets are looked up one by one", exc)
                break
            if result is None:
                break
            items, has_next, last_page = result
            if items and page > 1 and items[0].number == first:
                break  # the server ignores `page`: it repeats the first page
            if page == 1 and items:
                first = items[0].number
            for sim in items:
                number = sim.number
                if number in wanted and (sim.iccid or sim.imsi):
                    found[number] = (sim.iccid, sim.imsi)
            if not has_next or not items:
                break
            pages = last_page
            page += 1
        self.found += len(found)
        spent = self.requests - before
        if spent:
            log.info("bulk: identifiers of %d of %d targets from the fleet listing (%d "
                     "request(s) instead of %d lookups)", len(found), need, spent, need)
        return found

    async def _page(self, page: int) -> tuple[list[Any], bool, int | None] | None:
        """One page at the largest page size the server accepts (None: it accepts none)."""
        sizes = PAGE_SIZES if self._limit is None else (self._limit,)
        for size in sizes:
            self.requests += 1
            try:
                result = await self.api.sims.list(page=page, limit=size)
            except UnprocessableEntityError:
                if self._limit is not None:
                    raise
                continue  # too large a page for this server: try the next size
            self._limit = size
            return list(result.items), result.has_next, result.last_page
        return None
