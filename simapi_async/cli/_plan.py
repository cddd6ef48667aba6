"""`simapi bulk OP FILE --plan` and `simapi bulk undo JOURNAL`.

`--plan` reads the targets' current state from the API (by listing the fleet where that
is cheaper than a lookup each) and prints what a run would do; no write is sent.
`--dry-run` only reads and validates FILE and needs no connection.
"""

from __future__ import annotations

import contextlib
from typing import Any

import click
from rich.text import Text

from .._session import AsyncSession
from ..bulk import UndoRefusedError
from ..bulk._state import NO_INVERSE
from ..bulk._undo import default_undo_journal, read_undo
from ._common import EXIT_FAILED, EXIT_OK, ConfigError, dump_json, make_console
from ._inputs import BadLine, TargetReader, open_input
from ._tables import key_value_table, rows_table

__all__ = ["plan_run", "undo_plan"]

_SHOWN = 20


async def plan_run(api: AsyncSession, op: str, kwargs: dict[str, Any], path: str, *,
                   shard: tuple[int, int] | None, as_json: bool) -> int:
    """Print the plan of `op` over FILE; exit status 0 when every target is known and
    valid, else 1."""
    bad: list[BadLine] = []

    def on_bad(b: BadLine) -> None:
        if len(bad) < _SHOWN:
            bad.append(b)

    stream = open_input(path)
    try:
        reader = TargetReader(stream, path, on_bad)
        reader.open()
        async with api:
            await api.authenticate()
            plan = await api.bulk.plan(op, reader, shard=shard, **kwargs)
    finally:
        if path == "-":
            with contextlib.suppress(ValueError, AttributeError):
                stream.detach()  # type: ignore[attr-defined]
        else:
            stream.close()
    plan.bad_lines += reader.bad
    plan.total += reader.bad
    data = plan.as_dict()
    data["file"] = path
    data["bad_sample"] = [{"line": b.line, "text": b.text, "reason": b.reason} for b in bad]
    if as_json:
        click.echo(dump_json(data))
    else:
        _print(data)
    return EXIT_OK if not (plan.bad_lines or plan.unknown_numbers or plan.read_failed) \
        else EXIT_FAILED


def _print(data: dict[str, Any]) -> None:
    out = make_console()
    args = ", ".join(f"{k}={v}" for k, v in data["arguments"].items())
    reasons = ", ".join(f"{n:,} {r}" for r, n in data["already_reasons"].items())
    rows: list[tuple[str, Any]] = [
        ("operation", data["operation"].replace("_", "-") + (f" ({args})" if args else "")),
        ("to change", f"{data['to_change']:,}" + (
            f"  ({data['state_unknown']:,} of them: state not reported)"
            if data["state_unknown"] else "")),
        ("already so", f"{data['already']:,}" + (f"  ({reasons})" if reasons else "")),
        ("unknown numbers", f"{data['unknown_numbers']:,}"),
        ("bad lines", f"{data['bad_lines']:,}"),
        ("duplicates", f"{data['duplicates']:,} (sent once)"),
    ]
    if data["read_failed"]:
        rows.append(("state not read", f"{data['read_failed']:,} ({data['read_errors']})"))
    rows += [
        ("state read by", f"{data['read_by']}: {data['read_requests']:,} requests "
                          f"({data['list_requests']:,} listing, {data['lookup_requests']:,} "
                          f"lookups; by lookups alone {data['requests_by_lookups']:,})"),
        ("a run costs", f"{data['requests_sending_all']:,} requests; "
                        f"{data['requests_skipping']:,} with --skip-already"),
    ]
    title = Text(f"plan · {data['file']} · nothing written", style="bold")
    out.print(key_value_table(rows, title=title))
    if data["unknown_sample"]:
        more = data["unknown_numbers"] - len(data["unknown_sample"])
        out.print(rows_table(("number",), ((n,) for n in data["unknown_sample"]),
                             title=f"unknown numbers{f', {more:,} more' if more else ''}"))
    if data["bad_sample"]:
        more = data["bad_lines"] - len(data["bad_sample"])
        out.print(rows_table(("line", "text", "why"),
                             ((b["line"], b["text"], b["reason"]) for b in data["bad_sample"]),
                             title=f"bad input lines{f', {more:,} more' if more else ''}"))


def undo_plan(journal: str, undo_journal: str | None) -> tuple[dict[str, Any], str]:
    """What `simapi bulk undo JOURNAL` will do (printed before it starts), and the undo's
    journal; a refused undo prints every number the run did and exits 1."""
    try:
        plan = read_undo(journal)
    except UndoRefusedError as exc:
        err = make_console(stderr=True)
        why = NO_INVERSE.get(exc.operation, "it has no inverse")
        err.print(Text(f"error: {journal}: {exc.operation.replace('_', '-')} cannot be undone "
                       f"({why}); that run did it to {len(exc.done):,} target(s):"),
                  soft_wrap=True)
        for number in exc.done:
            click.echo(number)
        raise click.exceptions.Exit(EXIT_FAILED) from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    out = undo_journal or str(default_undo_journal(journal))
    summary = {"journal": journal, "operation": plan.operation, "inverse": plan.inverse,
               "to_undo": plan.to_undo, "already_so_before": plan.already,
               "no_state_recorded": plan.no_state, "not_done": plan.failed,
               "undo_journal": out}
    return summary, out
