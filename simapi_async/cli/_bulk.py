"""`simapi bulk OPERATION FILE`: one operation over every target of a file, resumable.

The run always has a journal: `--journal PATH` (resumed when it exists), else one in the
temp directory that is deleted after a run where every target succeeded and kept (and
named) otherwise, so that an interrupted or partly failed run can always be resumed or
retried with ``--journal PATH``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import os
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

import click
from rich.text import Text

from .._exceptions import InvalidInputError, JournalError
from .._session import AsyncSession
from ..bulk import OPERATIONS, BulkReport, ItemResult, Target
from ..bulk._journal_protocol import LEASE_LOST
from ..bulk._report import FAILED, error_reason
from ._common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    ConfigError,
    connect,
    connection_options,
    dump_json,
    fields_option,
    make_console,
    pick_fields,
    run_async,
)
from ._dryrun import DRY_RUN_FIELDS, dry_run
from ._inputs import BadLine, TargetReader, count_candidate_lines, open_input
from ._ledger import check_ledger, ledger_status, run_summary, shown_url
from ._plan import plan_run, undo_plan
from ._progress import BulkProgressView
from ._running import fill_report, run_stream
from ._tables import bulk_summary_table, reasons_table, rows_table

__all__ = ["bulk", "check_operation", "parse_shard"]

#: operation argument → its option
OPTION_OF: Final = {"service": "--service", "packet_id": "--packet-id", "date": "--date",
                    "type": "--type", "small_packet_id": "--small-packet-id"}
_ALIASES: Final = {"small_packet": "add_small_packet", "sms": "send_sms"}
_SHOWN_BAD: Final = 20
#: The keys of the `--json` summary of a run (`_Run._summary_json`).
RUN_FIELDS: Final = ("operation", "file", "ok", "interrupted", "total", "succeeded", "failed",
                     "skipped", "duplicates", "bad_lines", "unknown", "not_attempted",
                     "elapsed", "throughput", "requests", "retries", "relogins", "reasons",
                     "bad", "journal", "report")
#: What `--fields` may name: a run's summary keys, then those only --dry-run has.
SUMMARY_FIELDS: Final = (*RUN_FIELDS, *(f for f in DRY_RUN_FIELDS if f not in RUN_FIELDS))


def check_operation(name: str, given: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The engine's name of `name` (``block-service`` → ``block_service``) and its
    arguments, validated; `ConfigError` names the option at fault."""
    op = name.strip().lower().replace("-", "_")
    op = _ALIASES.get(op, op)
    spec = OPERATIONS.get(op)
    if spec is None:
        names = ", ".join(sorted(o.replace("_", "-") for o in OPERATIONS))
        raise ConfigError(f"unknown operation {name!r}; one of: {names}")
    shown = op.replace("_", "-")
    clean: dict[str, Any] = {}
    for arg, value in given.items():
        if value is None:
            continue
        if arg not in spec:
            raise ConfigError(f"{OPTION_OF[arg]} does not apply to bulk {shown}")
    for arg, (validate, required) in spec.items():
        value = given.get(arg)
        if value is None:
            if required:
                raise ConfigError(f"bulk {shown} needs {OPTION_OF[arg]}")
            continue
        try:
            clean[arg] = validate(value, arg)
        except InvalidInputError as exc:
            raise ConfigError(f"{OPTION_OF[arg]}: {exc.reason} (got {value!r})") from None
    return op, clean


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0-based i) → (i, n)."""
    if value is None:
        return None
    try:
        i_text, n_text = value.split("/")
        shard = int(i_text), int(n_text)
    except ValueError:
        raise ConfigError(f"--shard {value!r}: expected I/N, e.g. 0/4") from None
    if not 0 <= shard[0] < shard[1]:
        raise ConfigError(f"--shard {value!r}: I counts from 0 to N-1")
    return shard


class FailureReport:
    """`--report FILE`: a CSV row per target that did not succeed, written as it ends."""

    COLUMNS: Final = ("line", "number", "outcome", "reason", "message", "attempts", "raw")

    def __init__(self, path: str) -> None:
        try:
            self._file: IO[str] = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise ConfigError(f"--report {path}: {exc.strerror or exc}") from None
        self._writer = csv.writer(self._file)
        self._writer.writerow(self.COLUMNS)
        self.path = path
        self.line_of: Callable[[str], int | None] = lambda number: None

    def result(self, r: ItemResult) -> None:
        line = self.line_of(r.number)  # for every result: the reader forgets it
        if r.ok or r.skipped == "duplicate":
            return
        at = "" if line is None else line
        if r.skipped is not None:
            self._writer.writerow((at, r.number, "skipped", r.skipped, "", r.attempts, ""))
            return
        message = "" if r.error is None else str(r.error)
        self._writer.writerow((at, r.number, r.outcome, error_reason(r.error), message,
                               r.attempts, ""))

    def bad(self, b: BadLine) -> None:
        self._writer.writerow((b.line, "", "invalid", "InvalidInputError", b.reason, 0, b.text))

    def close(self) -> None:
        self._file.close()


def _auto_journal(op: str) -> Path:
    folder = Path(tempfile.gettempdir()) / "simapi-journals"
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return folder / f"{op.replace('_', '-')}-{stamp}-{os.getpid()}.jsonl"


def _resume_command(params: dict[str, Any], journal: Path) -> str:
    """The same command with `--journal` (what to type to resume)."""
    words = ["simapi", "bulk", params["operation"], params["file"]]
    for name, option in OPTION_OF.items():
        value = params.get("sms_type" if name == "type" else name)
        if value is not None:
            words += [option, str(value)]
    for name in ("concurrency", "rate", "shard", "max_failures", "report_path"):
        value = params.get(name)
        if value is not None:
            words += ["--" + name.replace("_path", "").replace("_", "-"), str(value)]
    for flag in ("retry_unknown", "skip_already", "no_undo"):
        if params.get(flag):
            words.append("--" + flag.replace("_", "-"))
    if params.get("durable"):
        words.append("--durable")
    words += ["--journal", str(journal)]
    return " ".join(shlex.quote(w) for w in words)


@click.command("bulk")
@click.argument("operation")
@click.argument("file", metavar="[FILE]", required=False)
@click.option("--service", help="block-service / unblock-service: internet, sms or call.")
@click.option("--packet-id", type=int, help="activate / change-packet: the tariff packet.")
@click.option("--date", help="change-packet: the day the new packet starts (YYYY-MM-DD).")
@click.option("--type", "sms_type", help="send-sms: internet or call.")
@click.option("--small-packet-id", type=int,
              help="small-packet: which one (default: the tariff's first).")
@click.option("--concurrency", type=click.IntRange(1, 10_000), default=None,
              help="Requests in flight at most (default: from 50, as many as the server's "
                   "quota needs, up to the connection pool).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), metavar="PER_SECOND",
              help="Requests per second at most (every request: lookups, listing, retries). "
                   "Not needed under the server's quota: the SDK learns it.")
@click.option("--max-duration", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Stop after this long; the rest is not attempted (resume from the journal).")
@click.option("--journal", type=click.Path(dir_okay=False), metavar="PATH",
              help="Journal to write, and to resume from when it exists.")
@click.option("--no-journal", is_flag=True, help="Run without any journal (not resumable).")
@click.option("--durable", is_flag=True,
              help="Fsync each journal line before its target counts as done (survives a "
                   "power loss; slower). Lines are always flushed (they survive a kill).")
@click.option("--shard", metavar="I/N",
              help="Do only this process's share (I from 0 to N-1) of the targets.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), metavar="CSV",
              help="Write every target that did not succeed (and every bad line) here.")
@click.option("--max-failures", metavar="N|RATIO",
              help="Stop after N failures, or once this ratio (e.g. 0.2) of targets fail.")
@fields_option("--json summary", known=SUMMARY_FIELDS, example="total,failed,reasons")
@click.option("--retry-unknown", is_flag=True,
              help="Resend send-sms / small-packet whose outcome a previous run did not know.")
@click.option("--dry-run", is_flag=True,
              help="Read and validate FILE, count; send nothing (no connection needed).")
@click.option("--plan", "plan", is_flag=True,
              help="Read the targets' current state from the API and say what a run would "
                   "change, what is already so, unknown numbers, bad lines, and the request "
                   "cost; write nothing.")
@click.option("--skip-already", is_flag=True,
              help="Skip targets whose state (read by listing) is already the wanted one, "
                   "e.g. already blocked: no request for them. Off by default: the state "
                   "read can be stale by the time of the write.")
@click.option("--canary", type=click.IntRange(min=1), metavar="N",
              help="Run the first N targets, then stop unless their failure share is at "
                   "most --canary-max-failures (on a terminal: ask before going on).")
@click.option("--canary-max-failures", type=click.FloatRange(0, 1), default=0.0,
              metavar="RATIO", show_default=True,
              help="The failure share of the canary that still lets the run go on.")
@click.option("--no-undo", is_flag=True,
              help="Do not read and journal each target's state before (then `simapi bulk "
                   "undo` cannot reverse the run; saves the read for targets given with "
                   "iccid/imsi).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--ledger", metavar="URL", envvar="SIMAPI_LEDGER_URL", show_envvar=True,
              help="A PostgreSQL run ledger (postgresql://…) to keep the run in, shared "
                   "by every worker of it (with --run).")
@click.option("--run", metavar="NAME",
              help="The run's name in the ledger: started by the first, joined by the others.")
@click.option("--worker", metavar="NAME",
              help="This worker's name in the ledger (default: host:pid).")
@click.option("--lease", type=click.FloatRange(min=0.1), metavar="SECONDS",
              help="Ledger lease of a chunk (default 30): a worker silent that long loses "
                   "its chunks to the others.")
@click.option("--chunk-size", type=click.IntRange(1, 1_000_000), metavar="N",
              help="Targets a chunk of the ledger holds (default 500; when this loads the run).")
@connection_options
@click.pass_context
def bulk(ctx: click.Context, /, **params: Any) -> None:
    """Run OPERATION on every SIM listed in FILE (`-` for stdin).

    OPERATION is one of block, unblock, block-service, unblock-service, block-finance,
    unblock-finance, activate, change-packet, small-packet (add-small-packet), send-sms.
    FILE holds one number per line (blank lines and # comments are ignored), or is a CSV
    with a number column (number / msisdn / phone) and optional iccid / imsi columns.
    Bad lines are reported with their line number and count as failed. With --shard, only
    shard 0 reports bad lines.

    Exit status: 0 when every target succeeded, 1 when some did not, 2 for bad usage or
    configuration, 130 when interrupted (143 on SIGTERM); resume with the printed command.

    `simapi bulk undo JOURNAL` reverses what the run of JOURNAL changed, on exactly those
    targets (unblock what it blocked, each SIM back on its previous packet, ...), as a
    resumable run with its own journal (--journal, default NAME.undo.jsonl).

    Many workers, one run (PostgreSQL ledger, extra `fleet`): `bulk OP FILE --ledger URL
    --run NAME` starts the run (or joins it, if it exists); `bulk worker --ledger URL
    --run NAME` joins it from any host, running the run's stored operation; `bulk status
    --ledger URL --run NAME [--json]` shows the whole run. SIMAPI_LEDGER_URL may stand
    for --ledger.

    \b
    Example:
      simapi bulk block numbers.txt --plan
      simapi bulk block numbers.txt --journal block.jsonl --canary 100 --report failures.csv
      simapi bulk undo block.jsonl
      simapi bulk block numbers.txt --ledger postgresql://fleet@db/fleet --run night-1
      simapi bulk worker --ledger postgresql://fleet@db/fleet --run night-1
    """
    name = params["operation"].strip().lower()
    if name in ("worker", "status"):
        _ledger_command(ctx, name, params)
        return
    if params["file"] is None:
        raise ConfigError(f"bulk {params['operation']} needs FILE (`-` for stdin)")
    if name == "undo":
        _undo(ctx, params)
        return
    ledger = check_ledger(ctx, params)
    op, kwargs = check_operation(params["operation"], {
        "service": params["service"], "packet_id": params["packet_id"],
        "date": params["date"], "type": params["sms_type"],
        "small_packet_id": params["small_packet_id"],
    })
    shard = parse_shard(params["shard"])
    if params["fields"] is not None and not params["as_json"]:
        raise click.UsageError("--fields needs --json")
    max_failures = _parse_max_failures(params["max_failures"])
    if params["journal"] and params["no_journal"]:
        raise ConfigError("--journal and --no-journal do not go together")
    if params["durable"] and params["no_journal"]:
        raise ConfigError("--durable and --no-journal do not go together")
    if params["file"] == "-" and ctx.meta.get("simapi_connection", {}).get("password_stdin"):
        raise ConfigError("FILE - and --password-stdin both want stdin; give FILE as a path")
    if params["plan"]:
        plan_api = connect(ctx, max_connections=max(100, params["concurrency"] or 0))
        run_async(lambda: plan_run(plan_api, op, kwargs, params["file"], shard=shard,
                                   as_json=params["as_json"]))
    if params["dry_run"]:
        code = dry_run(op, kwargs, params["file"], shard=shard, journal=params["journal"],
                       report_path=params["report_path"], as_json=params["as_json"],
                       fields=params["fields"])
        ctx.exit(code)
    journal: Path | None = None
    auto = False
    if params["journal"]:
        journal = Path(params["journal"])
    elif not params["no_journal"] and ledger is None:
        journal, auto = _auto_journal(op), True
    api = connect(ctx, max_connections=max(100, params["concurrency"] or 0))
    run = _Run(op, kwargs, params, shard, max_failures, journal, auto, ledger=ledger)
    run_async(lambda: run.main(api))


def _ledger_command(ctx: click.Context, name: str, params: dict[str, Any]) -> None:
    """`bulk worker` / `bulk status`: no FILE, a ledger run."""
    if params["file"] is not None:
        raise ConfigError(f"bulk {name} takes no FILE: the run's targets are in the ledger")
    for arg, option in OPTION_OF.items():
        if params["sms_type" if arg == "type" else arg] is not None:
            raise ConfigError(f"{option} does not apply to bulk {name}: the run's "
                              "arguments are the ledger's")
    if params["run"] is None or not params["ledger"]:
        raise ConfigError(f"bulk {name} needs --ledger postgresql://… (or SIMAPI_LEDGER_URL) "
                          "and --run NAME")
    ledger = check_ledger(ctx, params)
    assert ledger is not None
    if name == "status":
        ledger_status(ledger, params["run"], as_json=params["as_json"])
        return
    for option in ("report_path", "dry_run", "chunk_size"):
        if params[option]:
            raise ConfigError(f"--{option.replace('_path', '').replace('_', '-')} does not "
                              "apply to bulk worker")
    max_failures = _parse_max_failures(params["max_failures"])
    api = connect(ctx, max_connections=max(100, params["concurrency"] or 0))
    run = _Run("worker", {}, params, None, max_failures, None, False, ledger=ledger)
    run_async(lambda: run.main(api))


def can_ask() -> bool:
    """Whether a question can be put to a person (stdin and stderr are terminals)."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _undo(ctx: click.Context, params: dict[str, Any]) -> None:
    """`simapi bulk undo JOURNAL`: the inverse of that run on the targets it changed."""
    journal = params["file"]
    summary, out = undo_plan(journal, params["journal"])
    err = make_console(stderr=True)
    if not params["as_json"]:
        err.print(Text(
            f"undo {summary['operation'].replace('_', '-')} of {journal}: "
            f"{summary['inverse'].replace('_', '-')} on {summary['to_undo']:,} target(s) it "
            f"changed; left alone: {summary['already_so_before']:,} already so before, "
            f"{summary['no_state_recorded']:,} with no state recorded; journal: {out}"),
            soft_wrap=True)
    api = connect(ctx, max_connections=max(100, params["concurrency"] or 0))
    view = BulkProgressView(err, "undo", summary["to_undo"])

    async def main() -> int:
        async with api:
            await api.authenticate()
            with view:
                report = await api.bulk.undo(
                    journal, undo_journal=out, date=params["date"],
                    concurrency=params["concurrency"], rate_limit=params["rate"],
                    on_progress=view.update, skip_already=params["skip_already"])
                view.finish()
        if params["as_json"]:
            click.echo(dump_json({**summary, "total": report.total,
                                  "succeeded": report.succeeded, "failed": report.failed,
                                  "skipped": report.skipped, "requests": report.requests,
                                  "reasons": dict(report.reasons.most_common())}))
        else:
            make_console().print(bulk_summary_table(report, title=Text(
                f"bulk undo · {journal}", style="bold")))
            if report.reasons:
                make_console().print(reasons_table(report))
        if report.failed:
            err.print(Text(f"rerun `simapi bulk undo {journal}` to retry what failed "
                           f"(journal: {out})"), soft_wrap=True)
        return EXIT_OK if report.failed == 0 else EXIT_FAILED

    run_async(main)


def _parse_max_failures(value: str | None) -> int | float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"--max-failures {value!r}: a count or a ratio such as 0.2") from None
    if number >= 1 and number.is_integer():
        return int(number)
    if 0 < number < 1:
        return number
    raise ConfigError(f"--max-failures {value!r}: a count >= 1 or a ratio between 0 and 1")


class _Run:
    """One bulk run: reading, the engine, progress, signals, the summary."""

    def __init__(self, op: str, kwargs: dict[str, Any], params: dict[str, Any],
                 shard: tuple[int, int] | None, max_failures: int | float | None,
                 journal: Path | None, auto_journal: bool, *, ledger: str | None = None) -> None:
        self.op, self.kwargs, self.params = op, kwargs, params
        self.ledger = ledger  # a ledger run: journal=URL, run=NAME (`bulk worker`: no FILE)
        self.shard, self.max_failures = shard, max_failures
        self.journal, self.auto_journal = journal, auto_journal
        self.report_file: FailureReport | None = None
        self.report = BulkReport(op)
        self.bad_lines: list[BadLine] = []
        self.bad_count = 0
        self.unknown_skipped = 0
        self.interrupted: int | None = None
        self.stopped: str | None = None  # why the engine stopped early (canary, ...)
        self.out = make_console()
        self.err = make_console(stderr=True)
        live = self.err.is_terminal and not shard and ledger is None
        total = count_candidate_lines(params["file"]) if live else None
        self.view = BulkProgressView(self.err, op.replace("_", "-"), total)

    def on_bad(self, bad: BadLine) -> None:
        if self.shard is not None and self.shard[0] != 0:
            return  # every shard reads every line: shard 0 alone reports the bad ones
        self.bad_count += 1
        self.view.bad_lines += 1
        if len(self.bad_lines) < _SHOWN_BAD:
            self.bad_lines.append(bad)
        self.report.add(ItemResult(Target(f"line {bad.line}"), False, bad.error, outcome=FAILED))
        if self.report_file is not None:
            self.report_file.bad(bad)

    def on_result(self, result: ItemResult) -> None:
        self.report.add(result)
        if (result.skipped is not None and not result.ok and result.skipped != "duplicate"
                and result.skipped != LEASE_LOST):  # the ledger: another worker's now
            self.unknown_skipped += 1
        if self.report_file is not None:
            self.report_file.result(result)

    def _journal_options(self) -> dict[str, Any]:
        if self.ledger is None:
            return {"journal": self.journal, "durable": self.params["durable"]}
        return {"journal": self.ledger, "run": self.params["run"],
                "worker": self.params["worker"], "lease": self.params["lease"],
                "chunk_size": self.params["chunk_size"]}

    async def main(self, api: AsyncSession) -> int:
        worker = self.params["file"] is None  # `bulk worker`: the run's targets and operation
        stream = None if worker else open_input(self.params["file"])
        try:
            if self.params["report_path"]:
                self.report_file = FailureReport(self.params["report_path"])
            reader: TargetReader | None = None
            if stream is not None:
                reader = TargetReader(stream, self.params["file"], self.on_bad,
                                      track_lines=self.report_file is not None)
                if self.report_file is not None:
                    self.report_file.line_of = reader.take_line
                reader.open()  # a CSV header without a number column fails here: no request
            else:
                await self._read_run()
            async with api:
                await api.authenticate()  # bad credentials: one clear error, not N failures
                if self.auto_journal:
                    self.err.print(Text(f"journal: {self.journal} (kept unless every target "
                                        "succeeds)"), soft_wrap=True)
                before, started = api.stats, time.monotonic()
                job: asyncio.Task[BulkReport] = asyncio.create_task(run_stream(
                    api, self.op, reader, self.on_result, shard=self.shard, **self.kwargs,
                    concurrency=self.params["concurrency"], rate_limit=self.params["rate"],
                    max_duration=self.params["max_duration"],
                    max_failures=self.max_failures,
                    retry_unknown=self.params["retry_unknown"], on_progress=self.view.update,
                    progress_interval=0.1, **self._journal_options(),
                    skip_already=self.params["skip_already"],
                    undoable=False if self.params["no_undo"] else None,
                    **self._canary_options(),
                ))
                installed = self._handle_signals(job)
                try:
                    with self.view:
                        await asyncio.wait([job])
                        self.view.finish()
                except asyncio.CancelledError:  # no signal handlers here (Windows): Ctrl-C
                    self.interrupted = signal.SIGINT
                    job.cancel()
                    await asyncio.wait([job])
                    self._finish(fill_report(self.report, api, before, started))
                    raise
                finally:
                    loop = asyncio.get_running_loop()
                    for sig in installed:
                        loop.remove_signal_handler(sig)
                journal_error: JournalError | None = None
                if not job.cancelled():
                    try:
                        # re-raise what stopped the run (e.g. another op's journal)
                        self.stopped = job.result().stopped
                    except JournalError as exc:  # the run stopped; its results are all here
                        journal_error = exc
                code = self._finish(fill_report(self.report, api, before, started))
                if self.ledger is not None:
                    line = await run_summary(self.ledger, self.params["run"])
                    if line is not None:
                        self.err.print(Text(line), soft_wrap=True)
                if journal_error is not None:
                    self.err.print(Text(f"error: {journal_error}"), soft_wrap=True)
                    return EXIT_FAILED
                return code
        finally:
            if stream is None:
                pass
            elif self.params["file"] == "-":
                with contextlib.suppress(ValueError, AttributeError):
                    stream.detach()  # type: ignore[attr-defined]  # leave stdin open
            else:
                stream.close()
            if self.report_file is not None:
                self.report_file.close()

    def _canary_options(self) -> dict[str, Any]:
        if self.params["canary"] is None:
            return {}
        return {"canary": self.params["canary"],
                "canary_max_failures": self.params["canary_max_failures"],
                "on_canary": self._on_canary}

    async def _on_canary(self, report: BulkReport) -> bool:
        """After a canary within its failure share: on a terminal, ask before going on."""
        attempted = report.succeeded + report.failed
        self.err.print(Text(f"canary: {report.succeeded:,} of {attempted:,} succeeded, "
                            f"{report.failed:,} failed ({report.skipped:,} skipped)"),
                       soft_wrap=True)
        if not can_ask():
            return True
        self.view.__exit__(None, None, None)
        try:
            return bool(await asyncio.to_thread(
                click.confirm, "Go on with the rest?", default=False, err=True))
        finally:
            self.view.__enter__()

    async def _read_run(self) -> None:
        """`bulk worker`: the run's operation and arguments, from the ledger."""
        from ..fleet._ledger_journal import read_run

        assert self.ledger is not None
        info = await read_run(self.ledger, self.params["run"])
        self.op, self.kwargs = info.operation, dict(info.params)
        self.report = BulkReport(self.op)
        self.view.label = self.op.replace("_", "-")

    def _handle_signals(self, job: asyncio.Task[BulkReport]) -> list[int]:
        loop = asyncio.get_running_loop()

        def stop(signum: int) -> None:
            if self.interrupted is None:
                self.interrupted = signum
                job.cancel()

        installed: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is signal.SIG_IGN:
                continue  # started with it ignored (a background job, nohup): keep it so
            try:
                loop.add_signal_handler(sig, stop, sig)
            except (NotImplementedError, RuntimeError, ValueError):
                continue  # not the main thread, or a platform without them
            installed.append(sig)
        return installed

    def _finish(self, report: BulkReport) -> int:
        complete = (self.interrupted is None and report.failed == 0
                    and self.unknown_skipped == 0 and self.stopped is None)
        if self.auto_journal and complete and self.journal is not None:
            self.journal.unlink(missing_ok=True)
        if self.params["as_json"]:
            click.echo(dump_json(pick_fields(self._summary_json(complete),
                                             self.params["fields"])))
        else:
            self._print_summary()
        if self.interrupted is not None:
            self._print_resume()
            return EXIT_TERMINATED if self.interrupted == signal.SIGTERM else EXIT_INTERRUPTED
        if self.stopped is not None and self.stopped.startswith("canary"):
            self.err.print(Text(f"stopped after the canary: {self.stopped}"), soft_wrap=True)
            if self.journal is not None:
                self.err.print(Text("The rest, after the canary, with:\n  "
                                    + _resume_command(self.params, self.journal)),
                               soft_wrap=True)
            return EXIT_FAILED
        if not complete and self.journal is not None and self.journal.exists():
            self.err.print(Text(f"journal: {self.journal} (rerun with --journal to retry only "
                                "what did not succeed)"), soft_wrap=True)
        return EXIT_OK if complete else EXIT_FAILED

    def _print_summary(self) -> None:
        title = f"bulk {self.op.replace('_', '-')} · {self.params['file'] or 'worker'}"
        if self.ledger is not None:
            title += f" · run {self.params['run']} · worker {self.params['worker'] or 'host:pid'}"
        if self.shard:
            title += f" · shard {self.shard[0]}/{self.shard[1]}"
        self.out.print(bulk_summary_table(self.report, bad_lines=self.bad_count,
                                          title=Text(title, style="bold")))
        if self.report.reasons:
            self.out.print(reasons_table(self.report))
        if self.bad_lines:
            more = self.bad_count - len(self.bad_lines)
            self.out.print(rows_table(
                ("line", "text", "why"),
                ((b.line, b.text, b.reason) for b in self.bad_lines),
                title=f"bad input lines (not sent){f', {more:,} more' if more else ''}",
            ))
        if self.report_file is not None:
            self.out.print(Text(f"report: {self.report_file.path}"), soft_wrap=True)

    def _summary_json(self, complete: bool) -> dict[str, Any]:
        """The `--json` summary (its keys: `RUN_FIELDS`)."""
        r = self.report
        return {
            "operation": self.op, "file": self.params["file"], "ok": complete,
            "interrupted": self.interrupted is not None,
            "total": r.total, "succeeded": r.succeeded, "failed": r.failed,
            "skipped": r.skipped, "duplicates": r.duplicates, "bad_lines": self.bad_count,
            "unknown": r.unknown, "not_attempted": r.not_attempted,
            "already": r.already, "stopped": self.stopped,
            "elapsed": round(r.elapsed, 3), "throughput": round(r.throughput, 1),
            "requests": r.requests, "retries": r.retries, "relogins": r.relogins,
            "reasons": dict(r.reasons.most_common()),
            "bad": [{"line": b.line, "text": b.text, "reason": b.reason}
                    for b in self.bad_lines],
            "journal": str(self.journal) if self.journal and self.journal.exists() else None,
            "ledger": shown_url(self.ledger) if self.ledger else None,
            "run": self.params["run"] if self.ledger else None,
            "report": self.report_file.path if self.report_file else None,
        }

    def _print_resume(self) -> None:
        r = self.report
        finished = (f"Interrupted: {r.succeeded + r.failed:,} targets finished "
                    f"({r.succeeded:,} ok, {r.failed:,} failed)")
        if self.ledger is not None:
            self.err.print(Text(
                f"{finished}; every finished one is in the ledger. Carry on from any host "
                f"with:\n  simapi bulk worker --ledger {shown_url(self.ledger)} --run "
                f"{shlex.quote(self.params['run'])}"), soft_wrap=True)
            return
        if self.journal is None:
            self.err.print(Text(f"{finished}; no journal was written (--no-journal): "
                                "a rerun starts over."), soft_wrap=True)
            return
        self.err.print(Text(f"{finished}; every finished one is in the journal."),
                       soft_wrap=True)
        stdin = " (feed it the same input)" if self.params["file"] == "-" else ""
        self.err.print(Text(f"Resume with{stdin}:\n  "
                            + _resume_command(self.params, self.journal)), soft_wrap=True)
