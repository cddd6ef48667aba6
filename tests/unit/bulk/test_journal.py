"""The journal file: lines, headers, torn lines, resuming state."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import simapi_async as sa
from simapi_async.bulk._journal import Journal
from simapi_async.bulk._report import FAILED, OK, UNKNOWN, ItemResult


def _result(number: str, outcome: str) -> ItemResult:
    error = None if outcome == OK else sa.NotFoundError("SIM card not found.", status=404)
    return ItemResult(sa.Target(number), outcome == OK, error, 1, outcome=outcome)


def test_lines_are_written_and_read_back(tmp_path: Path) -> None:
    """Each finished target is one flushed JSON line; load() sees done and unknown ones."""
    path = tmp_path / "j.jsonl"
    journal = Journal(path, "send_sms", {"type": "internet"})
    journal.open()
    journal.record(_result("79000000001", OK))
    assert len(path.read_text().splitlines()) == 2  # flushed at once: header + the line
    journal.record(_result("79000000002", FAILED))
    journal.record(_result("79000000003", UNKNOWN))
    journal.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["op"] == "send_sms"
    assert lines[2]["e"].startswith("404 NotFoundError")
    state = Journal(path, "send_sms", {"type": "internet"}).load()
    assert state.finished == 3
    assert "79000000001" in state.done
    assert "79000000002" not in state.done
    assert "79000000003" in state.unknown


def test_torn_and_garbage_lines_are_ignored(tmp_path: Path) -> None:
    """A line cut by a hard kill is skipped and counted; appending starts on a new line."""
    path = tmp_path / "j.jsonl"
    path.write_text('{"simapi_journal": 1, "op": "block", "params": {}}\n'
                    '{"n": "79000000001", "o": "ok", "a": 1}\n{"n": "790000')
    journal = Journal(path, "block", {})
    state = journal.load()
    assert (state.finished, state.torn) == (1, 1)
    journal.open()
    journal.record(_result("79000000002", OK))
    journal.close()
    assert path.read_text().splitlines()[-1] == '{"n": "79000000002", "o": "ok", "a": 1}'


@pytest.mark.parametrize("number", ["\u00b2", "\u0667" * 11, "079000000001", "7900000000", ""])
def test_a_hand_edited_number_is_a_bad_line_not_a_crash_or_a_match(
    tmp_path: Path, number: str
) -> None:
    """Only numbers in the engine's normal form (11 ASCII digits) count: a superscript,
    Arabic-Indic digits or a leading zero neither crash the resume nor mark a real
    number as done."""
    path = tmp_path / "j.jsonl"
    path.write_text('{"simapi_journal": 1, "op": "block", "params": {}}\n'
                    + json.dumps({"n": number, "o": "ok", "a": 1}) + "\n")
    state = Journal(path, "block", {}).load()
    assert (state.finished, state.torn) == (0, 1)
    assert "79000000001" not in state.done


def test_a_journal_of_another_run_is_refused(tmp_path: Path) -> None:
    """Operation or arguments differing from the journal's header raise InvalidInputError."""
    path = tmp_path / "j.jsonl"
    first = Journal(path, "change_packet", {"packet_id": 3, "date": "2026-12-01"})
    first.open()
    first.close()
    with pytest.raises(sa.InvalidInputError, match="change_packet"):
        Journal(path, "change_packet", {"packet_id": 4, "date": "2026-12-01"}).load()
    with pytest.raises(sa.InvalidInputError):
        Journal(path, "block", {}).load()


def test_a_started_line_without_an_outcome_reads_as_unknown(tmp_path: Path) -> None:
    """Write-ahead: killed while in flight → unknown; started then finished → its outcome."""
    path = tmp_path / "j.jsonl"
    journal = Journal(path, "send_sms", {"type": "call"})
    journal.open()
    for number in ("79000000001", "79000000002", "79000000003"):
        journal.record_started(sa.Target(number))
    journal.record(_result("79000000002", OK))
    journal.record(_result("79000000003", FAILED))
    journal.close()
    state = Journal(path, "send_sms", {"type": "call"}).load()
    assert "79000000001" in state.unknown  # the process died before its answer
    assert "79000000002" in state.done
    assert "79000000002" not in state.unknown
    assert "79000000003" not in state.unknown
    assert "79000000003" not in state.done
    assert state.finished == 2


def test_the_engines_own_lines_for_invalid_inputs_are_not_unreadable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A journal line recording an invalid input (written by the engine itself) reads back
    as an invalid input, not as an unreadable line: no warning."""
    path = tmp_path / "j.jsonl"
    journal = Journal(path, "block", {})
    journal.open()
    error = sa.InvalidInputError("number", "12345", "has 5 digits")
    journal.record(ItemResult(sa.Target("12345"), False, error, outcome=FAILED))
    journal.record(_result("79000000001", OK))
    journal.close()
    with caplog.at_level(logging.WARNING, logger="simapi_async"):
        state = Journal(path, "block", {}).load()
    assert (state.invalid, state.torn, state.finished) == (1, 0, 1)
    assert not caplog.records

