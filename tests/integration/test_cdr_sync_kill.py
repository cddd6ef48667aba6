"""A CDR sync killed from outside (SIGKILL) while it runs, then rerun, into each real
destination (Parquet, DuckDB, PostgreSQL): no hole, no duplicate, the destination equal
to the emulator's records exactly (issue 16).

The kill waits for events, not for time: the emulator holds (never answers) the requests
of day 5 on, and says when the first one arrives; the test then checks that days 1-4 are
committed, kills the process, and reruns."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp.web as web
import pytest

from simapi_async.testing import Emulator
from simapi_async.testing._shapes import Shapes

from ..fleet.conftest import pg_url, postgres_server  # noqa: F401  (a real PostgreSQL)
from ..helpers import connected
from .test_cdr_sync import FIRST, LAST, destination, expected, read_back  # noqa: F401

DAY4 = FIRST + dt.timedelta(days=3)
DAY5 = FIRST + dt.timedelta(days=4)


class HeldEmulator(Emulator):
    """The emulator, holding every `cdr/internet` request of `held_from` on (from page
    `held_page` of that day on) until the client goes away; `reached` is set when the
    first one arrives."""

    held_from = DAY5.isoformat()
    held_page = 1

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.reached = asyncio.Event()
        self.holding = True
        self.served: list[tuple[str, int]] = []  # (day, page) of each CDR answer

    async def _serve(self, request: web.Request) -> web.StreamResponse | None:
        query = request.query
        if request.match_info["tail"].endswith("cdr/internet"):
            day, page = query.get("from", "")[:10], int(query.get("page", "1"))
            if self.holding and day >= self.held_from and page >= self.held_page:
                self.reached.set()
                await self._hang()  # released when the emulator stops
                return None
            self.served.append((day, page))
        return await super()._serve(request)


@pytest.fixture
async def held() -> AsyncIterator[HeldEmulator]:
    async with HeldEmulator(sims=40, seed=11, shapes=Shapes(cdr_page_size=20)) as emulator:
        yield emulator


async def _kill_when_held(emu: HeldEmulator, child: asyncio.subprocess.Process,
                          kind: str, dest: str) -> None:
    """Wait until the child asks for day 5 (or it exits first: a failure), check days 1-4
    are committed (DuckDB: its file is locked by the child, so only after), SIGKILL it,
    and check again once it is gone."""
    ended = asyncio.ensure_future(child.wait())
    reached = asyncio.ensure_future(emu.reached.wait())
    try:
        done, _ = await asyncio.wait({ended, reached}, timeout=120,
                                     return_when=asyncio.FIRST_COMPLETED)
        if reached not in done:
            err = b"" if child.stderr is None else await child.stderr.read()
            pytest.fail(f"the sync never reached day 5 (exit {child.returncode}): "
                        f"{err.decode()}")
        if kind != "duckdb":
            assert await read_back(kind, dest) == expected(emu, FIRST, DAY4)
        child.send_signal(signal.SIGKILL)
        assert await ended == -signal.SIGKILL
    finally:
        reached.cancel()
        if child.returncode is None:
            child.kill()
        await ended
        if child.stderr is not None:
            await child.stderr.read()
    emu.holding = False
    assert await read_back(kind, dest) == expected(emu, FIRST, DAY4)


def _env(emu: Emulator) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
            "SIMAPI_BASE_URL": emu.base_url, "SIMAPI_LOGIN": emu.login,
            "SIMAPI_PASSWORD": emu.password, "SIMAPI_PROFILE": "", "NO_COLOR": "1"}


async def _rerun_and_compare(emu: Emulator, kind: str, dest: str) -> None:
    async with connected(emu) as api:
        report = await api.cdr.sync(dest, date_until=LAST)
    assert report.date_from == DAY4 - dt.timedelta(days=1)  # the watermark minus look-back
    assert await read_back(kind, dest) == expected(emu, FIRST, LAST)


async def test_simapi_cdr_sync_killed_between_two_days_then_rerun(
        held: HeldEmulator, destination: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    """`simapi cdr sync` killed (SIGKILL from outside) after day 4 committed, while it
    waits for day 5: days 1-4 stay exactly; the rerun fills days 5-10 once."""
    kind, dest = destination
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "simapi_async.cli", "cdr", "sync", "--to", dest,
        "--from", FIRST.isoformat(), "--until", LAST.isoformat(),
        env=_env(held), cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    await _kill_when_held(held, child, kind, dest)
    await _rerun_and_compare(held, kind, dest)


_CHILD = textwrap.dedent("""
    import asyncio, sys
    import simapi_async as sa
    from simapi_async.resources import _sync

    _sync.BATCH = 10  # day 5's first pages go to the destination before page 3 is asked

    async def main():
        base, login, password, dest, first, last = sys.argv[1:7]
        async with sa.AsyncSession(base, login=login, password=password) as api:
            await api.cdr.sync(dest, date_from=first, date_until=last)

    asyncio.run(main())
""")


async def test_a_sync_killed_inside_a_day_leaves_that_day_as_it_was(
        held: HeldEmulator, destination: tuple[str, str]) -> None:  # noqa: F811
    """A sync killed while day 5 is half read (its first batches handed to the
    destination, page 3 held): the destination shows days 1-4 only, not half a day 5,
    and the rerun makes it equal to the emulator's records."""
    kind, dest = destination
    held.held_page = 3
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, held.base_url, held.login, held.password, dest,
        FIRST.isoformat(), LAST.isoformat(), env=_env(held),
        stderr=asyncio.subprocess.PIPE)
    await _kill_when_held(held, child, kind, dest)
    assert (DAY5.isoformat(), 2) in held.served

    def leftovers() -> list[str]:
        return sorted(p.name for p in Path(dest).glob("date=*/.*"))

    if kind == "parquet":  # killed while writing day 5's file: readers skip its temp name
        assert leftovers() == [".part-0.parquet.tmp"]
    await _rerun_and_compare(held, kind, dest)
    if kind == "parquet":
        assert leftovers() == []
