"""Targets of a bulk run: parsing, a compact set of numbers, and sharding."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

import attrs

from .._exceptions import InvalidInputError
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


def bare_number(value: Any) -> str | None:
    """The normalised number of a target given by number only; None when it carries an
    iccid or imsi, or is invalid (identifiers are not validated here: no Luhn count twice).
    """
    try:
        if isinstance(value, Target):
            if value.iccid is not None or value.imsi is not None:
                return None
            return normalize_number(value.number)
        if isinstance(value, Mapping):
            row = {_column(k): v for k, v in value.items()}
            if row.get("iccid") or row.get("imsi"):
                return None
            return parse_target(value).number
        return normalize_number(value)
    except InvalidInputError:
        return None


def in_shard(number: str, shard: tuple[int, int] | None) -> bool:
    """Whether `number` belongs to shard `i` of `n` (a stable CRC32 of the number)."""
    if shard is None:
        return True
    index, count = shard
    return zlib.crc32(number.encode()) % count == index


_PAGE_BITS = 16  # a page covers 2¹⁶ numbers: a member is its low 16 bits
_PAGE_MASK = (1 << _PAGE_BITS) - 1
_BLOCK_BITS = 8  # a block lists 2⁸ pages: numbers sharing all but their low 24 bits
_BLOCK_MASK = (1 << _BLOCK_BITS) - 1
_SPARSE_MAX = 4096  # a page turns into a bitmap past this many members (as Roaring does)
_BITMAP_BYTES = 1 << (_PAGE_BITS - 3)
_LOW = struct.Struct("<H")  # a sparse member: its low 16 bits as 2 bytes
_pack_low = _LOW.pack

_Page = bytes | bytearray  # sparse (2 bytes a member, unsorted) or dense (a bitmap)


def _has(page: bytes, two: bytes) -> bool:
    """Whether the sparse `page` holds the member packed as `two`."""
    head, found, _ = page.partition(two)  # faster than find() or `in` on bytes
    return bool(found) and (not len(head) & 1 or _aligned(page, two, len(head) + 1))


def _aligned(page: bytes, two: bytes, start: int) -> bool:
    """Whether `two` is a member of `page` at or after byte `start`.

    Only even offsets count: a match at an odd one is the tail of one member and the
    head of the next (members 0x3412 and 0x7856 are bytes 12 34 56 78, where 34 56
    is member 0x5634 found at offset 1).
    """
    i = page.find(two, start)
    while i & 1 and i > 0:  # an odd hit is a false one (-1, not found, is odd too)
        i = page.find(two, i + 1)
    return i >= 0


def _bitmap(page: bytes) -> bytearray:
    """The bitmap of a sparse page's members."""
    bitmap = bytearray(_BITMAP_BYTES)
    for (low,) in _LOW.iter_unpack(page):
        bitmap[low >> 3] |= 1 << (low & 7)
    return bitmap


class NumberSet:
    """An exact set of phone numbers in a few bytes each (Roaring-style pages).

    Numbers are split into 2¹⁶-wide pages. A sparse page is an immutable `bytes` of
    its members' low 16 bits, 2 bytes each in the order added (bytes objects have a
    small header and are not tracked by the garbage collector); past 4096 members it
    turns into an 8 KiB bitmap. Pages live in blocks of 256 list slots, one block per
    2²⁴ numbers, in a small dict: no dict entry or int key per page.

    Fleet numbers come in ranges, so 100,000 consecutive numbers take about 19 KB.
    Spread-out ones cost their 2 bytes plus a share of the ~40 bytes a page costs: a
    million random numbers from 79000000000 to 79999999999 (~65 to a page) take about
    2.6 MB, 200,000 of them about 1.0 MB (tracemalloc, CPython 3.11; the array-per-page
    dict this replaced took 4.5 and 2.8 MB).

    Members are compared as integers: the SDK passes normalised 11-digit numbers, and
    a string with leading zeros would equal the number without them.
    """

    __slots__ = ("_blocks", "_len")

    def __init__(self) -> None:
        self._blocks: dict[int, list[_Page | None]] = {}
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def __contains__(self, number: object) -> bool:
        if not (isinstance(number, str) and number.isascii() and number.isdigit()):
            return False
        try:
            n = int(number)
        except ValueError:  # more digits than int() converts (sys.get_int_max_str_digits)
            return False
        key = n >> _PAGE_BITS
        block = self._blocks.get(key >> _BLOCK_BITS)
        if block is None:
            return False
        page = block[key & _BLOCK_MASK]
        low = n & _PAGE_MASK
        if type(page) is bytes:
            return _has(page, _pack_low(low))
        if type(page) is bytearray:
            return bool(page[low >> 3] & (1 << (low & 7)))
        return False  # no page

    def add(self, number: str) -> bool:
        """Add `number` (a digit string); True if it was not in the set before."""
        n = int(number)
        key = n >> _PAGE_BITS
        block = self._blocks.get(key >> _BLOCK_BITS)
        if block is None:
            block = self._blocks[key >> _BLOCK_BITS] = [None] * (1 << _BLOCK_BITS)
        slot = key & _BLOCK_MASK
        page = block[slot]
        low = n & _PAGE_MASK
        if type(page) is bytes:
            two = _pack_low(low)
            if _has(page, two):
                return False
            page += two
            block[slot] = page if len(page) <= 2 * _SPARSE_MAX else _bitmap(page)
        elif type(page) is bytearray:
            byte, bit = low >> 3, 1 << (low & 7)
            if page[byte] & bit:
                return False
            page[byte] |= bit
        else:  # no page yet
            block[slot] = _pack_low(low)
        self._len += 1
        return True
