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
