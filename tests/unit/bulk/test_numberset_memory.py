"""NumberSet stays a few bytes a number when the numbers are spread out."""

from __future__ import annotations

import gc
import random
import tracemalloc

from simapi_async.bulk import NumberSet

# 200,000 numbers spread over 79000000000-79999999999 hit ~15,000 pages of ~13 members:
# the per-page cost dominates. Measured ~1.04 MB (CPython 3.11); the array-per-page,
# dict-of-pages layout before it took ~2.8 MB.
BUDGET = 1_350_000


def test_200k_spread_numbers_fit_the_budget() -> None:
    """200,000 random numbers take less than BUDGET bytes (tracemalloc)."""
    numbers = [str(v) for v in random.Random(7).sample(range(79_000_000_000, 80_000_000_000),
                                                        200_000)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ns = NumberSet()
        for number in numbers:
            ns.add(number)
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(ns) == len(numbers)
    assert all(number in ns for number in numbers[::97])
    assert size < BUDGET, f"{size:,} bytes for {len(numbers):,} numbers"
