"""A PostgreSQL table (asyncpg): `simapi_internet_cdr` (or `table=`) and `<table>_days`.

Created on first use, with the unique key (date, number, seq). A day is replaced in one
transaction: its rows deleted, the new ones loaded with COPY (`copy_records_to_table`,
fed batch by batch, so memory holds one batch), its line in `<table>_days` (the
watermark) written. A transaction-scoped advisory lock on the day keeps two syncs into
the same table from interleaving; a crash before the commit changes nothing.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import AsyncIterator
from typing import Any

from yarl import URL

from .._exceptions import InvalidInputError
from ._base import COLUMNS, DEFAULT_TABLE, Row, check_table, other_scope

__all__ = ["PostgresDestination"]


def _asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise InvalidInputError(
            "dest", "postgresql", "a PostgreSQL table needs asyncpg: "
            "pip install 'simapi_async[postgres]'"
        ) from None
    return asyncpg


class PostgresDestination:
    """The table `table` of the database at `url` (``postgresql://…``)."""

    def __init__(self, url: str, table: str = DEFAULT_TABLE) -> None:
        self._asyncpg = _asyncpg()
        self._url = url
        self.table = check_table(table)
        self._con: Any = None

    def __repr__(self) -> str:  # the URL may carry a password
        return f"<PostgresDestination {shown_url(self._url)!r} {self.table}>"

    async def _connect(self) -> Any:
        if self._con is None:
            con = await self._asyncpg.connect(self._url)
            t = self.table
            try:
                await con.execute(
                    f"CREATE TABLE IF NOT EXISTS {t} (date date NOT NULL, number text NOT NULL,"
                    " seq integer NOT NULL, started_at timestamptz, ended_at timestamptz,"
                    " volume_bytes bigint, upload_bytes bigint, download_bytes bigint,"
                    " apn text, imsi text, iccid text, PRIMARY KEY (date, number, seq));"
                    f"CREATE TABLE IF NOT EXISTS {t}_days (date date PRIMARY KEY,"
                    " scope text NOT NULL, records bigint NOT NULL,"
                    " synced_at timestamptz NOT NULL DEFAULT now())"
                )
            except BaseException:
                await con.close()
                raise
            self._con = con
        return self._con

    async def watermark(self, scope: str) -> dt.date | None:
        con = await self._connect()
        other = await con.fetchval(
            f"SELECT scope FROM {self.table}_days WHERE scope <> $1 LIMIT 1", scope)
        if other is not None:
            raise other_scope(other, scope)
        found: dt.date | None = await con.fetchval(f"SELECT max(date) FROM {self.table}_days")
        return found

    async def replace_day(self, day: dt.date, batches: AsyncIterator[list[Row]],
                          scope: str) -> int:
        con = await self._connect()
        t = self.table
        schema, _, name = t.rpartition(".")
        count = 0

        async def rows() -> AsyncIterator[Row]:
            nonlocal count
            async for batch in batches:
                count += len(batch)
                for row in batch:
                    yield row

        async with con.transaction():
            key = zlib.crc32(f"{t}|{day.isoformat()}".encode())
            await con.execute("SELECT pg_advisory_xact_lock($1)", key)
            await con.execute(f"DELETE FROM {t} WHERE date = $1", day)
            await con.copy_records_to_table(name, schema_name=schema or None,
                                            records=rows(), columns=list(COLUMNS))
            await con.execute(
                f"INSERT INTO {t}_days (date, scope, records, synced_at) "
                "VALUES ($1, $2, $3, now()) ON CONFLICT (date) DO UPDATE SET "
                "scope = EXCLUDED.scope, records = EXCLUDED.records, synced_at = now()",
                day, scope, count)
        return count

    async def aclose(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            await con.close()


def shown_url(url: str) -> str:
    """`url` without its password (for reprs, logs and messages)."""
    parsed = URL(url)
    return str(parsed.with_password("***")) if parsed.password else url
