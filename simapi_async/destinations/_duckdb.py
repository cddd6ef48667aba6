"""A DuckDB file: table `simapi_internet_cdr` (or `table=`) and `<table>_days`.

A day is replaced in one transaction: its rows deleted, the new ones inserted (one Arrow
batch at a time), its line in `<table>_days` (the watermark) written; a crash before the
commit leaves the day as it was. DuckDB is in-process and fast, so its calls are made
directly (each batch is a bulk insert).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from typing import Any

from .._exceptions import InvalidInputError
from ._base import COLUMNS, DEFAULT_TABLE, Row, check_table, other_scope
from ._parquet import parquet_schema

__all__ = ["DuckDBDestination"]


def _modules() -> tuple[Any, Any]:
    try:
        import duckdb
        import pyarrow
    except ImportError:
        raise InvalidInputError(
            "dest", "duckdb", "a DuckDB file needs duckdb and pyarrow: "
            "pip install 'simapi_async[duckdb]'"
        ) from None
    return duckdb, pyarrow


class DuckDBDestination:
    """The table `table` in the DuckDB file `path` (file and tables created on first use)."""

    def __init__(self, path: str | os.PathLike[str], table: str = DEFAULT_TABLE) -> None:
        self._duckdb, self._pa = _modules()
        self.path = os.fspath(path)
        self.table = check_table(table)
        self._schema = parquet_schema(self._pa, with_date=True)
        self._con: Any = None

    def __repr__(self) -> str:
        return f"<DuckDBDestination {self.path!r} {self.table}>"

    def _connect(self) -> Any:
        if self._con is None:
            con = self._duckdb.connect(self.path)
            con.execute("SET TimeZone = 'UTC'")
            t = self.table
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {t} (date DATE NOT NULL, number VARCHAR NOT NULL,"
                " seq INTEGER NOT NULL, started_at TIMESTAMPTZ, ended_at TIMESTAMPTZ,"
                " volume_bytes BIGINT, upload_bytes BIGINT, download_bytes BIGINT,"
                " apn VARCHAR, imsi VARCHAR, iccid VARCHAR)"
            )
            con.execute(
                f"CREATE TABLE IF NOT EXISTS {t}_days (date DATE PRIMARY KEY, scope VARCHAR"
                " NOT NULL, records BIGINT NOT NULL, synced_at TIMESTAMPTZ NOT NULL)"
            )
            self._con = con
        return self._con

    async def watermark(self, scope: str) -> dt.date | None:
        con = self._connect()
        other = con.execute(f"SELECT scope FROM {self.table}_days WHERE scope <> ? LIMIT 1",
                            [scope]).fetchone()
        if other is not None:
            raise other_scope(other[0], scope)
        row = con.execute(f"SELECT max(date) FROM {self.table}_days").fetchone()
        return None if row is None else row[0]

    async def replace_day(self, day: dt.date, batches: AsyncIterator[list[Row]],
                          scope: str) -> int:
        con = self._connect()
        pa = self._pa
        t = self.table
        count = 0
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {t} WHERE date = ?", [day])
            async for batch in batches:
                if not batch:
                    continue
                arrow = pa.Table.from_arrays(
                    [pa.array(col, type=f.type)
                     for col, f in zip(zip(*batch, strict=True), self._schema, strict=True)],
                    schema=self._schema)
                con.register("simapi_batch", arrow)
                con.execute(f"INSERT INTO {t} ({', '.join(COLUMNS)}) "
                            f"SELECT {', '.join(COLUMNS)} FROM simapi_batch")
                con.unregister("simapi_batch")
                count += len(batch)
            con.execute(f"DELETE FROM {t}_days WHERE date = ?", [day])
            con.execute(f"INSERT INTO {t}_days VALUES (?, ?, ?, now())", [day, scope, count])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return count

    async def aclose(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            con.close()
