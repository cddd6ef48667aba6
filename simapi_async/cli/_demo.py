"""`simapi demo`: the SDK at work on an emulated fleet, narrated step by step.

An in-process emulator with realistic trouble (latency, 2 % of answers 503, later a burst
of 429s and every token revoked mid-run); the demo logs in, counts the fleet, blocks every
SIM of the largest client with a live progress bar, sums up, and exports a day of that
client's internet CDR to CSV. No credentials, no network beyond loopback.
"""

from __future__ import annotations

import csv
import datetime as dt
import inspect
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from .._config import RetryPolicy
from .._session import AsyncSession
from ..bulk import BulkReport, ItemResult, Target
from ..testing import Emulator, Faults
from ._cdr import export_cdr
from ._common import EXIT_OK, make_console, run_async
from ._progress import BulkProgressView
from ._running import fill_report, run_stream
from ._tables import bulk_summary_table, key_value_table, reasons_table, rows_table

__all__ = ["demo", "run_demo"]

_STEPS = 6
_UNKNOWN_NUMBERS = 3  # numbers the client has already handed back: they fail with 404


@click.command("demo")
@click.option("--sims", type=click.IntRange(100, 500_000), default=10_000, show_default=True,
              help="SIM cards in the emulated fleet.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the fleet.")
@click.option("--fast", is_flag=True, help="No emulated latency, short retry waits (for CI).")
@click.option("--out-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Where the CDR CSV goes [default: a new temporary directory].")
def demo(sims: int, seed: int, fast: bool, out_dir: str | None) -> None:
    """Show what simapi_async does, on an emulated API (no credentials, no network).

    \b
    Example:
      simapi demo
    """
    run_async(lambda: run_demo(sims=sims, seed=seed, fast=fast, out_dir=out_dir))


class _Narrator:
    def __init__(self, console: Console) -> None:
        self.out = console
        self.step = 0

    def __call__(self, title: str) -> None:
        self.step += 1
        self.out.print()
        self.out.rule(Text(f"{self.step}/{_STEPS}  {title}", style="bold cyan"), align="left")

    def say(self, text: str, style: str | None = None) -> None:
        self.out.print(Text("  " + text, style=style or ""), soft_wrap=True)


def _emulator(sims: int, seed: int, fast: bool) -> Emulator:
    faults = Faults(latency=0.0 if fast else (0.005, 0.03), error_rate_503=0.02)
    extra: dict[str, Any] = {}
    if "client_sizes" in inspect.signature(Emulator).parameters:
        extra["client_sizes"] = (max(1, sims * 15 // 100), max(1, sims * 30 // 100))
    return Emulator(sims=sims, seed=seed, faults=faults, fast=True, **extra)


async def run_demo(*, sims: int = 10_000, seed: int = 1, fast: bool = False,
                   out_dir: str | None = None, console: Console | None = None) -> int:
    """The whole demo; exit status 0."""
    out = console or make_console()
    say = _Narrator(out)
    started = time.monotonic()
    say("Start an emulated SIM management API")
    async with _emulator(sims, seed, fast) as emu:
        say.say(f"{sims:,} SIM cards served at {emu.base_url} (loopback only)")
        say.say("trouble on: " + ("no latency (--fast)" if fast else "5-30 ms latency")
                + ", 2% of answers 503; later a burst of 429s and a revoked token")
        retry = RetryPolicy(base_delay=0.02 if fast else 0.2, max_delay=0.2 if fast else 2.0,
                            max_retry_after=0.5)
        async with AsyncSession(emu.base_url, login=emu.login, password=emu.password,
                                retry=retry) as api:
            say("Log in")
            await api.authenticate()
            say.say(f"logged in as {emu.login!r}; the token stays in memory, never printed")

            say("List the fleet")
            statuses: Counter[str] = Counter()
            clients: dict[str, list[Target]] = {}
            async for sim in api.sims.iter(limit=1000):
                statuses[sim.status or "unknown"] += 1
                if sim.inn and sim.number:
                    clients.setdefault(sim.inn, []).append(Target(sim.number, iccid=sim.iccid))
            total = sum(statuses.values())
            say.say(f"{total:,} SIMs read in {-(-total // 1000)} pages of 1,000; "
                    f"{len(clients):,} client companies")
            out.print(rows_table(("status", "SIMs", "share"), (
                (status, f"{n:,}", f"{n / total:.1%}") for status, n in statuses.most_common()
            )))
            inn = max(clients, key=lambda k: len(clients[k]))
            targets = clients[inn]

            say(f"Block every SIM of client {inn} ({len(targets):,} SIMs)")
            known = {t.number for ts in clients.values() for t in ts}
            gone = [Target(n) for n in (f"7999999{i:04d}" for i in range(100)) if n not in known]
            say.say(f"plus {_UNKNOWN_NUMBERS} numbers the client has already handed back "
                    "(they will fail: one bad target never stops the others)")
            report, logins = await _block(api, emu, say, [*targets, *gone[:_UNKNOWN_NUMBERS]],
                                          fast)

            say("Summary")
            before_blocked = sum(1 for t in targets if emu.fleet.sims[t.number].blocked)
            out.print(bulk_summary_table(report, logins=logins,
                                         rate_limited=api.stats.rate_limited))
            if report.reasons:
                out.print(reasons_table(report))
            say.say(f"the emulator confirms: {before_blocked:,} of {len(targets):,} SIMs of "
                    f"{inn} are blocked", style="green")

            say("Export a day of internet CDR")
            day = dt.date.today() - dt.timedelta(days=1)
            folder = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="simapi-demo-"))
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"cdr-{inn}-{day.isoformat()}.csv"
            await export_cdr(api, day.isoformat(), day.isoformat(), str(path), "csv", inn=inn,
                             label="cdr", console=out)
            _preview(out, path, day)
    elapsed = time.monotonic() - started
    out.print()
    out.print(Text(f"Demo done in {elapsed:.1f}s.", style="bold"))
    out.print(Text("Next: `simapi emulator` serves this API on a port of yours; point "
                   "SIMAPI_BASE_URL, SIMAPI_LOGIN and SIMAPI_PASSWORD at it (or at your "
                   "portal) and try `simapi sims list`, `simapi bulk block numbers.txt`, "
                   "`simapi cdr export`."))
    return EXIT_OK


