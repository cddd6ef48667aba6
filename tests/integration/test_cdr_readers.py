"""The Parquet dataset a CDR sync writes is one table for each reader the README names —
pyarrow, DuckDB and polars, called as documented — equal to the emulator's records, and
none of them sees a crash's leftover temporary file or the manifest (issue 16)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from simapi_async.destinations import COLUMNS
from simapi_async.testing import Emulator

from ..helpers import connected
from .test_cdr_sync import FIRST, expected

LAST = FIRST + dt.timedelta(days=2)


def _rows(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    rows = []
    for r in records:
        day = r["date"]
        r["date"] = dt.date.fromisoformat(day) if isinstance(day, str) else day
        rows.append(tuple(r[c] for c in COLUMNS))
    return sorted(rows, key=lambda row: (row[0], row[1], row[2]))


@pytest.fixture
async def dataset(tmp_path: Path) -> tuple[str, list[tuple[Any, ...]]]:
    """A synced dataset of three days (with a half-written day left by a crash), and the
    rows it must read as."""
    dest = tmp_path / "cdr"
    async with Emulator(sims=30, seed=5) as emu, connected(emu) as api:
        await api.cdr.sync(str(dest), date_from=FIRST, date_until=LAST)
        want = expected(emu, FIRST, LAST)
    crashed = dest / "date=2026-10-04"
    crashed.mkdir()
    (crashed / ".part-0.parquet.tmp").write_bytes(b"PAR1 half a file")
    return str(dest), want


def test_pyarrow_reads_the_dataset(dataset: tuple[str, list[tuple[Any, ...]]]) -> None:
    """`pyarrow.dataset.dataset(DIR, partitioning="hive")` reads every record once."""
    import pyarrow.dataset as ds

    dest, want = dataset
    table = ds.dataset(dest, partitioning="hive").to_table()
    assert _rows(table.to_pylist()) == want


def test_duckdb_reads_the_dataset(dataset: tuple[str, list[tuple[Any, ...]]]) -> None:
    """DuckDB's `read_parquet('DIR/*/*.parquet', hive_partitioning = true)` reads every
    record once."""
    duckdb = pytest.importorskip("duckdb")
    dest, want = dataset
    con = duckdb.connect()
    try:
        table = con.sql(f"SELECT * FROM read_parquet('{dest}/*/*.parquet', "
                        "hive_partitioning = true)").to_arrow_table()
    finally:
        con.close()
    assert _rows(table.to_pylist()) == want


def test_polars_reads_the_dataset(dataset: tuple[str, list[tuple[Any, ...]]]) -> None:
    """`polars.scan_parquet('DIR/*/*.parquet', hive_partitioning=True)` reads every record
    once, `date` as a date."""
    polars = pytest.importorskip("polars")
    dest, want = dataset
    frame = polars.scan_parquet(f"{dest}/*/*.parquet", hive_partitioning=True).collect()
    assert frame.schema["date"] == polars.Date
    assert _rows(frame.to_dicts()) == want
