"""`api.bulk.undo(journal)`: reverse exactly what one run changed, from its journal.

A run that read its targets' state (a journal and an invertible operation: the default)
records each changed target's state before the change (the line's ``"b"``). The undo
sends the inverse operation to the targets whose state before differs from what the run
made it, and to no others: `block` → `unblock` only where the SIM was not blocked before
(never what was blocked already), service and financial blocks likewise, `change_packet`
→ `change_packet` back to each SIM's own previous packet (one pass per previous packet).
Targets the run found already so, failed, or recorded without a state are left alone
(counted in the log). Operations with no inverse (`send_sms`, `add_small_packet`,
`activate`, bind/rebind) are refused with `UndoRefusedError`, which lists what was done.

The undo is a run of its own with its own journal (default: ``NAME.undo.jsonl`` beside
``NAME.jsonl``), so it resumes like any run and can itself be undone.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from .._exceptions import InvalidInputError
from .._validation import normalize_date
from ._canary import merge
from ._engine import BulkRun
from ._operations import make_operation
from ._report import OK, BulkReport
from ._state import INVERSES, NO_INVERSE, changed

if TYPE_CHECKING:
    from .._session import AsyncSession

__all__ = ["UndoPlan", "UndoRefusedError", "default_undo_journal", "read_undo"]

log = logging.getLogger("simapi_async")
_SHOWN = 20


class UndoRefusedError(InvalidInputError):
    """The journal's operation has no inverse; `done` has the numbers it was done to."""

    def __init__(self, path: str, operation: str, done: list[str]) -> None:
        shown = ", ".join(done[:_SHOWN]) + (f" and {len(done) - _SHOWN} more"
                                            if len(done) > _SHOWN else "")
        why = NO_INVERSE.get(operation, "it has no inverse operation")
        super().__init__("journal", path, (
            f"records a run of {operation}, which cannot be undone ({why}); that run did it "
            f"to {len(done)} target(s){': ' + shown if done else ''}"))
        self.operation = operation
        self.done = done


@attrs.define(slots=True)
class UndoPlan:
    """What the journal of one run says an undo would do."""

    path: str
    operation: str
    params: dict[str, Any]
    inverse: str
    #: previous value (a packet id; True/False for blocks) → targets to send it back to.
    changed: Counter[Any] = attrs.field(factory=Counter)
    already: int = 0
    no_state: int = 0
    failed: int = 0

    @property
    def to_undo(self) -> int:
        return sum(self.changed.values())


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a torn line
            if isinstance(entry, dict):
                yield entry


def _header(path: Path) -> tuple[str, dict[str, Any]]:
    for entry in _lines(path):
        if "simapi_journal" in entry:
            op, params = entry.get("op"), entry.get("params")
            if isinstance(op, str) and isinstance(params, dict):
                return op, params
            break
    raise InvalidInputError("journal", str(path), "is not a simapi bulk journal")


def read_undo(journal: str | os.PathLike[str]) -> UndoPlan:
    """Read `journal` and say what its undo would do; `UndoRefusedError` when its
    operation has no inverse, `InvalidInputError` when it is not a journal."""
    path = Path(journal)
    if not path.is_file():
        raise InvalidInputError("journal", str(path), "does not exist")
    op, params = _header(path)
    if op == "change_packet" and "undo_of" in params:
        raise InvalidInputError("journal", str(path), (
            "records the undo of a change_packet run (each SIM back on its own packet); "
            "to redo it, run change_packet again"))
    if op not in INVERSES:
        done = [e["n"] for e in _lines(path) if e.get("o") == OK and isinstance(e.get("n"), str)]
        raise UndoRefusedError(str(path), op, done)
    plan = UndoPlan(str(path), op, params, INVERSES[op])
    key = "packet_id" if op == "change_packet" else None
    for entry in _lines(path):
        if "simapi_journal" in entry or not isinstance(entry.get("n"), str):
            continue
        if entry.get("o") != OK:
            plan.failed += entry.get("o") != "started"
            continue
        was = entry.get("b")
        if not isinstance(was, dict):
            plan.no_state += 1
        elif changed(op, params, was):
            plan.changed[was[key] if key else next(iter(was.values()))] += 1
        else:
            plan.already += 1
    return plan


def _targets(path: Path, op: str, params: dict[str, Any], value: Any) -> Iterator[str]:
    """The numbers whose state before was `value` and that the run changed."""
    for entry in _lines(path):
        was = entry.get("b")
        if (entry.get("o") == OK and isinstance(was, dict) and isinstance(entry.get("n"), str)
                and changed(op, params, was) and next(iter(was.values())) == value):
            yield entry["n"]


def default_undo_journal(journal: str | os.PathLike[str]) -> Path:
    """``block.jsonl`` → ``block.undo.jsonl`` (beside it)."""
    path = Path(journal)
    return path.with_name(f"{path.stem}.undo{path.suffix or '.jsonl'}")


async def undo(api: AsyncSession, journal: str | os.PathLike[str], *,
               undo_journal: str | os.PathLike[str] | None = None, date: Any = None,
               **options: Any) -> BulkReport:
    """Apply the inverse of the run `journal` records to exactly the targets it changed.

    `undo_journal`: the undo's own journal (default `default_undo_journal`); `date`: for
    `change_packet`, the day the previous packet comes back (default: the original
    change's date, or today if that has passed). Other keyword arguments are those of any
    bulk run (`concurrency`, `rate_limit`, ...).
    """
    plan = read_undo(journal)
    path = Path(journal)
    out = _undo_path(path, undo_journal)
    if plan.no_state or plan.already:
        log.info("undo of %s: %d target(s) changed; %d were already so and %d have no state "
                 "before recorded: left alone", path, plan.to_undo, plan.already,
                 plan.no_state)
    kwargs = {k: v for k, v in plan.params.items() if k == "service"}
    journal_as: dict[str, Any] = {**kwargs, "undo_of": path.name}
    if plan.operation == "change_packet":
        journal_as["date"] = _undo_date(date, plan.params.get("date"))
    report = BulkReport(plan.inverse)
    values = sorted(plan.changed, key=str) or [None]
    for value in values:
        if plan.operation == "change_packet":
            kwargs = {"packet_id": value, "date": journal_as["date"]}
        operation = attrs.evolve(make_operation(api, plan.inverse, kwargs),
                                 journal_as=journal_as)
        numbers = _targets(path, plan.operation, plan.params, value) if value is not None \
            else iter(())
        part = await BulkRun(api, operation, numbers, journal=out, **options).run()
        report = merge(report, part)
    return report


def _undo_path(path: Path, given: str | os.PathLike[str] | None) -> Path:
    out = Path(given) if given is not None else default_undo_journal(path)
    if out.resolve() == path.resolve():
        raise InvalidInputError("undo_journal", str(out), "must not be the journal undone")
    return out


def _undo_date(given: Any, original: Any) -> str:
    if given is not None:
        return normalize_date(given, "date")
    today = dt.date.today().isoformat()
    if isinstance(original, str) and original > today:
        return original
    return today
