"""What the run ledger hands out and reports: runs, chunks, status, the lease heartbeat."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

import attrs

from .._exceptions import InvalidInputError
from ..bulk._targets import Target
from ._errors import FleetBackendError

if TYPE_CHECKING:
    from ._pg_ledger import PgLedger

__all__ = ["Chunk", "LeaseKeeper", "RunInfo", "RunStatus", "WorkerStatus", "default_worker_name"]

log = logging.getLogger("simapi_async")


def default_worker_name() -> str:
    """`host:pid`, unique among the live workers of a run."""
    return f"{socket.gethostname()}:{os.getpid()}"


@attrs.frozen(slots=True)
class RunInfo:
    """A run as the ledger holds it; `created` says whether this call loaded it."""

    run: str
    operation: str
    params: dict[str, Any]
    total: int
    chunks: int
    duplicates: int
    invalid: int
    created: bool


@attrs.define(slots=True)
class Chunk:
    """A leased share of a run: `targets` are its pending targets, in input order.

    `unknown` counts the targets a previous owner had started and that this claim
    turned into outcome unknown.
    """

    run: str
    index: int
    worker: str
    epoch: int
    lease_seconds: float
    targets: list[Target]
    unknown: int = 0
    seqs: dict[str, int] = attrs.field(factory=dict, repr=False)


@attrs.frozen(slots=True)
class WorkerStatus:
    """A worker seen by the ledger: its leases and how long since its last heartbeat."""

    worker: str
    last_seen_ago: float
    chunks_held: tuple[int, ...]
    lease_left: float | None
    chunks_done: int
    results: int


@attrs.frozen(slots=True)
class RunStatus:
    """The whole run at one moment (for `simapi bulk status`).

    `outcomes` counts final targets by outcome (`ok`, `failed`, `unknown`, `skipped`);
    `pending` and `in_flight` (started, no result yet) are not final. `reasons` counts
    failed and unknown targets by reason (`404 NotFoundError`, `lease expired`, ...).
    `rate` is results per second over the last minute.
    """

    run: str
    operation: str
    params: dict[str, Any]
    total: int
    outcomes: dict[str, int]
    pending: int
    in_flight: int
    reasons: dict[str, int]
    chunks: int
    chunks_done: int
    chunks_leased: int
    workers: tuple[WorkerStatus, ...]
    rate: float
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (`--json`)."""
        return attrs.asdict(self, recurse=True)  # tuples become lists


class LeaseKeeper:
    """The heartbeat of one chunk (see `PgLedger.keep_lease`).

    `lost` is set when a renewal finds the lease taken over, or when the database stays
    unreachable past the ledger's `reconnect_timeout` (`error` holds that error): in
    both cases the chunk's remaining targets must not be sent. `renewals` counts the
    renewals made.
    """

    def __init__(self, ledger: PgLedger, chunk: Chunk, every: float) -> None:
        if not every > 0:
            raise InvalidInputError("every", every, "must be > 0")
        self.ledger, self.chunk, self.every = ledger, chunk, every
        self.lost = asyncio.Event()
        self.error: FleetBackendError | None = None
        self.renewals = 0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LeaseKeeper:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                held = await self.ledger.renew(self.chunk)
            except FleetBackendError as exc:
                self.error = exc
                held = False
            if not held:
                log.warning("ledger: lease of chunk %d of run %r lost", self.chunk.index,
                            self.chunk.run)
                self.lost.set()
                return
            self.renewals += 1
