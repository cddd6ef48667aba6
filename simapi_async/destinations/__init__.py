"""Where `api.cdr.sync` writes, chosen from the DEST string (each an optional extra).

- a ``postgresql://…`` (or ``postgres://…``) URL: `PostgresDestination` (extra ``postgres``);
- a path ending in ``.duckdb``: `DuckDBDestination` (extra ``duckdb``);
- any other path: a directory holding a hive-partitioned Parquet dataset,
  `ParquetDestination` (extra ``parquet``).

Each implementation is imported only when it is used. A `Destination` object of one's own
(anything with `watermark`, `replace_day`, `aclose`) may be given instead of a string.
"""

from __future__ import annotations

import os
from typing import Any

from .._exceptions import InvalidInputError
from ._base import COLUMNS, DEFAULT_TABLE, Destination, Row

__all__ = ["COLUMNS", "DEFAULT_TABLE", "Destination", "Row", "open_destination"]


def open_destination(dest: Any, *, table: str | None = None) -> Destination:
    """The destination DEST names (nothing is connected or written yet)."""
    if hasattr(dest, "replace_day") and hasattr(dest, "watermark"):
        return dest  # type: ignore[no-any-return]
    if not isinstance(dest, str | os.PathLike):
        raise InvalidInputError("dest", dest, "must be a directory, a postgresql:// URL or "
                                "a path ending in .duckdb")
    text = os.fspath(dest)
    if not text:
        raise InvalidInputError("dest", dest, "is empty")
    if text.startswith(("postgresql://", "postgres://")):
        from ._postgres import PostgresDestination

        return PostgresDestination(text, table or DEFAULT_TABLE)
    if "://" in text:
        raise InvalidInputError("dest", text.split("://")[0] + "://…",
                                "only postgresql:// URLs are supported")
    if text.lower().endswith(".duckdb"):
        from ._duckdb import DuckDBDestination

        return DuckDBDestination(text, table or DEFAULT_TABLE)
    if table is not None:
        raise InvalidInputError("table", table, "applies to PostgreSQL and DuckDB only")
    from ._parquet import ParquetDestination

    return ParquetDestination(text)
