"""What a CDR sync destination is: one small protocol, the row layout every one shares.

A destination keeps the records by day and, in itself, which days are complete (the
watermark): there is no side file that could drift from the data. `replace_day` puts a
day's records in place of whatever that day held, atomically (a temporary file renamed
into place, or one transaction), and marks the day complete in the same step; a sync
killed at any point leaves each day either as it was or wholly new.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from typing import Any, Final, Protocol

from .._exceptions import InvalidInputError

__all__ = ["COLUMNS", "DEFAULT_TABLE", "Destination", "Row", "check_table", "utc"]

#: Every destination's columns, in this order. `date` is the server's local day (the
#: day the records were asked for; the partition key), `seq` the record's place among
#: its number's records of that day (with `date` and `number`, the unique key).
COLUMNS: Final = ("date", "number", "seq", "started_at", "ended_at", "volume_bytes",
                  "upload_bytes", "download_bytes", "apn", "imsi", "iccid")
DEFAULT_TABLE: Final = "simapi_internet_cdr"

#: One record as the destinations take it, in `COLUMNS` order.
Row = tuple[Any, ...]

_TABLE: Final = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,56}")


class Destination(Protocol):
    """Where `api.cdr.sync` writes: a Parquet dataset, a PostgreSQL or a DuckDB table."""

    async def watermark(self, scope: str) -> dt.date | None:
        """The last complete day (None: nothing synced yet). Raises `InvalidInputError`
        when the destination holds another scope's records (another `inn`/`numbers`)."""
        ...

    async def replace_day(self, day: dt.date, batches: AsyncIterator[list[Row]],
                          scope: str) -> int:
        """Put `batches` in place of `day`'s records and mark the day complete, all at
        once; the number of records written."""
        ...

    async def aclose(self) -> None:
        """Release the connection or files (idempotent)."""
        ...


def check_table(table: str) -> str:
    """A table name safe to put in SQL: ``name`` or ``schema.name`` (letters, digits, _)."""
    if not isinstance(table, str) or not _TABLE.fullmatch(table):
        raise InvalidInputError("table", table, "must be NAME or SCHEMA.NAME (letters, "
                                "digits and _, not starting with a digit)")
    return table


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """An instant for a `timestamptz` column (a naive time is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def other_scope(found: str, scope: str) -> InvalidInputError:
    return InvalidInputError(
        "dest", found, f"holds the records of another selection ({found!r}, this sync is "
        f"{scope!r}); sync each selection (inn / numbers) into its own destination",
    )
