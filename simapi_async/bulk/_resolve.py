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

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Container
from typing import TYPE_CHECKING, Any, Final

from .._exceptions import SimApiError
from .._retry import is_flow_control
from ..resources.sims import PAGE_SIZES
from ._state import Seen, seen_of
from ._targets import Target, bare_number, in_shard, parse_target

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["WINDOW", "Resolver"]

log = logging.getLogger("simapi_async")

#: Targets read ahead at most (about 25 MB of targets and identifiers at the most).
WINDOW: Final = 100_000


class Resolver:
    """Fills in the identifiers of number-only targets from the fleet listing.

    `mode`: ``"auto"`` (list when cheaper than lookups), ``"list"`` (always list first),
    ``"lookup"`` (never list: state mode only). `done` and `shard` say which targets need
    nothing (done in a previous run, another shard's).

    State mode (`states` given, a dict): every target is wanted, those given with their
    identifiers too, and each one's state (`Seen`, from the listing, else from a lookup) or the
    lookup's error (a `404`: an unknown number) is put in `states` by number before the
    target is handed on. The reader takes the entries out as it goes, so the dict holds
    one window at most.
    """

    def __init__(
        self,
        api: AsyncSession,
        mode: str,
        *,
        done: Container[str] | None = None,
        shard: tuple[int, int] | None = None,
        window: int | None = None,
        states: dict[str, Seen | SimApiError] | None = None,
        concurrency: int = 50,
    ) -> None:
        self.api = api
        self.mode = mode
        self.done = done
        self.shard = shard
        self.window = WINDOW if window is None else window
        self.states = states
        self.concurrency = concurrency
        self.requests = 0  # listing requests made
        self.lookup_requests = 0  # state mode: lookups made
        self.listed_all = False  # the last listing went through the whole fleet
        self.found = 0

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
            if self.states is not None:
                missing = [n for n in wanted if n not in self.states]
                if missing:
                    await self._look_up(missing)
            for number, (iccid, imsi) in ids.items():
                raw = raws[wanted[number]]
                if bare_number(raw) is not None:  # given by number only
                    raws[wanted[number]] = Target(number, iccid=iccid, imsi=imsi)
            for raw in raws:
                yield raw
            if finished:
                return

    def _needs_ids(self, raw: Any) -> str | None:
        number = bare_number(raw)
        if number is None:
            if self.states is None:
                return None  # has its identifiers, or is invalid (the worker reports it)
            try:
                number = parse_target(raw).number  # state mode: wanted all the same
            except SimApiError:
                return None  # invalid: the worker reports it
        if self.shard is not None and not in_shard(number, self.shard):
            return None
        if self.done is not None and number in self.done:
            return None
        return number

    async def _list(self, wanted: dict[str, int]) -> dict[str, tuple[str | None, str | None]]:
        """Page through `sim/list` while that is cheaper than the lookups still missing."""
        need = len(wanted)
        self.listed_all = False
        if self.mode == "lookup" or (self.mode == "auto" and need < 2):
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
            states = self.states
            for sim in items:
                number = sim.number
                if number in wanted and (sim.iccid or sim.imsi):
                    found[number] = (sim.iccid, sim.imsi)
                    if states is not None:
                        states[number] = seen_of(sim)
            if not has_next or not items:
                self.listed_all = True
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
        """One page at the largest page size the server accepts (`sims.largest_page`)."""
        sims = self.api.sims
        known = sims.page_size
        try:
            result = await sims.largest_page(page)
        finally:  # the sizes tried before one was accepted were requests too
            self.requests += 1 if known is not None or sims.page_size is None \
                else PAGE_SIZES.index(sims.page_size) + 1
        return list(result.items), result.has_next, result.last_page

    async def _look_up(self, missing: list[str]) -> None:
        """State mode: the state of targets the listing did not give, a lookup each (at
        most `concurrency` at a time); a failed lookup is kept as the target's error."""
        states = self.states
        assert states is not None
        sims = self.api.sims
        numbers = iter(missing)

        async def worker() -> None:  # a few workers, not a coroutine per target
            for number in numbers:
                while True:
                    self.lookup_requests += 1
                    try:
                        sim = await sims.get(number)
                    except SimApiError as exc:
                        if is_flow_control(exc):
                            continue  # the session's pacer holds the next try
                        states[number] = exc
                        break
                    states[number] = seen_of(sim)
                    break

        await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(missing)))))
