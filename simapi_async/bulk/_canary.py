"""`canary=N`: run the first N targets, and go on with the rest only if they went well.

The first N targets still to do (a journal's done ones do not count) run as a run of
their own; when their failure share (failed / attempted) is above `canary_max_failures`
(default 0: any failure) the run stops there, its report's `stopped` says why, and the
rest is not read. Otherwise `on_canary(report)` (a function or coroutine function; the
CLI asks on a terminal) may still say no; then the rest runs, on the same journal, and
the two reports are summed. A rerun with the same journal resumes after the canary.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._exceptions import InvalidInputError
from ._engine import BulkRun, ResultHook, _check_shard, _sized
from ._journal import Journal
from ._operations import Operation
from ._report import BulkReport, ItemResult
from ._targets import NumberSet, in_shard, parse_target

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["CanaryRun", "check_canary"]

CanaryHook = Callable[[BulkReport], Any]


def check_canary(canary: object, max_failures: object) -> tuple[int, float]:
    """`canary` (targets, >= 1) and `canary_max_failures` (a share from 0 to 1) checked."""
    if isinstance(canary, bool) or not isinstance(canary, int) or canary < 1:
        raise InvalidInputError("canary", canary, "must be a number of targets >= 1")
    if (isinstance(max_failures, bool) or not isinstance(max_failures, int | float)
            or not 0 <= max_failures <= 1):
        raise InvalidInputError("canary_max_failures", max_failures,
                                "must be a share of failures from 0 to 1 (e.g. 0.02)")
    return canary, float(max_failures)


class CanaryRun:
    """A bulk run in two parts: the canary (the first `size` targets), then the rest."""

    def __init__(self, api: AsyncSession, operation: Operation,
                 targets: Iterable[Any] | AsyncIterable[Any], options: dict[str, Any], *,
                 size: int, max_failures: float, on_canary: CanaryHook | None) -> None:
        if isinstance(targets, str | bytes):
            raise InvalidInputError("targets", targets, "give an iterable of numbers")
        if on_canary is not None and not callable(on_canary):
            raise InvalidInputError("on_canary", on_canary, "must be a function")
        self.api, self.operation, self.options = api, operation, options
        self.size, self.max_failures, self.on_canary = size, max_failures, on_canary
        journal = options.get("journal")
        self._done = NumberSet()
        if journal is not None:  # done before: not part of the canary
            self._done = Journal(journal, operation.name, operation.journal_params).load().done
        self._shard = _check_shard(options.get("shard"))
        self._ended = False
        self._sync: Iterator[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        if isinstance(targets, AsyncIterable):
            self._async = aiter(targets)
        else:
            try:
                self._sync = iter(targets)
            except TypeError:
                raise InvalidInputError("targets", targets,
                                        "must be an iterable of numbers") from None
        self.first = BulkRun(api, operation, self._head(), **options)
        self._second: BulkRun | None = None
        #: The input's size when known (a list), for progress and spans.
        self.expected = _sized(targets)

    @property
    def report(self) -> BulkReport:
        """The report so far: the canary's, then both parts'."""
        if self._second is None:
            return self.first.report
        return merge(self.first.report, self._second.report)

    def _counts(self, raw: Any) -> bool:
        """Whether `raw` is one of the canary's targets (not done before, of this shard)."""
        try:
            number = parse_target(raw).number
            return number not in self._done and in_shard(number, self._shard)
        except InvalidInputError:
            return True  # a bad target is a failure of the canary too

    def _head(self) -> Iterable[Any] | AsyncIterable[Any]:
        """The first `size` targets to do (and the done ones among them), read lazily:
        the next target is never taken from the input before it is needed."""
        if self._sync is not None:
            return self._sync_head(self._sync)
        assert self._async is not None
        return self._async_head(self._async)

    def _sync_head(self, it: Iterator[Any]) -> Iterator[Any]:
        left = self.size
        while left:
            raw = next(it, _END)
            if raw is _END:
                self._ended = True
                return
            left -= self._counts(raw)
            yield raw

    async def _async_head(self, it: AsyncIterator[Any]) -> AsyncIterator[Any]:
        left = self.size
        while left:
            raw = await anext(it, _END)
            if raw is _END:
                self._ended = True
                return
            left -= self._counts(raw)
            yield raw

    def _rest(self) -> BulkRun:
        rest = self._sync if self._sync is not None else self._async
        assert rest is not None
        run = BulkRun(self.api, self.operation, rest, **self.options)
        run.seen = self.first.seen  # a duplicate of a canary target is still a duplicate
        self._second = run
        return run

    async def _go_on(self, report: BulkReport) -> bool:
        """After the canary: whether the rest runs (`report.stopped` says why not)."""
        attempted = report.succeeded + report.failed
        share = report.failed / attempted if attempted else 0.0
        if share > self.max_failures:
            report.stopped = (f"canary: {report.failed} of {attempted} failed ({share:.0%}), "
                              f"more than canary_max_failures={self.max_failures:g}")
            return False
        if report.stopped is not None or self._ended:
            return False
        if self.on_canary is not None:
            answer = self.on_canary(report)
            if inspect.isawaitable(answer):
                answer = await answer
            if not answer:
                report.stopped = "canary: not continued"
                return False
        return True

    async def run(self, on_result: ResultHook | None = None) -> BulkReport:
        first = await self.first.run(on_result)
        if not await self._go_on(first):
            return first
        rest = await self._rest().run(on_result)
        return merge(first, rest)

    async def stream(self) -> AsyncIterator[ItemResult]:
        async for result in self.first.stream():
            yield result
        if not await self._go_on(self.first.report):
            return
        async for result in self._rest().stream():
            yield result


_END: Any = object()


def merge(first: BulkReport, rest: BulkReport) -> BulkReport:
    """The report of both parts of a run (the rest's `stopped`, the canary's failures first)."""
    merged = BulkReport(first.operation, keep_failures=first.keep_failures)
    for name in ("total", "succeeded", "failed", "skipped", "duplicates", "already",
                 "not_attempted",
                 "unknown", "elapsed", "failures_dropped", "requests", "retries", "relogins",
                 "rate_limited", "list_requests"):
        setattr(merged, name, getattr(first, name) + getattr(rest, name))
    merged.reasons = first.reasons + rest.reasons
    merged.failures = (first.failures + rest.failures)[:first.keep_failures]
    merged.failures_dropped += len(first.failures) + len(rest.failures) - len(merged.failures)
    merged.stopped = rest.stopped
    return merged
