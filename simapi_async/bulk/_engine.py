"""The bulk engine: a bounded worker pool over a lazily read stream of targets.

- `concurrency` workers pull targets from the (sync or async) iterable, a few at a time
  (never more than the workers ahead of the requests: see `_take`), so
  memory is bounded by the workers, not by the input: a million targets never become a
  million tasks.
- Every target read ends in exactly one result: done, failed (its own error, the others
  go on), skipped (done in a previous run, or a duplicate), or not attempted (the run
  stopped early). Hooks, `stream()` and the journal get an `ItemResult` for each; a run
  with none of them only counts plain successes in its report (no object per target).
- Under the operator's quota a `429` (or a `503` with `Retry-After`: maintenance) never
  fails a target: it goes back in line, and the session's pacer (`_quota.py`) holds every
  request of the run until the server's `Retry-After` and paces at the rate it learned.
  The workers allowed to send follow that rate (Little's law: rate times latency, up to the
  ceiling: `concurrency`, or `max_connections` when not given).
- The journal gets a flushed line per finished target as it finishes (fsynced with
  `durable=True`). A journal that cannot be written stops the run like `max_failures`
  does, and the run then raises `JournalError` carrying its report.
- The journal is a `RunJournal` (`_journal_protocol.py`): a file, whose writes are
  plain calls, or a PostgreSQL run ledger, whose writes the workers await and which
  hands out the targets (chunks claimed under a lease) instead of the input.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import math
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._callstats import CALL_STATS, CallStats
from .._envelopes import operation_result
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    InvalidInputError,
    JournalError,
    NotAttemptedError,
    ResponseFormatError,
    ServerError,
    SimApiError,
)
from .._ratelimit import RateLimiter
from .._retry import is_flow_control
from .._validation import luhn_failures
from ..models import OperationResult
from ._journal import JournalState
from ._journal_protocol import RunJournal, is_ledger_url, open_journal
from ._operations import Operation
from ._report import FAILED, OK, SKIPPED, UNKNOWN, BulkProgress, BulkReport, ItemResult
from ._resolve import Resolver
from ._state import INVERSES, NO_INVERSE, Seen, already_so, before
from ._targets import NumberSet, Target, bare_number, in_shard, parse_target

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["BulkRun"]

log = logging.getLogger("simapi_async")

_END: Final = object()
#: Requests in flight a run starts with when `concurrency` is not given.
DEFAULT_CONCURRENCY: Final = 50
#: Targets read and screened at a time (sync sources), before their requests go out.
_BATCH: Final = 32
_DONE_BEFORE = "done in a previous run"
_UNKNOWN_BEFORE = "outcome unknown in a previous run (not repeated: not idempotent)"
_DUPLICATE = "duplicate"
#: Why a ledger run's target is not sent by this worker: its chunk went to another one.
_LEASE_GONE = "its chunk's lease was lost (another worker has it now)"

ResultHook = Callable[[ItemResult], Any]
ProgressHook = Callable[[BulkProgress], Any]


class _Source:
    """Targets read one at a time, from a sync or an async iterable."""

    def __init__(self, targets: Iterable[Any] | AsyncIterable[Any]) -> None:
        if isinstance(targets, str | bytes):
            raise InvalidInputError(
                "targets", targets, "give an iterable of numbers, not a single string"
            )
        self._ait: AsyncIterator[Any] | None = None
        self._it: Any = None
        #: For a sync iterable: the next target or `_END`, without a coroutine per target.
        self.next_now: Callable[[], Any] | None = None
        if isinstance(targets, AsyncIterable):
            self._ait = aiter(targets)
            self._lock = asyncio.Lock()
        else:
            try:
                self._it = iter(targets)
            except TypeError:
                raise InvalidInputError(
                    "targets", targets, "must be an iterable of numbers"
                ) from None
            self.next_now = self._next_sync
        self.exhausted = False

    def push_back(self, item: Any) -> None:
        """Put `item` (just read from a sync iterable) back in front of the rest."""
        self._it = itertools.chain((item,), self._it)
        self.exhausted = False

    def _next_sync(self) -> Any:
        if self.exhausted:
            return _END
        item = next(self._it, _END)
        if item is _END:
            self.exhausted = True
        return item

    def _finished(self) -> bool:
        return self.exhausted

    async def next(self) -> Any:
        """The next target of an async iterable, or `_END` (sync ones: `next_now`)."""
        assert self._ait is not None
        if self.exhausted:
            return _END
        async with self._lock:
            if self._finished():  # another worker may have ended it while we waited
                return _END
            try:
                return await anext(self._ait)
            except StopAsyncIteration:
                self.exhausted = True
                return _END


class _Gate:
    """Adaptive concurrency: workers with an index at or above `limit` wait."""

    def __init__(self, maximum: int, initial: int | None = None) -> None:
        self.maximum = maximum
        self.initial = maximum if initial is None else min(initial, maximum)
        self.limit = self.initial
        self._opened = asyncio.Event()
        self._draining = False
        self._capped_said = False

    async def wait_turn(self, index: int) -> None:
        while index >= self.limit and not self._draining:
            self._opened.clear()
            await self._opened.wait()

    def drain(self) -> None:
        """The input is exhausted: let every parked worker run to its end."""
        self._draining = True
        self._opened.set()

    def follow(self, rate: float, latency: float) -> None:
        """Requests in flight for `rate` at `latency` (Little's law, with headroom)."""
        needed = math.ceil(rate * latency * 1.25) + 2
        if needed > self.maximum and not self._capped_said:
            self._capped_said = True
            log.info("bulk: the quota (%.0f/s at %.0f ms an answer) needs %d requests in "
                     "flight; capped at %d (concurrency / max_connections)",
                     rate, latency * 1000, needed, self.maximum)
        limit = max(1, min(needed, self.maximum))
        if limit > self.limit:
            self._opened.set()
        self.limit = limit


class BulkRun:
    """One run of one operation over a stream of targets (see `api.bulk`)."""

    def __init__(
        self,
        api: AsyncSession,
        operation: Operation,
        targets: Iterable[Any] | AsyncIterable[Any] | None,
        *,
        concurrency: int | None = None,
        rate_limit: float | None = None,
        journal: Any = None,
        max_failures: int | float | None = None,
        max_duration: float | None = None,
        lookup: str = "auto",
        expected: int | None = None,
        shard: tuple[int, int] | None = None,
        retry_unknown: bool = False,
        durable: bool = False,
        on_progress: ProgressHook | None = None,
        progress_interval: float = 0.2,
        keep_failures: int = 10_000,
        skip_already: bool = False,
        undoable: bool | None = None,
        run: str | None = None,
        worker: str | None = None,
        lease: float | None = None,
        chunk_size: int | None = None,
    ) -> None:
        self.api = api
        self.op = operation
        # None: join a ledger run (its targets are in the ledger)
        self._given = targets if targets is not None else ()
        self.source = _Source(self._given)
        if concurrency is None:  # automatic: from 50, as far as the quota needs
            workers, initial = api.max_connections, min(DEFAULT_CONCURRENCY, api.max_connections)
        else:
            workers = initial = _check_concurrency(concurrency)
            if workers > api.max_connections:
                log.info("bulk: concurrency %d capped to the session's max_connections=%d",
                         workers, api.max_connections)
                workers = initial = api.max_connections
        self.workers = workers
        self.limiter = RateLimiter(rate_limit) if rate_limit is not None else None
        self.max_duration = (None if max_duration is None
                             else _check_number("max_duration", max_duration))
        if lookup not in ("auto", "list", "lookup"):
            raise InvalidInputError("lookup", lookup, "must be 'auto', 'list' or 'lookup'")
        self.lookup = lookup
        self.expected = (expected if expected is not None
                         else _sized(targets) if self.source.next_now is not None else None)
        self.max_failures = _check_max_failures(max_failures)
        self.shard = _check_shard(shard)
        self.retry_unknown = retry_unknown
        if not isinstance(durable, bool):
            raise InvalidInputError("durable", durable, "must be a bool")
        ledger_options = {k: v for k, v in (("worker", worker), ("lease", lease),
                                            ("chunk_size", chunk_size)) if v is not None}
        if is_ledger_url(journal):
            if self.shard is not None:
                raise InvalidInputError("shard", shard, "a ledger run shares its targets out "
                                        "by itself: no shard")
            ledger_options["retry_unknown"] = retry_unknown
            ledger_options["write_ahead"] = not operation.retry_safe
            self.expected = expected  # this worker's share is not known in advance
        elif targets is None:
            raise InvalidInputError("targets", None, "only a ledger run (journal="
                                    "'postgresql://...') can be joined without targets")
        self.journal: RunJournal | None = (
            open_journal(journal, operation.name, operation.journal_params, targets=targets,
                         durable=durable, run=run, ledger_options=ledger_options)
            if journal is not None or run is not None or ledger_options else None
        )
        #: The journal's writes are awaited (the ledger): see `_begin_fenced`, `_emit`.
        self._ajournal = self.journal is not None and self.journal.asynchronous
        if on_progress is not None and not callable(on_progress):
            raise InvalidInputError("on_progress", on_progress, "must be a function")
        self.on_progress = on_progress
        self.progress_interval = _check_number("progress_interval", progress_interval)
        self.report = BulkReport(operation.name,
                                 keep_failures=_check_count("keep_failures", keep_failures))
        self.seen = NumberSet()
        self.previous = JournalState()
        self.gate = _Gate(workers, initial)
        self._pacer = api._pacer
        self._next_tune = 0.0
        self._recent: deque[tuple[float, int]] = deque(maxlen=64)
        self._requeued: dict[str, int] = {}
        self._resolver: Resolver | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self.in_flight = 0
        self._stopped: str | None = None
        #: Done when the run stops: requests still waiting for the API's quota give up.
        self._stop: asyncio.Future[None] | None = None
        self._results: asyncio.Queue[ItemResult | object] = asyncio.Queue(maxsize=workers * 2)
        self._started = 0.0
        self._last_progress = 0.0
        self._base_stats = api.stats
        self._luhn_base = luhn_failures()
        self._direct: Callable[[ItemResult], Any] | None = None
        #: No hook, no stream, no journal: plain successes are only counted (see `_worker`).
        self._lean = False
        self._ready: deque[Target] = deque()  # screened, to be sent (at most `_batch`)
        self._batch = min(_BATCH, workers)
        self._init_state(skip_already, undoable)

    def _init_state(self, skip_already: object, undoable: object) -> None:
        """Safe changes: read each target's state first when the run skips what is already
        so (`skip_already`) or records the state before for `undo` (`undoable`; by default
        when there is a journal and the operation has an inverse)."""
        if not isinstance(skip_already, bool):
            raise InvalidInputError("skip_already", skip_already, "must be a bool")
        if undoable is not None and not isinstance(undoable, bool):
            raise InvalidInputError("undoable", undoable, "must be a bool or None")
        name = self.op.name
        if undoable and name not in INVERSES:
            raise InvalidInputError("undoable", undoable,
                                    f"{name} cannot be undone: {NO_INVERSE.get(name, '')}")
        if undoable and self.journal is None:
            raise InvalidInputError("undoable", undoable, "needs a journal= to record into")
        ledger = self.journal is not None and self.journal.asynchronous
        if undoable and ledger:
            raise InvalidInputError("undoable", undoable, "a ledger run keeps no state "
                                    "before: use a file journal to be able to undo a run")
        self.skip_already = skip_already
        self.record_before = (self.journal is not None and not ledger and name in INVERSES
                              if undoable is None else undoable)
        stateful = name in INVERSES or name == "activate"
        #: number → its state read ahead (state mode), taken out when it is screened.
        self._states: dict[str, Seen | SimApiError] | None = (
            {} if stateful and (skip_already or self.record_before) else None)
        #: number → the state before, from screening until its result is journalled.
        self._before: dict[str, dict[str, Any]] = {}

    @property
    def stopped(self) -> str | None:
        """Why the run stopped early (None while it goes on)."""
        return self._stopped

    @stopped.setter
    def stopped(self, why: str | None) -> None:
        self._stopped = why
        if why is not None and self.journal is not None:
            self.journal.stop()
        stop = self._stop
        if why is not None and stop is not None and not stop.done():
            stop.set_result(None)

    def _on_deadline(self) -> None:
        if self.stopped is None:
            self.stopped = f"max_duration={self.max_duration:g}s reached"
            log.warning("bulk %s stopped: %s", self.op.name, self.stopped)

    # -- driving ------------------------------------------------------------------------

    async def stream(self) -> AsyncIterator[ItemResult]:
        """Yield every target's result as it completes."""
        tasks = await self._start()
        finisher = asyncio.create_task(self._finish_when_done(tasks))
        try:
            while True:
                item = await self._results.get()
                if item is _END:
                    break
                assert isinstance(item, ItemResult)
                yield item
            await finisher  # re-raises a failure of the targets iterable
        finally:
            await self._shutdown([*tasks, finisher])
        self._raise_journal_error()

    async def run(self, on_result: ResultHook | None = None) -> BulkReport:
        """Run to the end; `on_result` (function or coroutine function) sees every result."""
        if on_result is not None and not callable(on_result):
            raise InvalidInputError("on_result", on_result, "must be a function")
        is_async = on_result is not None and inspect.iscoroutinefunction(on_result)
        if not is_async:
            # No consumer task and no queue: each worker hands its result straight to the
            # (plain) hook. A coroutine hook goes through stream(), so it is never run
            # concurrently with itself.
            self._direct = on_result if on_result is not None else _ignore
            self._lean = on_result is None and self.journal is None
            await self._run_direct()
            self._raise_journal_error()
            return self.report
        assert on_result is not None
        async for result in self.stream():
            await on_result(result)
        return self.report

    async def _run_direct(self) -> None:
        tasks = await self._start()
        try:
            await asyncio.gather(*tasks)  # a failing iterable or hook ends the run
        finally:
            await self._shutdown(tasks)

    async def _start(self) -> list[asyncio.Task[None]]:
        """Read the journal, open it for appending, start the workers."""
        journal = self.journal
        if journal is not None:
            state = journal.load()
            self.previous = state if isinstance(state, JournalState) else await state
            try:
                opened = journal.open()
                if opened is not None:
                    await opened
            except OSError as exc:
                raise InvalidInputError(
                    "journal", journal.name, f"cannot be written: {exc.strerror or exc}"
                ) from exc
            targets = journal.targets(self._given)
            if targets is not self._given:  # the ledger's chunks
                self.source = _Source(targets)
        if self._states is not None or (self.lookup != "lookup" and self.op.name != "send_sms"):
            self._resolve_by_listing()
        self._started = time.monotonic()
        loop = asyncio.get_running_loop()
        self._stop = loop.create_future()
        if self.max_duration is not None:
            self._deadline_timer = loop.call_later(self.max_duration, self._on_deadline)
        return [asyncio.create_task(self._worker(i)) for i in range(self.workers)]

    def _resolve_by_listing(self) -> None:
        """Targets given by number only get their identifiers from the fleet listing
        where that is cheaper than a lookup each (see `_resolve.py`)."""
        old = self.source
        next_now = old.next_now
        if next_now is not None and self._states is None:
            # A sync input whose first target has its identifiers needs no listing (an
            # input keeps one shape): peek at it, and leave the input as it was.
            first = next_now()
            if first is _END:
                return
            needs = bare_number(first) is not None
            old.push_back(first)
            if not needs:
                return

        async def next_raw() -> Any:
            return next_now() if next_now is not None else await old.next()

        self._resolver = Resolver(self.api, self.lookup, done=self.previous.done or None,
                                  shard=self.shard, states=self._states,
                                  concurrency=self.gate.limit, window=(
                                      None if self.journal is None else self.journal.read_ahead))
        self.source = _Source(self._resolver.stream(next_raw, _END))

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        try:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            closing = self._close()  # even when cancelled again while waiting for the workers
            if closing is not None:
                await closing

    async def _finish_when_done(self, tasks: list[asyncio.Task[None]]) -> None:
        try:
            await asyncio.gather(*tasks)
        finally:
            await self._results.put(_END)

    def _close(self) -> Awaitable[None] | None:
        """Fill in the report, close the journal (what to await for an async one)."""
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
        now = time.monotonic()
        report = self.report
        report.elapsed = now - self._started if self._started else 0.0
        stats = self.api.stats
        report.requests = stats.requests - self._base_stats.requests
        report.retries = stats.retries - self._base_stats.retries
        report.relogins = stats.relogins - self._base_stats.relogins
        if self._resolver is not None:
            report.list_requests = self._resolver.requests
        report.stopped = self.stopped
        closing = self.journal.close() if self.journal is not None else None
        luhn = luhn_failures() - self._luhn_base
        if luhn:  # one line for the run, not one per target (each is at DEBUG)
            log.info("bulk %s: %d ICCID(s) failed the Luhn check and were sent as given",
                     self.op.name, luhn)
        self._progress(force=True)
        return closing

    # -- the worker ---------------------------------------------------------------------

    async def _worker(self, index: int) -> None:
        """Take targets until the input ends. The request is awaited right
        here (no coroutine per target between the worker and the session: this loop is
        the hot path); what comes before and after it is in plain functions."""
        stats = CallStats(limiter=self.limiter, stop=self._stop)
        CALL_STATS.set(stats)  # this task's own context: counts this worker's requests
        gate, source, op, api, report = self.gate, self.source, self.op, self.api, self.report
        pacer = self._pacer
        next_now = source.next_now
        queue = None if self._direct is not None else self._results
        ready = self._ready
        while True:
            if pacer.engaged:  # under a quota: follow its rate
                self._tune()
            if index >= gate.limit:  # only when held back: no coroutine otherwise
                await gate.wait_turn(index)
            if not ready:
                # Read and screen the next few targets in one go (validation and the
                # duplicate filter run back to back, not between two requests); their
                # results when no request is needed, the others queue up in `ready`.
                raws = self._take(next_now) if next_now is not None else [await source.next()]
                if raws[-1] is _END:
                    raws.pop()
                    if not raws and not ready:
                        gate.drain()  # parked workers must see the end too
                        return
                for result in self._screen_all(raws):
                    pending = self._emit(result)
                    if pending is not None:
                        result = await pending
                    if queue is not None:
                        await queue.put(result)
                continue
            target = ready.popleft()
            screened: ItemResult
            if self.stopped is not None:  # screened before the run stopped: not sent
                screened = self._not_attempted(target)
            else:
                started = time.monotonic()
                value: Any = None
                try:
                    params = (self._begin(target, stats) if not self._ajournal
                              else await self._begin_fenced(target, stats))
                    if params is None:  # the SIM is looked up first: the resource does it
                        value = await op.call(api, target)
                    else:
                        body = await api.request(op.name, params)
                        if not (self._lean and (body is None or (
                                type(body) is dict and body.get("success", True) is True))):
                            value = operation_result(body)
                        # else plainly done: no model for an answer nobody reads
                except SimApiError as exc:
                    if is_flow_control(exc) and self.stopped is None:
                        self._requeue(target, stats)  # the server paces us: not a failure
                        continue
                    screened = self._failed(target, exc, stats, started)
                except asyncio.CancelledError:
                    pending_write = self._cancelled(target, stats)
                    if pending_write is not None:
                        await pending_write
                    raise
                else:
                    if value is None:  # a plain success nobody asked the details of
                        if self._requeued:
                            self._requeued.pop(target.number, None)
                        report.total += 1
                        report.succeeded += 1
                        if self.on_progress is not None:
                            self._progress()
                        continue
                    screened = self._answered(target, value, stats, started)
                finally:
                    self.in_flight -= 1
            pending = self._emit(screened)
            if pending is not None:
                screened = await pending
            if queue is not None:
                await queue.put(screened)

    def _tune(self) -> None:
        """A few times a second: the workers allowed to send follow the pacer's rate (the
        deadline of `max_duration` is a timer: it fires even while every worker waits)."""
        now = time.monotonic()
        if now < self._next_tune:
            return
        self._next_tune = now + 0.25
        rate = self._pacer.rate
        if rate is not None:
            self.gate.follow(rate, self._pacer.latency)

    def _requeue(self, target: Target, stats: CallStats) -> None:
        """Back in line after a 429 (or maintenance 503): the run waits, the target stays."""
        number = target.number
        self._requeued[number] = self._requeued.get(number, 0) + stats.attempts
        self.report.rate_limited += 1
        self._ready.appendleft(target)

    def _attempts(self, target: Target, stats: CallStats) -> int:
        """Requests the server saw for `target`, those before it went back in line too."""
        if self._requeued:
            return stats.attempts + self._requeued.pop(target.number, 0)
        return stats.attempts

    def _take(self, next_now: Callable[[], Any]) -> list[Any]:
        """Up to `_BATCH` targets (never more than the workers) from a sync source; ends
        with `_END` when it ran out. At most that many are read ahead of the requests."""
        raws = []
        for _ in range(self._batch):
            raw = next_now()
            raws.append(raw)
            if raw is _END:
                break
        return raws

    def _screen_all(self, raws: list[Any]) -> list[ItemResult]:
        """Screen `raws`: targets to send go to `ready`; the results of the others."""
        results = []
        ready = self._ready
        for raw in raws:
            screened = self._screen(raw)
            if screened is None:
                continue  # another shard's target
            if isinstance(screened, Target):
                ready.append(screened)
            else:
                results.append(screened)
        return results

    def _screen(self, raw: Any) -> ItemResult | Target | None:
        """The target to send; or its result when no request is needed (invalid, skipped);
        None for a target of another shard."""
        try:
            target = parse_target(raw)
        except InvalidInputError as exc:
            return ItemResult(Target(_shown(raw)), False, exc, outcome=FAILED)
        number = target.number
        if self.shard is not None and not in_shard(number, self.shard):
            return None
        if not self.seen.add(number):
            return ItemResult(target, False, skipped=_DUPLICATE, outcome=SKIPPED)
        previous = self.previous
        if previous.done and number in previous.done:
            return ItemResult(target, True, skipped=_DONE_BEFORE, outcome=SKIPPED)
        if (previous.unknown and not self.op.retry_safe and not self.retry_unknown
                and number in previous.unknown):
            return ItemResult(target, False, skipped=_UNKNOWN_BEFORE, outcome=SKIPPED)
        if self.stopped is not None:
            return self._not_attempted(target)
        if self._states is not None:
            return self._screen_state(target)
        return target

    def _screen_state(self, target: Target) -> ItemResult | Target:
        """State mode: the target's state read ahead decides (already so: skipped; its
        lookup failed: failed) or is kept for the journal (the state before)."""
        assert self._states is not None
        seen = self._states.pop(target.number, None)
        if seen is None:
            return target  # not read (the listing failed): sent, nothing to skip or undo
        if isinstance(seen, SimApiError):  # its lookup failed: a 404 is an unknown number
            return ItemResult(target, False, seen, outcome=FAILED)
        op = self.op
        if self.skip_already:
            reason = already_so(op.name, op.kwargs, seen)
            if reason is not None:
                return ItemResult(target, True, skipped=reason, outcome=SKIPPED)
        if self.record_before:
            was = before(op.name, op.kwargs, seen)
            if was is not None:
                self._before[target.number] = was
        return target

    def _not_attempted(self, target: Target) -> ItemResult:
        return ItemResult(target, False, NotAttemptedError(
            f"not attempted: the run stopped ({self.stopped})"), outcome=FAILED)

    def _begin(self, target: Target, stats: CallStats) -> dict[str, Any] | None:
        """Before a target's request: counters, the write-ahead line; its parameters
        (None when its SIM must be looked up first)."""
        stats.attempts = stats.rate_limited = 0
        stats.operation = self.op.name  # attempts count this operation's requests only
        self.in_flight += 1
        if not self.op.retry_safe and self.journal is not None and not self._ajournal:
            # Write-ahead: if the process dies before the answer, a resume reads this
            # target as "outcome unknown" and does not send it a second time.
            try:
                self.journal.record_started(target)
            except JournalError as exc:  # not sent without its write-ahead line
                self._journal_failed(exc)
                raise NotAttemptedError(f"not attempted: {exc.message}") from None
        return self.op.params(target)

    async def _begin_fenced(self, target: Target, stats: CallStats) -> dict[str, Any] | None:
        """`_begin` with a ledger: its write-ahead mark (non-idempotent operations) or
        lease check is awaited; a target whose chunk went to another worker is not sent."""
        params = self._begin(target, stats)
        assert self.journal is not None
        try:
            pending = self.journal.record_started(target)
            if pending is not None and not await pending:
                raise NotAttemptedError(f"not attempted: {_LEASE_GONE}")
        except JournalError as exc:  # not sent without its write-ahead mark
            self._journal_failed(exc)
            raise NotAttemptedError(f"not attempted: {exc.message}") from None
        return params

    def _answered(self, target: Target, value: OperationResult, stats: CallStats,
                  started: float) -> ItemResult:
        """The result of an answered request (a plain success nobody reads the result of
        is counted in the worker instead, with no objects made)."""
        ok = value.ok
        error = None if ok else ServerError(
            f"the API answered success=false: {value.message or ''}", status=200)
        return ItemResult(target, ok, error, self._attempts(target, stats),
                          time.monotonic() - started,
                          outcome=OK if ok else FAILED, result=value)

    def _failed(self, target: Target, exc: SimApiError, stats: CallStats,
                started: float) -> ItemResult:
        outcome = UNKNOWN if self._maybe_done(exc, stats) else FAILED
        return ItemResult(target, False, exc, self._attempts(target, stats),
                          time.monotonic() - started,
                          outcome=outcome)

    def _cancelled(self, target: Target, stats: CallStats) -> Awaitable[ItemResult] | None:
        """A target's request was cancelled (the run is being stopped): journal it."""
        attempts = self._attempts(target, stats)
        if self.op.retry_safe or self.journal is None:
            return None
        if stats.attempts > stats.rate_limited:  # 429s were provably not processed
            # It may have reached the server: never repeat it blindly on resume.
            return self._record(ItemResult(target, False, NotAttemptedError(
                "cancelled while in flight"), attempts, outcome=UNKNOWN))
        # Cancelled before any request left: a resume may send it.
        return self._record(ItemResult(target, False, NotAttemptedError(
            "cancelled before it was sent"), 0, outcome=FAILED))

    def _maybe_done(self, exc: SimApiError, stats: CallStats) -> bool:
        """Whether a failed non-idempotent call may still have taken effect: then its
        outcome is "unknown" and a resume never sends it again (unless `retry_unknown`).

        Only the operation's own request counts (`stats.attempts`: not a SIM lookup, not
        a login); earlier attempts of it were retried only when provably not received
        (connection refused, `429`, a `503` with `Retry-After`: flow control, not
        processed), so the last error decides:

        ==================================================  ===========  ==============
        what the last attempt got                           outcome      why
        ==================================================  ===========  ==============
        no request of the operation left (lookup or login   failed       never sent
        failed, `InvalidInputError`, `AuthenticationError`)
        could not connect, connect timeout                  failed       never sent
        timeout after sending, connection dropped           unknown      may have acted
        1xx as the final answer                             unknown      received, the
                                                                         result not said
        2xx with an unreadable body (`ResponseFormatError`, unknown      accepted
        `ServerError` 2xx), an answer over the size limit
        3xx, every one (no redirect is followed)            unknown      see below
        4xx (400, 401, 403, 404, 405, 408, 409, 413, 422,   failed       refused
        429, ...)
        5xx                                                 unknown      may have acted
        ==================================================  ===========  ==============

        3xx: a `303`/`302` is what a Post/Redirect/Get application answers *after* acting
        (Laravel's `back()`); `301`/`307`/`308` normally come from a proxy before the API,
        but the API never redirects, so nothing proves the request was not acted on. A 4xx
        is by HTTP's definition (RFC 9110 §15.5) a refusal of the request as sent; the API
        answers one before acting (validation, auth, not found, rate limit). A 2xx read
        as `success: false` is an answer, not an error here (failed, see `_answered`).
        """
        if self.op.retry_safe or not stats.attempts or is_flow_control(exc):
            return False
        if isinstance(exc, APIConnectionError):
            return exc.reached_server is not False
        if isinstance(exc, ResponseFormatError):
            return True  # the server accepted it (2xx) but its answer was unreadable
        if isinstance(exc, AuthenticationError):
            return False  # a second 401 (refused), or the login failed (never sent)
        if isinstance(exc, APIStatusError):
            return not 400 <= exc.status < 500
        return False

    def _emit(self, result: ItemResult) -> Awaitable[ItemResult] | None:
        """Journal, count and hand over one result (the stream's queue is the worker's).
        With an asynchronous journal: an awaitable of the result as counted, once stored."""
        # A ledger stores skipped targets too ("already blocked"): each of its targets ends
        # in a final row, or its chunk would never finish. A file journal keeps them out
        # (the next run reads their state again).
        if self.journal is not None and (result.skipped is None or self._ajournal):
            if self._before:
                was = self._before.pop(result.target.number, None)
                if was is not None and result.ok:
                    result = attrs.evolve(result, before=was)
            pending = self._record(result)  # on disk before anything else can happen
            if pending is not None:
                return self._count_stored(pending, result)
        self._count(result)
        return None

    async def _count_stored(self, pending: Awaitable[ItemResult],
                            result: ItemResult) -> ItemResult:
        """`_emit` once an asynchronous journal stored `result` (or said that another
        worker has its target now: then that is what this run reports)."""
        try:
            result = await pending
        except JournalError as exc:
            self._journal_failed(exc)
        except asyncio.CancelledError:  # the run is stopped: the write goes on regardless
            self._count(result)
            raise
        self._count(result)
        return result

    def _count(self, result: ItemResult) -> None:
        self.report.add(result)
        if not result.ok and result.skipped is None:
            self._check_failures()
        if self.on_progress is not None:
            self._progress()
        if self._direct is not None:
            self._direct(result)

    def _record(self, result: ItemResult) -> Awaitable[ItemResult] | None:
        assert self.journal is not None
        try:
            return self.journal.record(result)
        except JournalError as exc:
            self._journal_failed(exc)
            return None

    def _journal_failed(self, exc: JournalError) -> None:
        """The journal cannot be written: stop sending (the result stays in the report)."""
        if self.stopped is None or not self.stopped.startswith("the journal"):
            log.error("bulk %s: %s", self.op.name, exc.message)
            self.stopped = "the journal cannot be written"

    def _raise_journal_error(self) -> None:
        """At the end of a run whose journal failed: `JournalError` with the report."""
        error = self.journal.error if self.journal is not None else None
        if error is not None:
            error.report = self.report
            raise error

    def _check_failures(self) -> None:
        limit = self.max_failures
        if limit is None or self.stopped is not None:
            return
        failed = self.report.failed - self.report.not_attempted
        if isinstance(limit, int):
            if failed >= limit:
                self.stopped = f"max_failures={limit} reached"
        else:
            attempted = self.report.succeeded + failed
            if attempted >= 20 and failed / attempted >= limit:
                self.stopped = f"failure ratio {failed / attempted:.0%} >= {limit:.0%}"
        if self.stopped is not None:
            log.warning("bulk %s stopped: %s", self.op.name, self.stopped)

    def _progress(self, force: bool = False) -> None:
        hook = self.on_progress
        if hook is None:
            return
        now = time.monotonic()
        if not force and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        r = self.report
        recent = self._recent
        recent.append((now, r.total))
        while len(recent) > 2 and recent[0][0] < now - 5.0:
            recent.popleft()
        then, done_then = recent[0]
        pacer = self._pacer
        hook(BulkProgress(
            done=r.total, succeeded=r.succeeded, failed=r.failed, skipped=r.skipped,
            in_flight=self.in_flight, elapsed=now - self._started, concurrency=self.gate.limit,
            expected=self.expected,
            pacing_rate=pacer.learned if pacer.learned is None else pacer.rate,
            paused_for=pacer.paused_for(),
            recent_rate=(r.total - done_then) / (now - then) if now - then > 0.5 else 0.0,
        ))


def _ignore(result: ItemResult) -> None:
    return None


def _sized(targets: Any) -> int | None:
    try:
        return len(targets)
    except TypeError:
        return None


def _shown(raw: Any) -> str:
    """What to call a target that could not be parsed (never fails itself)."""
    if isinstance(raw, str):
        return raw[:64]
    try:
        return repr(raw)[:64]
    except Exception:  # e.g. an int beyond Python's digit limit for str()
        return f"<{type(raw).__name__}>"


def _check_concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise InvalidInputError("concurrency", value, "must be an int from 1 to 10000")
    return value


def _check_number(field: str, value: object) -> float:
    reason = "must be a finite number of seconds >= 0"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(field, value, reason)
    try:
        seconds = float(value)
    except OverflowError:
        raise InvalidInputError(field, value, reason) from None
    if not 0 <= seconds < math.inf:
        raise InvalidInputError(field, value, reason)
    return seconds


def _check_count(field: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(field, value, "must be an int >= 0")
    return value


def _check_max_failures(value: object) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInputError("max_failures", value, "must be a count (int) or a ratio")
    if isinstance(value, int) and value >= 1:
        return value
    if isinstance(value, float) and 0.0 < value < 1.0:
        return value
    raise InvalidInputError(
        "max_failures", value, "must be a count >= 1 or a ratio between 0 and 1"
    )


def _check_shard(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str) and "/" in value:
        try:
            value = tuple(int(p) for p in value.split("/", 1))
        except ValueError:
            raise InvalidInputError("shard", value, "must be 'i/n'") from None
    if (isinstance(value, tuple) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            and value[1] >= 1 and 0 <= value[0] < value[1]):
        return (value[0], value[1])
    raise InvalidInputError("shard", value, "must be (i, n) with 0 <= i < n")

