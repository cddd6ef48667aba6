"""Targets of a bulk run: parsing, a compact set of numbers, and sharding."""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Mapping
from typing import Any

import attrs

from .._validation import normalize_iccid, normalize_imsi, normalize_number

__all__ = ["NumberSet", "Target", "in_shard", "parse_target"]


@attrs.frozen(slots=True)
class Target:
    """One SIM to act on: its number and, when known, its ICCID or IMSI.

    Without `iccid`/`imsi` the SDK looks the SIM up by number (once per session).
    """

    number: str
    iccid: str | None = None
    imsi: str | None = None


_NUMBER_KEYS = ("number", "msisdn", "phone")


def _column(key: object) -> str:
    """A column name as written by people and spreadsheets: BOM, case and padding ignored."""
    return str(key).lstrip("\ufeff").strip().lower()


def parse_target(value: Any) -> Target:
    """A `Target` with every field normalised; `InvalidInputError` names the bad field.

    Accepts a number (`str`/`int`), a `Target`, or a mapping with `number` (or `msisdn`,
    `phone`; any case, a BOM or padding around the name) and optional `iccid`/`imsi`
    (a CSV row).
    """
    number: Any
    iccid: Any
    imsi: Any
    if isinstance(value, Target):
        number, iccid, imsi = value.number, value.iccid, value.imsi
    elif isinstance(value, Mapping):
        row = {_column(k): v for k, v in value.items()}
        number = next((row[k] for k in _NUMBER_KEYS if row.get(k) not in (None, "")), None)
        iccid = row.get("iccid") or None
        imsi = row.get("imsi") or None
    else:
        number, iccid, imsi = value, None, None
    n = normalize_number(number)
    c = None if iccid is None else normalize_iccid(iccid)
    i = None if imsi is None else normalize_imsi(imsi)
    if type(value) is Target and n == number and c == iccid and i == imsi:
        return value  # already in normal form: no second object
    return Target(n, c, i)


def in_shard(number: str, shard: tuple[int, int] | None) -> bool:
    """Whether `number` belongs to shard `i` of `n` (a stable CRC32 of the number)."""
    if shard is None:
        return True
    index, count = shard
    return zlib.crc32(number.encode()) % count == index


_PAGE_BITS = 16
_PAGE_MASK = (1 << _PAGE_BITS) - 1
_SPARSE_MAX = 4096  # a page turns into a bitmap past this many members (as Roaring does)


class NumberSet:
    """An exact set of phone numbers in a few bytes each (Roaring-style pages).

    Numbers are split into 2¹⁶-wide pages; a page holds its members as an `array('H')`
    while sparse and as an 8 KiB bitmap once dense. Fleet numbers come in ranges, so a
    million of them typically take well under a megabyte; random ones about 2-3 bytes each.
    """

    __slots__ = ("_len", "_pages")

    def __init__(self) -> None:
        self._pages: dict[int, array[int] | bytearray] = {}
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str) or not number.isdigit():
            return False
        n = int(number)
        page = self._pages.get(n >> _PAGE_BITS)
        if page is None:
            return False
        low = n & _PAGE_MASK
        if type(page) is bytearray:
            return bool(page[low >> 3] & (1 << (low & 7)))
        return low in page

    def add(self, number: str) -> bool:
        """Add `number` (a digit string); True if it was not in the set before."""
        n = int(number)
        key = n >> _PAGE_BITS
        low = n & _PAGE_MASK
        page = self._pages.get(key)
        if page is None:
            self._pages[key] = array("H", (low,))
        elif type(page) is bytearray:
            byte, bit = low >> 3, 1 << (low & 7)
            if page[byte] & bit:
                return False
            page[byte] |= bit
        else:
            if low in page:
                return False
            page.append(low)
            if len(page) > _SPARSE_MAX:
                bitmap = bytearray(1 << (_PAGE_BITS - 3))
                for member in page:
                    bitmap[member >> 3] |= 1 << (member & 7)
                self._pages[key] = bitmap
        self._len += 1
        return True
