"""`simapi cdr export`: internet CDR of a date range, streamed to CSV, JSON Lines or Parquet.

Records are written as they arrive (in date order), so memory does not grow with the
range. The file is written as ``FILE.part`` and renamed when complete: a failed or
interrupted export never leaves a truncated file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import IO, Any, Final, cast

import click
from rich.console import Console
from rich.text import Text

from .._exceptions import InvalidInputError
from .._session import AsyncSession
from .._validation import date_range
from ..models import InternetCdr
from ..resources._sync import SyncProgress
from ._common import (
    EXIT_OK,
    ConfigError,
    connect,
    connection_options,
    dump_json,
    explain,
    fields_option,
    make_console,
    pick_fields,
    run_async,
)
from ._progress import CountProgressView
from ._writers import FIELDS, FORMATS, RecordWriter, make_writer, require_pyarrow

__all__ = ["cdr", "export_cdr", "sync_command"]

#: The keys of `simapi cdr sync --json` (a `SyncReport`'s fields).
SYNC_FIELDS: Final = ("date_from", "date_until", "days", "records", "bytes", "elapsed",
                      "watermark")

_SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl",
             ".parquet": "parquet", ".pq": "parquet"}


@click.group("cdr")
def cdr() -> None:
    """Call detail records (CDR)."""


@cdr.command("export")
@click.option("--from", "date_from", required=True, metavar="DATE",
              help="First day (YYYY-MM-DD), inclusive.")
@click.option("--to", "date_to", metavar="DATE", help="Last day, inclusive [default: --from].")
@click.option("--number", "numbers", multiple=True, metavar="NUMBER",
              help="Only this number (repeat the option for several).")
@click.option("--inn", help="Only this client's numbers (its INN).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="csv, jsonl or parquet [default: from --out's suffix, else csv].")
@click.option("--out", required=True, metavar="FILE", help="Where to write; - for stdout.")
@click.option("--window-days", type=click.IntRange(1, 366), default=1, show_default=True,
              help="Days per request.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Requests in flight at most.")
@click.option("--row-group-size", type=click.IntRange(min=1), default=100_000,
              show_default=True, help="Parquet: records per row group (memory bound).")
@fields_option("jsonl (or csv)", known=FIELDS, example="number,started_at,volume_bytes")
@connection_options
@click.pass_context
def export(ctx: click.Context, date_from: str, date_to: str | None, numbers: tuple[str, ...],
           inn: str | None, fmt: str | None, out: str, window_days: int, concurrency: int,
           row_group_size: int, fields: tuple[str, ...] | None) -> None:
    """Export internet CDR from --from to --to into --out.

    \b
    Example:
      simapi cdr export --from 2025-03-01 --to 2025-03-31 --inn 7707083893 --out march.parquet
      simapi cdr export --from 2025-03-01 --out - --format jsonl --fields number,volume_bytes
    """
    fmt = fmt or _format_of(out)
    _check_out(out)
    if fmt == "parquet":
        if out == "-":
            raise ConfigError("--format parquet cannot go to stdout; give --out FILE")
        if fields is not None:
            raise ConfigError("--fields is for csv / jsonl output (a Parquet reader picks "
                              "its columns itself)")
        require_pyarrow()
    try:
        first, last = date_range(date_from, date_to if date_to is not None else date_from)
    except InvalidInputError as exc:
        raise ConfigError(explain(exc)) from None
    api = connect(ctx)
    options: dict[str, Any] = {"numbers": list(numbers) or None, "inn": inn,
                               "window_days": window_days, "concurrency": concurrency}

    async def main() -> int:
        async with api:
            await export_cdr(api, first.isoformat(), last.isoformat(), out, fmt,
                             row_group_size=row_group_size, fields=fields, **options)
        return EXIT_OK

    run_async(main)


@cdr.command("sync")
@click.option("--to", "dest", required=True, metavar="DEST",
              help="A directory (Parquet dataset), a postgresql:// URL or a FILE.duckdb.")
@click.option("--from", "date_from", metavar="DATE",
              help="First day; needed by the first sync [default: the watermark minus "
                   "--lookback-days].")
@click.option("--until", "date_until", metavar="DATE",
              help="Last day, inclusive [default: yesterday].")
@click.option("--lookback-days", type=click.IntRange(0, 366), default=2, show_default=True,
              help="Days before the watermark read again (late records).")
@click.option("--inn", help="Only this client's numbers (its INN).")
@click.option("--number", "numbers", multiple=True, metavar="NUMBER",
              help="Only this number (repeat the option for several).")
@click.option("--table", help="PostgreSQL / DuckDB table [default: simapi_internet_cdr].")
@click.option("--json", "as_json", is_flag=True, help="Print what the sync did as JSON.")
@fields_option("--json", known=SYNC_FIELDS, example="days,records")
@connection_options
@click.pass_context
def sync_command(ctx: click.Context, dest: str, date_from: str | None, date_until: str | None,
                 lookback_days: int, inn: str | None, numbers: tuple[str, ...],
                 table: str | None, as_json: bool, fields: tuple[str, ...] | None) -> None:
    """Bring the warehouse DEST up to date with internet CDR, day by day.

    Each day replaces what DEST held for it (one transaction or one renamed file), and
    DEST keeps its own watermark, so a rerun or a crash never leaves a duplicate or a hole.

    \b
    Example (nightly):
      simapi cdr sync --to postgresql://etl@db/warehouse
      simapi cdr sync --to ./cdr --from 2026-10-01      # the first run
    """
    from ..destinations import open_destination

    if fields is not None and not as_json:
        raise click.UsageError("--fields needs --json")
    try:
        open_destination(dest, table=table)  # a bad DEST or missing extra: before any request
    except InvalidInputError as exc:
        raise ConfigError(str(exc)) from None
    api = connect(ctx)
    err = make_console(stderr=True)

    def progress(p: SyncProgress) -> None:
        err.print(Text(f"{p.day}  {p.day_records:>9,} records   day {p.days_done}/"
                       f"{p.days_total}   {p.records_per_second:,.0f} records/s   "
                       f"{p.bytes / 1e6:,.1f} MB"), soft_wrap=True)

    async def main() -> int:
        async with api:
            try:
                report = await api.cdr.sync(dest, date_from=date_from, date_until=date_until,
                                            lookback_days=lookback_days, inn=inn,
                                            numbers=list(numbers) or None, table=table,
                                            on_progress=progress)
            except InvalidInputError as exc:
                raise ConfigError(str(exc)) from None
        if as_json:
            summary = {f: getattr(report, f) for f in SYNC_FIELDS}
            summary["elapsed"] = round(report.elapsed, 3)
            click.echo(dump_json(pick_fields(summary, fields)))
        elif report.days == 0:
            err.print(Text(f"up to date: nothing after {report.watermark} to sync up to "
                           f"{report.date_until}"), soft_wrap=True)
        else:
            err.print(Text(f"synced {report.days} days ({report.date_from}.."
                           f"{report.date_until}), {report.records:,} records, "
                           f"{report.bytes / 1e6:,.1f} MB in {report.elapsed:.1f}s"),
                      soft_wrap=True)
        return EXIT_OK

    run_async(main)


def _format_of(out: str) -> str:
    """The format --out's suffix names (csv without a suffix); an unknown one is refused."""
    suffix = Path(out).suffix.lower() if out != "-" else ""
    if not suffix:
        return "csv"
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        known = ", ".join(sorted(_SUFFIXES))
        raise ConfigError(f"--out {out}: {suffix} is not a format this command writes "
                          f"({known}); give --format csv, jsonl or parquet") from None


