"""`simapi cdr export`: every record of the range, in each format, never a truncated file."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from pathlib import Path

import pytest
from aiohttp import web

from simapi_async.cli._writers import FIELDS
from simapi_async.testing import Emulator
from tests.cli.conftest import EmulatorThread, Invoke, env_for, middleware

DAYS = [dt.date(2025, 3, 1) + dt.timedelta(days=i) for i in range(3)]


def expected(emu: Emulator, numbers: list[str]) -> list[tuple[str, str]]:
    """(number, start) of every record the emulator holds for `numbers` over DAYS."""
    return sorted((r.number, r.start.isoformat())
                  for day in DAYS for n in numbers for r in emu.fleet.cdr(n, day))


def test_csv_export_of_a_client(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                tmp_path: Path) -> None:
    """A client's CDR over three days lands in a CSV: header, every record, date order."""
    inn = emu.fleet.inns[0]
    out = tmp_path / "cdr.csv"
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--to", "2025-03-03",
                     "--inn", inn, "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert tuple(rows[0]) == FIELDS
    got = [(r[0], r[1]) for r in rows[1:]]
    assert sorted(got) == expected(emu, emu.fleet.numbers_of(inn))
    assert [s for _, s in got] == sorted(s for _, s in got)
    assert f"wrote {len(got):,} records" in result.stderr
    assert not list(tmp_path.glob("*.part"))


def test_jsonl_to_stdout_for_some_numbers(invoke: Invoke, emu: Emulator,
                                          env: dict[str, str]) -> None:
    """--number (repeated) and --out - write JSON Lines of those numbers to stdout."""
    numbers = emu.fleet.numbers[:3]
    args = [a for n in numbers for a in ("--number", n)]
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--to", "2025-03-03", *args,
                     "--format", "jsonl", "--out", "-"], env=env)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((r["number"], r["started_at"]) for r in records) == expected(emu, numbers)
    assert set(records[0]) == set(FIELDS)


