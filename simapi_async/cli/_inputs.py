"""Targets of `simapi bulk`, read lazily from a file or stdin.

Two formats, told apart by the first line that is neither blank nor a ``#`` comment:

- a text file of numbers, one per line (any spelling the SDK accepts; a trailing
  ``# comment`` is allowed);
- a CSV whose header names a number column (``number``, ``msisdn``, ``phone``, ``номер``,
  ... in any case) and optionally ``iccid`` / ``imsi``; the delimiter (``,`` ``;`` tab
  ``|``) is taken from the header.

A UTF-8 BOM is dropped. A file whose first 64 KiB are not UTF-8 is read as Windows-1251,
what Excel in a Russian locale saves as "CSV" (so a ``Номер;ICCID`` header is found).
A line whose number, ICCID or IMSI is invalid is not sent: it is reported (`on_bad`)
with its line number, and counted.
"""

from __future__ import annotations

import csv
import io
import sys
from collections import deque
from collections.abc import Callable, Iterator
from typing import IO, Final

import attrs

from .._exceptions import InvalidInputError
from ..bulk import Target, parse_target
from ._common import ConfigError

__all__ = ["BadLine", "TargetReader", "count_candidate_lines", "open_input"]

_NUMBER_NAMES: Final = frozenset({
    "number", "msisdn", "phone", "phone number", "phonenumber", "tel", "telephone",
    "mobile", "номер", "телефон", "номер телефона", "абонентский номер", "msisdn number",
})
_ICCID_NAMES: Final = frozenset({"iccid", "icc", "icc id", "sim iccid"})
_IMSI_NAMES: Final = frozenset({"imsi", "sim imsi"})
_DELIMITERS: Final = (",", ";", "\t", "|")
_SHOWN: Final = 80


@attrs.frozen(slots=True)
class BadLine:
    """An input line that cannot become a target: its number, text and why."""

    line: int
    text: str
    error: InvalidInputError

    @property
    def reason(self) -> str:
        return f"invalid {self.error.field}: {self.error.reason}"


_SNIFF_BYTES: Final = 65536


def sniff_encoding(head: bytes) -> str:
    """``utf-8-sig`` unless `head` (a file's first bytes) is not UTF-8: then ``cp1251``.

    A multi-byte character cut by the end of the sample is not held against UTF-8.
    """
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":
            return "cp1251"
    return "utf-8-sig"


def _file_encoding(path: str) -> str:
    with open(path, "rb") as f:
        return sniff_encoding(f.read(_SNIFF_BYTES))


