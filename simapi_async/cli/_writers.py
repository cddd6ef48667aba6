"""Record writers of `simapi cdr export`: CSV, JSON Lines, Parquet (bounded memory).

Parquet needs pyarrow (``pip install 'simapi_async[parquet]'``); records are buffered by
column and written one row group at a time, so memory holds one row group, not the export.
Times go to Parquet as UTC timestamps (a record without a time zone is taken as UTC);
CSV and JSON Lines keep the server's offset. Every format also has ``date``: the server's
local day of the session (`InternetCdr.date`), so grouping by day is the same everywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Sequence
from types import ModuleType
from typing import IO, Any, Final, Protocol

from ..models import InternetCdr
from ..resources._sync import _utc
from ._common import ConfigError

__all__ = ["FIELDS", "FORMATS", "RecordWriter", "make_writer", "require_pyarrow"]

FIELDS: Final = ("number", "started_at", "ended_at", "volume_bytes", "upload_bytes",
                 "download_bytes", "apn", "imsi", "iccid", "date")
FORMATS: Final = ("csv", "jsonl", "parquet")


class RecordWriter(Protocol):
    def write(self, record: InternetCdr) -> None: ...

    def close(self) -> None: ...


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _row(r: InternetCdr) -> tuple[Any, ...]:
    day = r.date
    return (r.number, _iso(r.started_at), _iso(r.ended_at), r.volume_bytes, r.upload_bytes,
            r.download_bytes, r.apn, r.imsi, r.iccid, None if day is None else day.isoformat())


def _indices(fields: Sequence[str] | None) -> tuple[int, ...] | None:
    """Where `fields` (names of `FIELDS`, from `--fields`) are in a row; None for all."""
    return None if fields is None else tuple(FIELDS.index(f) for f in fields)


class CsvWriter:
    """A header line, then one row per record (empty cells for missing values); only
    `fields` (`--fields`) when given."""

    def __init__(self, file: IO[str], fields: Sequence[str] | None = None) -> None:
        self._file = file
        self._writer = csv.writer(file, lineterminator="\n")
        self._writer.writerow(FIELDS if fields is None else fields)
        self._indices = _indices(fields)

    def write(self, record: InternetCdr) -> None:
        row = _row(record)
        if self._indices is not None:
            row = tuple(row[i] for i in self._indices)
        self._writer.writerow(row)

    def close(self) -> None:
        self._file.flush()


class JsonlWriter:
    """One JSON object per line, with every field (null when missing); only `fields`
    (`--fields`), in that order, when given."""

    def __init__(self, file: IO[str], fields: Sequence[str] | None = None) -> None:
        self._file = file
        self._fields = FIELDS if fields is None else tuple(fields)
        self._indices = _indices(fields)

    def write(self, record: InternetCdr) -> None:
        row = _row(record)
        if self._indices is not None:
            row = tuple(row[i] for i in self._indices)
        self._file.write(json.dumps(dict(zip(self._fields, row, strict=True)),
                                    ensure_ascii=False) + "\n")

    def close(self) -> None:
        self._file.flush()


def require_pyarrow() -> tuple[ModuleType, ModuleType]:
    """(pyarrow, pyarrow.parquet), or `ConfigError` saying how to install them."""
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError(
            "--format parquet needs pyarrow: pip install 'simapi_async[parquet]' "
            "(or export to csv / jsonl)"
        ) from None
    return pyarrow, pyarrow.parquet


class ParquetWriter:
    """Columns buffered up to `row_group_size` records, then written as one row group."""

    def __init__(self, path: str, row_group_size: int) -> None:
        pa, pq = require_pyarrow()
        self._pa = pa
        stamp = pa.timestamp("us", tz="UTC")
        self._schema = pa.schema([
            ("number", pa.string()), ("started_at", stamp), ("ended_at", stamp),
            ("volume_bytes", pa.int64()), ("upload_bytes", pa.int64()),
            ("download_bytes", pa.int64()), ("apn", pa.string()), ("imsi", pa.string()),
            ("iccid", pa.string()), ("date", pa.date32()),
        ])
        self._writer = pq.ParquetWriter(path, self._schema, compression="zstd")
        self._size = row_group_size
        self._columns: list[list[Any]] = [[] for _ in FIELDS]
        self.row_groups = 0

    def write(self, record: InternetCdr) -> None:
        c = self._columns
        c[0].append(record.number)
        c[1].append(_utc(record.started_at))
        c[2].append(_utc(record.ended_at))
        c[3].append(record.volume_bytes)
        c[4].append(record.upload_bytes)
        c[5].append(record.download_bytes)
        c[6].append(record.apn)
        c[7].append(record.imsi)
        c[8].append(record.iccid)
        c[9].append(record.date)
        if len(c[0]) >= self._size:
            self._flush()

    def _flush(self) -> None:
        if not self._columns[0]:
            return
        table = self._pa.Table.from_arrays(
            [self._pa.array(col, type=field.type)
             for col, field in zip(self._columns, self._schema, strict=True)],
            schema=self._schema,
        )
        self._writer.write_table(table)
        self.row_groups += 1
        self._columns = [[] for _ in FIELDS]

    def close(self) -> None:
        self._flush()
        self._writer.close()


def make_writer(fmt: str, file: IO[str] | None, path: str,
                row_group_size: int = 100_000,
                fields: Sequence[str] | None = None) -> RecordWriter:
    """The writer of `fmt` on `file` (text formats) or at `path` (parquet); `fields`
    (text formats only) selects and orders the columns."""
    if fmt == "parquet":
        return ParquetWriter(path, row_group_size)
    assert file is not None
    return CsvWriter(file, fields) if fmt == "csv" else JsonlWriter(file, fields)
