"""`api.cdr.sync` against the emulator into real destinations (Parquet, DuckDB, PostgreSQL):
ten days, a rerun, late records, a process killed between two days — each compared with
the emulator's own records exactly."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

import simapi_async as sa
from simapi_async.destinations import COLUMNS
from simapi_async.testing import Emulator

from ..fleet.conftest import pg_url, postgres_server  # noqa: F401  (a real PostgreSQL)
from ..helpers import connected

FIRST = dt.date(2026, 10, 1)
LAST = dt.date(2026, 10, 10)
DAY9 = dt.date(2026, 10, 9)

Rows = list[tuple[Any, ...]]


def expected(emu: Emulator, first: dt.date, last: dt.date) -> Rows:
    """The destination rows the emulator's records make, sorted."""
    fleet = emu.fleet
    rows = []
    day = first
    while day <= last:
        records = [r for n in fleet.numbers for r in fleet.cdr(n, day)]
        records.sort(key=lambda r: (r.start, r.number))
        seqs: dict[str, int] = {}
        for r in records:
            seq = seqs.get(r.number, 0)
            seqs[r.number] = seq + 1
            rows.append((day, r.number, seq, r.start.astimezone(dt.UTC),
                         r.end.astimezone(dt.UTC), r.volume, None, None, r.apn, r.imsi,
                         r.iccid))
        day += dt.timedelta(days=1)
    return sorted(rows, key=_key)


def _key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row[0], row[1], row[2]


async def read_back(kind: str, dest: str) -> Rows:
    """Every row of the destination, read with its own engine, sorted."""
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.dataset as ds

        part = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")
        table = ds.dataset(dest, format="parquet", partitioning=part).to_table()
        rows = [tuple(d[c] for c in COLUMNS) for d in table.to_pylist()]
    elif kind == "duckdb":
        import duckdb

        con = duckdb.connect(dest, read_only=True)
        try:
            table = con.sql(f"SELECT {', '.join(COLUMNS)} FROM simapi_internet_cdr"
                            ).to_arrow_table()
        finally:
            con.close()
        rows = [tuple(d[c] for c in COLUMNS) for d in table.to_pylist()]
    else:
        import asyncpg

        con = await asyncpg.connect(dest)
        try:
            rows = [tuple(r) for r in await con.fetch(
                f"SELECT {', '.join(COLUMNS)} FROM simapi_internet_cdr")]
        finally:
            await con.close()
    return sorted(rows, key=_key)


