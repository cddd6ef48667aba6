"""A hive-partitioned Parquet dataset: ``DIR/date=2026-10-01/part-0.parquet`` per day.

Each day is one file, written as ``.part-0.parquet.tmp`` (a name readers skip) and
renamed over the old one, so a reader never sees half a day or a day twice. The manifest
``DIR/_simapi_manifest.json`` (also skipped by readers: it starts with ``_``) lists each
complete day with its record count and the selection synced; it is rewritten (temporary
name, rename) after the day's file is in place. A crash between the two leaves the day
new but not yet listed: the next sync reads it again. The ``date`` column comes from the
directory names (hive partitioning), as pyarrow, DuckDB and polars read it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final

from .._exceptions import InvalidInputError
from ._base import COLUMNS, Row, other_scope

__all__ = ["ParquetDestination", "parquet_schema"]

MANIFEST: Final = "_simapi_manifest.json"
PART: Final = "part-0.parquet"


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise InvalidInputError(
            "dest", "parquet", "a Parquet dataset needs pyarrow: "
            "pip install 'simapi_async[parquet]'"
        ) from None
    return pyarrow, pyarrow.parquet


def parquet_schema(pa: Any, *, with_date: bool = False) -> Any:
    """The file schema (without ``date``: it is the partition key) or the dataset's."""
    stamp = pa.timestamp("us", tz="UTC")
    types = {"date": pa.date32(), "number": pa.string(), "seq": pa.int32(),
             "started_at": stamp, "ended_at": stamp, "volume_bytes": pa.int64(),
             "upload_bytes": pa.int64(), "download_bytes": pa.int64(), "apn": pa.string(),
             "imsi": pa.string(), "iccid": pa.string()}
    return pa.schema([(c, types[c]) for c in COLUMNS if with_date or c != "date"])


class ParquetDestination:
    """The dataset under `root` (created on first use)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._pa, self._pq = _pyarrow()
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise InvalidInputError("dest", str(root), "is a file, not a dataset directory")
        self._schema = parquet_schema(self._pa)

    def __repr__(self) -> str:
        return f"<ParquetDestination {str(self.root)!r}>"

    def manifest(self) -> dict[str, Any]:
        """The manifest: ``{"scope": ..., "days": {"2026-10-01": {"records": n, ...}}}``."""
        path = self.root / MANIFEST
        try:
            data: dict[str, Any] = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {"scope": None, "days": {}}
        return data

    async def watermark(self, scope: str) -> dt.date | None:
        manifest = self.manifest()
        found = manifest.get("scope")
        if found is not None and found != scope and manifest.get("days"):
            raise other_scope(found, scope)
        days = manifest.get("days") or {}
        return max(map(dt.date.fromisoformat, days)) if days else None

    async def replace_day(self, day: dt.date, batches: AsyncIterator[list[Row]],
                          scope: str) -> int:
        pa, pq = self._pa, self._pq
        folder = self.root / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{PART}.tmp"
        count = 0
        writer = pq.ParquetWriter(str(tmp), self._schema, compression="zstd")
        try:
            async for batch in batches:
                if not batch:
                    continue
                columns = list(zip(*batch, strict=True))[1:]  # date: from the path
                writer.write_table(pa.Table.from_arrays(
                    [pa.array(col, type=f.type) for col, f in zip(columns, self._schema,
                                                                   strict=True)],
                    schema=self._schema))
                count += len(batch)
            writer.close()
            writer = None
            _fsync(tmp)
            os.replace(tmp, folder / PART)
        finally:
            if writer is not None:
                writer.close()
            tmp.unlink(missing_ok=True)
        _fsync_dir(folder)
        manifest = self.manifest()
        manifest["scope"] = scope
        manifest.setdefault("days", {})[day.isoformat()] = {
            "records": count, "file": f"{folder.name}/{PART}",
            "synced_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        manifest["days"] = dict(sorted(manifest["days"].items()))
        staged = self.root / f".{MANIFEST}.tmp"
        staged.write_text(json.dumps(manifest, indent=1), "utf-8")
        _fsync(staged)
        os.replace(staged, self.root / MANIFEST)
        _fsync_dir(self.root)
        return count

    async def aclose(self) -> None:
        return None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # a file system that cannot fsync a directory
        _fsync(path)
