"""`simapi sims ...` and `simapi packets`: one API call each, a table or `--json`."""

from __future__ import annotations

import csv
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Final

import click
from rich.text import Text

from .._converter import converter
from .._session import AsyncSession
from ..models import OperationResult, Sim
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    connect,
    connection_options,
    dump_json,
    fields_option,
    make_console,
    pick_fields,
    run_async,
)
from ._tables import SIM_COLUMNS, key_value_table, packets_table, sim_row, sims_table

__all__ = ["packets", "sims"]

_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (for scripts).")
_fields_option = fields_option("--json (or --format csv)")
#: `--format csv` columns: the identifiers file `simapi bulk` reads back (number, iccid, imsi).
CSV_COLUMNS: Final = ("number", "iccid", "imsi", "status", "packet_id", "packet_name", "inn",
                      "blocked_services")


def _sim_data(sim: Sim) -> dict[str, Any]:
    """What `sims get` shows: the model's fields, then every other field the API sent."""
    data: dict[str, Any] = converter.unstructure(sim)
    data.update((k, v) for k, v in sim.raw.items() if k not in data)
    return data
_iccid = click.option("--iccid", help="The SIM's ICCID (else it is looked up by number).")
_imsi = click.option("--imsi", help="The SIM's IMSI (else it is looked up by number).")


@click.group("sims")
def sims() -> None:
    """Read and change SIM cards, one at a time (see `simapi bulk` for many)."""


