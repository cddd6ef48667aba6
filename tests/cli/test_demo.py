"""`simapi demo`: the whole story on an emulated fleet, without a terminal."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from simapi_async.testing import Emulator
from tests.cli.conftest import Invoke


def test_demo_fast_runs_every_step_and_sums_up(invoke: Invoke, tmp_path: Path) -> None:
    """`demo --fast` logs in, counts the fleet, blocks a client (3 planted 404s among
    them, a revoked token and a 429 burst survived), sums up and writes the CDR CSV."""
    result = invoke(["demo", "--fast", "--sims", "2000", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for step in ("1/6", "Log in", "List the fleet", "Block every SIM", "Summary",
                 "Export a day of internet CDR", "Demo done in"):
        assert step in out
    assert "throughput" in out
    assert "404 NotFoundError         3" in out
    assert "a burst of 30 answers 429" in out
    assert "429 answers   30" in out
    assert "1 new login" in out
    assert "the emulator confirms" in out
    [export] = tmp_path.glob("cdr-*.csv")
    rows = list(csv.reader(export.read_text(encoding="utf-8").splitlines()))
    assert rows[0][:2] == ["number", "started_at"]
    assert len(rows) > 1
    assert rows[1][0] in out  # the first rows are shown


def test_demo_prints_no_secret(invoke: Invoke, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo never shows the emulator's password or any token the emulator issued."""
    issued: list[str] = []
    real_issue = Emulator.issue_token

    def issue(self: Emulator, ttl: float | None = None) -> str:
        token = real_issue(self, ttl)
        issued.append(token)
        return token

    monkeypatch.setattr(Emulator, "issue_token", issue)
    result = invoke(["demo", "--fast", "--sims", "500", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert len(issued) == 2  # the first login, and the one after the revocation
    for secret in ("demo-password", *issued):
        assert secret not in result.output
    assert "Bearer" not in result.output
