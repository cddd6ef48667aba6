"""`simapi bulk … --ledger postgresql://… --run NAME`, `bulk worker`, `bulk status`.

A run in the PostgreSQL ledger is started (or joined) by `simapi bulk OP FILE --ledger
URL --run NAME`; `simapi bulk worker --ledger URL --run NAME` joins it from any host
and runs the run's stored operation; `simapi bulk status` shows the whole run. The
URL may come from `SIMAPI_LEDGER_URL`; it is shown only with its password as ``***``.
"""

from __future__ import annotations

from typing import Any

import click
from rich.text import Text

from .._exceptions import InvalidInputError
from ..bulk._journal_protocol import is_ledger_url
from ._common import EXIT_OK, ConfigError, dump_json, make_console, run_async
from ._tables import rows_table

__all__ = ["LEDGER_OPTIONS", "check_ledger", "ledger_status", "run_summary", "shown_url"]

#: The `bulk` options of a ledger run (None when not given).
LEDGER_OPTIONS = ("ledger", "run", "worker", "lease", "chunk_size")


def shown_url(url: str) -> str:
    from ..fleet._errors import redact_dsn

    return redact_dsn(url)


def check_ledger(ctx: click.Context, params: dict[str, Any]) -> str | None:
    """The ledger URL of this run, or None (a file journal); `ConfigError` for options
    that do not go together. `SIMAPI_LEDGER_URL` alone does not make a ledger run
    of `bulk OP FILE`: `--run` does."""
    url = params.get("ledger")
    source = ctx.get_parameter_source("ledger")
    explicit = source is not None and source.name == "COMMANDLINE"
    if params.get("run") is None:
        if explicit:
            raise ConfigError("--ledger needs --run NAME (the run's name in the ledger)")
        extra = [o for o in ("worker", "lease", "chunk_size") if params.get(o) is not None]
        if extra:
            raise ConfigError(f"--{extra[0].replace('_', '-')} applies to a ledger run "
                              "(--ledger URL --run NAME)")
        return None
    if not url:
        raise ConfigError("--run needs --ledger postgresql://… (or SIMAPI_LEDGER_URL)")
    if not is_ledger_url(url):
        raise ConfigError(f"--ledger {shown_url(url)}: expected a postgresql:// URL")
    for option in ("journal", "no_journal", "durable", "shard"):
        if params.get(option):
            raise ConfigError(f"--{option.replace('_', '-')} does not go with --ledger: "
                              "the ledger is the run's journal and shares it out")
    return str(url)


def ledger_status(url: str, run: str, *, as_json: bool) -> None:
    """`simapi bulk status --ledger URL --run NAME [--json]`."""
    async def main() -> int:
        from ..fleet._pg_ledger import PgLedger

        async with await PgLedger.open(url, run=run) as ledger:
            status = await ledger.status()
        if as_json:
            click.echo(dump_json(status.to_dict()))
            return EXIT_OK
        out = make_console()
        final = sum(status.outcomes.values())
        head = (f"run {status.run!r} · {status.operation.replace('_', '-')}"
                f"{_args(status.params)} · {shown_url(url)}")
        out.print(Text(head, style="bold"), soft_wrap=True)
        out.print(Text(
            f"{final:,} of {status.total:,} targets final, {status.pending:,} pending, "
            f"{status.in_flight:,} in flight · chunks {status.chunks_done}/{status.chunks} "
            f"done, {status.chunks_leased} leased · {status.rate:,.1f} results/s over the "
            f"last minute · {'complete' if status.complete else 'running'}"), soft_wrap=True)
        out.print(rows_table(("outcome", "targets"), sorted(status.outcomes.items()),
                             title="by outcome"))
        if status.reasons:
            out.print(rows_table(("reason", "targets"), status.reasons.items(),
                                 title="failed and unknown, by reason"))
        if status.workers:
            out.print(rows_table(
                ("worker", "results", "chunks done", "leases held", "lease left", "last seen"),
                ((w.worker, w.results, w.chunks_done,
                  ", ".join(map(str, w.chunks_held)) or "-",
                  "-" if w.lease_left is None else f"{w.lease_left:.0f}s",
                  f"{w.last_seen_ago:.0f}s ago") for w in status.workers),
                title="workers"))
        return EXIT_OK

    run_async(main)


async def run_summary(url: str, run: str) -> str | None:
    """One line on the whole run after a worker ends (None if the ledger is out of reach)."""
    from ..fleet._errors import FleetBackendError
    from ..fleet._pg_ledger import PgLedger

    try:
        async with await PgLedger.open(url, run=run, reconnect_timeout=2.0) as ledger:
            status = await ledger.status()
    except (FleetBackendError, InvalidInputError):
        return None
    counts = ", ".join(f"{n:,} {o}" for o, n in sorted(status.outcomes.items()))
    state = "complete" if status.complete else f"{status.pending:,} pending"
    return (f"run {run!r}: {sum(status.outcomes.values()):,} of {status.total:,} final "
            f"({counts or 'none yet'}), {state}; `simapi bulk status --run {run}` for more")


def _args(params: dict[str, Any]) -> str:
    if not params:
        return ""
    return "(" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
