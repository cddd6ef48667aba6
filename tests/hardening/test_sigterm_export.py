"""SIGTERM during `simapi cdr export`: the command stops cleanly (exit 143) and leaves
neither the output file nor its partial ``.part`` file behind.

The child is the real command line; the emulator runs in the test process and holds the
first CDR request open until the child is gone, so the signal always lands mid-export
(an event, not a timer).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from simapi_async.testing import Emulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM is POSIX")


class _HoldingEmulator(Emulator):
    """Sets `asked` at the first CDR request and holds it until `release` is set."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked = asyncio.Event()
        self.release = asyncio.Event()

    def make_app(self) -> web.Application:
        app = super().make_app()
        app.middlewares.append(self._hold)
        return app

    @web.middleware
    async def _hold(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.endswith("/cdr/internet"):
            self.asked.set()
            await self.release.wait()
        response: web.StreamResponse = await handler(request)
        return response


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_sigterm_mid_export_leaves_no_partial_file(tmp_path: Path, fmt: str) -> None:
    """The partial file is removed, nothing is renamed into place, the exit status is 143."""
    out = tmp_path / f"cdr.{fmt}"
    async with _HoldingEmulator(sims=50, seed=3) as emu:
        env = {**os.environ, "SIMAPI_PASSWORD": emu.password}
        env.pop("SIMAPI_TOKEN", None)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simapi_async.cli", "cdr", "export",
            "--from", "2024-03-01", "--to", "2024-03-03", "--out", str(out),
            "--base-url", emu.base_url, "--login", emu.login, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.wait_for(emu.asked.wait(), timeout=60)
            assert f"cdr.{fmt}.part" in _names(tmp_path) or fmt == "parquet"
            proc.send_signal(signal.SIGTERM)
            _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        finally:
            emu.release.set()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 143, err.decode(errors="replace")
    assert "terminated" in err.decode(errors="replace")
    assert _names(tmp_path) == []