@pytest.fixture(params=["parquet", "duckdb", "postgres"])
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(kind, DEST) of an empty destination of each kind."""
    kind = request.param
    if kind == "parquet":
        yield kind, str(tmp_path / "cdr")
    elif kind == "duckdb":
        pytest.importorskip("duckdb")
        yield kind, str(tmp_path / "cdr.duckdb")
    else:
        yield kind, request.getfixturevalue("pg_url")


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(sims=40, seed=11) as emulator:
        yield emulator


async def test_ten_days_then_rerun_then_late_records(emu, destination):
    """Ten days land exactly; a rerun changes nothing; late records for day 9 replace day 9
    on the next run, with no duplicate."""
    kind, dest = destination
    async with connected(emu) as api:
        report = await api.cdr.sync(dest, date_from=FIRST, date_until=LAST)
        assert report.days == 10
        want = expected(emu, FIRST, LAST)
        assert report.records == len(want)
        assert await read_back(kind, dest) == want

        again = await api.cdr.sync(dest, date_until=LAST)  # from the watermark
        assert (again.date_from, again.days) == (LAST - dt.timedelta(days=1), 2)
        assert await read_back(kind, dest) == want

        numbers = emu.fleet.numbers
        emu.fleet.add_late_cdr(numbers[0], DAY9, count=2)
        emu.fleet.add_late_cdr(numbers[5], DAY9)
        late = await api.cdr.sync(dest, date_until=LAST)
        assert late.days == 2
        got = await read_back(kind, dest)
        assert got == expected(emu, FIRST, LAST)
        assert len(got) == len(want) + 3


async def test_first_sync_into_an_empty_destination_needs_date_from(emu, tmp_path):
    """Without date_from an empty destination is refused before any CDR request."""
    async with connected(emu) as api:
        with pytest.raises(sa.InvalidInputError, match="date_from"):
            await api.cdr.sync(str(tmp_path / "empty"), date_until=LAST)
    assert emu.stats.requests["cdr_internet"] == 0


async def test_another_selection_is_refused(emu, tmp_path):
    """A destination holding every number refuses a sync of one client (inn)."""
    dest = str(tmp_path / "cdr")
    async with connected(emu) as api:
        await api.cdr.sync(dest, date_from=FIRST, date_until=FIRST)
        with pytest.raises(sa.InvalidInputError, match="another selection"):
            await api.cdr.sync(dest, date_until=FIRST, inn=emu.fleet.inns[0])


_CHILD = textwrap.dedent("""
    import asyncio, os, signal, sys
    import simapi_async as sa

    async def main():
        base, login, password, dest, kill_after = sys.argv[1:6]
        def progress(p):
            if p.days_done == int(kill_after):
                os.kill(os.getpid(), signal.SIGKILL)  # the crash, right after a day
        async with sa.AsyncSession(base, login=login, password=password) as api:
            await api.cdr.sync(dest, date_from="2026-10-01", date_until="2026-10-10",
                               on_progress=progress)

    asyncio.run(main())
""")


async def test_a_process_killed_between_two_days_leaves_no_hole_or_duplicate(emu, destination):
    """A sync killed (SIGKILL) after day 4 keeps days 1-4; the rerun fills the rest once."""
    kind, dest = destination
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CHILD, emu.base_url, emu.login, emu.password, dest, "4",
        env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await child.communicate()
    assert child.returncode == -signal.SIGKILL, err.decode()
    day4 = FIRST + dt.timedelta(days=3)
    assert await read_back(kind, dest) == expected(emu, FIRST, day4)
    async with connected(emu) as api:
        report = await api.cdr.sync(dest, date_until=LAST)
    assert report.date_from == day4 - dt.timedelta(days=1)
    assert await read_back(kind, dest) == expected(emu, FIRST, LAST)


async def test_progress_tells_days_records_and_bytes(emu, tmp_path):
    """on_progress gets one report per day: days done of total, records so far, bytes."""
    seen: list[sa.SyncProgress] = []
    async with connected(emu) as api:
        await api.cdr.sync(str(tmp_path / "cdr"), date_from=FIRST, date_until=FIRST +
                           dt.timedelta(days=2), on_progress=seen.append)
    assert [(p.days_done, p.days_total) for p in seen] == [(1, 3), (2, 3), (3, 3)]
    assert seen[-1].records == len(expected(emu, FIRST, FIRST + dt.timedelta(days=2)))
    assert seen[-1].bytes > 0
    assert seen[0].bytes < seen[-1].bytes



async def test_a_day_that_fails_halfway_is_left_as_it_was(emu, destination):
    """A failure while a day's records are being written (after a first batch) leaves that
    day's old records and the watermark untouched."""
    from simapi_async.destinations import open_destination

    kind, dest = destination
    async with connected(emu) as api:
        await api.cdr.sync(dest, date_from=FIRST, date_until=FIRST + dt.timedelta(days=1))
    before = await read_back(kind, dest)
    target = open_destination(dest)
    mark = await target.watermark("all")

    async def broken() -> AsyncIterator[list[tuple[Any, ...]]]:
        yield [(FIRST, "79180000000", 0, None, None, 1, None, None, None, None, None)]
        raise OSError("the disk is full")

    with pytest.raises(OSError, match="disk is full"):
        await target.replace_day(FIRST, broken(), "all")
    assert await target.watermark("all") == mark
    await target.aclose()
    assert await read_back(kind, dest) == before
