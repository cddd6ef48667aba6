"""What a bulk run keeps its results in: the `RunJournal` protocol, and `open_journal`.

Two implementations, one module each:

- `_journal.Journal`: a JSON Lines file (``journal="block.jsonl"``), synchronous: each
  method does its work and returns None, so the engine's hot path makes no coroutine
  per line.
- `fleet._ledger_journal.LedgerJournal`: a run ledger in PostgreSQL
  (``journal="postgresql://…", run="NAME"``), asynchronous: the methods that talk to the
  database return an awaitable, which the engine awaits. It is imported only when a
  ``postgresql://`` URL is given, so the core imports without `asyncpg`.

The engine never asks which one it holds: it calls a method and awaits what comes back
when that is not None. `asynchronous` says in advance whether it will (so the engine
picks its await points once per run, not per target). The ledger also hands out the
targets (`targets()`): a worker runs the chunks it claims, not its own input.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, Awaitable, Iterable
from typing import Any, Protocol, runtime_checkable

from .._exceptions import InvalidInputError, JournalError
from ._journal import Journal, JournalState
from ._report import ItemResult
from ._targets import Target

__all__ = ["LEASE_LOST", "LEDGER_SCHEMES", "RunJournal", "is_ledger_url", "open_journal"]

#: URL schemes that name a PostgreSQL run ledger rather than a file.
LEDGER_SCHEMES = ("postgresql://", "postgres://")

#: `ItemResult.skipped` of a ledger run's target this worker could not finish: its chunk
#: went to another worker (whose result is the ledger's).
LEASE_LOST = "lease lost: another worker has this target's chunk"

Targets = Iterable[Any] | AsyncIterable[Any]


@runtime_checkable
class RunJournal(Protocol):
    """Where a bulk run records each target's result, and what it remembers on resume.

    A method returns None when it did its work already (a file), or an awaitable the
    engine awaits before it goes on (a database). The order of the calls:
    `load()` (what earlier runs did), `open()`, `targets(given)` (what to run; `stop()`
    when the run stops early), then per
    target `record_started()` (non-idempotent operations, before the request leaves;
    False: do not send it) and `record()` (the result, as the run reports it: a ledger
    may answer that another worker has the target now), and `close()` at the end,
    cancelled or not. After a failed write, `error` holds the `JournalError` and the
    engine stops the run (raising that error with the report at the end).
    """

    #: True when record/record_started/load/open/close return awaitables.
    asynchronous: bool
    #: The first failed write (the run stops), else None.
    error: JournalError | None
    #: Targets the identifier listing may read ahead of the requests (None: its default).
    read_ahead: int | None

    @property
    def name(self) -> str:
        """What to call the journal in messages (a path; a URL without its password)."""
        ...

    def load(self) -> JournalState | Awaitable[JournalState]: ...

    def open(self) -> Awaitable[None] | None: ...

    def targets(self, given: Targets) -> Targets: ...

    def record_started(self, target: Target) -> Awaitable[bool] | None: ...

    def record(self, result: ItemResult) -> Awaitable[ItemResult] | None: ...

    def stop(self) -> None:
        """The run stopped early (`max_duration`, `max_failures`, a failed write): hand
        out no more targets (a ledger claims no more chunks)."""
        ...

    def close(self) -> Awaitable[None] | None: ...


def is_ledger_url(value: object) -> bool:
    """Whether `value` names a PostgreSQL run ledger."""
    return isinstance(value, str) and value.lower().startswith(LEDGER_SCHEMES)


def open_journal(journal: object, operation: str, params: dict[str, Any], *,
                 targets: Targets | None, durable: bool = False, run: str | None = None,
                 ledger_options: dict[str, Any] | None = None) -> RunJournal:
    """The journal `journal=` names: a `RunJournal` as given, a ledger for a
    ``postgresql://`` URL (with `run`), else a file path. Checks its arguments only;
    nothing is opened yet."""
    if is_ledger_url(journal):
        assert isinstance(journal, str)
        if run is None:
            raise InvalidInputError("run", None, "a ledger journal needs run='NAME'")
        from ..fleet._ledger_journal import LedgerJournal  # only now: needs asyncpg

        return LedgerJournal(journal, run, operation, params, targets=targets,
                             **(ledger_options or {}))
    if run is not None:
        raise InvalidInputError("run", run, "applies to a ledger journal (postgresql://...)")
    if ledger_options:
        name = sorted(ledger_options)[0]
        raise InvalidInputError(name, ledger_options[name],
                                "applies to a ledger journal (postgresql://...)")
    if isinstance(journal, RunJournal) and not isinstance(journal, str | os.PathLike):
        return journal
    if isinstance(journal, os.PathLike) or (isinstance(journal, str) and journal.strip()):
        return Journal(journal, operation, params, durable=durable)
    raise InvalidInputError("journal", journal, "must be a file path or a postgresql:// URL")
