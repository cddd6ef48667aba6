"""`simapi bulk` runs: journal and resume, interruption, shards, 429s, exit statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from simapi_async.testing import Emulator
from tests.cli.conftest import EmulatorThread, Invoke, env_for, middleware


def numbers_file(path: Path, numbers: list[str]) -> str:
    path.write_text("\n".join(numbers) + "\n", encoding="utf-8")
    return str(path)


def block_writes(emu: Emulator) -> Counter[str]:
    return Counter({n: c for (op, n), c in emu.stats.writes.items() if op == "block"})


def test_all_succeeded_exits_0_and_drops_the_temporary_journal(
        invoke: Invoke, emu: Emulator, env: dict[str, str], tmp_path: Path) -> None:
    """A run where every target succeeds exits 0 and leaves no journal behind."""
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers[:30])
    result = invoke(["bulk", "block", path], env=env)
    assert result.exit_code == 0, result.output
    assert "succeeded    30" in result.stdout
    assert not list((tmp_path / "simapi-journals").glob("*.jsonl"))


def test_a_failed_target_keeps_the_temporary_journal_for_a_retry(
        invoke: Invoke, emu: Emulator, env: dict[str, str], tmp_path: Path) -> None:
    """With a failure, the temporary journal is kept and named; rerunning with it retries
    only the failure (exit 1 again, nothing else resent)."""
    path = numbers_file(tmp_path / "n.txt", [*emu.fleet.numbers[:5], "79999999999"])
    first = invoke(["bulk", "block", path], env=env)
    assert first.exit_code == 1
    [journal] = (tmp_path / "simapi-journals").glob("block-*.jsonl")
    assert str(journal) in first.stderr
    again = invoke(["bulk", "block", path, "--journal", str(journal), "--json"], env=env)
    data = json.loads(again.stdout)
    assert (again.exit_code, data["skipped"], data["failed"]) == (1, 5, 1)
    assert set(block_writes(emu).values()) == {1}


def test_resume_from_a_journal_left_by_a_partial_run(invoke: Invoke, emu: Emulator,
                                                     env: dict[str, str],
                                                     tmp_path: Path) -> None:
    """Targets a journal records as done are skipped, failed ones are retried, a torn last
    line is ignored; exit 0 once every target is done."""
    numbers = emu.fleet.numbers[:20]
    journal = tmp_path / "block.jsonl"
    lines = [json.dumps({"simapi_journal": 1, "op": "block", "params": {},
                         "started": "2026-01-01T00:00:00+00:00"})]
    lines += [json.dumps({"n": n, "o": "ok", "a": 1}) for n in numbers[:8]]
    lines += [json.dumps({"n": numbers[8], "o": "failed", "a": 1, "e": "503 ServerError"}),
              '{"n": "7918']  # killed mid-write
    journal.write_text("\n".join(lines), encoding="utf-8")
    path = numbers_file(tmp_path / "n.txt", numbers)
    result = invoke(["bulk", "block", path, "--journal", str(journal), "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["skipped"], data["succeeded"]) == (20, 8, 12)
    assert set(block_writes(emu)) == set(numbers[8:])
    assert data["journal"] == str(journal)


def test_a_journal_of_another_operation_is_refused(invoke: Invoke, emu: Emulator,
                                                   env: dict[str, str], tmp_path: Path) -> None:
    """Resuming `unblock` with a `block` journal exits 2 instead of skipping wrongly."""
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers[:3])
    journal = str(tmp_path / "j.jsonl")
    assert invoke(["bulk", "block", path, "--journal", journal], env=env).exit_code == 0
    result = invoke(["bulk", "unblock", path, "--journal", journal], env=env)
    assert result.exit_code == 2
    assert "another journal" in result.stderr


def test_ctrl_c_stops_cleanly_and_prints_how_to_resume(tmp_path: Path, invoke: Invoke) -> None:
    """SIGINT mid-run: exit 130, every finished target is in the journal, and the printed
    command resumes the run to completion without redoing them."""
    seen = {"block": 0}

    def interrupt_at_the_40th_block(request: web.Request) -> None:
        if "/sim/block/" in request.path:
            seen["block"] += 1
            if seen["block"] == 40:
                os.kill(os.getpid(), signal.SIGINT)

    with EmulatorThread([middleware(interrupt_at_the_40th_block)], sims=300, seed=7) as emu:
        numbers = emu.fleet.numbers
        path = numbers_file(tmp_path / "n.txt", numbers)
        journal = tmp_path / "run.jsonl"
        result = invoke(["bulk", "block", path, "--concurrency", "4",
                         "--journal", str(journal)], env=env_for(emu))
        assert result.exit_code == 130, result.output
        assert "Resume with" in result.stderr
        assert f"--journal {journal}" in result.stderr
        done = [json.loads(line)["n"] for line in journal.read_text().splitlines()[1:]]
        assert 0 < len(done) < len(numbers)
        resumed = invoke(["bulk", "block", path, "--journal", str(journal), "--json"],
                         env=env_for(emu))
        data = json.loads(resumed.stdout)
        assert (resumed.exit_code, data["skipped"]) == (0, len(set(done)))
        assert all(emu.fleet.sims[n].blocked for n in numbers)
        assert all(block_writes(emu)[n] == 1 for n in done)


def test_sigterm_stops_the_console_script_with_143(tmp_path: Path) -> None:
    """The installed command (a subprocess) stops on SIGTERM with exit 143 and a resume hint."""
    proc: dict[str, subprocess.Popen[bytes]] = {}
    ready = threading.Event()
    seen = {"block": 0}

    def terminate_at_the_30th_block(request: web.Request) -> None:
        if "/sim/block/" in request.path:
            seen["block"] += 1
            if seen["block"] == 30:
                ready.wait()
                proc["p"].send_signal(signal.SIGTERM)

    with EmulatorThread([middleware(terminate_at_the_30th_block)], sims=300, seed=7) as emu:
        path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers)
        journal = tmp_path / "run.jsonl"
        proc["p"] = subprocess.Popen(
            [sys.executable, "-m", "simapi_async.cli", "bulk", "block", path,
             "--concurrency", "2", "--journal", str(journal)],
            env={**os.environ, **env_for(emu)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ready.set()
        _out, err = proc["p"].communicate(timeout=60)
    assert proc["p"].returncode == 143, err.decode()
    assert b"Resume with" in err
    assert len(journal.read_text().splitlines()) > 1


def test_shards_split_the_targets_without_overlap(invoke: Invoke, emu: Emulator,
                                                  env: dict[str, str], tmp_path: Path) -> None:
    """Three shards of one file together do every target exactly once."""
    numbers = emu.fleet.numbers[:90]
    path = numbers_file(tmp_path / "n.txt", numbers)
    totals = []
    for i in range(3):
        result = invoke(["bulk", "block", path, "--shard", f"{i}/3", "--json"], env=env)
        assert result.exit_code == 0, result.output
        totals.append(json.loads(result.stdout)["total"])
    assert sum(totals) == 90
    assert all(totals)
    assert block_writes(emu) == Counter(dict.fromkeys(numbers, 1))


def test_a_burst_of_429s_does_not_stall_the_run(invoke: Invoke, tmp_path: Path) -> None:
    """After a burst of 429s mid-run lowers the concurrency, the run still ends with every
    target done (exit 0)."""
    seen = {"block": 0}
    holder: dict[str, Emulator] = {}

    def burst_at_the_10th_block(request: web.Request) -> None:
        if "/sim/block/" in request.path:
            seen["block"] += 1
            if seen["block"] == 10:
                holder["emu"].fail_next(25, status=429, retry_after=0.0)

    with EmulatorThread([middleware(burst_at_the_10th_block)], sims=300, seed=7) as emu:
        holder["emu"] = emu
        path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers[:80])
        result = invoke(["bulk", "block", path, "--concurrency", "16", "--json"],
                        env=env_for(emu))
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert data["succeeded"] == 80
        # Each 429 cost one more request (resent by the session's retry or, when it came
        # back to the engine, by the run's requeue: which one is a matter of timing), plus
        # one listing for the identifiers; nothing failed.
        assert data["requests"] == 80 + 25 + 1
        assert data["retries"] <= 25
        assert emu.stats.injected["429"] == 25


def test_max_failures_stops_the_run(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                    tmp_path: Path) -> None:
    """--max-failures stops sending after that many failures; the rest are not attempted."""
    unknown = [f"7999999{i:04d}" for i in range(10)]
    path = numbers_file(tmp_path / "n.txt", [*unknown, *emu.fleet.numbers[:10]])
    result = invoke(["bulk", "block", path, "--max-failures", "3", "--concurrency", "1",
                     "--json"], env=env)
    data = json.loads(result.stdout)
    assert result.exit_code == 1
    assert data["not_attempted"] == 17
    assert data["total"] == 20
    assert not block_writes(emu)


@pytest.mark.parametrize(("args", "check"), [
    (["send-sms", "--type", "call"], lambda s: s.sms_sent == ["call"]),
    (["small-packet"], lambda s: len(s.small_packets) == 1),
    (["change-packet", "--packet-id", "101", "--date", "2099-01-01"],
     lambda s: s.scheduled_packet is not None and s.scheduled_packet[0] == 101),
    (["unblock-service", "--service", "sms"], lambda s: s.blocked_services == {"internet"}),
    (["activate", "--packet-id", "103"], lambda s: s.packet_id == 103),
])
def test_operations_with_arguments(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                   tmp_path: Path, args: list[str], check: object) -> None:
    """Each operation takes its arguments as options and applies them to every target
    (unblock-service lifts sms from SIMs that had sms and internet blocked)."""
    numbers = emu.fleet.numbers[:12]
    if args[0] == "unblock-service":  # no command runs: the emulator's state is ours
        for number in numbers:
            emu.fleet.sims[number].blocked_services = {"sms", "internet"}
    path = numbers_file(tmp_path / "n.txt", numbers)
    result = invoke(["bulk", args[0], path, *args[1:], "--rate", "5000"], env=env)
    assert result.exit_code == 0, result.output
    assert all(check(emu.fleet.sims[n]) for n in numbers)  # type: ignore[operator]


def test_summary_json_counts_requests(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                      tmp_path: Path) -> None:
    """The --json summary counts what the run cost: one listing of the fleet (for the
    identifiers) and a write per target."""
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers[:10])
    data = json.loads(invoke(["bulk", "unblock", path, "--json", "--no-journal"],
                             env=env).stdout)
    assert (data["ok"], data["requests"], data["retries"], data["journal"]) == \
        (True, 11, 0, None)


def test_sigterm_without_a_journal_says_no_journal_only(tmp_path: Path, invoke: Invoke) -> None:
    """SIGTERM during `--no-journal`: exit 143 and one consistent message (no journal was
    written), never also "every finished one is in the journal"."""
    seen = {"block": 0}

    def terminate_at_the_20th_block(request: web.Request) -> None:
        if "/sim/block/" in request.path:
            seen["block"] += 1
            if seen["block"] == 20:
                os.kill(os.getpid(), signal.SIGTERM)

    with EmulatorThread([middleware(terminate_at_the_20th_block)], sims=300, seed=7) as emu:
        path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers)
        result = invoke(["bulk", "block", path, "--concurrency", "2", "--no-journal"],
                        env=env_for(emu))
    assert result.exit_code == 143, result.output
    assert "no journal was written (--no-journal): a rerun starts over." in result.stderr
    assert "in the journal" not in result.stderr
    assert "Resume with" not in result.stderr


@pytest.mark.parametrize(("op", "args", "expected"), [
    ("block", ["--durable"], 1 + 12),        # the header and every line
    ("block", [], 0),                        # the default: flushed, not fsynced
    ("send-sms", ["--type", "call"], 12),    # write-ahead lines: always fsynced
])
def test_durable_fsyncs_the_journal(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    op: str, args: list[str], expected: int) -> None:
    """--durable fsyncs every journal line; without it only write-ahead lines are."""
    fsyncs: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real(fd))[1])
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers[:12])
    result = invoke(["bulk", op, path, *args, "--journal", str(tmp_path / "j.jsonl")],
                    env=env)
    assert result.exit_code == 0, result.output
    assert len(fsyncs) == expected


def test_durable_needs_a_journal(invoke: Invoke, env: dict[str, str], tmp_path: Path) -> None:
    """--durable with --no-journal is a usage error (exit 2), nothing sent."""
    path = numbers_file(tmp_path / "n.txt", ["79181111111"])
    result = invoke(["bulk", "block", path, "--durable", "--no-journal"], env=env)
    assert result.exit_code == 2
    assert "--durable and --no-journal do not go together" in result.output


def test_failures_are_retried_from_the_journal_by_the_cli(tmp_path: Path,
                                                          invoke: Invoke) -> None:
    """`simapi bulk` with failures (422 and 503 refusals) exits 1 with them journaled as
    failed; the same command with --journal sends exactly those again and skips the rest."""
    state = {"refusing": True, "refused": 0}
    refuse: dict[str, int] = {}

    def refuse_some(request: web.Request) -> web.StreamResponse | None:
        number = request.path.rsplit("/", 1)[-1]
        if state["refusing"] and "/sim/block/" in request.path and number in refuse:
            state["refused"] += 1
            return web.json_response({"message": "not now"}, status=refuse[number])
        return None

    with EmulatorThread([middleware(refuse_some)], sims=300, seed=7) as emu:
        numbers = emu.fleet.numbers[:25]
        refuse.update({numbers[2]: 422, numbers[9]: 503, numbers[17]: 422})
        path = numbers_file(tmp_path / "n.txt", numbers)
        journal = tmp_path / "run.jsonl"
        args = ["bulk", "block", path, "--journal", str(journal), "--json",
                "--max-retries", "0"]
        env = env_for(emu)
        first = invoke(args, env=env)
        assert first.exit_code == 1, first.output
        failed = sorted(json.loads(line)["n"] for line in journal.read_text().splitlines()
                        if '"failed"' in line)
        assert failed == sorted(refuse)
        state["refusing"] = False
        again = invoke(args, env=env)
        data = json.loads(again.stdout)
        assert again.exit_code == 0, again.output
        assert (data["skipped"], data["succeeded"], data["failed"]) == (22, 3, 0)
        assert emu.stats.requests["block"] == 22 + 3
        assert all(emu.stats.writes[("block", n)] == 1 for n in numbers)
        assert all(emu.fleet.sims[n].blocked for n in numbers)
    assert state["refused"] == 3


def test_a_full_disk_stops_the_run_with_its_summary(invoke: Invoke, emu: Emulator,
                                                    env: dict[str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A journal write failing with ENOSPC stops the command: exit 1, the summary of
    what was done, and the error naming the journal; the rest is not attempted."""
    import errno

    from simapi_async.bulk._journal import Journal

    real_open = Journal.open

    class Full:
        def __init__(self, real: Any) -> None:
            self.real, self.room = real, 3

        def write(self, text: str) -> int:
            if self.room <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= 1
            return int(self.real.write(text))

        def __getattr__(self, name: str) -> Any:
            return getattr(self.real, name)

    def opening(self: Journal) -> None:
        real_open(self)
        self._file = Full(self._file)  # type: ignore[assignment]

    monkeypatch.setattr(Journal, "open", opening)
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers[:20])
    journal = tmp_path / "j.jsonl"
    result = invoke(["bulk", "block", path, "--journal", str(journal), "--concurrency", "1",
                     "--json"], env=env)
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["succeeded"], data["not_attempted"]) == (20, 4, 16)
    assert f"journal {journal} cannot be written: No space left on device" in result.stderr
