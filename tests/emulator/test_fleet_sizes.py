"""Client sizes of the emulator's fleet."""

from __future__ import annotations

import pytest

from simapi_async import InvalidInputError
from simapi_async.testing import Emulator


def test_client_sizes_bound_the_sims_per_inn() -> None:
    """client_sizes=(lo, hi) makes every client own between lo and hi SIMs (the last fewer)."""
    fleet = Emulator(sims=10_000, seed=2, client_sizes=(1500, 3000)).fleet
    sizes = sorted(len(fleet.numbers_of(inn)) for inn in fleet.inns)
    assert sum(sizes) == 10_000
    assert all(s <= 3000 for s in sizes)
    assert sum(s >= 1500 for s in sizes) >= len(sizes) - 1


def test_bad_client_sizes_are_refused() -> None:
    """A reversed or empty range is an InvalidInputError naming client_sizes."""
    with pytest.raises(InvalidInputError, match="client_sizes"):
        Emulator(sims=10, client_sizes=(5, 1))
