"""Rich tables for `simapi` output: SIMs, packets, bulk summaries, CDR previews.

Every value from the API goes in as `Text` (never as markup), so a ``[`` in a message
cannot restyle or hide output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..bulk import BulkReport
from ..models import Packet, Sim

__all__ = [
    "SIM_COLUMNS",
    "bulk_summary_table",
    "key_value_table",
    "packets_table",
    "reasons_table",
    "rows_table",
    "sim_row",
    "sims_table",
]

SIM_COLUMNS = ("number", "iccid", "imsi", "status", "packet", "inn", "blocked services")


def _titled(title: str | Text | None, table: Table) -> RenderableType:
    """The table under its title, on a line of its own (a title inside a narrow table
    would wrap)."""
    if title is None:
        return table
    return Group(title if isinstance(title, Text) else Text(title, style="bold"), table)


def _cell(value: Any) -> Text:
    return Text("" if value is None else str(value))


def sim_row(sim: Sim) -> list[Text]:
    packet = sim.packet_id if sim.packet_name is None else f"{sim.packet_id} {sim.packet_name}"
    services = ", ".join(sim.blocked_services) if sim.blocked_services else ""
    return [_cell(v) for v in (sim.number, sim.iccid, sim.imsi, sim.status, packet, sim.inn,
                               services)]


def sims_table(sims: Iterable[Sim], *, title: str | Text | None = None) -> RenderableType:
    table = Table(*SIM_COLUMNS, box=box.SIMPLE_HEAD)
    for sim in sims:
        table.add_row(*sim_row(sim))
    return _titled(title, table)


def key_value_table(pairs: Iterable[tuple[str, Any]], *,
                    title: str | Text | None = None) -> RenderableType:
    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in pairs:
        table.add_row(key, value if isinstance(value, Text) else _cell(value))
    return _titled(title, table)


def packets_table(packets: Sequence[Packet]) -> Table:
    table = Table("id", "name", "price", "volume", "small packets (id: name, price)",
                  box=box.SIMPLE_HEAD)
    for p in packets:
        small = "; ".join(f"{s.id}: {s.name or ''}, {s.price if s.price is not None else '-'}"
                          for s in p.small_packets)
        table.add_row(*(_cell(v) for v in (p.id, p.name, p.price, p.volume, small)))
    return table


def reasons_table(report: BulkReport, *, limit: int = 10) -> Table:
    table = Table("failure reason", "targets", box=box.SIMPLE_HEAD)
    for reason, count in report.reasons.most_common(limit):
        table.add_row(_cell(reason), Text(f"{count:,}", justify="right"))
    rest = sum(report.reasons.values()) - sum(c for _, c in report.reasons.most_common(limit))
    if rest:
        table.add_row("(other reasons)", Text(f"{rest:,}", justify="right"))
    return table


def bulk_summary_table(report: BulkReport, *, bad_lines: int = 0, logins: int | None = None,
                       rate_limited: int | None = None,
                       title: str | Text | None = None) -> RenderableType:
    """Targets, outcomes, time, throughput and what it took (requests, retries, logins)."""
    done_before = report.skipped - report.duplicates - report.already
    rows: list[tuple[str, str]] = [
        ("targets", f"{report.total:,}"),
        ("succeeded", f"{report.succeeded:,}"),
        ("failed", f"{report.failed:,}" + (f"  ({bad_lines:,} bad input lines)"
                                           if bad_lines else "")),
        ("skipped", f"{report.skipped:,}  ({report.duplicates:,} duplicates, "
                    f"{done_before:,} done before"
                    + (f", {report.already:,} already so)" if report.already else ")")),
        ("elapsed", f"{report.elapsed:.1f} s"),
        ("throughput", f"{report.throughput:,.0f} targets/s"),
        ("requests", f"{report.requests:,}"),
        ("retries", f"{report.retries:,}"),
        ("re-logins", f"{report.relogins:,} requests replayed after a 401"
         + (f" ({logins} new login{'s' if logins != 1 else ''})" if logins is not None else "")),
    ]
    if rate_limited is not None:
        rows.append(("429 answers", f"{rate_limited:,}"))
    if report.unknown:
        rows.append(("outcome unknown", f"{report.unknown:,} (not repeated on resume)"))
    if report.not_attempted:
        rows.append(("not attempted", f"{report.not_attempted:,} (the run stopped early)"))
    return key_value_table(rows, title=title)


def rows_table(header: Sequence[str], rows: Iterable[Sequence[Any]], *,
               title: str | Text | None = None) -> RenderableType:
    table = Table(*header, box=box.SIMPLE_HEAD)
    for row in rows:
        table.add_row(*(_cell(v) for v in row))
    return _titled(title, table)
