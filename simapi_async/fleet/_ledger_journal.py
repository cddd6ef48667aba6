"""A bulk run's journal in the PostgreSQL run ledger (``journal="postgresql://…"``).

The `RunJournal` (see `bulk/_journal_protocol.py`) behind
``api.bulk.block(numbers, journal="postgresql://u@db/fleet", run="block-night")``:

- `load()`: the first caller loads the targets into the ledger (COPY, once); any other
  caller joins the run, and its own targets are not read (`api.bulk.join` gives none).
- `targets()`: what this worker runs: the targets of the chunks it claims (`SELECT …
  FOR UPDATE SKIP LOCKED`), one chunk after another, each under a lease renewed in the
  background while its targets are out. It ends when the run is complete, or when this
  run stopped (`max_duration`, `max_failures`, Ctrl-C: what is left stays pending for
  the other workers).
- `record_started()`: the write-ahead mark of a non-idempotent target, committed before
  its request leaves; for every target, False when its chunk's lease is lost.
- `record()`: results are group-committed (the results that finish while a write is
  under way go in the next transaction, one per chunk); each awaits its commit, so a
  result counts as done only once it is in the ledger. A result the ledger fences off
  (the chunk went to another worker meanwhile) is reported by this run as skipped: the
  chunk's new owner has the target (a non-idempotent one in flight is "unknown" there).
- `close()`: waits for the writes, marks finished chunks done and lets the others go.

When PostgreSQL fails for longer than the ledger rides out (`reconnect_timeout`), the
run stops as with a full disk: `error` holds a `JournalError` (its cause the
`FleetBackendError`), targets not yet sent are "not attempted", and the run raises it
with its report. The ledger keeps every result committed before; a worker started
later carries on.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Iterable
from typing import Any, Final

from .._exceptions import InvalidInputError, JournalError, NotAttemptedError
from ..bulk._journal import JournalState
from ..bulk._journal_protocol import LEASE_LOST
from ..bulk._report import FAILED, SKIPPED, ItemResult
from ..bulk._targets import Target
from ._errors import FleetBackendError, redact_dsn
from ._ledger_model import Chunk, LeaseKeeper, RunInfo, default_worker_name
from ._pg_ledger import PgLedger

__all__ = ["LEASE_LOST", "LedgerJournal", "read_run"]

log = logging.getLogger("simapi_async")

DEFAULT_LEASE: Final = 30.0
DEFAULT_CHUNK: Final = 500
#: Transactions writing results at once (of the connections a worker opens).
_WRITERS: Final = 2

Targets = Iterable[Any] | AsyncIterable[Any]


class _Held:
    """A chunk this worker holds: its heartbeat, the targets out and not yet recorded."""

    __slots__ = ("chunk", "handed_all", "keeper", "left", "started", "written_off")

    def __init__(self, chunk: Chunk, keeper: LeaseKeeper) -> None:
        self.chunk = chunk
        self.keeper = keeper
        self.left = 0  # handed out, no result yet
        self.handed_all = False
        self.started: set[str] = set()  # started marks not followed by a result
        self.written_off = False  # a write was fenced off: the lease is gone

    @property
    def lost(self) -> bool:
        return self.written_off or self.keeper.lost.is_set()


class LedgerJournal:
    """The run `run` of the ledger at `url`, as a bulk run's journal (see the module).

    `targets=None` joins a run that must exist already (a worker); `worker` names this
    worker in the ledger (default ``host:pid``); `lease` is the lease in seconds (a
    worker silent for that long loses its chunks to the others); `chunk_size` the
    targets a chunk has (when this call loads the run); `write_ahead` whether the
    operation is not idempotent (its targets get a started mark first);
    `retry_unknown` hands out again the targets whose outcome is unknown.
    """

    asynchronous: bool = True

    def __init__(self, url: str, run: str, operation: str, params: dict[str, Any], *,
                 targets: Targets | None, worker: str | None = None,
                 lease: float = DEFAULT_LEASE, chunk_size: int = DEFAULT_CHUNK,
                 write_ahead: bool = True, retry_unknown: bool = False,
                 schema: str = "public", reconnect_timeout: float = 10.0) -> None:
        if not isinstance(run, str) or not run.strip() or len(run) > 200:
            raise InvalidInputError("run", run, "must be a name of 1 to 200 characters")
        if worker is None:
            worker = default_worker_name()
        if not isinstance(worker, str) or not worker.strip() or len(worker) > 200:
            raise InvalidInputError("worker", worker, "must be a name of 1 to 200 characters")
        if (isinstance(lease, bool) or not isinstance(lease, int | float)
                or not 0.1 <= lease < math.inf):
            raise InvalidInputError("lease", lease, "must be seconds >= 0.1")
        if (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                or not 1 <= chunk_size <= 1_000_000):
            raise InvalidInputError("chunk_size", chunk_size, "must be from 1 to 1000000")
        self.url, self.run, self.worker = url, run, worker
        self.operation, self.params = operation, params
        self.lease, self.chunk_size = float(lease), chunk_size
        self.write_ahead, self.retry_unknown = write_ahead, retry_unknown
        self.schema, self.reconnect_timeout = schema, reconnect_timeout
        self.read_ahead: int | None = chunk_size
        self.error: JournalError | None = None
        self.info: RunInfo | None = None
        self._given = targets
        self._ledger: PgLedger | None = None
        self._held: dict[str, _Held] = {}  # number (unique in a run) -> its chunk
        self._active: list[_Held] = []
        self._batch: list[tuple[_Held, ItemResult, asyncio.Future[ItemResult]]] = []
        self._unmark: list[tuple[_Held, Target]] = []
        self._finishable: list[_Held] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._marks: list[tuple[_Held, Target, asyncio.Future[bool]]] = []
        self._marker: asyncio.Task[None] | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"<LedgerJournal {self.name} worker={self.worker!r}>"

    @property
    def name(self) -> str:
        return f"{redact_dsn(self.url)} run {self.run!r}"

    @property
    def ledger(self) -> PgLedger:
        if self._ledger is None:
            raise RuntimeError("the ledger journal is not loaded")
        return self._ledger

    # -- the protocol --------------------------------------------------------------------

    def load(self) -> Awaitable[JournalState]:
        return self._load()

    async def _load(self) -> JournalState:
        """Connect; load the run (the first caller) or join it. Nothing is resumed from
        here: the ledger hands out only targets without a final result."""
        ledger = await PgLedger.open(self.url, run=self.run, schema=self.schema,
                                     max_connections=_WRITERS + 3,
                                     reconnect_timeout=self.reconnect_timeout)
        try:
            if self._given is None:
                info = await ledger.join()
                ledger._check_same(info, self.operation, _json(self.params))
            else:
                info = await ledger.start_or_join(self.operation, self.params, self._given,
                                                  chunk_size=self.chunk_size)
            if self.retry_unknown:
                again = await ledger.requeue(["unknown"])
                if again:
                    log.info("ledger: run %r: %d target(s) of unknown outcome handed out "
                             "again (retry_unknown)", self.run, again)
        except BaseException:
            await ledger.close()
            raise
        self._ledger, self.info = ledger, info
        log.info("ledger: worker %s %s run %r (%d targets in %d chunks)", self.worker,
                 "loaded" if info.created else "joined", self.run, info.total, info.chunks)
        return JournalState()

    def open(self) -> None:
        return None

    def targets(self, given: Targets) -> AsyncIterator[Target]:
        return self._targets()

    async def _targets(self) -> AsyncIterator[Target]:
        """The targets of each chunk this worker claims, in order; a chunk whose lease is
        lost hands out nothing more."""
        ledger = self.ledger
        while not self._stopping and self.error is None:
            try:
                chunk = await self._next_chunk()
            except Exception as exc:
                self._fail(exc)
                return
            if chunk is None:
                return
            keeper = ledger.keep_lease(chunk)
            await keeper.__aenter__()
            held = _Held(chunk, keeper)
            self._active.append(held)
            for target in chunk.targets:
                if self._stopping or held.lost:
                    break
                self._held[target.number] = held
                held.left += 1
                yield target
            held.handed_all = True
            if held.left == 0:
                self._finishable.append(held)
                self._kick()

    async def _next_chunk(self) -> Chunk | None:
        """`PgLedger.next_chunk` that gives up as soon as this run stops: a chunk, or
        None once the run is complete (or stopped)."""
        ledger = self.ledger
        poll = min(self.lease / 4, 1.0)
        while not self._stopping:
            chunk = await ledger.claim(self.worker, self.lease)
            if chunk is not None:
                return chunk
            if await ledger.complete():
                return None
            await asyncio.sleep(poll)  # every chunk left is leased by a live worker
        return None

    def stop(self) -> None:
        self._stopping = True

    def record_started(self, target: Target) -> Awaitable[bool]:
        """Before `target`'s request: its started mark (non-idempotent operations), or
        just the lease check; False: do not send it."""
        held = self._held.get(target.number)
        if held is None or held.lost:
            return _done(False)
        if self.error is not None:
            raise self.error.with_traceback(None)
        if not self.write_ahead:
            return _done(True)
        held.started.add(target.number)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._marks.append((held, target, future))
        if self._marker is None or self._marker.done():
            self._marker = asyncio.get_running_loop().create_task(self._mark())
        return future

    async def _mark(self) -> None:
        """Write the started marks waiting, a statement per chunk, until none is; each
        waiter learns whether its target may be sent (its mark is committed)."""
        while self._marks:
            marks, self._marks = self._marks, []
            by_chunk: dict[int, list[tuple[_Held, Target, asyncio.Future[bool]]]] = {}
            for entry in marks:
                by_chunk.setdefault(id(entry[0]), []).append(entry)
            for entries in by_chunk.values():
                held = entries[0][0]
                error: JournalError | None = None
                marked: set[str] = set()
                if self.error is not None:
                    error = self.error
                elif not held.lost:
                    try:
                        marked = await self.ledger.mark_started_many(
                            held.chunk, [e[1] for e in entries])
                    except Exception as exc:
                        error = self._fail(exc)
                for _, target, future in entries:
                    number = target.number
                    if number not in marked:
                        held.started.discard(number)
                    if future.done():  # its waiter was cancelled: the mark stays (unknown)
                        continue
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(number in marked)
                if error is None and len(marked) < len(entries):
                    held.written_off = True  # fenced off: the chunk is another's

    def record(self, result: ItemResult) -> Awaitable[ItemResult]:
        """Store `result` in the next group commit; what it awaits is the result as this
        run reports it (skipped when the chunk went to another worker)."""
        if self.error is not None:
            raise self.error.with_traceback(None)
        number = result.target.number
        held = self._held.pop(number, None)
        if held is None:  # not a target this worker handed out
            return _done(result)
        if isinstance(result.error, NotAttemptedError) and result.outcome == FAILED:
            # Never sent: not stored, the target stays pending for whoever comes next.
            if held.lost:
                result = _lost(result)
            elif not self._stopping:
                self._stopping = True  # the run stopped: claim no more chunks
                log.info("ledger: worker %s stops claiming chunks of run %r (the run "
                         "stopped)", self.worker, self.run)
            if number in held.started:
                held.started.discard(number)
                self._unmark.append((held, result.target))
            self._one_done(held)
            self._kick()
            return _done(result)
        future: asyncio.Future[ItemResult] = asyncio.get_running_loop().create_future()
        self._batch.append((held, result, future))
        self._kick()
        return future

    def close(self) -> Awaitable[None]:
        return self._close()

    async def _close(self) -> None:
        """Wait for the writes; done chunks are marked done, the others let go."""
        self._stopping = True
        try:
            if self._marker is not None and not self._marker.done():
                await asyncio.shield(self._marker)
            await self._drain()
            for held in list(self._active):
                await self._release(held)
        finally:
            if self._ledger is not None:
                await self._ledger.close()

    # -- writing -------------------------------------------------------------------------

    def _one_done(self, held: _Held) -> None:
        held.left -= 1
        if held.left == 0 and held.handed_all:
            self._finishable.append(held)

    def _kick(self) -> None:
        """A writer for what waits, up to `_WRITERS` at once (the results that come in
        while they write go in the next transaction: a group commit)."""
        if len(self._flushers) < _WRITERS:
            task = asyncio.get_running_loop().create_task(self._flush())
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)

    async def _drain(self) -> None:
        while self._flushers or self._batch or self._unmark or self._finishable:
            if not self._flushers:
                self._kick()
            await asyncio.shield(asyncio.gather(*self._flushers))

    async def _flush(self) -> None:
        """Write what is waiting, a transaction per chunk, until nothing is."""
        while self._batch or self._unmark or self._finishable:
            batch, self._batch = self._batch, []
            by_chunk: dict[int, list[tuple[_Held, ItemResult, asyncio.Future[ItemResult]]]] = {}
            for entry in batch:
                by_chunk.setdefault(id(entry[0]), []).append(entry)
            for entries in by_chunk.values():
                await self._write(entries)
            if ((self._unmark or self._finishable) and self._marker is not None
                    and not self._marker.done()):
                # A send cancelled while its mark was being written is undone only once
                # that mark has landed (else the undo finds nothing and the mark stays,
                # "started" until the next claimer turns it unknown); a chunk is let go
                # only after its marks too.
                await asyncio.shield(self._marker)
            unmark, self._unmark = self._unmark, []
            for held, target in unmark:
                if not held.lost:
                    try:
                        await self.ledger.unmark_started(held.chunk, [target])
                    except Exception as exc:
                        self._fail(exc)  # it stays started: unknown, never sent twice
            finishable, self._finishable = self._finishable, []
            for held in finishable:
                await self._release(held)

    async def _write(self, entries: list[tuple[_Held, ItemResult,
                                               asyncio.Future[ItemResult]]]) -> None:
        held = entries[0][0]
        stored = 0
        error: JournalError | None = None
        if not held.lost and self.error is None:
            try:
                stored = await self.ledger.record_many(held.chunk, [e[1] for e in entries])
            except Exception as exc:
                error = self._fail(exc)
            if not stored and error is None:
                held.written_off = True
                log.warning("ledger: chunk %d of run %r went to another worker: %d result(s) "
                            "of worker %s not stored (its new owner has those targets)",
                            held.chunk.index, self.run, len(entries), self.worker)
        error = error or self.error
        for _, result, future in entries:
            held.started.discard(result.target.number)
            self._one_done(held)
            if future.done():
                continue  # its waiter was cancelled: the write went ahead all the same
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result if stored else _lost(result))

    async def _release(self, held: _Held) -> None:
        """Done with `held`: marked done when every target has its result, else let go."""
        if held not in self._active:
            return
        self._active.remove(held)
        await held.keeper.__aexit__(None, None, None)
        for number in [n for n, h in self._held.items() if h is held]:
            del self._held[number]
        if held.lost or self.error is not None:
            return  # someone else's now, or the ledger is out of reach
        try:
            await self.ledger.finish(held.chunk)
        except Exception as exc:
            self._fail(exc)  # its lease expires: the next worker takes it over

    def _fail(self, exc: Exception) -> JournalError:
        """The ledger is out of reach (or failed): the run stops (see the module)."""
        if not isinstance(exc, FleetBackendError):  # not a connection error: not retried
            cause = exc
            exc = FleetBackendError("postgresql", self.url, f"failed: {type(cause).__name__}")
            exc.__cause__ = cause
        if self.error is None:
            why = exc.message
            self.error = JournalError(
                f"the run ledger {self.name} cannot be written ({why}); the run "
                "stopped: every result stored before is in the ledger, a worker started "
                "again carries on", path=self.name)
            self.error.__cause__ = exc
        self._stopping = True
        return self.error


async def read_run(url: str, run: str, *, schema: str = "public") -> RunInfo:
    """The run `run` as its starter loaded it (its operation and parameters), for a
    worker that joins it; `InvalidInputError` if there is no such run."""
    async with await PgLedger.open(url, run=run, schema=schema) as ledger:
        return await ledger.join()


def _done(value: Any) -> asyncio.Future[Any]:
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _lost(result: ItemResult) -> ItemResult:
    return ItemResult(result.target, False, attempts=result.attempts, elapsed=result.elapsed,
                      skipped=LEASE_LOST, outcome=SKIPPED)


def _json(params: dict[str, Any]) -> str:
    import json

    return json.dumps(params, sort_keys=True, default=str)
