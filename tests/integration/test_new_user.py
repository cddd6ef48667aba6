"""What a new user trying the SDK ran into: a rerun's journal warning about the SDK's own
lines, one Luhn warning per target."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import simapi_async as sa
from simapi_async import _validation
from simapi_async.testing import Emulator

from ..helpers import connected

DOCS_ICCID = "8970199220150123456"  # the API docs' example: fails Luhn


async def test_a_rerun_after_an_invalid_input_warns_of_nothing(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """api.bulk.block(["12345", valid], journal=...) twice: the second run fails the
    invalid input again (validated again) and logs no "unreadable line" warning."""
    path = tmp_path / "r.jsonl"
    inputs = ["12345", emu.fleet.numbers[0]]
    async with connected(emu) as api:
        await api.bulk.block(inputs, journal=path)
        with caplog.at_level(logging.WARNING, logger="simapi_async"):
            again = await api.bulk.block(inputs, journal=path)
    assert (again.failed, again.skipped) == (1, 1)
    assert isinstance(again.failures[0].error, sa.InvalidInputError)
    assert not [r for r in caplog.records if "unreadable" in r.getMessage()]


async def test_a_fleet_failing_luhn_is_one_warning_and_a_count(
    emu: Emulator, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """300 targets whose ICCIDs fail Luhn log one WARNING (not 300) and one line with the
    count at the end of the run."""
    monkeypatch.setattr(_validation._LUHN_FAILURES, "count", 0)
    base = DOCS_ICCID[:-4]
    iccids = [i for i in (f"{base}{n:04d}" for n in range(400))
              if not _validation.luhn_ok(i)][:300]
    targets = [sa.Target(n, iccid=i) for n, i in zip(emu.fleet.numbers, iccids, strict=False)]
    async with connected(emu) as api:
        with caplog.at_level(logging.INFO, logger="simapi_async"):
            await api.bulk.block(targets)
    messages = [(r.levelno, r.getMessage()) for r in caplog.records if "Luhn" in r.getMessage()]
    assert [level for level, _ in messages] == [logging.WARNING, logging.INFO]
    assert "300 ICCID(s) failed the Luhn check" in messages[1][1]