async def _block(api: AsyncSession, emu: Emulator, say: _Narrator, targets: list[Target],
                 fast: bool) -> tuple[BulkReport, int]:
    """The bulk block, with trouble injected part-way; (report, logins during it).

    Trouble comes on results (not on the throttled progress), so it always lands mid-run;
    the 429 burst is smaller than the requests still to send, so none of it spills over
    into the next step, and no target meets four 429s in a row.
    """
    view = BulkProgressView(say.out, "block", len(targets), every=1.0)
    report = BulkReport("block")
    total = len(targets)
    concurrency = max(4, min(50, total // 10))  # so that trouble finds requests to hit
    revoke_at, burst_at = max(1, total * 3 // 10), max(2, total * 6 // 10)
    burst = min(30, (total - burst_at - concurrency) // 3)  # requests not yet sent, or fewer
    logins_before = api.stats.logins

    def on_result(result: ItemResult) -> None:
        report.add(result)
        if report.total == revoke_at:
            emu.revoke_tokens()
            say.say("! the server revoked every token: the session logs in again (once) "
                    "and replays what got a 401", style="yellow")
        elif report.total == burst_at and burst > 0:
            emu.fail_next(burst, status=429, retry_after=0.05 if fast else 0.3)
            say.say(f"! a burst of {burst} answers 429 Too Many Requests: the run honours "
                    "Retry-After and puts those targets back in line", style="yellow")

    before, started = api.stats, time.monotonic()
    with view:
        await run_stream(api, "block", targets, on_result, concurrency=concurrency,
                         on_progress=view.update, progress_interval=0.1)
        view.finish()
    fill_report(report, api, before, started)
    return report, api.stats.logins - logins_before


def _preview(out: Console, path: Path, day: dt.date, rows: int = 5) -> None:
    """The file's name and its first rows (times of day: the day is in the title)."""
    with path.open(encoding="utf-8", newline="") as f:
        first = [row for _, row in zip(range(rows), csv.DictReader(f), strict=False)]

    def clock(value: str) -> str:
        try:
            return dt.datetime.fromisoformat(value).strftime("%H:%M:%S")
        except ValueError:
            return value

    out.print(key_value_table([("file", str(path))]))
    out.print(rows_table(
        ("number", "start", "end", "bytes", "apn"),
        ((r["number"], clock(r["started_at"]), clock(r["ended_at"]),
          f"{int(r['volume_bytes']):,}" if r["volume_bytes"] else "", r["apn"]) for r in first),
        title=f"  first {len(first)} sessions of {day.isoformat()}"))
