"""Bulk operations over thousands to millions of SIMs: `api.bulk`.

>>> report = await api.bulk.block(numbers, concurrency=50, journal="block.jsonl")
>>> report.raise_for_failures()
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from .. import _instrumentation
from .._exceptions import InvalidInputError
from ._canary import CanaryRun, check_canary
from ._engine import BulkRun, ResultHook
from ._journal_protocol import is_ledger_url
from ._operations import OPERATIONS, make_operation
from ._plan import BulkPlan, make_plan
from ._report import BulkProgress, BulkReport, ItemResult
from ._targets import NumberSet, Target, parse_target
from ._undo import UndoRefusedError, undo

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = [
    "OPERATIONS",
    "BulkPlan",
    "BulkProgress",
    "BulkReport",
    "BulkResource",
    "ItemResult",
    "NumberSet",
    "Target",
    "UndoRefusedError",
    "parse_target",
]

Targets = Iterable[Any] | AsyncIterable[Any] | None


class BulkResource:
    """`api.bulk`: one method per operation, each taking an iterable of targets.

    Common keyword arguments: `concurrency` (a ceiling on requests in flight; by default
    the run starts at 50 and follows the server's quota up to `max_connections`),
    `rate_limit` (requests/s: every request of the run, lookups and retries included),
    `max_duration` (seconds: stop then, the rest "not attempted"), `lookup` (how targets
    given by number only get their SIM's identifiers: ``"auto"`` lists the fleet when that
    costs fewer requests than one lookup per target, ``"list"``, ``"lookup"``), `expected`
    (how many targets there are, for the ETA, when the input has no len()),
    `trace_targets` (with OpenTelemetry: a span per target's call under the run's span;
    off by default, a run being one span with its counts),
    `journal` (path of a JSON Lines journal to resume from), `on_result`
    (function or coroutine function, called with each `ItemResult`), `on_progress`
    (called with a `BulkProgress` a few times a second), `max_failures` (a count, or a
    ratio such as 0.2, that stops a run going wrong), `shard=(i, n)` (this process's share
    of the input), `retry_unknown` (also resend non-idempotent operations whose outcome a
    previous run could not know), `durable` (fsync each journal line before its target
    counts as finished: survives a power loss, at a cost per target; without it lines are
    flushed, which survives the process being killed). A journal that cannot be written
    stops the run with `JournalError` (its `.report` has every result).

    Safe changes: `skip_already` (skip targets whose state, read by listing the fleet or a
    lookup, is already the wanted one: reason "already blocked" etc., no request; off by
    default, the state read can be stale by the time of the write), `undoable` (record
    each changed target's state before in the journal, for `undo`; default: when there is
    a journal and the operation has an inverse), `canary=N` with `canary_max_failures`
    (a share, default 0) and `on_canary` (see `_canary.py`). `plan()` tells what a run
    would do without writing; `undo(journal)` reverses what a run changed.

    Many workers, one run: ``journal="postgresql://user@db/fleet", run="NAME"`` keeps
    the run in a PostgreSQL ledger (extra `fleet`). The first caller loads the targets;
    any number of processes on any hosts join the same run (`join()`, or the same call:
    their targets are then not read) and share it out in chunks under a lease: `worker`
    (this worker's name in the ledger, default ``host:pid``), `lease` (seconds, default
    30: a worker silent that long loses its chunks to the others), `chunk_size` (targets
    a chunk, default 500, when this call loads the run). Each report covers what that
    worker did; the ledger's status covers the whole run.
    """

    __slots__ = ("_api",)

    def __init__(self, api: AsyncSession) -> None:
        self._api = api

    def stream(self, op: str, targets: Targets, **kwargs: Any) -> AsyncIterator[ItemResult]:
        """Yield each target's `ItemResult` as it completes (arguments checked at once)."""
        trace_targets = _trace_targets(kwargs)
        options, op_kwargs = _split(kwargs)
        options.pop("on_result", None)
        run = self._make(op, op_kwargs, targets, options)
        if _instrumentation.ACTIVE:  # one span for the run, with its counts
            return _instrumentation.instrumented_stream(
                op, run.run, report=_LiveReport(run), expected=run.expected,
                trace_targets=trace_targets)
        return run.stream()

    async def run(self, op: str, targets: Targets, **kwargs: Any) -> BulkReport:
        """Run operation `op` (e.g. ``"block"``) over `targets`; the report when done."""
        trace_targets = _trace_targets(kwargs)
        options, op_kwargs = _split(kwargs)
        on_result: ResultHook | None = options.pop("on_result", None)
        run = self._make(op, op_kwargs, targets, options)
        if _instrumentation.ACTIVE:  # one span for the run, with its counts
            return await _instrumentation.instrumented_bulk(
                op, lambda: run.run(on_result), report=_LiveReport(run),
                expected=run.expected, trace_targets=trace_targets)
        return await run.run(on_result)

    def _make(self, op: str, op_kwargs: dict[str, Any], targets: Targets,
              options: dict[str, Any]) -> BulkRun | CanaryRun:
        """The run: in two parts (`CanaryRun`) when `canary=` is given."""
        operation = make_operation(self._api, op, op_kwargs)
        canary = options.pop("canary", None)
        share = options.pop("canary_max_failures", 0.0)
        on_canary = options.pop("on_canary", None)
        if canary is None:
            return BulkRun(self._api, operation, targets, **options)
        if targets is None or is_ledger_url(options.get("journal")):
            # The canary counts what is done from the file journal, and its second part
            # reads the same input: a ledger run is shared out by the ledger instead.
            raise InvalidInputError("canary", canary, "does not go with a ledger run "
                                    "(journal=postgresql://...): run the canary with a file "
                                    "journal, then load the rest into the ledger")
        size, share = check_canary(canary, share)
        return CanaryRun(self._api, operation, targets, options, size=size,
                         max_failures=share, on_canary=on_canary)

    async def plan(self, op: str, targets: Targets, **kwargs: Any) -> BulkPlan:
        """What a run of `op` over `targets` would do, from the fleet's current state; no
        write is sent. Keyword arguments: the operation's (``service=``, ...), `shard`,
        `lookup`, `concurrency` (of the lookups). See `BulkPlan`.

        >>> plan = await api.bulk.plan("block", numbers)
        >>> plan.to_change, plan.already, plan.unknown_numbers, plan.read_requests
        """
        if targets is None:
            raise InvalidInputError("targets", None, "a plan needs the targets")
        return await make_plan(self._api, op, targets, **kwargs)

    async def undo(self, journal: str | os.PathLike[str], **options: Any) -> BulkReport:
        """Reverse what the run recorded in `journal` changed, on exactly those targets:
        unblock what it blocked (not what was blocked before), service and financial
        blocks likewise, `change_packet` back to each SIM's previous packet. Refuses
        (`UndoRefusedError`, listing what was done) operations with no inverse. The undo
        is a resumable run with its own journal (`undo_journal=`, default
        ``NAME.undo.jsonl``); `date=` for a `change_packet` undo; other options as for
        any run."""
        if is_ledger_url(journal):
            from ..fleet._errors import redact_dsn

            raise InvalidInputError("journal", redact_dsn(str(journal)), "undo reads a file "
                                    "journal; a ledger "
                                    "run keeps no state before (run it with a file journal "
                                    "to be able to undo it)")
        return await undo(self._api, journal, **options)

    async def join(self, *, journal: str, run: str, **options: Any) -> BulkReport:
        """Join the ledger run `run` from anywhere: run its stored operation, with its
        stored arguments, on the chunks this worker claims, until the run is complete.

        >>> await api.bulk.join(journal="postgresql://u@db/fleet", run="block-night")
        """
        if not is_ledger_url(journal):
            raise InvalidInputError("journal", journal, "join needs a postgresql:// ledger URL")
        from ..fleet._ledger_journal import read_run  # only now: needs asyncpg

        info = await read_run(journal, run)
        options, stray = _split(options)
        if stray:
            name = sorted(stray)[0]
            raise InvalidInputError(name, stray[name], "the run's arguments are the ledger's")
        return await self.run(info.operation, None, journal=journal, run=run,
                              **info.params, **options)

    async def block(self, targets: Targets, **options: Any) -> BulkReport:
        """Block every target's SIM (full block)."""
        return await self.run("block", targets, **options)

    async def unblock(self, targets: Targets, **options: Any) -> BulkReport:
        """Lift the full block of every target's SIM."""
        return await self.run("unblock", targets, **options)

    async def block_service(self, targets: Targets, *, service: str,
                            **options: Any) -> BulkReport:
        """Block one service (`internet`, `sms`, `call`) on every target's SIM."""
        return await self.run("block_service", targets, service=service, **options)

    async def unblock_service(self, targets: Targets, *, service: str,
                              **options: Any) -> BulkReport:
        """Unblock one service on every target's SIM."""
        return await self.run("unblock_service", targets, service=service, **options)

    async def block_finance(self, targets: Targets, **options: Any) -> BulkReport:
        """Financial block of every target's SIM."""
        return await self.run("block_finance", targets, **options)

    async def unblock_finance(self, targets: Targets, **options: Any) -> BulkReport:
        """Lift the financial block of every target's SIM."""
        return await self.run("unblock_finance", targets, **options)

    async def activate(self, targets: Targets, *, packet_id: int, **options: Any) -> BulkReport:
        """Activate every target's SIM on tariff packet `packet_id`."""
        return await self.run("activate", targets, packet_id=packet_id, **options)

    async def change_packet(self, targets: Targets, *, packet_id: int, date: Any,
                            **options: Any) -> BulkReport:
        """Move every target's SIM to tariff packet `packet_id` from `date`."""
        return await self.run("change_packet", targets, packet_id=packet_id, date=date,
                              **options)

    async def add_small_packet(self, targets: Targets, *, small_packet_id: int | None = None,
                               **options: Any) -> BulkReport:
        """Add a small (top-up) packet to every target's SIM. Not idempotent: never
        repeated when a request may have reached the server."""
        return await self.run("add_small_packet", targets, small_packet_id=small_packet_id,
                              **options)

    async def send_sms(self, targets: Targets, *, type: str, **options: Any) -> BulkReport:
        """Send the info SMS `type` (`internet` or `call`) to every target. Not idempotent."""
        return await self.run("send_sms", targets, type=type, **options)


_RUN_OPTIONS = frozenset({
    "concurrency", "rate_limit", "journal", "max_failures", "shard", "retry_unknown",
    "durable", "on_progress", "progress_interval", "keep_failures", "on_result",
    "max_duration", "lookup", "expected", "skip_already", "undoable",
    "canary", "canary_max_failures", "on_canary", "run", "worker", "lease", "chunk_size",
})


def _trace_targets(kwargs: dict[str, Any]) -> bool:
    """Pop and check the run's `trace_targets` option (the hooks', not the engine's)."""
    value = kwargs.pop("trace_targets", False)
    if not isinstance(value, bool):
        raise InvalidInputError("trace_targets", value, "must be a bool")
    return value


class _LiveReport:
    """The report of a run as it is when read (a canary run's grows a second part)."""

    __slots__ = ("_run",)

    def __init__(self, run: BulkRun | CanaryRun) -> None:
        self._run = run

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run.report, name)


def _split(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    options = {k: v for k, v in kwargs.items() if k in _RUN_OPTIONS}
    return options, {k: v for k, v in kwargs.items() if k not in _RUN_OPTIONS}

