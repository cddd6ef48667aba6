"""Bulk runs kept in the PostgreSQL ledger: worker processes, SIGKILL, the CLI, restarts.

The emulator runs in the test's event loop; the workers are real OS processes
(`python -m simapi_async.cli bulk worker ...`) against it and a real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import simapi_async as sa
from simapi_async.bulk._targets import Target
from simapi_async.fleet._pg_ledger import PgLedger
from simapi_async.testing import Emulator, Faults

from ._servers import PostgresServer

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

LEASE = "2"  # seconds: a killed worker's chunk is taken over within ~2 s
_BOUND = 120.0  # a bound on a hang, never an assertion


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(sims=20_000, fast=True) as emu:
        yield emu


def targets_of(emu: Emulator, n: int) -> list[Target]:
    """The first `n` SIMs with their ICCIDs (one request a target, no lookup)."""
    return [Target(number, iccid=emu.fleet.sims[number].iccid)
            for number in emu.fleet.numbers[:n]]


def cli_env(emu: Emulator, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMAPI_")}
    env.update(PYTHONPATH=os.pathsep.join(sys.path), SIMAPI_BASE_URL=emu.base_url,
               SIMAPI_LOGIN=emu.login, SIMAPI_PASSWORD=emu.password, **extra)
    return env


async def simapi(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """`simapi ARGS` as a process of its own."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simapi_async.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finished_rows(url: str, run: str) -> int:
    async with await PgLedger.open(url, run=run) as ledger:
        status = await ledger.status()
    return sum(status.outcomes.values())


async def wait_for_rows(url: str, run: str, at_least: int) -> None:
    """Until the ledger holds `at_least` final results (polled: rows in another process)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        while await conn.fetchval(  # noqa: ASYNC110 - rows written by other processes
                "SELECT count(*) FROM simapi_targets WHERE run = $1 AND state = 'done'",
                run) < at_least:
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def kill_one_and_replace(url: str, run: str, emu: Emulator, total: int,
                               extra: tuple[str, ...] = ()) -> list[tuple[int, bytes]]:
    """4 `bulk worker` processes; the first SIGKILLed once a quarter of the run is done;
    a fresh one under another host name. The exit status and stderr of the others."""
    env = cli_env(emu)
    workers = [await simapi(env, "bulk", "worker", "--ledger", url, "--run", run,
                            "--worker", f"host-{i}", "--lease", LEASE, "--concurrency", "16",
                            *extra)
               for i in range(4)]
    await wait_for_rows(url, run, total // 4)
    workers[0].send_signal(signal.SIGKILL)
    await workers[0].wait()
    fresh = await simapi(env, "bulk", "worker", "--ledger", url, "--run", run,
                         "--worker", "fresh-host", "--lease", LEASE, *extra)
    ended = []
    for proc in [*workers[1:], fresh]:
        _, err = await proc.communicate()
        ended.append((proc.returncode or 0, err))
    return ended


async def test_20000_targets_4_workers_one_sigkilled_every_target_once(
        pg_url: str, emulator: Emulator) -> None:
    """A 20,000-target block run over 4 worker processes, one killed with SIGKILL midway
    and a fresh one started under another host name: every target ends with exactly one
    final result in the ledger, and every SIM is blocked."""
    async with await PgLedger.open(pg_url, run="block-night") as ledger:
        await ledger.start_or_join("block", {}, targets_of(emulator, 20_000))
    async with asyncio.timeout(_BOUND):
        ended = await kill_one_and_replace(pg_url, "block-night", emulator, 20_000)
    assert [code for code, _ in ended] == [0, 0, 0, 0], ended
    async with await PgLedger.open(pg_url, run="block-night") as ledger:
        status = await ledger.status()
        outcomes = await ledger.outcomes()
    assert status.complete
    assert len(outcomes) == 20_000
    assert Counter(outcomes.values()) == {"ok": 20_000}
    assert status.pending == status.in_flight == 0
    workers = {w.worker: w for w in status.workers}
    assert set(workers) == {"host-0", "host-1", "host-2", "host-3", "fresh-host"}
    assert sum(w.results for w in status.workers) == 20_000
    assert all(sim.blocked for sim in emulator.fleet.sims.values()
               if sim.number in outcomes)


async def test_send_sms_run_under_sigkill_sends_no_sms_twice(
        pg_url: str, emulator: Emulator) -> None:
    """send_sms over 4 worker processes, one SIGKILLed with sends in flight: no number gets
    two SMS, and the killed worker's in-flight sends are "unknown" (never resent)."""
    emulator.faults = Faults(latency=(0.005, 0.015))  # requests in flight at the kill
    total = 4_000
    async with await PgLedger.open(pg_url, run="sms-night") as ledger:
        await ledger.start_or_join("send_sms", {"type": "internet"},
                                   [t.number for t in targets_of(emulator, total)])
    async with asyncio.timeout(_BOUND):
        ended = await kill_one_and_replace(pg_url, "sms-night", emulator, total)
    assert [code for code, _ in ended] == [0, 0, 0, 0], ended
    async with await PgLedger.open(pg_url, run="sms-night") as ledger:
        status = await ledger.status()
        outcomes = await ledger.outcomes()
    assert status.complete
    assert len(outcomes) == total
    assert emulator.stats.duplicates("send_sms") == {}
    sent = {n for n in outcomes if emulator.fleet.sims[n].sms_sent}
    unknown = {n for n, o in outcomes.items() if o == "unknown"}
    assert Counter(outcomes.values()) == {"ok": total - len(unknown), "unknown": len(unknown)}
    assert unknown, "the killed worker had sends in flight"
    assert status.reasons == {"lease expired": len(unknown)}
    assert {n for n, o in outcomes.items() if o == "ok"} <= sent  # each ok one sent once
    import asyncpg

    conn = await asyncpg.connect(pg_url)
    try:
        errors = await conn.fetch("SELECT error FROM simapi_targets WHERE outcome = 'unknown'")
    finally:
        await conn.close()
    assert {e["error"] for e in errors} == {
        "in flight on host-0 when its lease ended; not repeated (not idempotent)"}


