"""Targets: parsing, the compact number set, sharding."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simapi_async as sa
from simapi_async.bulk import NumberSet, _targets, parse_target
from simapi_async.bulk._targets import in_shard


def test_parse_target_accepts_numbers_targets_and_rows() -> None:
    """Strings, ints, Targets and CSV-like mappings all become normalised Targets."""
    assert parse_target("+7 (918) 111-11-11") == sa.Target("79181111111")
    assert parse_target(79181111111) == sa.Target("79181111111")
    assert parse_target(sa.Target("8 918 111 11 11", iccid="8970199220150123456")) == \
        sa.Target("79181111111", iccid="8970199220150123456")
    row = {"msisdn": "89181111111", "iccid": "", "imsi": "250011234567890"}
    assert parse_target(row) == sa.Target("79181111111", imsi="250011234567890")


@pytest.mark.parametrize("bad", ["", "hello", None, {"iccid": "1"}, sa.Target("79181111111",
                                                                               iccid="12")])
def test_parse_target_rejects_bad_values(bad: object) -> None:
    """A bad number or ICCID raises InvalidInputError naming the field."""
    with pytest.raises(sa.InvalidInputError) as info:
        parse_target(bad)
    assert info.value.field in ("number", "iccid")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=79_000_000_000, max_value=79_999_999_999), max_size=300))
def test_number_set_behaves_like_a_set(values: list[int]) -> None:
    """NumberSet.add/contains/len agree with a Python set on any input."""
    ns, ref = NumberSet(), set()
    for v in values:
        text = str(v)
        assert ns.add(text) == (text not in ref)
        ref.add(text)
    assert len(ns) == len(ref)
    assert all(str(v) in ns for v in values)


def test_number_set_turns_dense_pages_into_bitmaps() -> None:
    """A dense range becomes bitmaps and stays exact across the switch."""
    ns = NumberSet()
    base = 79_000_000_000
    for i in range(20_000):
        assert ns.add(str(base + i))
    assert not ns.add(str(base + 4097))
    assert str(base + 19_999) in ns
    assert str(base + 20_000) not in ns
    assert len(ns) == 20_000
    pages = [p for block in ns._blocks.values() for p in block if p is not None]
    assert pages
    assert all(type(p) is bytearray for p in pages)  # one page: 20,000 members
    assert "abc" not in ns


_PAGE = 79_181_000_000 >> 16 << 16  # the first number of a 2¹⁶-wide page
_BLOCK = 79_500_000_000 >> 24 << 24  # the first number of a block of 256 pages


def _straddled(a: int, b: int) -> int:
    """The low half formed by the tail of member `a` and the head of member `b`."""
    two = _targets._pack_low(a) + _targets._pack_low(b)
    (low,) = _targets._LOW.unpack(two[1:3])
    return int(low)


def test_number_set_ignores_matches_across_two_members() -> None:
    """Bytes that straddle two sparse members are not a member; a later real one is."""
    a, b = 0x3412, 0x7856
    ghost = _straddled(a, b)
    assert ghost not in (a, b)
    ns = NumberSet()
    assert ns.add(str(_PAGE + a))
    assert ns.add(str(_PAGE + b))
    assert str(_PAGE + ghost) not in ns  # found at an odd offset only
    assert ns.add(str(_PAGE + ghost))  # so it is new
    assert str(_PAGE + ghost) in ns  # now found past the odd match
    assert not ns.add(str(_PAGE + ghost))
    assert len(ns) == 3
    # the same with the false match several times before the real one
    ns = NumberSet()
    for low in (a, b, a, b, a, b):
        ns.add(str(_PAGE + low))
    assert str(_PAGE + ghost) not in ns
    assert ns.add(str(_PAGE + ghost))
    assert str(_PAGE + ghost) in ns


def test_number_set_bitmap_keeps_exactly_the_sparse_members() -> None:
    """The 4097th member turns a page into a bitmap of exactly its members."""
    a, b = 0x3412, 0x7856
    ghost = _straddled(a, b)
    lows = [a, b, *(low for low in range(0x8000, 0x9000) if low != ghost)][:4096]
    ns = NumberSet()
    for low in lows:
        assert ns.add(str(_PAGE + low))
    block = ns._blocks[_PAGE >> 24]
    slot = (_PAGE >> 16) & 0xFF
    assert type(block[slot]) is bytes  # 4096 members: still sparse
    assert str(_PAGE + ghost) not in ns
    assert ns.add(str(_PAGE + 0x0001))
    assert type(block[slot]) is bytearray
    assert all(str(_PAGE + low) in ns for low in [*lows, 0x0001])
    assert str(_PAGE + ghost) not in ns
    assert sum(str(_PAGE + low) in ns for low in range(1 << 16)) == 4097


@pytest.mark.parametrize("bad", [
    79181111111, None, b"79181111111", "", " 79181111111", "7918111111_1", "+79181111111",
    "-1", "\u00b2", "\u0667\u0669\u0661\u0668\u0661\u0661\u0661\u0661\u0661\u0661\u0661",
    "7" * 5000,
])
def test_number_set_lookup_of_anything_else_is_false(bad: object) -> None:
    """`in` is False, never an error, for what is not a plain ASCII digit string."""
    ns = NumberSet()
    ns.add("79181111111")
    ns.add("1")
    assert (bad in ns) is False


# Numbers from a few narrow ranges, so that pages are hit again and again: low halves
# made of a few byte values (members whose bytes, side by side, spell other members),
# the start of a page (filled past 4096 members it becomes a bitmap), the edges of a
# page and of a block of pages, and the top of the range.
_BYTES = st.sampled_from([0x00, 0x12, 0x34, 0x56, 0x78, 0xFF])
_NUMBERS = st.one_of(
    st.builds(lambda hi, lo: _PAGE + (hi << 8 | lo), _BYTES, _BYTES),
    st.integers(_PAGE - 40, _PAGE + 40),
    st.integers(_PAGE + 4050, _PAGE + 4150),
    st.integers(_BLOCK - 40, _BLOCK + 40),
    st.integers(79_999_999_960, 79_999_999_999),
)
_OPS = st.lists(st.tuples(st.sampled_from(["add", "in", "fill"]), _NUMBERS,
                          st.integers(0, 4200)), max_size=25)


@settings(max_examples=150, deadline=None)
@given(_OPS)
def test_number_set_matches_a_set_through_sparse_and_dense_pages(
        ops: list[tuple[str, int, int]]) -> None:
    """Any sequence of adds, fills of a range and lookups answers as a Python set does."""
    ns, ref = NumberSet(), set[str]()
    probes: set[int] = set()
    for op, value, count in ops:
        for v in range(value, value + count) if op == "fill" else (value,):
            text = str(v)
            probes.update((v - 1, v, v + 1))
            if op == "in":
                assert (text in ns) == (text in ref)
            else:
                assert ns.add(text) == (text not in ref)
                ref.add(text)
    assert len(ns) == len(ref)
    probes.update(_PAGE + (hi << 8 | lo) for hi in (0x00, 0x12, 0x34, 0x56, 0x78, 0xFF)
                  for lo in (0x00, 0x12, 0x34, 0x56, 0x78, 0xFF))
    for v in probes:
        assert (str(v) in ns) == (str(v) in ref), v


def test_shards_partition_numbers() -> None:
    """Every number is in exactly one of n shards, and the split is roughly even."""
    rng = random.Random(1)
    numbers = [f"79{rng.randrange(10**9):09d}" for _ in range(3000)]
    counts = [sum(in_shard(n, (i, 3)) for n in numbers) for i in range(3)]
    assert sum(counts) == 3000
    assert min(counts) > 800
    assert all(in_shard(n, None) for n in numbers[:10])