def test_parquet_is_written_in_row_groups(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                          tmp_path: Path) -> None:
    """Parquet (chosen by the suffix) holds every record, in row groups of the given size,
    with UTC timestamps."""
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "cdr.parquet"
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--to", "2025-03-03",
                     "--out", str(out), "--row-group-size", "100"], env=env)
    assert result.exit_code == 0, result.output
    file = pq.ParquetFile(out)
    total = len(expected(emu, emu.fleet.numbers))
    assert file.metadata.num_rows == total
    assert file.metadata.num_row_groups == -(-total // 100)
    assert str(file.schema_arrow.field("started_at").type) == "timestamp[us, tz=UTC]"


def test_parquet_without_pyarrow_says_how_to_install(invoke: Invoke, emu: Emulator,
                                                     env: dict[str, str], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pyarrow, --format parquet exits 2 naming the extra, before any request."""
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--format", "parquet",
                     "--out", str(tmp_path / "x.parquet")], env=env)
    assert result.exit_code == 2
    assert "simapi_async[parquet]" in result.stderr
    assert emu.stats.total_requests == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2025-03-05", "--to", "2025-03-01"], "before"),
    (["--from", "yesterday"], "invalid"),
    (["--from", "2025-03-01", "--format", "parquet", "--out", "-"], "stdout"),
])
def test_bad_arguments_exit_2(invoke: Invoke, emu: Emulator, env: dict[str, str],
                              args: list[str], message: str) -> None:
    """A reversed range, a bad date, or parquet to stdout are usage errors, nothing sent."""
    if "--out" not in args:
        args = [*args, "--out", "-"]
    result = invoke(["cdr", "export", *args], env=env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emu.stats.total_requests == 0


def test_a_failed_export_leaves_no_file(invoke: Invoke, tmp_path: Path) -> None:
    """When the API fails on the third day, after two days were written, the export exits 1
    and leaves neither FILE nor FILE.part."""
    failed = []

    def third_day_fails(request: web.Request) -> web.Response | None:
        if request.path.endswith("cdr/internet") and request.query.get("from") == "2025-03-03":
            failed.append(request.query["from"])
            return web.json_response({"message": "Server Error"}, status=500)
        return None

    out = tmp_path / "out" / "cdr.csv"
    out.parent.mkdir()
    with EmulatorThread([middleware(third_day_fails)], sims=300, seed=7) as emu:
        result = invoke(["cdr", "export", "--from", "2025-03-01", "--to", "2025-03-03",
                         "--concurrency", "1", "--out", str(out), "--max-retries", "1"],
                        env=env_for(emu))
        assert emu.stats.requests["cdr_internet"] == 2  # the first two days were answered
    assert len(failed) == 2  # the third day: one attempt, one retry
    assert result.exit_code == 1
    assert "ServerError" in result.stderr
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("where", ["missing/dir/cdr.csv", "."])
def test_out_that_cannot_be_written_is_refused_before_any_request(
        invoke: Invoke, emu: Emulator, env: dict[str, str], tmp_path: Path, where: str) -> None:
    """--out into a missing directory or onto a directory is an error message (no
    traceback), given before the first request."""
    out = tmp_path / where
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--out", str(out)], env=env)
    assert result.exit_code != 0
    assert "Traceback" not in result.output + result.stderr
    assert ("does not exist" if "missing" in where else "is a directory") in result.stderr
    assert emu.stats.total_requests == 0


def test_an_unknown_suffix_without_format_is_refused(invoke: Invoke, emu: Emulator,
                                                     env: dict[str, str], tmp_path: Path) -> None:
    """--out x.xlsx without --format is refused instead of silently writing CSV."""
    out = tmp_path / "x.xlsx"
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--out", str(out)], env=env)
    assert result.exit_code != 0
    assert ".xlsx is not a format" in result.stderr
    assert not out.exists()
    assert emu.stats.total_requests == 0
    ok = invoke(["cdr", "export", "--from", "2025-03-01", "--out", str(out), "--format",
                 "csv"], env=env)
    assert ok.exit_code == 0, ok.output


def test_an_empty_export_says_no_records(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                         tmp_path: Path) -> None:
    """An INN without numbers exits 0 and says "no records" on stderr."""
    result = invoke(["cdr", "export", "--from", "2025-03-01", "--inn", "0000000000",
                     "--out", str(tmp_path / "none.csv")], env=env)
    assert result.exit_code == 0, result.output
    assert "no records" in result.stderr


def test_every_format_has_the_servers_local_date(invoke: Invoke, emu: Emulator,
                                                 env: dict[str, str], tmp_path: Path) -> None:
    """CSV, JSON Lines and Parquet carry the same `date` (the server's day, +03:00), even
    for a session that starts before 03:00, when it is still the day before in UTC."""
    import pyarrow.parquet as pq

    numbers = emu.fleet.numbers[:20]
    args = [a for n in numbers for a in ("--number", n)]
    dates: dict[str, list[tuple[str, str]]] = {}
    for fmt in ("csv", "jsonl", "parquet"):
        out = tmp_path / f"cdr.{fmt}"
        result = invoke(["cdr", "export", "--from", "2025-03-01", "--to", "2025-03-03", *args,
                         "--out", str(out)], env=env)
        assert result.exit_code == 0, result.output
        if fmt == "csv":
            rows = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
        elif fmt == "jsonl":
            rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        else:
            rows = [{**r, "date": r["date"].isoformat()} for r in pq.read_table(out).to_pylist()]
        dates[fmt] = sorted((r["number"], r["date"]) for r in rows)
    want = sorted((r.number, r.start.date().isoformat())
                  for day in DAYS for n in numbers for r in emu.fleet.cdr(n, day))
    assert dates["csv"] == dates["jsonl"] == dates["parquet"] == want


def test_cdr_sync_into_a_parquet_dataset_and_again(invoke: Invoke, emu: Emulator,
                                                   env: dict[str, str], tmp_path: Path) -> None:
    """`simapi cdr sync --to DIR --from --until` writes each day, with progress on stderr;
    a second run without --from goes on from the watermark."""
    import pyarrow.dataset as ds

    dest = tmp_path / "warehouse"
    first = invoke(["cdr", "sync", "--to", str(dest), "--from", "2025-03-01", "--until",
                    "2025-03-03"], env=env)
    assert first.exit_code == 0, first.output
    assert "day 3/3" in first.stderr
    assert "records/s" in first.stderr
    assert sorted(p.name for p in dest.iterdir()) == [
        "_simapi_manifest.json", "date=2025-03-01", "date=2025-03-02", "date=2025-03-03"]
    count = ds.dataset(str(dest), partitioning="hive").count_rows()
    assert count == len(expected(emu, emu.fleet.numbers))
    again = invoke(["cdr", "sync", "--to", str(dest), "--until", "2025-03-03",
                    "--lookback-days", "0"], env=env)
    assert again.exit_code == 0, again.output
    assert "up to date" in again.stderr


def test_cdr_sync_into_an_empty_destination_needs_from(invoke: Invoke, emu: Emulator,
                                                       env: dict[str, str],
                                                       tmp_path: Path) -> None:
    """Without --from, the first sync is refused with a message and no CDR request."""
    result = invoke(["cdr", "sync", "--to", str(tmp_path / "w.duckdb")], env=env)
    assert result.exit_code != 0
    assert "--from" in result.stderr
    assert "Traceback" not in result.stderr
    assert emu.stats.requests["cdr_internet"] == 0