async def invoke(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """`simapi ARGS` in a thread (click's runner; the emulator keeps this loop):
    exit status, stdout, stderr."""
    from click.testing import CliRunner

    from simapi_async.cli import cli

    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env)
    return result.exit_code, result.stdout, result.stderr


async def test_cli_starts_a_run_another_worker_joins_and_status_shows_it(
        pg_url: str, emulator: Emulator, tmp_path: Path) -> None:
    """`bulk block FILE --ledger --run` loads and runs; a second start joins (its FILE is
    not read); `bulk worker` on a complete run ends at once; `bulk status` counts it all."""
    numbers = tmp_path / "numbers.txt"
    numbers.write_text("\n".join([*emulator.fleet.numbers[:300], "not-a-number",
                                  emulator.fleet.numbers[0]]) + "\n")
    env = {**cli_env(emulator, SIMAPI_LEDGER_URL=pg_url), "SIMAPI_TOKEN": ""}
    async with asyncio.timeout(_BOUND):
        code, out, err = await invoke(env, "bulk", "block", str(numbers), "--run", "cli-run",
                                      "--chunk-size", "50", "--json")
        assert code == 1, err  # the bad line fails
        summary = json.loads(out)
        assert (summary["succeeded"], summary["bad_lines"]) == (300, 1)
        assert summary["run"] == "cli-run"
        assert summary["journal"] is None
        others = tmp_path / "others.txt"
        others.write_text("\n".join(emulator.fleet.numbers[300:400]) + "\n")
        code, out, err = await invoke(env, "bulk", "block", str(others), "--run", "cli-run",
                                      "--json")
        assert code == 0, err
        assert json.loads(out)["total"] == 0  # joined: its FILE was not loaded
        code, out, err = await invoke(env, "bulk", "worker", "--run", "cli-run", "--json")
        assert code == 0, err
        assert json.loads(out)["total"] == 0
        assert "run 'cli-run': 301 of 301 final (300 ok, 1 skipped), complete" in err
        code, out, err = await invoke(env, "bulk", "status", "--run", "cli-run", "--json")
        assert code == 0, err
        shown = json.loads(out)
        code, table, err = await invoke(env, "bulk", "status", "--run", "cli-run")
        assert code == 0, err
    assert shown["outcomes"] == {"ok": 300, "skipped": 1}  # the duplicate
    assert shown["complete"]
    assert shown["operation"] == "block"
    assert [w["results"] for w in shown["workers"]] == [300]  # one process: one host:pid
    assert "301 of 301 targets final" in table
    assert "complete" in table


