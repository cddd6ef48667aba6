"""The journal: an append-only JSON Lines record of every finished target.

A line is written and flushed as each target finishes, so a cancelled or killed run
loses nothing it finished. On resume the journal is read back: targets done are
skipped, failed ones retried, and a torn line (a hard kill mid-write) is ignored.

    {"simapi_journal": 1, "op": "block", "params": {}, "started": "2026-11-26T14:00:00+00:00"}
    {"n": "79181111111", "o": "ok", "a": 1}
    {"n": "79181111112", "o": "failed", "a": 1, "e": "404 NotFoundError: SIM card not found."}
    {"n": "79181111113", "o": "ok", "a": 1, "b": {"blocked": false}}

`b` (when the run read the target's state) is the state before the change: what
`api.bulk.undo(journal)` restores. Journals without it stay readable (nothing to undo).

Before a non-idempotent operation (`send_sms`, `add_small_packet`) is sent, a
`{"n": ..., "o": "started"}` line is written first: a target started but never finished
(the process was killed while it was in flight) reads back as outcome unknown.

Durability: every line is flushed (it survives the process being killed). With
`durable=True` each line is also fsynced before its target counts as finished (it
survives a power loss or a kernel crash); the write-ahead line is fsynced always, so a
non-idempotent target is never sent before its "started" line is on the disk. A write,
flush or fsync that fails (disk full, read-only) raises `JournalError`.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import IO, Any

from .._exceptions import InvalidInputError, JournalError
from ._report import FAILED, OK, UNKNOWN, ItemResult, error_reason
from ._targets import NumberSet, Target

__all__ = ["Journal", "JournalState"]

log = logging.getLogger("simapi_async")
FORMAT_VERSION = 1
STARTED = "started"


class JournalState:
    """What a journal says so far: numbers done, numbers with an unknown outcome; lines
    recording an invalid input (`invalid`: failed, re-validated on resume) and lines that
    cannot be read (`torn`)."""

    __slots__ = ("done", "finished", "invalid", "torn", "unknown")

    def __init__(self) -> None:
        self.done = NumberSet()
        self.unknown = NumberSet()
        self.finished = 0
        self.invalid = 0
        self.torn = 0


class Journal:
    """Appends one line per finished target to `path`, flushing each line (and fsyncing
    it when `durable`; write-ahead lines always). After a failed write every further
    write raises the same `JournalError` (`error`). A `RunJournal` (see
    `_journal_protocol.py`) whose methods all work at once: they return None."""

    asynchronous: bool = False
    read_ahead: int | None = None

    def __init__(self, path: str | os.PathLike[str], operation: str, params: dict[str, Any],
                 *, durable: bool = False) -> None:
        self.path = Path(path)
        self.operation = operation
        self.params = params
        self.durable = durable
        self.error: JournalError | None = None
        self._file: IO[str] | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def targets(self, given: Iterable[Any] | AsyncIterable[Any]
                ) -> Iterable[Any] | AsyncIterable[Any]:
        """A file journal runs the input as given."""
        return given

    def stop(self) -> None:
        """A file journal runs the input to its end (the rest "not attempted")."""

    def load(self) -> JournalState:
        """Read what earlier runs recorded; refuses a journal of another operation."""
        state = JournalState()
        if not self.path.exists():
            return state
        started: set[str] = set()  # write-ahead lines not (yet) followed by an outcome
        with self.path.open("r", encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    state.torn += 1  # a line cut short by a hard kill
                    continue
                if not isinstance(entry, dict):
                    state.torn += 1
                    continue
                if "simapi_journal" in entry:
                    self._check_header(entry, lineno)
                    continue
                number = entry.get("n")
                if not (isinstance(number, str) and len(number) == 11 and number.isascii()
                        and number.isdigit()):  # only what the engine writes: normal form
                    if _is_invalid_input(entry):
                        state.invalid += 1  # our own record of a bad input: failed
                    else:
                        state.torn += 1
                    continue
                outcome = entry.get("o")
                if outcome == STARTED:
                    started.add(number)
                    continue
                started.discard(number)
                state.finished += 1
                if outcome == OK:
                    state.done.add(number)
                elif outcome == UNKNOWN:
                    state.unknown.add(number)
        for number in started:  # killed while in flight: it may have happened
            state.unknown.add(number)
        if state.torn:
            log.warning("journal %s: ignored %d unreadable line(s)", self.path, state.torn)
        return state

    def _check_header(self, header: dict[str, Any], lineno: int) -> None:
        op, params = header.get("op"), header.get("params")
        if op != self.operation or params != self.params:
            raise InvalidInputError(
                "journal", str(self.path),
                f"line {lineno} records a run of {op}({_show(params)}), "
                f"not {self.operation}({_show(self.params)}); use another journal file",
            )

    def open(self) -> None:
        """Open for appending (after a torn last line, start on a fresh line)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = False
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                needs_newline = f.read(1) != b"\n"
        self._file = self.path.open("a", encoding="utf-8")
        if needs_newline:
            self._file.write("\n")
        header = {
            "simapi_journal": FORMAT_VERSION, "op": self.operation, "params": self.params,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        self._write(json.dumps(header), self.durable)

    def record(self, result: ItemResult) -> None:
        """Append the line for one finished target (skipped targets are not recorded)."""
        entry: dict[str, Any] = {"n": result.target.number, "o": result.outcome,
                                 "a": result.attempts}
        if result.error is not None:
            entry["e"] = f"{error_reason(result.error)}: {result.error.message}"[:300]
        if result.before is not None:
            entry["b"] = result.before  # the state before: what `undo` restores
        self._write(json.dumps(entry, ensure_ascii=False), self.durable)

    def record_started(self, target: Target) -> None:
        """Write-ahead line for a non-idempotent operation about to be sent: fsynced
        always (the request must not leave before the line is on the disk)."""
        self._write(f'{{"n": "{target.number}", "o": "{STARTED}"}}', True)

    def _write(self, line: str, sync: bool) -> None:
        f = self._file
        if f is None:
            raise RuntimeError("journal is not open")
        if self.error is not None:
            raise self.error.with_traceback(None)  # not a traceback growing per call
        try:
            f.write(line + "\n")
            f.flush()
            if sync:
                os.fsync(f.fileno())
        except OSError as exc:
            self.error = JournalError(
                f"journal {self.path} cannot be written: {exc.strerror or exc}; the run "
                "stopped (what it finished before is in the journal)", path=str(self.path),
            )
            raise self.error from exc

    def close(self) -> None:
        """Close the file; a failure to (flush and) close is kept in `error`, not raised."""
        f, self._file = self._file, None
        if f is None:
            return
        try:
            f.close()
        except OSError as exc:
            if self.error is None:
                self.error = JournalError(
                    f"journal {self.path} could not be closed: {exc.strerror or exc}",
                    path=str(self.path),
                )
                self.error.__cause__ = exc


def _is_invalid_input(entry: dict[str, Any]) -> bool:
    """Whether `entry` is the engine's line for a target that failed validation (its `n`
    is the input as given, so it is not a number in normal form): a resume reads the
    input again and validates it again, so there is nothing to remember from it."""
    error = entry.get("e")
    return (entry.get("o") == FAILED and isinstance(error, str)
            and error.startswith(f"{InvalidInputError.__name__}:"))


def _show(params: Any) -> str:
    if not isinstance(params, dict):
        return ""
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
