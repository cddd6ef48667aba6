"""`simapi bulk ... --dry-run`: read and validate the input, count, send nothing.

No connection settings are needed. With `--journal`, it also tells how many targets a
resume would skip as already done. (`--plan`, in `_plan.py`, also asks the API, read-only,
for the targets' current state: what would change, what is already so, unknown numbers.)
"""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import click
from rich.text import Text

from ..bulk import NumberSet
from ..bulk._journal import Journal
from ..bulk._targets import in_shard
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    dump_json,
    make_console,
    pick_fields,
)
from ._inputs import BadLine, TargetReader, open_input
from ._tables import key_value_table, rows_table

__all__ = ["DRY_RUN_FIELDS", "dry_run"]

_SHOWN_BAD = 20
#: The keys of the `--dry-run --json` summary.
DRY_RUN_FIELDS: Final = ("operation", "arguments", "file", "format", "valid", "unique",
                         "duplicates", "bad_lines", "shard", "in_shard", "done_before",
                         "would_send", "bad")


def dry_run(op: str, kwargs: dict[str, Any], path: str, *, shard: tuple[int, int] | None,
            journal: str | None, report_path: str | None, as_json: bool,
            fields: Sequence[str] | None = None) -> int:
    """Validate every line of `path`; exit status 0 when none is bad, else 1."""
    done = NumberSet()
    if journal is not None and Path(journal).exists():
        try:
            done = Journal(journal, op, kwargs).load().done
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--journal {journal}: {exc}") from None
    bad: list[BadLine] = []
    report = None
    if report_path is not None:
        try:
            report = open(report_path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(f"--report {report_path}: {exc.strerror or exc}") from None
    writer = None if report is None else csv.writer(report)
    if writer is not None:
        writer.writerow(("line", "number", "outcome", "reason", "message", "attempts"))

    def on_bad(b: BadLine) -> None:
        if len(bad) < _SHOWN_BAD:
            bad.append(b)
        if writer is not None:
            writer.writerow((b.line, b.text, "invalid", "InvalidInputError", b.reason, 0))

    stream = open_input(path)
    seen = NumberSet()
    unique = duplicates = mine = already = 0
    try:
        reader = TargetReader(stream, path, on_bad)
        for target in reader:
            if not seen.add(target.number):
                duplicates += 1
                continue
            unique += 1
            if not in_shard(target.number, shard):
                continue
            mine += 1
            if target.number in done:
                already += 1
    finally:
        if report is not None:
            report.close()
        if path == "-":
            with contextlib.suppress(ValueError, AttributeError):
                stream.detach()  # type: ignore[attr-defined]
        else:
            stream.close()
    summary = {
        "operation": op, "arguments": kwargs, "file": path, "format": reader.format,
        "valid": reader.valid, "unique": unique, "duplicates": duplicates,
        "bad_lines": reader.bad, "shard": None if shard is None else f"{shard[0]}/{shard[1]}",
        "in_shard": mine, "done_before": already, "would_send": mine - already,
        "bad": [{"line": b.line, "text": b.text, "reason": b.reason} for b in bad],
    }
    if as_json:
        click.echo(dump_json(pick_fields(summary, fields)))
    else:
        _print(summary, bad, reader.bad)
    return EXIT_OK if reader.bad == 0 else EXIT_FAILED


def _print(summary: dict[str, Any], bad: list[BadLine], bad_count: int) -> None:
    out = make_console()
    args = ", ".join(f"{k}={v}" for k, v in summary["arguments"].items())
    rows: list[tuple[str, Any]] = [
        ("operation", summary["operation"].replace("_", "-") + (f" ({args})" if args else "")),
        ("format", summary["format"] or "empty"),
        ("valid targets", f"{summary['valid']:,}"),
        ("duplicates", f"{summary['duplicates']:,} (sent once)"),
        ("bad lines", f"{summary['bad_lines']:,}"),
    ]
    if summary["shard"] is not None:
        rows.append((f"shard {summary['shard']}", f"{summary['in_shard']:,} targets"))
    if summary["done_before"]:
        rows.append(("done before", f"{summary['done_before']:,} (skipped on resume)"))
    rows.append(("would send", f"{summary['would_send']:,}"))
    title = Text(f"dry run · {summary['file']} · nothing sent", style="bold")
    out.print(key_value_table(rows, title=title))
    if bad:
        more = bad_count - len(bad)
        out.print(rows_table(("line", "text", "why"), ((b.line, b.text, b.reason) for b in bad),
                             title=f"bad input lines{f', {more:,} more' if more else ''}"))