def test_cli_worker_options_and_password_never_printed(pg_url: str) -> None:
    """`bulk worker` needs --ledger and --run, refuses FILE and operation arguments; a
    missing run is a usage error whose message shows the URL with its password as ***."""
    from click.testing import CliRunner

    from simapi_async.cli import cli

    env = {"SIMAPI_BASE_URL": "http://127.0.0.1:9", "SIMAPI_TOKEN": "t",
           "SIMAPI_LEDGER_URL": None}
    secret_url = pg_url.replace("simapi@", "simapi:hunter2@")
    cases = [
        (("bulk", "worker", "--run", "x"), "needs --ledger"),
        (("bulk", "worker", "--ledger", pg_url), "needs --ledger"),
        (("bulk", "worker", "file.txt", "--ledger", pg_url, "--run", "x"), "takes no FILE"),
        (("bulk", "worker", "--ledger", pg_url, "--run", "x", "--type", "call"),
         "does not apply"),
        (("bulk", "block", "f.txt", "--ledger", pg_url), "--ledger needs --run"),
        (("bulk", "block", "f.txt", "--ledger", pg_url, "--run", "x", "--shard", "0/2"),
         "--shard does not go with --ledger"),
        (("bulk", "block", "f.txt", "--ledger", "redis://cache", "--run", "x"),
         "expected a postgresql:// URL"),
        (("bulk", "status", "--ledger", secret_url, "--run", "nobody"), "no such run"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "hunter2" not in result.output


async def test_postgres_restart_mid_run_loses_and_doubles_nothing(
        own_postgres: PostgresServer) -> None:
    """PostgreSQL restarted mid-run: the run rides it out (writes retried), and every
    target ends with one result, in the report and in the ledger."""
    url = own_postgres.url()
    restarted = False

    async def on_result(result: sa.ItemResult) -> None:
        nonlocal restarted
        if not restarted and result.ok:
            restarted = True
            await asyncio.to_thread(own_postgres.restart)

    async with Emulator(sims=3_000, fast=True) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        async with asyncio.timeout(_BOUND):
            report = await api.bulk.block(targets_of(emu, 3_000), journal=url,
                                          run="restart", on_result=on_result, lease=5.0,
                                          concurrency=20)
    assert restarted
    assert (report.total, report.succeeded) == (3_000, 3_000)
    async with await PgLedger.open(url, run="restart") as ledger:
        outcomes = await ledger.outcomes()
        status = await ledger.status()
    assert Counter(outcomes.values()) == {"ok": 3_000}
    assert status.complete


async def test_python_join_runs_the_stored_operation(pg_url: str, emulator: Emulator) -> None:
    """api.bulk.join runs the run's own operation and arguments; two joiners share the
    chunks (each report covers its own) and the ledger has every target once."""
    targets = [t.number for t in targets_of(emulator, 2_000)]
    async with await PgLedger.open(pg_url, run="joined") as ledger:
        await ledger.start_or_join("block_service", {"service": "sms"}, targets,
                                   chunk_size=100)
    async with sa.AsyncSession(emulator.base_url, login=emulator.login,
                               password=emulator.password) as api:
        reports = await asyncio.gather(*(api.bulk.join(journal=pg_url, run="joined",
                                                       worker=f"py-{i}", lookup="lookup")
                                         for i in range(2)))
        with pytest.raises(sa.InvalidInputError, match="no such run"):
            await api.bulk.join(journal=pg_url, run="nobody")
        with pytest.raises(sa.InvalidInputError, match="block_service"):
            await api.bulk.block(targets, journal=pg_url, run="joined")
    assert sum(r.succeeded for r in reports) == 2_000
    assert all(r.failed == 0 for r in reports)
    assert all("sms" in emulator.fleet.sims[n].blocked_services for n in targets)
    async with await PgLedger.open(pg_url, run="joined") as ledger:
        assert Counter((await ledger.outcomes()).values()) == {"ok": 2_000}


def test_ledger_options_are_checked_before_anything(tmp_path: Path) -> None:
    """run= without a ledger URL, and a ledger without run=, are typed errors at once."""
    from simapi_async.bulk._journal_protocol import open_journal

    with pytest.raises(sa.InvalidInputError, match="postgresql"):
        open_journal(str(tmp_path / "j.jsonl"), "block", {}, targets=[], run="x")
    with pytest.raises(sa.InvalidInputError, match="run='NAME'"):
        open_journal("postgresql://db/fleet", "block", {}, targets=[])
    args: dict[str, Any] = {"targets": [], "run": "x"}
    with pytest.raises(sa.InvalidInputError, match="lease"):
        open_journal("postgresql://db/fleet", "block", {}, ledger_options={"lease": 0}, **args)


async def test_lease_lost_while_a_request_is_in_flight(
        pg_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A chunk taken over while its send_sms request is in flight: the late answer is
    fenced off (skipped "lease lost" in this worker's report), nothing more of the chunk
    is sent under the lost lease, and the target ends "unknown" in the ledger (never
    sent twice) while the rest is done."""
    import asyncpg
    from aiohttp import web

    from simapi_async.bulk._journal_protocol import LEASE_LOST

    arrived, release = asyncio.Event(), asyncio.Event()

    @web.middleware
    async def hold_first_sms(request: web.Request, handler: Any) -> web.StreamResponse:
        if "/send-sms/" in request.path and not arrived.is_set():
            arrived.set()
            await release.wait()
        response: web.StreamResponse = await handler(request)
        return response

    emu = Emulator(sims=100, fast=True)
    emu.app.middlewares.append(hold_first_sms)
    numbers = emu.fleet.numbers[:20]

    async def steal_when_sent() -> None:
        await arrived.wait()
        conn = await asyncpg.connect(pg_url)  # another worker's takeover, as the DB sees it
        try:
            await conn.execute("UPDATE simapi_chunks SET epoch = epoch + 1, "
                               "lease_owner = 'thief'")
        finally:
            await conn.close()
        while not any("lost" in r.getMessage() for r in caplog.records):  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # the heartbeat finds the lease gone
        release.set()

    caplog.set_level("WARNING", logger="simapi_async")
    seen: list[sa.ItemResult] = []
    async with emu, sa.AsyncSession(emu.base_url, login=emu.login,
                                    password=emu.password) as api:
        async with asyncio.timeout(_BOUND):
            thief = asyncio.create_task(steal_when_sent())
            report = await api.bulk.send_sms(numbers, type="internet", journal=pg_url,
                                             run="stolen", lease=0.6, chunk_size=20,
                                             concurrency=1, on_result=seen.append)
            await thief
    first = numbers[0]
    assert (report.total, report.succeeded, report.skipped) == (20, 19, 1)
    async with await PgLedger.open(pg_url, run="stolen") as ledger:
        outcomes = await ledger.outcomes()
    assert outcomes[first] == "unknown"
    assert Counter(outcomes.values()) == {"ok": 19, "unknown": 1}
    assert emu.stats.duplicates("send_sms") == {}
    assert len(emu.fleet.sims[first].sms_sent) == 1  # sent once, by the fenced-off worker
    assert [(r.number, r.skipped) for r in seen if r.skipped] == [(first, LEASE_LOST)]


async def test_a_stopped_worker_lets_its_chunks_go_and_a_later_one_finishes(
        pg_url: str) -> None:
    """max_duration stops a worker: what it did is in the ledger, its chunks are let go at
    once (no lease to wait for), and a worker joining later does exactly the rest."""
    emu = Emulator(sims=2_000, fast=True, faults=Faults(latency=0.01))
    async with emu, sa.AsyncSession(emu.base_url, login=emu.login,
                                    password=emu.password) as api:
        targets = targets_of(emu, 2_000)
        async with asyncio.timeout(_BOUND):
            first = await api.bulk.block(targets, journal=pg_url, run="stopped", lease=60.0,
                                         chunk_size=100, concurrency=10, max_duration=0.5)
            async with await PgLedger.open(pg_url, run="stopped") as ledger:
                between = await ledger.status()
            emu.faults = Faults()
            rest = await api.bulk.join(journal=pg_url, run="stopped", lease=60.0)
    assert first.stopped is not None
    assert 0 < first.succeeded < 2_000
    assert between.outcomes == {"ok": first.succeeded}
    assert between.chunks_leased == 0  # let go, not left to expire
    assert between.pending + between.in_flight == 2_000 - first.succeeded
    assert rest.succeeded == 2_000 - first.succeeded
    assert rest.failed == 0
    async with await PgLedger.open(pg_url, run="stopped") as ledger:
        assert Counter((await ledger.outcomes()).values()) == {"ok": 2_000}


async def test_sigterm_worker_lets_its_chunks_go_at_once(pg_url: str, emulator: Emulator) -> None:
    """A `bulk worker` stopped with SIGTERM exits 143 having stored what finished and let
    its chunks go (none left leased to wait for); its in-flight sends are "unknown"."""
    emulator.faults = Faults(latency=0.01)
    async with await PgLedger.open(pg_url, run="term") as ledger:
        await ledger.start_or_join("send_sms", {"type": "call"},
                                   [t.number for t in targets_of(emulator, 3_000)],
                                   chunk_size=100)
    async with asyncio.timeout(_BOUND):
        proc = await simapi(cli_env(emulator), "bulk", "worker", "--ledger", pg_url, "--run",
                            "term", "--lease", "60", "--concurrency", "8")
        await wait_for_rows(pg_url, "term", 200)
        proc.send_signal(signal.SIGTERM)
        _, err = await proc.communicate()
        async with await PgLedger.open(pg_url, run="term") as ledger:
            status = await ledger.status()
            outcomes = await ledger.outcomes()
    assert proc.returncode == 143, err
    assert b"simapi bulk worker --ledger" in err  # how to carry on
    assert status.chunks_leased == 0
    assert status.in_flight == 0
    ok = {n for n, o in outcomes.items() if o == "ok"}
    unknown = {n for n, o in outcomes.items() if o == "unknown"}
    sent = {n for n in outcomes if emulator.fleet.sims[n].sms_sent}
    assert ok
    assert ok <= sent <= ok | unknown  # nothing sent is left pending (to be sent again)
    assert set(Counter(outcomes.values())) <= {"ok", "unknown", None}
    assert emulator.stats.duplicates("send_sms") == {}


async def test_a_send_cancelled_while_its_mark_is_written_ends_pending(pg_url: str) -> None:
    """The race of a SIGTERM: a send is cancelled while its started mark is still being
    written, and its "never sent" result comes in before the mark commits. The mark must
    be undone after it lands (the target pending again, nothing left "started" to turn
    unknown), and only then the chunk let go."""
    from simapi_async._exceptions import NotAttemptedError
    from simapi_async.fleet._ledger_journal import LedgerJournal

    numbers = [str(79000000000 + i) for i in range(3)]
    journal = LedgerJournal(pg_url, "raced", "send_sms", {}, targets=numbers, chunk_size=3)
    await journal.load()
    marking, land = asyncio.Event(), asyncio.Event()
    write = journal.ledger.mark_started_many

    async def held_back(chunk: Any, targets: Any) -> set[str]:
        marking.set()
        await land.wait()
        return await write(chunk, targets)

    journal.ledger.mark_started_many = held_back  # type: ignore[method-assign]
    async with asyncio.timeout(_BOUND):
        handed = journal.targets(numbers)
        first = await anext(handed)
        waiter = asyncio.ensure_future(journal.record_started(first))
        await marking.wait()
        waiter.cancel()  # the send task is cancelled while it waits for its mark
        await journal.record(sa.ItemResult(first, False, NotAttemptedError(
            "cancelled before it was sent"), outcome="failed"))
        land.set()
        await journal.close()
        async with await PgLedger.open(pg_url, run="raced") as ledger:
            status = await ledger.status()
    assert (status.in_flight, status.pending, status.outcomes) == (0, 3, {})
    assert status.chunks_leased == 0


def test_the_file_and_the_ledger_journal_share_one_protocol(tmp_path: Path) -> None:
    """Both journals are a RunJournal; only the ledger's writes are awaited, and its name
    shows the URL without the password."""
    from simapi_async.bulk._journal import Journal
    from simapi_async.bulk._journal_protocol import RunJournal, open_journal

    file = open_journal(tmp_path / "j.jsonl", "block", {}, targets=[])
    ledger = open_journal("postgresql://app:hunter2@db/fleet", "block", {}, targets=[],
                          run="night")
    assert isinstance(file, Journal)
    assert isinstance(file, RunJournal)
    assert isinstance(ledger, RunJournal)
    assert (file.asynchronous, ledger.asynchronous) == (False, True)
    assert ledger.name == "postgresql://app:***@db/fleet run 'night'"
    assert "hunter2" not in repr(ledger)
    assert open_journal(file, "block", {}, targets=[]) is file  # a RunJournal as given


async def test_postgres_gone_stops_the_run_cleanly_and_a_later_worker_resumes(
        own_postgres: PostgresServer) -> None:
    """PostgreSQL down for longer than the ledger rides out: the run stops with
    JournalError carrying its report, nothing is lost; once it is back a worker joins and
    every target ends with exactly one result."""
    from simapi_async.fleet._ledger_journal import LedgerJournal

    url = own_postgres.url()
    stopped = False

    async def on_result(result: sa.ItemResult) -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            await asyncio.to_thread(own_postgres.stop)

    async with Emulator(sims=2_000, fast=True) as emu, sa.AsyncSession(
            emu.base_url, login=emu.login, password=emu.password) as api:
        targets = targets_of(emu, 2_000)
        journal = LedgerJournal(url, "gone", "block", {}, targets=targets, chunk_size=100,
                                write_ahead=False, reconnect_timeout=0.5, lease=1.0)
        async with asyncio.timeout(_BOUND):
            with pytest.raises(sa.JournalError, match=r"run ledger .* cannot be written") as err:
                await api.bulk.block(targets, journal=journal, on_result=on_result,
                                     concurrency=10)
            report = err.value.report
            assert isinstance(err.value.__cause__, sa.SimApiError), repr(err.value.__cause__)
            await asyncio.to_thread(own_postgres.start)
            rest = await api.bulk.join(journal=url, run="gone")  # once its leases expire
    assert report.stopped == "the journal cannot be written"
    assert report.succeeded > 0
    async with await PgLedger.open(url, run="gone") as ledger:
        outcomes = await ledger.outcomes()
    assert Counter(outcomes.values()) == {"ok": 2_000}
    assert rest.succeeded <= 2_000 - 1  # the first result at least was stored before
    assert all(emu.fleet.sims[n].blocked for n in outcomes)


async def test_skip_already_in_a_ledger_run_ends_every_target(
        pg_url: str, emulator: Emulator) -> None:
    """skip_already in a ledger run: the targets already so end skipped, each counted
    once in the ledger (not left pending for ever), and only the others are sent."""
    numbers = emulator.fleet.numbers[:300]
    for number in numbers:
        emulator.fleet.sims[number].unblock()
    for number in numbers[:100]:
        emulator.fleet.sims[number].block()
    async with sa.AsyncSession(emulator.base_url, login=emulator.login,
                               password=emulator.password) as api:
        report = await asyncio.wait_for(api.bulk.block(
            numbers, journal=pg_url, run="skipping", skip_already=True, chunk_size=50,
            worker="w1"), timeout=120)
    assert (report.succeeded, report.failed) == (200, 0)
    assert report.skipped == 100
    async with await PgLedger.open(pg_url, run="skipping") as ledger:
        outcomes = await ledger.outcomes()
    assert Counter(outcomes.values()) == {"ok": 200, "skipped": 100}