def open_input(path: str) -> IO[str]:
    """The file (or stdin for ``-``) as text: UTF-8 with or without BOM, or Windows-1251
    when it is not UTF-8 (`sniff_encoding`); bad bytes replaced (so a mis-encoded line is
    reported as bad rather than stopping the run)."""
    if path == "-":
        # sys.stdin.buffer, not click.get_binary_stream (deprecated since Click 8.5)
        binary = getattr(sys.stdin, "buffer", None)
        if binary is None:  # a text-only stdin (some embedders): read it as it is
            return sys.stdin
        peek = getattr(binary, "peek", None)  # what is buffered, without consuming it
        encoding = sniff_encoding(peek(_SNIFF_BYTES)) if peek is not None else "utf-8-sig"
        return io.TextIOWrapper(binary, encoding=encoding, errors="replace", newline="")
    try:
        return open(path, encoding=_file_encoding(path), errors="replace", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _meaningful(text: str) -> bool:
    stripped = text.strip()
    return bool(stripped) and not stripped.startswith("#")


def _header_name(cell: str) -> str:
    return " ".join(cell.strip().strip("\"'").lower().replace("_", " ").replace("-", " ").split())


class TargetReader:
    """Iterates over the valid targets of `stream`; bad lines go to `on_bad`.

    `bad` counts them; `format` is ``"text"`` or ``"csv"`` once the first line is read.
    A CSV header without a number column raises `ConfigError`. With `track_lines`, the
    line of each target read is kept until `take_line(number)` claims it (call it for
    every result, so only targets not yet finished are held).
    """

    def __init__(self, stream: IO[str], name: str,
                 on_bad: Callable[[BadLine], None] | None = None, *,
                 track_lines: bool = False) -> None:
        self.stream = stream
        self.name = name
        self.on_bad = on_bad
        self._lines: dict[str, deque[int]] | None = {} if track_lines else None
        self.bad = 0
        self.valid = 0
        self.format: str | None = None
        self._targets: Iterator[Target] | None = None

    def open(self) -> None:
        """Read up to the first meaningful line and decide the format (`ConfigError` for a
        CSV header without a number column); iterating does it when not done before."""
        lines = enumerate(self.stream, 1)
        for lineno, text in lines:
            text = text.lstrip("\ufeff")
            if not _meaningful(text):
                continue
            header = self._csv_header(lineno, text)
            if header is None:
                self.format = "text"
                self._targets = self._text([(lineno, text)], lines)
            else:
                self.format = "csv"
                self._targets = self._csv(header, lineno, lines)
            return
        self.format = "empty"
        self._targets = iter(())

    def __iter__(self) -> Iterator[Target]:
        if self._targets is None:
            self.open()
        assert self._targets is not None
        return self._targets

    # -- text -------------------------------------------------------------------------------

    def _text(self, first: list[tuple[int, str]],
              rest: Iterator[tuple[int, str]]) -> Iterator[Target]:
        for source in (first, rest):
            for lineno, raw in source:
                text = raw.lstrip("\ufeff")
                if not _meaningful(text):
                    continue
                value = text.split(" #", 1)[0].split("\t#", 1)[0].strip()
                target = self._parse(lineno, text, value, None, None)
                if target is not None:
                    yield target

    # -- CSV --------------------------------------------------------------------------------

    def _csv_header(self, lineno: int, text: str) -> tuple[str, int, int | None, int | None] | None:
        """(delimiter, number column, iccid column, imsi column), or None for a text file."""
        delimiter = max(_DELIMITERS, key=text.count)
        if text.count(delimiter) == 0:
            delimiter = ","
        cells = [_header_name(c) for c in next(csv.reader([text], delimiter=delimiter))]
        number = next((i for i, c in enumerate(cells) if c in _NUMBER_NAMES), None)
        if number is None:
            if len(cells) > 1 and any(any(ch.isalpha() for ch in c) for c in cells):
                shown = ", ".join(c or "''" for c in cells)[:_SHOWN]
                raise ConfigError(
                    f"{self.name}, line {lineno}: the CSV header ({shown}) has no number "
                    "column; name it number, msisdn or phone"
                )
            return None
        iccid = next((i for i, c in enumerate(cells) if c in _ICCID_NAMES), None)
        imsi = next((i for i, c in enumerate(cells) if c in _IMSI_NAMES), None)
        return delimiter, number, iccid, imsi

    def _csv(self, header: tuple[str, int, int | None, int | None], header_line: int,
             lines: Iterator[tuple[int, str]]) -> Iterator[Target]:
        delimiter, number_col, iccid_col, imsi_col = header
        current = [header_line]

        def physical() -> Iterator[str]:
            for lineno, text in lines:
                current[0] = lineno
                yield text.lstrip("\ufeff")

        reader = csv.reader(physical(), delimiter=delimiter)
        first_of_row = header_line + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                self._report(current[0], "", InvalidInputError("line", None, f"bad CSV: {exc}"))
                first_of_row = current[0] + 1
                continue
            lineno, first_of_row = first_of_row, current[0] + 1
            if not row or all(not c.strip() for c in row) or row[0].strip().startswith("#"):
                continue
            text = delimiter.join(row)

            def cell(col: int | None, row: list[str] = row) -> str | None:
                if col is None or col >= len(row):
                    return None
                return row[col].strip() or None

            target = self._parse(lineno, text, cell(number_col) or "", cell(iccid_col),
                                 cell(imsi_col))
            if target is not None:
                yield target

    # -- both -------------------------------------------------------------------------------

    def _parse(self, lineno: int, text: str, number: str, iccid: str | None,
               imsi: str | None) -> Target | None:
        try:
            if not number:
                raise InvalidInputError("number", number, "the number is empty")
            target = parse_target({"number": number, "iccid": iccid, "imsi": imsi})
        except InvalidInputError as exc:
            self._report(lineno, text, exc)
            return None
        self.valid += 1
        if self._lines is not None:
            self._lines.setdefault(target.number, deque()).append(lineno)
        return target

    def take_line(self, number: str) -> int | None:
        """The input line of the earliest unclaimed target with `number` (with
        `track_lines`), forgotten once taken; None when unknown."""
        if self._lines is None:
            return None
        lines = self._lines.get(number)
        if not lines:
            return None
        line = lines.popleft()
        if not lines:
            del self._lines[number]
        return line

    def _report(self, lineno: int, text: str, error: InvalidInputError) -> None:
        self.bad += 1
        if self.on_bad is not None:
            shown = " ".join(text.split())
            if len(shown) > _SHOWN:
                shown = shown[:_SHOWN - 3] + "..."
            self.on_bad(BadLine(lineno, shown, error))


def count_candidate_lines(path: str) -> int | None:
    """About how many targets a file holds (lines that are not blank, comments or a
    header), for a progress bar's total; None for stdin or an unreadable file."""
    if path == "-":
        return None
    try:
        with open(path, encoding=_file_encoding(path), errors="replace") as f:
            count = sum(1 for line in f if _meaningful(line))
            f.seek(0)
            first = next((line for line in f if _meaningful(line)), "")
    except OSError:
        return None
    has_header = any(ch.isalpha() for ch in first.split("#", 1)[0])
    return max(0, count - (1 if has_header else 0))
