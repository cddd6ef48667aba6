"""CSV-like input to `simapi_async.bulk.parse_target` and the bulk engine: BOMs, blank
lines and cells, duplicates in mixed spellings. (The CLI's own reader is tested with
the CLI.)"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simapi_async as sa
from simapi_async.bulk import parse_target
from simapi_async.testing import Emulator

from .conftest import ICCID, NUMBER, connected

SPELLINGS = [NUMBER, "+7 918 111-11-11", "8 (918) 111-11-11", "9181111111", "7.918.111.11.11",
             79181111111, "\ufeff+79181111111", " 8-918-111-11-11 "]

EXCEL = (
    "\ufeffnumber;iccid;imsi\r\n"
    f"+7 918 111-11-11;{ICCID};\r\n"
    "\r\n"
    ";;\r\n"
    f"8 (918) 111-11-11;;250011234567890\r\n"
    "not a number;;\r\n"
)


def _rows(text: str) -> list[dict[str, Any]]:
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_parses_to_the_same_target(spelling: Any) -> None:
    """Each spelling of one number (BOM, spaces, 8-prefix, int) is the same Target."""
    assert parse_target(spelling) == sa.Target(NUMBER)
    assert parse_target({"msisdn": spelling}) == sa.Target(NUMBER)


def test_rows_of_an_excel_csv_read_with_utf8_sig() -> None:
    """Rows of a semicolon CSV read correctly (utf-8-sig drops the BOM): empty cells are
    absent ids, a blank line is skipped by csv, a row without a number is refused."""
    rows = _rows(EXCEL.removeprefix("\ufeff"))
    parsed: list[sa.Target | str] = []
    for row in rows:
        try:
            parsed.append(parse_target(row))
        except sa.InvalidInputError as exc:
            parsed.append(f"invalid {exc.field}")
    assert parsed == [sa.Target(NUMBER, iccid=ICCID),
                      "invalid number",
                      sa.Target(NUMBER, imsi="250011234567890"),
                      "invalid number"]


@pytest.mark.parametrize("key", ["\ufeffnumber", "Number", "MSISDN", " phone "])
def test_header_spelling_of_the_number_column(key: str) -> None:
    """A row keyed by the BOM-prefixed, capitalised or padded column name still parses."""
    assert parse_target({key: NUMBER, "iccid": ""}) == sa.Target(NUMBER)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([*SPELLINGS, "", "  ", "abc", None, "+7 918 111-11-12"]),
                max_size=12))
def test_parse_target_is_canonical_or_invalid(values: list[Any]) -> None:
    """Any mix of spellings, blanks and junk: a canonical Target or InvalidInputError,
    and every spelling of one number is the same Target (so bulk sends it once)."""
    seen: set[sa.Target] = set()
    refused: set[str] = set()
    for value in values:
        try:
            target = parse_target(value)
        except sa.InvalidInputError as exc:
            refused.add(exc.field)
            continue
        assert target.number in (NUMBER, "79181111112")
        seen.add(target)
    assert len(seen) <= 2
    assert refused <= {"number"}


async def test_bulk_sends_each_number_once_whatever_its_spelling() -> None:
    """A CSV-like input with duplicates in mixed spellings, blanks and junk: each SIM is
    written once, duplicates are skipped, junk fails alone, all accounted for."""
    async with Emulator(sims=20, seed=5) as emu:
        a, b = emu.fleet.numbers[:2]
        rows: list[Any] = [
            {"number": "\ufeff" + a}, {"number": f"+7 {a[1:4]} {a[4:7]}-{a[7:9]}-{a[9:]}"},
            {"msisdn": "8" + a[1:], "iccid": emu.fleet.sims[a].iccid}, {"number": ""},
            {"phone": b}, int(b), "not a number", {"number": b[1:]},
        ]
        async with connected(emu) as api:
            report = await api.bulk.block(rows, concurrency=3)
        assert report.total == len(rows)
        assert (report.succeeded, report.duplicates, report.failed) == (2, 4, 2)
        assert emu.stats.writes[("block", a)] == emu.stats.writes[("block", b)] == 1
        assert set(report.reasons) == {"InvalidInputError"}