@sims.command("list")
@click.option("--inn", help="Only this client's SIMs (its INN).")
@click.option("--status", help="Only SIMs with this status (e.g. active, blocked).")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="SIMs per page.")
@click.option("--all", "every", is_flag=True,
              help="Every page, not just --page (in pages of the largest size the server "
                   "accepts, up to 1000, unless --limit is given).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="csv: number,iccid,imsi,... a file `simapi bulk` reads.")
@_json_option
@_fields_option
@connection_options
@click.pass_context
def list_sims(ctx: click.Context, inn: str | None, status: str | None, page: int, limit: int,
              every: bool, fmt: str, as_json: bool, fields: tuple[str, ...] | None) -> None:
    """List SIM cards: one page, or --all of them.

    \b
    Example:
      simapi sims list --status active --limit 100
      simapi sims list --inn 7707083893 --all --json > sims.json
      simapi sims list --status active --all --format csv > active.csv
      simapi bulk block active.csv
    """
    fmt = "json" if as_json else fmt
    if fields is not None and fmt == "table":
        raise click.UsageError("--fields needs --json or --format csv")
    api = connect(ctx)
    explicit_limit = ctx.get_parameter_source("limit") is not click.core.ParameterSource.DEFAULT

    async def main() -> int:
        async with api:
            if every:
                if not explicit_limit:  # the largest page the server accepts
                    await api.sims.largest_page(inn=inn, status=status)
                size = limit if explicit_limit else api.sims.page_size or limit
                await _print_all(api, inn, status, size, fmt, fields)
                return EXIT_OK
            result = await api.sims.list(inn=inn, status=status, page=page, limit=limit)
            if fmt == "csv":
                _write_csv(result.items, fields)
            elif fmt == "json":
                click.echo(dump_json({
                    "items": [pick_fields(converter.unstructure(s), fields) for s in result.items],
                    "page": result.page, "limit": result.limit, "total": result.total,
                    "last_page": result.last_page, "has_next": result.has_next,
                }))
            else:
                of = f" of {result.last_page}" if result.last_page else ""
                total = f", {result.total:,} SIMs in all" if result.total is not None else ""
                make_console().print(sims_table(result.items,
                                                title=f"page {result.page}{of}{total}"))
            return EXIT_OK

    run_async(main)


class _CsvOut:
    """CSV rows on stdout, one SIM each (`CSV_COLUMNS`, or --fields)."""

    def __init__(self, fields: Sequence[str] | None) -> None:
        self.columns = tuple(fields) if fields is not None else CSV_COLUMNS
        self._writer = csv.writer(sys.stdout, lineterminator="\n")
        self._writer.writerow(self.columns)

    def row(self, sim: Sim) -> None:
        data = _sim_data(sim)
        self._writer.writerow(_csv_cell(data.get(c)) for c in self.columns)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return dump_json(value, indent=None)
    return str(value)


def _write_csv(sims: Iterable[Sim], fields: Sequence[str] | None) -> None:
    out = _CsvOut(fields)
    for sim in sims:
        out.row(sim)


async def _print_all(api: AsyncSession, inn: str | None, status: str | None, limit: int,
                     fmt: str, fields: Sequence[str] | None = None) -> None:
    """Every SIM, streamed: a JSON array one SIM per line, CSV rows, or table rows as
    pages come."""
    sims_iter = api.sims.iter(inn=inn, status=status, limit=limit)
    if fmt == "csv":
        out_csv = _CsvOut(fields)
        async for sim in sims_iter:
            out_csv.row(sim)
        return
    if fmt == "json":
        first = True
        click.echo("[")
        async for sim in sims_iter:
            click.echo(("" if first else ",\n") + dump_json(
                pick_fields(converter.unstructure(sim), fields), indent=None), nl=False)
            first = False
        click.echo("\n]" if not first else "]")
        return
    out = make_console()
    out.print(_fixed(Text(c) for c in SIM_COLUMNS), style="bold", soft_wrap=True)
    count = 0
    async for sim in sims_iter:  # streamed: fixed widths instead of a table measured at the end
        out.print(_fixed(sim_row(sim)), soft_wrap=True)
        count += 1
    out.print(f"{count:,} SIMs")


_WIDTHS = (11, 20, 15, 9, 22, 12, 0)


def _fixed(cells: Iterable[Text]) -> Text:
    line = Text()
    for cell, width in zip(cells, _WIDTHS, strict=False):
        line.append_text(cell)
        line.append(" " * (max(width - cell.cell_len, 0) + 2) if width else "")
    return line


@sims.command("get")
@click.argument("number", required=False)
@click.option("--iccid", help="Find the SIM by ICCID instead of by number.")
@_json_option
@_fields_option
@connection_options
@click.pass_context
def get_sim(ctx: click.Context, number: str | None, iccid: str | None, as_json: bool,
            fields: tuple[str, ...] | None) -> None:
    """Show one SIM card, by NUMBER or --iccid.

    \b
    Example:
      simapi sims get +79181111111
    """
    if (number is None) == (iccid is None):
        raise click.UsageError("give a NUMBER or --iccid (one of them)")
    if fields is not None and not as_json:
        raise click.UsageError("--fields needs --json")
    api = connect(ctx)

    async def main() -> int:
        async with api:
            sim = await (api.sims.get(number) if number is not None
                         else api.sims.get_by_iccid(iccid or ""))
        _show_sim(sim, as_json, fields)
        return EXIT_OK

    run_async(main)


def _show_sim(sim: Sim, as_json: bool, fields: Sequence[str] | None = None) -> None:
    """The SIM as a table of every field, or the same fields as JSON."""
    if as_json:
        click.echo(dump_json(pick_fields(_sim_data(sim), fields)))
        return
    data = converter.unstructure(sim)
    extra = {k: v for k, v in sim.raw.items() if k not in data}
    pairs = [(k.replace("_", " "), ", ".join(v) if isinstance(v, list) else v)
             for k, v in data.items()]
    pairs += [(k.replace("_", " "), dump_json(v, indent=None) if isinstance(v, dict | list)
               else v) for k, v in extra.items()]
    make_console().print(key_value_table(pairs))


def _write_command(name: str, verb: str, summary: str, example: str,
                   *extra: Callable[[Callable[..., Any]], Callable[..., Any]],
                   ids: bool = True) -> Callable[[Callable[..., Awaitable[OperationResult]]], None]:
    """Register `sims <name>`: call the SDK, print what it answered, exit 1 on success=false.

    The decorated function takes (api, number, **options) and returns the awaitable result.
    """

    def register(call: Callable[..., Awaitable[OperationResult]]) -> None:
        @click.pass_context
        def command(ctx: click.Context, /, number: str, as_json: bool, **options: Any) -> None:
            api = connect(ctx)

            async def main() -> int:
                async with api:
                    result = await call(api, number, **options)
                if as_json:
                    click.echo(dump_json({"number": number, "operation": name,
                                          "ok": result.ok, "message": result.message}))
                else:
                    mark = "done" if result.ok else "REFUSED"
                    message = f": {result.message}" if result.message else ""
                    make_console().print(Text(f"{verb} {number}: {mark}{message}"))
                return EXIT_OK if result.ok else EXIT_FAILED

            run_async(main)

        command.__doc__ = f"{summary}\n\n\\b\nExample:\n  {example}"
        decorated: Any = command
        for option in (*reversed(extra), *((_imsi, _iccid) if ids else ())):
            decorated = option(decorated)
        decorated = _json_option(decorated)
        decorated = connection_options(decorated)
        decorated = click.argument("number")(decorated)
        sims.command(name)(decorated)

    return register


_packet_id = click.option("--packet-id", type=int, required=True, help="The tariff packet.")
_service = click.option("--service", required=True, help="internet, sms or call.")


@_write_command("activate", "activate", "Activate a SIM on a tariff packet.",
                "simapi sims activate 79181111111 --packet-id 101", _packet_id)
def _activate(api: AsyncSession, number: str, **o: Any) -> Awaitable[OperationResult]:
    return api.sims.activate(number, **o)


@_write_command("change-packet", "change packet of", "Move a SIM to another tariff packet.",
                "simapi sims change-packet 79181111111 --packet-id 102 --date 2025-01-01",
                _packet_id, click.option("--date", required=True,
                                         help="The day the new packet starts (YYYY-MM-DD)."))
def _change_packet(api: AsyncSession, number: str, **o: Any) -> Awaitable[OperationResult]:
    return api.sims.change_packet(number, **o)


for _name, _verb, _text in (
    ("block", "block", "Block a SIM fully."),
    ("unblock", "unblock", "Lift a SIM's full block."),
    ("block-finance", "financial block of", "Financial block of a SIM."),
    ("unblock-finance", "financial unblock of", "Lift a SIM's financial block."),
):
    def _simple(api: AsyncSession, number: str, _method: str = _name.replace("-", "_"),
                **o: Any) -> Awaitable[OperationResult]:
        method: Callable[..., Awaitable[OperationResult]] = getattr(api.sims, _method)
        return method(number, **o)

    _write_command(_name, _verb, _text, f"simapi sims {_name} 79181111111")(_simple)


@_write_command("block-service", "block service on", "Block one service of a SIM.",
                "simapi sims block-service 79181111111 --service sms", _service)
def _block_service(api: AsyncSession, number: str, *, service: str,
                   **o: Any) -> Awaitable[OperationResult]:
    return api.sims.block_service(number, service, **o)


@_write_command("unblock-service", "unblock service on", "Unblock one service of a SIM.",
                "simapi sims unblock-service 79181111111 --service sms", _service)
def _unblock_service(api: AsyncSession, number: str, *, service: str,
                     **o: Any) -> Awaitable[OperationResult]:
    return api.sims.unblock_service(number, service, **o)


@_write_command("bind", "bind", "Bind a number to a new SIM (give its --iccid or --imsi).",
                "simapi sims bind 79181111111 --iccid 8970199220150123456",
                click.option("--no-call-forwarding", "no_cf", is_flag=True,
                             help="Do not allow call forwarding options."))
def _bind(api: AsyncSession, number: str, *, no_cf: bool, **o: Any) -> Awaitable[OperationResult]:
    return api.sims.bind_number(number, call_forwarding=not no_cf, **o)


@_write_command("rebind", "rebind", "Move a number to another SIM (--iccid or --imsi of it).",
                "simapi sims rebind 79181111111 --iccid 8970199220150123456",
                click.option("--current-iccid", help="The SIM the number leaves (else looked "
                                                     "up)."),
                click.option("--current-imsi", help="The SIM the number leaves, by IMSI."))
def _rebind(api: AsyncSession, number: str, **o: Any) -> Awaitable[OperationResult]:
    return api.sims.rebind_number(number, **o)


@_write_command("small-packet", "add small packet to",
                "Add a small (top-up) packet; not idempotent: a repeat bills again.",
                "simapi sims small-packet 79181111111 --small-packet-id 1011",
                click.option("--small-packet-id", type=int,
                             help="Which one (default: the tariff's first)."))
def _small_packet(api: AsyncSession, number: str, **o: Any) -> Awaitable[OperationResult]:
    return api.sims.add_small_packet(number, **o)


@_write_command("send-sms", "send SMS to",
                "Send the subscriber an info SMS about its internet or call packet.",
                "simapi sims send-sms 79181111111 --type internet",
                click.option("--type", "sms_type", required=True, help="internet or call."),
                ids=False)
def _send_sms(api: AsyncSession, number: str, *, sms_type: str) -> Awaitable[OperationResult]:
    return api.sims.send_sms(number, sms_type)


@click.command("packets")
@_json_option
@fields_option(example="id,name")
@connection_options
@click.pass_context
def packets(ctx: click.Context, as_json: bool, fields: tuple[str, ...] | None) -> None:
    """List the tariff packets and their small (top-up) packets.

    \b
    Example:
      simapi packets --json
      simapi packets --json --fields id,name
    """
    if fields is not None and not as_json:
        raise click.UsageError("--fields needs --json")
    api = connect(ctx)

    async def main() -> int:
        async with api:
            found = await api.packets.list()
        if as_json:
            click.echo(dump_json([pick_fields(converter.unstructure(p), fields)
                                  for p in found]))
        else:
            make_console().print(packets_table(found))
        return EXIT_OK

    run_async(main)
