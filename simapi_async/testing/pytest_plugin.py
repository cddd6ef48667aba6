"""pytest plugin of simapi_async (registered through the `pytest11` entry point).

Fixtures, defined only when pytest-asyncio is installed; both turn retry sleeps off
(`set_testing(True)`) for the test's duration, so a `fail_next(503)` test takes
milliseconds, and restore the previous setting afterwards:

- `simapi_emulator`: a started `Emulator(sims=200, seed=1)`, one per test.
- `simapi_emulator_factory`: an `EmulatorFactory`; await it with `Emulator` keyword
  arguments and it returns a STARTED emulator, stopped when the test ends::

      from simapi_async.testing import EmulatorFactory, Faults

      async def test_retries(simapi_emulator_factory: EmulatorFactory) -> None:
          emu = await simapi_emulator_factory(sims=10, faults=Faults(error_rate_503=0.5))
          ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from .._retry import is_testing, set_testing
from ._emulator import Emulator, EmulatorFactory

__all__: list[str] = []

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures need pytest-asyncio
    pass
else:
    __all__ += ["simapi_emulator", "simapi_emulator_factory"]

    @pytest_asyncio.fixture
    async def simapi_emulator() -> AsyncIterator[Emulator]:
        """A started emulator: 200 SIM cards, seed 1; retry sleeps off meanwhile."""
        was = is_testing()
        set_testing(True)
        try:
            async with Emulator(sims=200, seed=1) as emu:
                yield emu
        finally:
            set_testing(was)

    @pytest_asyncio.fixture
    async def simapi_emulator_factory() -> AsyncIterator[EmulatorFactory]:
        """Start emulators with any `Emulator` arguments; all are stopped at teardown."""
        made: list[Emulator] = []

        async def factory(**kwargs: Any) -> Emulator:
            emu = Emulator(**kwargs)
            await emu.start()
            made.append(emu)
            return emu

        was = is_testing()
        set_testing(True)
        try:
            yield factory
        finally:
            try:
                for emu in made:
                    await emu.stop()
            finally:
                set_testing(was)
