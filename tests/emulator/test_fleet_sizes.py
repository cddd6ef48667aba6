"""Client sizes of the emulator's fleet."""

from __future__ import annotations

import pytest

from simapi_async import InvalidInputError
from simapi_async.testing import Emulator


def test_client_sizes_bound_the_sims_per_inn() -> None:
    """client_sizes=(lo, hi): every client owns at most hi SIMs, all but one at least lo."""
    fleet = Emulator(sims=10_000, seed=2, client_sizes=(1500, 3000)).fleet
    sizes = sorted(len(fleet.numbers_of(inn)) for inn in fleet.inns)
    assert sum(sizes) == 10_000
    assert all(s <= 3000 for s in sizes)
    assert sum(s >= 1500 for s in sizes) >= len(sizes) - 1


def test_bad_client_sizes_are_refused() -> None:
    """A reversed or empty range is an InvalidInputError naming client_sizes."""
    with pytest.raises(InvalidInputError, match="client_sizes"):
        Emulator(sims=10, client_sizes=(5, 1))


@pytest.mark.parametrize("sims", [1, 60, 100, 250, 1000])
def test_small_fleets_build_with_every_sim_owned(sims: int) -> None:
    """Any fleet size builds; the clients' SIMs add up to the fleet (a short rest merges)."""
    fleet = Emulator(sims=sims, seed=5).fleet
    assert sum(len(fleet.numbers_of(inn)) for inn in fleet.inns) == sims
