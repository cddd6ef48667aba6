"""Targets: parsing, the compact number set, sharding."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import simapi_async as sa
from simapi_async.bulk import NumberSet, parse_target
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
    assert any(type(p) is bytearray for p in ns._pages.values())
    assert "abc" not in ns


def test_shards_partition_numbers() -> None:
    """Every number is in exactly one of n shards, and the split is roughly even."""
    rng = random.Random(1)
    numbers = [f"79{rng.randrange(10**9):09d}" for _ in range(3000)]
    counts = [sum(in_shard(n, (i, 3)) for n in numbers) for i in range(3)]
    assert sum(counts) == 3000
    assert min(counts) > 800
    assert all(in_shard(n, None) for n in numbers[:10])
