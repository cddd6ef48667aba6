"""`simapi bulk` input files: text and CSV, BOM, comments, duplicates, bad lines; --dry-run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from simapi_async.testing import Emulator
from tests.cli.conftest import Invoke


def write(path: Path, lines: list[str], *, bom: bool = False) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return str(path)


def messy(emu: Emulator, tmp_path: Path) -> tuple[str, list[str]]:
    """A text file with a BOM, comments, blank lines, a duplicate (other spelling) and two
    bad lines (at lines 7 and 9); and the valid numbers in it."""
    n = emu.fleet.numbers[:4]
    lines = [
        "# SIMs of the boilers, to block",   # 1
        "",                                    # 2
        n[0],                                  # 3
        f"+7 {n[1][1:4]} {n[1][4:7]}-{n[1][7:9]}-{n[1][9:]}",  # 4
        f"8{n[2][1:]}   # trailing comment",   # 5
        "   ",                                 # 6
        "7918abc1111",                         # 7: bad
        n[0],                                  # 8: duplicate
        "12345",                               # 9: bad
        n[3],                                  # 10
    ]
    return write(tmp_path / "numbers.txt", lines, bom=True), n


def test_text_file_counts_every_line_and_names_bad_ones(invoke: Invoke, emu: Emulator,
                                                        env: dict[str, str],
                                                        tmp_path: Path) -> None:
    """BOM, blanks and comments are skipped; bad lines fail with their line number; the
    duplicate is sent once; the total includes everything; exit 1."""
    path, valid = messy(emu, tmp_path)
    result = invoke(["bulk", "block", path, "--json"], env=env)
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["total"], data["succeeded"], data["failed"], data["duplicates"],
            data["bad_lines"]) == (7, 4, 2, 1, 2)
    assert [(b["line"], b["text"]) for b in data["bad"]] == [(7, "7918abc1111"), (9, "12345")]
    assert all(emu.fleet.sims[n].blocked for n in valid)
    assert sum(c for (op, _), c in emu.stats.writes.items() if op == "block") == 4


def test_bad_lines_show_in_the_table_and_the_report(invoke: Invoke, emu: Emulator,
                                                    env: dict[str, str],
                                                    tmp_path: Path) -> None:
    """The summary names bad lines by number; --report has a row for each, plus API failures."""
    path, _ = messy(emu, tmp_path)
    with open(path, "a", encoding="utf-8") as f:
        f.write("79999999999\n")  # line 11: unknown to the API
    report = tmp_path / "failures.csv"
    result = invoke(["bulk", "block", path, "--report", str(report)], env=env)
    assert result.exit_code == 1
    assert "bad input lines" in result.stdout
    assert "12345" in result.stdout
    rows = list(csv.DictReader(report.read_text(encoding="utf-8").splitlines()))
    assert [(r["line"], r["number"], r["outcome"]) for r in rows] == [
        ("7", "7918abc1111", "invalid"), ("9", "12345", "invalid"),
        ("", "79999999999", "failed"),
    ]
    assert rows[2]["reason"] == "404 NotFoundError"


@pytest.mark.parametrize("header", ["number;iccid", "MSISDN;ICCID", "Phone;icc id",
                                    "номер;iccid"])
def test_csv_header_spellings_with_iccid(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                         tmp_path: Path, header: str) -> None:
    """A CSV's number column may be spelled number, MSISDN, phone or номер; with an iccid
    column no SIM is looked up."""
    numbers = emu.fleet.numbers[10:15]
    rows = [header, *(f"{n};{emu.fleet.sims[n].iccid}" for n in numbers)]
    result = invoke(["bulk", "block", write(tmp_path / "sims.csv", rows, bom=True), "--json"],
                    env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 5
    assert emu.stats.requests["get_sim"] == 0
    assert all(emu.fleet.sims[n].blocked for n in numbers)


@pytest.mark.parametrize("encoding", ["cp1251", "utf-8", "utf-8-sig"])
def test_a_russian_excel_csv_is_read_in_its_encoding(invoke: Invoke, emu: Emulator,
                                                     env: dict[str, str], tmp_path: Path,
                                                     encoding: str) -> None:
    """Excel in a Russian locale saves "CSV" in Windows-1251: its ``Номер;ICCID`` header is
    found (and the dry run's line count agrees); UTF-8 files are read as before."""
    numbers = emu.fleet.numbers[20:23]
    rows = ["# выгрузка из биллинга", "Номер телефона;ICCID",
            *(f"{n};{emu.fleet.sims[n].iccid}" for n in numbers)]
    path = tmp_path / "sims.csv"
    path.write_bytes(("\r\n".join(rows) + "\r\n").encode(encoding))
    result = invoke(["bulk", "block", str(path), "--json"], env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["succeeded"], data["bad_lines"]) == (3, 0)
    assert emu.stats.requests["get_sim"] == 0
    assert all(emu.fleet.sims[n].blocked for n in numbers)


def test_the_encoding_sniff_does_not_blame_utf8_for_a_cut_character() -> None:
    """A UTF-8 sample ending inside a multi-byte character is still UTF-8; bytes that are
    not UTF-8 anywhere else mean Windows-1251."""
    from simapi_async.cli._inputs import sniff_encoding

    assert sniff_encoding("Номер".encode()[:3]) == "utf-8-sig"  # a letter and a half
    assert sniff_encoding("Номер;ICCID".encode("cp1251")) == "cp1251"
    assert sniff_encoding(b"79181111111\n") == "utf-8-sig"


def test_csv_bad_rows_report_their_physical_line(invoke: Invoke, emu: Emulator,
                                                 env: dict[str, str], tmp_path: Path) -> None:
    """A CSV row with a bad ICCID or an empty number is reported with its line in the file,
    counting a quoted field that spans two lines."""
    n = emu.fleet.numbers
    rows = [
        "id,Number,iccid,comment",                        # 1
        f'1,{n[0]},{emu.fleet.sims[n[0]].iccid},"two',   # 2
        'lines"',                                         # 3
        f"2,{n[1]},89701,short iccid",                    # 4: bad
        "# a comment row",                                # 5
        "3,,,no number",                                  # 6: bad
        f"4,{n[2]},,",                                    # 7
    ]
    result = invoke(["bulk", "unblock", write(tmp_path / "x.csv", rows), "--json"], env=env)
    data = json.loads(result.stdout)
    assert [(b["line"], b["reason"].split(":")[0]) for b in data["bad"]] == [
        (4, "invalid iccid"), (6, "invalid number")]
    assert (data["total"], data["succeeded"]) == (4, 2)


def test_csv_header_without_number_column_exits_2(invoke: Invoke, emu: Emulator,
                                                  env: dict[str, str], tmp_path: Path) -> None:
    """A CSV header naming no number column is a usage error, before any request."""
    path = write(tmp_path / "x.csv", ["name,iccid", "boiler,8970199000000000000"])
    result = invoke(["bulk", "block", path], env=env)
    assert result.exit_code == 2
    assert "no number column" in result.stderr
    assert "line 1" in result.stderr
    assert emu.stats.total_requests == 0


def test_numbers_from_stdin(invoke: Invoke, emu: Emulator, env: dict[str, str]) -> None:
    """FILE - reads the numbers from stdin (a BOM there is dropped too)."""
    numbers = emu.fleet.numbers[20:23]
    text = "\ufeff" + "\n".join(numbers) + "\n"
    result = invoke(["bulk", "block-finance", "-", "--json"], env=env, input=text.encode())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 3
    assert all(emu.fleet.sims[n].finance_blocked for n in numbers)


def test_unreadable_file_exits_2(invoke: Invoke, env: dict[str, str], tmp_path: Path) -> None:
    """A FILE that cannot be read is a usage error naming it."""
    result = invoke(["bulk", "block", str(tmp_path / "missing.txt")], env=env)
    assert result.exit_code == 2
    assert "missing.txt" in result.stderr


def test_dry_run_validates_and_counts_without_settings_or_requests(
        invoke: Invoke, emu: Emulator, tmp_path: Path) -> None:
    """--dry-run needs no configuration, sends nothing, and exits 1 when lines are bad."""
    path, _ = messy(emu, tmp_path)
    result = invoke(["bulk", "block", path, "--dry-run", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert (data["valid"], data["unique"], data["duplicates"], data["bad_lines"],
            data["would_send"]) == (5, 4, 1, 2, 4)
    assert [b["line"] for b in data["bad"]] == [7, 9]
    assert emu.stats.total_requests == 0


def test_dry_run_of_a_clean_file_exits_0(invoke: Invoke, emu: Emulator, tmp_path: Path) -> None:
    """A dry run with no bad line exits 0 and prints what would be sent."""
    path = write(tmp_path / "ok.txt", emu.fleet.numbers[:6])
    result = invoke(["bulk", "block-service", path, "--service", "data", "--dry-run"])
    assert result.exit_code == 0, result.output
    rows = [" ".join(line.split()) for line in result.stdout.splitlines()]
    assert "valid targets 6" in rows
    assert "would send 6" in rows
    assert "operation block-service (service=internet)" in rows


def test_dry_run_counts_a_shard_and_what_the_journal_did(invoke: Invoke, emu: Emulator,
                                                         env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """With --shard and --journal, a dry run tells this shard's share and what is done."""
    numbers = emu.fleet.numbers[:40]
    path = write(tmp_path / "n.txt", numbers)
    journal = tmp_path / "j.jsonl"
    first = write(tmp_path / "first.txt", numbers[:10])
    assert invoke(["bulk", "block", first, "--journal", str(journal)], env=env).exit_code == 0
    whole = json.loads(invoke(["bulk", "block", path, "--dry-run", "--json",
                               "--journal", str(journal)]).stdout)
    assert (whole["in_shard"], whole["done_before"], whole["would_send"]) == (40, 10, 30)
    halves = [json.loads(invoke(["bulk", "block", path, "--dry-run", "--json",
                                 "--shard", f"{i}/2"]).stdout)["in_shard"] for i in (0, 1)]
    assert sum(halves) == 40
    assert all(halves)


@pytest.mark.parametrize(("args", "message"), [
    (["bulk", "explode"], "unknown operation"),
    (["bulk", "block-service"], "needs --service"),
    (["bulk", "block", "--packet-id", "101"], "--packet-id does not apply"),
    (["bulk", "change-packet", "--packet-id", "101", "--date", "tomorrow"], "--date"),
    (["bulk", "block", "--shard", "2/2"], "--shard"),
    (["bulk", "block", "--max-failures", "-1"], "--max-failures"),
    (["bulk", "block", "--journal", "j.jsonl", "--no-journal"], "--no-journal"),
])
def test_bad_options_exit_2(invoke: Invoke, emu: Emulator, env: dict[str, str],
                            tmp_path: Path, args: list[str], message: str) -> None:
    """Wrong operation names and arguments are usage errors (exit 2) naming the option."""
    path = write(tmp_path / "n.txt", emu.fleet.numbers[:2])
    result = invoke([*args[:2], path, *args[2:]], env=env)
    assert result.exit_code == 2
    assert message in result.stderr
    assert emu.stats.total_requests == 0
