"""The journal on the disk: fsync with `durable=True` (write-ahead lines always), a
journal that cannot be written stops the run with `JournalError` and its report."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import IO, Any

import pytest

import simapi_async as sa
from simapi_async.bulk import _journal
from simapi_async.bulk._journal import Journal
from simapi_async.testing import Emulator

from ..helpers import connected, targets_of


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every fsync the journal makes (the real one still runs)."""
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(_journal.os, "fsync", counting)
    return calls


def _outcomes(path: Path) -> list[str]:
    return [json.loads(line)["o"] for line in path.read_text().splitlines()
            if line.strip() and '"n"' in line]


@pytest.mark.parametrize(("op", "kwargs", "durable", "expected"), [
    ("block", {}, False, 0),                        # the fast default: flushed only
    ("block", {}, True, 1 + 20),                    # the header and every line
    ("send_sms", {"type": "internet"}, False, 20),  # the write-ahead lines, always
    ("send_sms", {"type": "internet"}, True, 1 + 20 + 20),
])
async def test_durable_fsyncs_each_line_before_its_target_counts(
    emu: Emulator, tmp_path: Path, fsyncs: list[int], op: str, kwargs: dict[str, Any],
    durable: bool, expected: int,
) -> None:
    """With durable=True every journal line is fsynced before its result is handed
    over; without, only a non-idempotent operation's write-ahead lines are."""
    seen_at_result: list[int] = []
    async with connected(emu) as api:
        report = await api.bulk.run(op, targets_of(emu, 20), journal=tmp_path / "j.jsonl",
                                    durable=durable, concurrency=4,
                                    on_result=lambda r: seen_at_result.append(len(fsyncs)),
                                    **kwargs)
    assert report.succeeded == 20
    assert len(fsyncs) == expected
    if durable:  # the n-th result arrives after at least n line fsyncs (+ the header)
        assert all(seen >= i + 2 for i, seen in enumerate(sorted(seen_at_result)))


async def test_durable_must_be_a_bool(emu: Emulator, tmp_path: Path) -> None:
    """durable="yes" is refused before any request."""
    async with connected(emu) as api:
        with pytest.raises(sa.InvalidInputError, match="durable"):
            await api.bulk.block(targets_of(emu, 2), journal=tmp_path / "j", durable="yes")
    assert emu.stats.requests["block"] == 0


class _FullDisk:
    """A journal file whose writes fail with ENOSPC after `room` lines."""

    def __init__(self, real: IO[str], room: int) -> None:
        self._real = real
        self.room = room

    def write(self, text: str) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= 1
        return self._real.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Journals opened from now on take the header and 5 more lines, then the disk is
    full."""
    real_open = Journal.open

    def opening(self: Journal) -> None:
        real_open(self)
        assert self._file is not None
        self._file = _FullDisk(self._file, 5)  # type: ignore[assignment]

    monkeypatch.setattr(Journal, "open", opening)


@pytest.mark.parametrize(("op", "kwargs", "sent", "journaled"), [
    # targets 1-5 journaled; target 6 done, its line fails: the run stops
    ("block", {}, 6, 5),
    # 2 lines per target (write-ahead, outcome): targets 1-2 journaled, target 3 gets its
    # write-ahead line, its outcome line fails; target 4's write-ahead fails: not sent
    ("send_sms", {"type": "internet"}, 3, 2),
])
async def test_a_full_disk_stops_the_run_with_journal_error_and_its_report(
    emu: Emulator, tmp_path: Path, full_disk: None, op: str, kwargs: dict[str, Any],
    sent: int, journaled: int,
) -> None:
    """A journal write failing with ENOSPC stops the run: JournalError carries the report
    (every target accounted for, the rest "not attempted"), no request goes out without
    its write-ahead line, and the journal holds what was written before."""
    path = tmp_path / "j.jsonl"
    async with connected(emu) as api:
        with pytest.raises(sa.JournalError, match="No space left") as info:
            await api.bulk.run(op, targets_of(emu, 40), journal=path, concurrency=1,
                               **kwargs)
    report = info.value.report
    assert isinstance(report, sa.BulkReport)
    assert info.value.path == str(path)
    assert report.total == 40
    assert report.succeeded + report.failed == 40
    assert report.succeeded == sent
    assert report.not_attempted == 40 - sent
    assert emu.stats.requests[op] == sent
    assert _outcomes(path).count("ok") == journaled


async def test_a_full_disk_stops_a_stream_too(
    emu: Emulator, tmp_path: Path, full_disk: None
) -> None:
    """api.bulk.stream yields every result, then raises JournalError with the report."""
    results: list[sa.ItemResult] = []

    async def consume(api: sa.AsyncSession) -> None:
        async for result in api.bulk.stream("block", targets_of(emu, 30),
                                            journal=tmp_path / "j.jsonl", concurrency=2):
            results.append(result)

    async with connected(emu) as api:
        with pytest.raises(sa.JournalError) as info:
            await consume(api)
    assert len(results) == info.value.report.total == 30


async def test_a_run_stopped_by_a_full_disk_resumes_from_its_journal(
    emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once there is room again, a rerun with the journal skips what it recorded as done
    and does the rest: every SIM blocked once."""
    path = tmp_path / "j.jsonl"
    real_open = Journal.open

    def opening(self: Journal) -> None:
        real_open(self)
        assert self._file is not None
        self._file = _FullDisk(self._file, 5)  # type: ignore[assignment]

    async with connected(emu) as api:
        monkeypatch.setattr(Journal, "open", opening)
        with pytest.raises(sa.JournalError):
            await api.bulk.block(targets_of(emu, 30), journal=path, concurrency=1)
        monkeypatch.undo()
        again = await api.bulk.block(targets_of(emu, 30), journal=path, concurrency=1)
    assert (again.skipped, again.succeeded) == (5, 25)
    # the 6th was done but its line never written: done again (harmless, idempotent)
    writes = [emu.stats.writes[("block", n)] for n in emu.fleet.numbers[:30]]
    assert writes == [1] * 5 + [2] + [1] * 24
    assert all(emu.fleet.sims[n].blocked for n in emu.fleet.numbers[:30])
