"""Secrets: one run of a representative slice of every flow — login, reads, every kind of
error, bulk with a journal and failures, debug logging on, the command line — with a
sentinel password, and a check that neither it nor any token the server issued appears
in any log line, stderr, exception text, report, journal, file or CLI output.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import simapi_async as sa
from simapi_async import _logs
from simapi_async.testing import Emulator

from .conftest import SENTINEL_PASSWORD, assert_no_secret, texts_of

WRONG_PASSWORD = "WR0NG-sentinel-" + "pa55"


class RecordingEmulator(Emulator):
    """An emulator whose login is the sentinel password and which remembers every token
    it issued (each must stay secret too)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(password=SENTINEL_PASSWORD, **kwargs)
        self.issued: list[str] = []

    def issue_token(self, ttl: float | None = None) -> str:
        token = super().issue_token(ttl)
        self.issued.append(token)
        return token


@pytest.fixture
def debug_logging() -> Iterator[None]:
    """`setup_logging("debug")` (what SIMAPI_LOG=debug does), undone afterwards."""
    logger = logging.getLogger("simapi_async")
    level, handlers = logger.level, list(logger.handlers)
    _logs.setup_logging("debug")
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.handlers[:] = handlers


async def _failures(api: sa.AsyncSession, emu: Emulator) -> list[BaseException]:
    """Every kind of error the SDK raises, each provoked once."""
    fleet = emu.fleet
    n0, n1 = fleet.numbers[:2]
    other_iccid = fleet.sims[n1].iccid
    errors: list[BaseException] = []

    async def expect(make: Callable[[], Awaitable[Any]], kind: type[BaseException],
                     setup: Callable[[], None] = lambda: None) -> None:
        setup()
        with pytest.raises(kind) as info:
            await make()
        errors.append(info.value)

    await expect(lambda: api.sims.get("+7 999 000-00-00"), sa.NotFoundError)
    await expect(lambda: api.sims.block(n0, iccid=other_iccid), sa.UnprocessableEntityError)
    await expect(lambda: api.sims.get("79181111111/../login"), sa.InvalidInputError)
    await expect(lambda: api.sims.send_sms(n0, "call"), sa.ServerError,
                 lambda: emu.fail_next(1, status=500))
    await expect(lambda: api.sims.get(n0), sa.ServerError,
                 lambda: emu.fail_next(4, status=502))
    await expect(lambda: api.sims.get(n0), sa.RateLimitError,
                 lambda: emu.fail_next(4, status=429, retry_after=0))
    await expect(lambda: api.sims.get(n0), sa.PermissionDeniedError,
                 lambda: emu.fail_next(1, status=403))
    emu.faults.drop_rate = 1.0
    await expect(lambda: api.sims.add_small_packet(n0, iccid=fleet.sims[n0].iccid),
                 sa.APIConnectionError)
    emu.faults.drop_rate, emu.faults.hang_rate = 0.0, 1.0
    await expect(lambda: api.sims.get(n0), sa.APITimeoutError)
    emu.faults.hang_rate = 0.0
    await expect(lambda: api.sims.get(n0), sa.AuthenticationError,
                 lambda: emu.fail_next(2, status=401))
    async with sa.AsyncSession(emu.base_url, login=emu.login, password=WRONG_PASSWORD) as bad:
        await expect(bad.authenticate, sa.AuthenticationError)
        errors.append(sa.SimApiError(repr(bad)))
    return errors


async def _run_cli(emu: Emulator, tmp: Path, *args: str, **env: str) -> tuple[int, str]:
    """`simapi ARGS` in a subprocess with SIMAPI_LOG=debug; (exit status, stdout+stderr)."""
    full_env = {**os.environ, "SIMAPI_BASE_URL": emu.base_url, "SIMAPI_LOG": "debug",
                "COLUMNS": "200", **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simapi_async.cli", *args, env=full_env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode("utf-8", "replace")


def _every_file(folder: Path) -> list[str]:
    """The text of every file written under `folder` (journals, reports, anything else)."""
    return [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()]


@pytest.mark.usefixtures("debug_logging")
async def test_no_secret_anywhere(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Neither the password nor any issued token appears in any text the SDK, the bulk
    engine or the command line produces, whatever went right or wrong."""
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with RecordingEmulator(sims=200, seed=9) as emu:
        fleet = emu.fleet
        numbers = fleet.numbers
        async with sa.AsyncSession(emu.base_url, login=emu.login, password=SENTINEL_PASSWORD,
                                   timeout=0.3, max_retries=3) as api:
            # Reads (login happens here).
            texts.append(repr(await api.sims.get(numbers[0])))
            texts.append(repr(await api.sims.get_by_iccid(fleet.sims[numbers[1]].iccid)))
            texts.append(repr(await api.sims.list(limit=5)))
            texts.append(repr(await api.packets.list()))
            texts += [repr(r) async for r in api.cdr.internet("2024-03-01", "2024-03-01",
                                                               numbers=numbers[:3])]
            # Every kind of error.
            for error in await _failures(api, emu):
                texts += texts_of(error)
            # Bulk with a journal, failures and a token revoked midway.
            journal = tmp_path / "block.jsonl"
            targets = [*numbers[:50], "not a number", "79990000000"]
            emu.fail_next(3, status=503)
            emu.revoke_tokens()
            report = await api.bulk.block(targets, journal=journal, concurrency=5,
                                          on_result=lambda r: texts.append(repr(r)))
            assert report.failed == 2
            texts += [report.summary(), repr(report), *(str(r.error) for r in report.failures)]
            with pytest.raises(sa.BulkError) as bulk_error:
                report.raise_for_failures()
            texts += texts_of(bulk_error.value)
            texts += [repr(api), repr(api.stats), repr(api._tokens)]
            texts.append(journal.read_text())

        # The command line: a bulk run with a report, a read, a refused login, a token.
        numbers_file = tmp_path / "numbers.txt"
        numbers_file.write_text("\n".join([*numbers[50:80], "junk", "79990000000"]) + "\n")
        login = {"SIMAPI_LOGIN": emu.login, "SIMAPI_PASSWORD": SENTINEL_PASSWORD}
        status, out = await _run_cli(
            emu, tmp_path, "bulk", "block", str(numbers_file), "--journal", "cli.jsonl",
            "--report", "failures.csv", **login)
        assert status == 1, out  # some targets failed, as intended
        texts += [out, (tmp_path / "cli.jsonl").read_text(),
                  (tmp_path / "failures.csv").read_text()]
        status, out = await _run_cli(emu, tmp_path, "sims", "get", numbers[0], **login)
        assert status == 0, out
        texts.append(out)
        status, out = await _run_cli(emu, tmp_path, "sims", "get", numbers[0],
                                     SIMAPI_LOGIN=emu.login, SIMAPI_PASSWORD=WRONG_PASSWORD)
        assert status == 1, out
        texts.append(out)
        status, out = await _run_cli(emu, tmp_path, "packets",
                                     SIMAPI_TOKEN=emu.issue_token())
        assert status == 0, out
        texts.append(out)
        secrets = [SENTINEL_PASSWORD, WRONG_PASSWORD, *emu.issued]

    captured = capfd.readouterr()
    texts += [captured.out, captured.err, *(r.getMessage() for r in caplog.records)]
    texts += [str(r.args) for r in caplog.records]
    assert_no_secret(texts + _every_file(tmp_path), *secrets)
    assert any("password=%2A%2A%2A" in t for t in texts)  # the login URL was shown, redacted
    assert len(emu.issued) >= 4
