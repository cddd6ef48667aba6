"""`--fields` on the `--json` output of `simapi bulk`, `simapi packets` and `simapi cdr`
(issue 17): the named keys only, in that order; a name the output cannot have is refused
before anything runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from simapi_async.testing import Emulator
from tests.cli.conftest import Invoke


def _numbers_file(tmp_path: Path, emu: Emulator, count: int) -> str:
    path = tmp_path / "numbers.txt"
    path.write_text("\n".join([*emu.fleet.numbers[:count], "not-a-number"]) + "\n")
    return str(path)


def test_bulk_json_summary_fields(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                  tmp_path: Path) -> None:
    """`simapi bulk block FILE --json --fields total,failed,bad` prints those keys of the
    summary, in that order (the bad-line rows included)."""
    path = _numbers_file(tmp_path, emu, 5)
    result = invoke(["bulk", "block", path, "--no-journal", "--json",
                     "--fields", "total,failed,bad"], env=env)
    data = json.loads(result.stdout)
    assert list(data) == ["total", "failed", "bad"]
    assert (data["total"], data["failed"]) == (6, 1)
    assert [b["line"] for b in data["bad"]] == [6]


def test_bulk_dry_run_json_fields(invoke: Invoke, emu: Emulator, tmp_path: Path) -> None:
    """`--dry-run --json --fields would_send,bad_lines` picks from the dry run's summary."""
    path = _numbers_file(tmp_path, emu, 4)
    result = invoke(["bulk", "block", path, "--dry-run", "--json",
                     "--fields", "would_send,bad_lines"])
    assert json.loads(result.stdout) == {"would_send": 4, "bad_lines": 1}


def test_bulk_fields_refuses_an_unknown_name_before_sending(
        invoke: Invoke, emu: Emulator, env: dict[str, str], tmp_path: Path) -> None:
    """A misspelt field is a usage error (exit 2) naming it, and no request is sent; so is
    --fields without --json."""
    path = _numbers_file(tmp_path, emu, 3)
    typo = invoke(["bulk", "block", path, "--json", "--fields", "total,succeded"], env=env)
    assert typo.exit_code == 2
    assert "'succeded'" in typo.output
    no_json = invoke(["bulk", "block", path, "--fields", "total"], env=env)
    assert no_json.exit_code == 2
    assert "--fields needs --json" in no_json.output
    assert emu.stats.total_requests == 0


def test_packets_json_fields(invoke: Invoke, env: dict[str, str]) -> None:
    """`simapi packets --json --fields id,name` keeps id and name of every packet."""
    every = json.loads(invoke(["packets", "--json"], env=env).stdout)
    picked = json.loads(invoke(["packets", "--json", "--fields", "id,name"], env=env).stdout)
    assert picked == [{"id": p["id"], "name": p["name"]} for p in every]
    assert invoke(["packets", "--fields", "id"], env=env).exit_code == 2


def test_cdr_export_jsonl_and_csv_fields(invoke: Invoke, emu: Emulator,
                                         env: dict[str, str], tmp_path: Path) -> None:
    """`simapi cdr export --out - --format jsonl --fields number,volume_bytes` writes those
    keys only; CSV gets the same columns; Parquet and unknown names are refused."""
    args = ["cdr", "export", "--from", "2026-10-01", "--out", "-"]
    full = [json.loads(line) for line in
            invoke([*args, "--format", "jsonl"], env=env).stdout.splitlines()]
    assert full
    lines = invoke([*args, "--format", "jsonl", "--fields", "volume_bytes,number"],
                   env=env).stdout.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"volume_bytes": r["volume_bytes"], "number": r["number"]} for r in full]
    assert list(json.loads(lines[0])) == ["volume_bytes", "number"]
    rows = list(csv.reader(invoke([*args, "--format", "csv", "--fields", "number,date"],
                                  env=env).stdout.splitlines()))
    assert rows[0] == ["number", "date"]
    assert rows[1:] == [[r["number"], r["date"]] for r in full]
    before = emu.stats.total_requests
    bad = invoke([*args, "--format", "jsonl", "--fields", "number,msisdn"], env=env)
    assert bad.exit_code == 2
    assert "'msisdn'" in bad.output
    parquet = invoke(["cdr", "export", "--from", "2026-10-01", "--out",
                      str(tmp_path / "x.parquet"), "--fields", "number"], env=env)
    assert parquet.exit_code == 2
    assert "--fields is for csv / jsonl" in parquet.output
    assert emu.stats.total_requests == before


def test_cdr_sync_json_fields(invoke: Invoke, env: dict[str, str], tmp_path: Path) -> None:
    """`simapi cdr sync --json` prints what the sync did; `--fields days,records` those
    two keys only."""
    dest = str(tmp_path / "cdr")
    first = invoke(["cdr", "sync", "--to", dest, "--from", "2026-10-01",
                    "--until", "2026-10-02", "--json"], env=env)
    data = json.loads(first.stdout)
    assert set(data) == {"date_from", "date_until", "days", "records", "bytes", "elapsed",
                         "watermark"}
    assert (data["date_from"], data["days"], data["watermark"]) == (
        "2026-10-01", 2, "2026-10-02")
    again = invoke(["cdr", "sync", "--to", dest, "--until", "2026-10-02", "--json",
                    "--fields", "days,records"], env=env)
    assert list(json.loads(again.stdout)) == ["days", "records"]
    assert invoke(["cdr", "sync", "--to", dest, "--fields", "days"], env=env).exit_code == 2
