"""`simapi bulk ... --plan`, `--skip-already`, `--canary`, and `simapi bulk undo JOURNAL`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from simapi_async.testing import Emulator
from tests.cli.conftest import EmulatorThread, Invoke


def numbers_file(path: Path, numbers: list[str]) -> str:
    path.write_text("\n".join(numbers) + "\n", encoding="utf-8")
    return str(path)


def writes(emu: Emulator, op: str) -> Counter[str]:
    return Counter({n: c for (o, n), c in emu.stats.writes.items() if o == op})


def blocked_every_tenth(emu: Emulator) -> set[str]:
    for s in emu.fleet.sims.values():
        s.unblock()
    blocked = set(emu.fleet.numbers[::10])
    for n in blocked:
        emu.fleet.sims[n].block()
    return blocked


def test_plan_prints_what_a_run_would_do_and_writes_nothing(
        invoke: Invoke, served: EmulatorThread, env: dict[str, str], tmp_path: Path) -> None:
    """--plan: to change / already so / unknown numbers / bad lines and the request cost;
    no write reaches the API; exit 1 because of the unknown number and the bad line."""
    emu = served.emu
    served.call(blocked_every_tenth, emu)
    path = numbers_file(tmp_path / "n.txt", [*emu.fleet.numbers, "78000000001", "hello"])
    result = invoke(["bulk", "block", path, "--plan"], env=env)
    assert result.exit_code == 1, result.output
    out = " ".join(result.stdout.split())
    assert "nothing written" in out
    assert "to change 270 already so 30 (30 already blocked) unknown numbers 1 bad lines 1" \
        in out
    assert "a run costs 302 requests; 272 with --skip-already" in out
    assert "78000000001" in out
    assert not emu.stats.writes


def test_plan_json(invoke: Invoke, served: EmulatorThread, env: dict[str, str],
                   tmp_path: Path) -> None:
    """--plan --json: the counts and the request cost (one listing request here, against
    one lookup per target by lookups); exit 0 when every target is known and valid."""
    emu = served.emu
    served.call(blocked_every_tenth, emu)
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers)
    result = invoke(["bulk", "block", path, "--plan", "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["to_change"], data["already"], data["unknown_numbers"], data["bad_lines"]) \
        == (270, 30, 0, 0)
    assert (data["read_by"], data["read_requests"], data["requests_by_lookups"]) == \
        ("listing", 1, 300)
    assert (data["requests_sending_all"], data["requests_skipping"]) == (301, 271)
    assert not emu.stats.writes


def test_skip_already_then_undo(invoke: Invoke, served: EmulatorThread, env: dict[str, str],
                                tmp_path: Path) -> None:
    """--skip-already sends only the 270 blocks needed; `bulk undo JOURNAL` unblocks exactly
    those, and the 30 blocked before stay blocked."""
    emu = served.emu
    blocked = served.call(blocked_every_tenth, emu)
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers)
    journal = tmp_path / "block.jsonl"
    run = invoke(["bulk", "block", path, "--skip-already", "--journal", str(journal),
                  "--json"], env=env)
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert (data["succeeded"], data["skipped"], data["already"]) == (270, 30, 30)
    assert emu.stats.requests["block"] == 270
    undo = invoke(["bulk", "undo", str(journal)], env=env)
    assert undo.exit_code == 0, undo.output
    assert "unblock on 270 target(s) it changed" in undo.stderr
    assert set(writes(emu, "unblock")) == set(emu.fleet.numbers) - blocked
    assert {n for n, s in emu.fleet.sims.items() if s.blocked} == blocked
    assert (tmp_path / "block.undo.jsonl").exists()


def test_undo_of_send_sms_refuses_and_lists_what_was_done(
        invoke: Invoke, served: EmulatorThread, env: dict[str, str], tmp_path: Path) -> None:
    """`bulk undo` of a send-sms journal: exit 1, why, and every number it was sent to."""
    emu = served.emu
    numbers = emu.fleet.numbers[:4]
    journal = tmp_path / "sms.jsonl"
    assert invoke(["bulk", "send-sms", numbers_file(tmp_path / "n.txt", numbers), "--type",
                   "call", "--journal", str(journal)], env=env).exit_code == 0
    result = invoke(["bulk", "undo", str(journal)], env=env)
    assert result.exit_code == 1
    assert "send-sms cannot be undone (an SMS cannot be unsent)" in result.stderr
    assert result.stdout.split() == numbers


def test_canary_with_failures_stops_and_says_how_to_go_on(
        invoke: Invoke, served: EmulatorThread, env: dict[str, str], tmp_path: Path) -> None:
    """--canary 20 with 2 unknown numbers among the first 20: exit 1 after 20 targets, the
    rest unsent; the printed command (no --canary) finishes the rest from the journal."""
    emu = served.emu
    numbers = list(emu.fleet.numbers)
    numbers[3], numbers[7] = "78000000001", "78000000002"
    path = numbers_file(tmp_path / "n.txt", numbers)
    journal = tmp_path / "j.jsonl"
    result = invoke(["bulk", "block", path, "--canary", "20", "--journal", str(journal)],
                    env=env)
    assert result.exit_code == 1, result.output
    assert "stopped after the canary: canary: 2 of 20 failed (10%)" in result.stderr
    assert emu.stats.requests["block"] == 18
    command = result.stderr.split("The rest, after the canary, with:")[1].split()
    assert "--canary" not in command
    rest = invoke(command[1:], env=env)
    assert rest.exit_code == 1  # the two unknown numbers fail again
    assert set(writes(emu, "block").values()) == {1}
    assert len(writes(emu, "block")) == 298


def test_canary_without_failures_goes_on(invoke: Invoke, served: EmulatorThread,
                                         env: dict[str, str], tmp_path: Path) -> None:
    """--canary 20 with no failure, not on a terminal: it goes on and finishes (exit 0)."""
    emu = served.emu
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers)
    result = invoke(["bulk", "block", path, "--canary", "20", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 300
    assert "canary: 20 of 20 succeeded" in result.stderr


@pytest.mark.parametrize(("answer", "code", "sent"), [("y\n", 0, 300), ("n\n", 1, 20)])
def test_canary_on_a_terminal_asks_before_going_on(
        invoke: Invoke, served: EmulatorThread, env: dict[str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, answer: str, code: int, sent: int) -> None:
    """On a terminal a passed canary asks "Go on with the rest?": yes finishes, no stops."""
    emu = served.emu
    monkeypatch.setattr("simapi_async.cli._bulk.can_ask", lambda: True)
    path = numbers_file(tmp_path / "n.txt", emu.fleet.numbers)
    result = invoke(["bulk", "block", path, "--canary", "20", "--journal",
                     str(tmp_path / "j.jsonl")], env=env, input=answer)
    assert result.exit_code == code, result.output
    assert "Go on with the rest?" in result.stderr
    assert emu.stats.requests["block"] == sent
