"""pytest plugin of simapi_async (registered through the `pytest11` entry point).

Fixtures, defined only when pytest-asyncio is installed:

- `simapi_emulator`: a started `Emulator(sims=200, seed=1)`, one per test.
- `simapi_emulator_factory`: call it with `Emulator` keyword arguments; it returns an
  (unstarted) `Emulator`, an async context manager::

      async def test_retries(simapi_emulator_factory):
          async with simapi_emulator_factory(sims=10, faults=Faults(error_rate_503=0.5)) as emu:
              ...

  Emulators still running when the test ends are stopped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from ._emulator import Emulator

__all__: list[str] = []

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    pass
else:
    __all__ += ["simapi_emulator", "simapi_emulator_factory"]

    @pytest_asyncio.fixture
    async def simapi_emulator() -> AsyncIterator[Emulator]:
        """A started emulator: 200 SIM cards, seed 1."""
        async with Emulator(sims=200, seed=1) as emu:
            yield emu

    @pytest_asyncio.fixture
    async def simapi_emulator_factory() -> AsyncIterator[Callable[..., Emulator]]:
        """Make emulators with any `Emulator` arguments; use each with `async with`."""
        made: list[Emulator] = []

        def factory(**kwargs: Any) -> Emulator:
            emu = Emulator(**kwargs)
            made.append(emu)
            return emu

        yield factory
        for emu in made:
            await emu.stop()
