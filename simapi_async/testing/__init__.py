"""Test doubles for simapi_async: the API emulator and its pytest plugin.

    from simapi_async.testing import Emulator, Faults, Shapes

    async with Emulator(sims=1000, seed=1, faults=Faults(error_rate_503=0.05)) as emu:
        async with simapi_async.AsyncSession(emu.base_url, login=emu.login,
                                             password=emu.password) as api:
            await api.sims.block(emu.fleet.numbers[0])
        assert emu.fleet.sims[emu.fleet.numbers[0]].blocked

With pytest, the `simapi_emulator` fixture gives a started `Emulator(sims=200, seed=1)`
and `await simapi_emulator_factory(**kwargs)` any other one, started (annotate it
`EmulatorFactory`). Standalone:
``python -m simapi_async.testing --port 8080 --sims 10000``.
"""

from .._retry import set_testing
from ._cli import run_cli
from ._emulator import Emulator, EmulatorFactory
from ._faults import Faults
from ._fleet import CdrRecord, Fleet, Packet, SimState, SmallPacket, SpareSim
from ._shapes import Shapes
from ._stats import EmulatorStats

__all__ = [
    "CdrRecord",
    "Emulator",
    "EmulatorFactory",
    "EmulatorStats",
    "Faults",
    "Fleet",
    "Packet",
    "Shapes",
    "SimState",
    "SmallPacket",
    "SpareSim",
    "run_cli",
    "set_testing",
]