def _check_out(out: str) -> None:
    """Refuse, before any request, an --out that cannot be written."""
    if out == "-":
        return
    path = Path(out)
    if path.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name in it")
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {out}: the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise ConfigError(f"--out {out}: the directory {parent} is not writable")


async def export_cdr(api: AsyncSession, date_from: str, date_to: str, out: str, fmt: str, *,
                     row_group_size: int = 100_000, label: str = "cdr export",
                     console: Console | None = None, fields: Sequence[str] | None = None,
                     **options: Any) -> int:
    """Write the records of `api.cdr.internet(date_from, date_to, **options)` to `out`;
    the number of records. Progress and the summary go to stderr; `api` stays open."""
    first, last = date_range(date_from, date_to)
    records_iter = cast(AsyncGenerator[InternetCdr, None],  # arguments checked here
                        api.cdr.internet(first, last, **options))
    days = (last - first).days + 1
    err = console if console is not None else make_console(stderr=True)
    view = CountProgressView(err, label, days)
    to_stdout = out == "-"
    part = None if to_stdout else Path(out + ".part")
    file: IO[str] | None = None
    writer: RecordWriter | None = None
    started = time.monotonic()
    count = 0
    try:
        if to_stdout:
            file = sys.stdout
        elif fmt != "parquet":
            assert part is not None
            file = part.open("w", encoding="utf-8", newline="")
        writer = make_writer(fmt, file, str(part), row_group_size, fields)
        async with contextlib.aclosing(records_iter) as records:
            with view:
                async for record in records:
                    writer.write(record)
                    count += 1
                    if count % 1000 == 0:
                        start = record.started_at
                        day = (start.date() - first).days + 1 if start is not None else 0
                        view.update(count, day)
                view.records = count
                view.finish()
        closing, writer = writer, None
        closing.close()
        if file is not None and not to_stdout:
            file.close()
            file = None
        if part is not None:
            os.replace(part, out)
    finally:
        if writer is not None:  # failed or interrupted: release the file, drop the part
            with contextlib.suppress(Exception):
                writer.close()
        if file is not None and not to_stdout:
            file.close()
        if part is not None:
            part.unlink(missing_ok=True)
    elapsed = time.monotonic() - started
    where = "stdout" if to_stdout else out
    if count == 0:
        err.print(Text(f"no records for {first}..{last} (check --inn / --number and the "
                       "dates)"), soft_wrap=True)
    err.print(Text(f"wrote {count:,} records ({first}..{last}, {fmt}) to {where} "
                   f"in {elapsed:.1f}s"), soft_wrap=True)
    return count
