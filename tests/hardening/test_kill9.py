"""Kill -9: `simapi bulk ... --journal J` killed (SIGKILL) mid-run, then rerun with J.

The emulator runs in the test process, so it outlives the child and keeps its counters;
the child is the real command line (`python -m simapi_async.cli`). The kill comes when
the emulator has processed a random number of writes (an event, not a timer).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ._chaos import ChaosEmulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

TARGETS = 3_000
CONCURRENCY = 20


def _journal_outcomes(path: Path) -> dict[str, str]:
    """number → outcome of every readable target line (a torn last line is skipped)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "n" in entry:
            out[entry["n"]] = entry["o"]
    return out


async def _simapi(emu: ChaosEmulator, tmp: Path, name: str, *args: str
                  ) -> asyncio.subprocess.Process:
    """Start `simapi bulk ARGS` against the emulator; its output goes to files in `tmp`
    (a pipe nobody reads could fill and stall the child)."""
    env = {**os.environ, "SIMAPI_PASSWORD": emu.password}
    env.pop("SIMAPI_TOKEN", None)
    with (tmp / f"{name}.out").open("wb") as out, (tmp / f"{name}.err").open("wb") as err:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simapi_async.cli", "bulk", *args,
            "--base-url", emu.base_url, "--login", emu.login, "--json",
            "--concurrency", str(CONCURRENCY), env=env, stdout=out, stderr=err,
        )


async def _kill_when(proc: asyncio.subprocess.Process, moment: asyncio.Event) -> None:
    """SIGKILL the child at `moment`; fail if it finished before."""
    moment_task = asyncio.ensure_future(moment.wait())
    exit_task = asyncio.ensure_future(proc.wait())
    await asyncio.wait({moment_task, exit_task}, return_when=asyncio.FIRST_COMPLETED)
    moment_task.cancel()
    assert not exit_task.done(), f"the child ended (status {proc.returncode}) before the kill"
    proc.kill()
    assert await exit_task == -signal.SIGKILL


def _summary(tmp: Path, name: str) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((tmp / f"{name}.out").read_text())
    return summary


async def test_kill_9_then_resume_repeats_no_finished_target(
    tmp_path: Path, rng: random.Random
) -> None:
    """Killed after a random number of blocks, the rerun with the same journal does every
    target, and no target the journal recorded as done is sent again."""
    kill_at = rng.randrange(TARGETS // 10, TARGETS * 8 // 10)
    emu = ChaosEmulator(sims=TARGETS, seed=31, fast=True)
    moment = asyncio.Event()

    async def watch(request: web.Request) -> None:
        if emu.stats.requests["block"] >= kill_at:
            moment.set()

    emu.on_processed = watch
    async with emu:
        numbers = tmp_path / "numbers.txt"
        numbers.write_text("\n".join(emu.fleet.numbers) + "\n")
        journal = tmp_path / "block.jsonl"
        args = ("block", str(numbers), "--journal", str(journal))

        await _kill_when(await _simapi(emu, tmp_path, "first", *args), moment)
        done_first = {n for n, o in _journal_outcomes(journal).items() if o == "ok"}
        writes_first = Counter(emu.stats.writes)
        assert 0 < len(done_first) < TARGETS
        assert all(writes_first[("block", n)] == 1 for n in done_first)

        rerun = await _simapi(emu, tmp_path, "second", *args)
        assert await rerun.wait() == 0, (tmp_path / "second.err").read_text()[-2000:]

    summary = _summary(tmp_path, "second")
    assert summary["total"] == TARGETS
    assert summary["skipped"] == len(done_first)
    assert summary["succeeded"] == TARGETS - len(done_first)
    assert all(sim.blocked for sim in emu.fleet.sims.values())
    writes = emu.stats.writes
    assert [n for n in done_first if writes[("block", n)] != 1] == []  # none repeated
    # Only requests in flight at the kill (answered, not yet journaled) went twice.
    assert sum(writes.values()) - TARGETS <= CONCURRENCY
    print(f"killed after {kill_at} blocks, {len(done_first)} journaled; "
          f"{sum(writes.values()) - TARGETS} sent twice")


async def test_kill_9_during_send_sms_then_resume_sends_no_second_sms(tmp_path: Path) -> None:
    """An SMS the server sent but whose answer the killed run never saw is not resent:
    its write-ahead line makes it "unknown" on resume (skipped, exit status 1)."""
    emu = ChaosEmulator(sims=300, seed=32, fast=True)
    moment, held = asyncio.Event(), asyncio.Event()
    held_number: list[str] = []

    async def hold_the_50th(request: web.Request) -> None:
        if emu.stats.requests["send_sms"] == 50 and not moment.is_set():
            held_number.append(request.path.rsplit("/", 1)[-1])
            moment.set()  # applied; its answer never leaves before the kill
            await held.wait()

    emu.on_processed = hold_the_50th
    async with emu:
        numbers = tmp_path / "numbers.txt"
        numbers.write_text("\n".join(emu.fleet.numbers) + "\n")
        journal = tmp_path / "sms.jsonl"
        args = ("send-sms", str(numbers), "--type", "call", "--journal", str(journal))
        await _kill_when(await _simapi(emu, tmp_path, "first", *args), moment)
        held.set()
        emu.on_processed = None
        in_flight = {n for n, o in _journal_outcomes(journal).items() if o == "started"}
        rerun = await _simapi(emu, tmp_path, "second", *args)
        assert await rerun.wait() == 1  # complete, but with outcomes left unknown
    sent = {n: len(s.sms_sent) for n, s in emu.fleet.sims.items()}
    assert emu.stats.duplicates("send_sms") == {}
    assert held_number[0] in in_flight
    assert sent[held_number[0]] == 1
    assert {n for n, count in sent.items() if count != 1} <= in_flight
    assert _summary(tmp_path, "second")["total"] == 300
