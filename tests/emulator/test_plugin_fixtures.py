"""The pytest plugin's fixtures, as a user's own test suite sees them (issue 17)."""

from __future__ import annotations

import pydoc
import subprocess
import sys
from pathlib import Path

from simapi_async.testing import Emulator

_USER_TEST = '''
from __future__ import annotations

import simapi_async as sa
from simapi_async import _retry
from simapi_async.testing import Emulator, EmulatorFactory


async def test_factory_gives_started(simapi_emulator_factory: EmulatorFactory) -> None:
    """The user's test."""
    emu: Emulator = await simapi_emulator_factory(sims=5, seed=3)
    assert emu.base_url.startswith("http://127.0.0.1:")
    assert _retry.is_testing()
    emu.fail_next(3, status=503, retry_after=30.0)
    async with sa.AsyncSession(emu.base_url, login=emu.login, password=emu.password) as api:
        await api.sims.get(emu.fleet.numbers[0])
    assert emu.stats.status_counts[503] == 3


async def test_fixture_sleeps_off(simapi_emulator: Emulator) -> None:
    """The user's other test."""
    assert _retry.is_testing()


def test_after() -> None:
    """Outside the fixtures, sleeps are as the user left them."""
    assert not _retry.is_testing()
'''


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "test_user.py"
    path.write_text(_USER_TEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
        "filterwarnings = error\n", encoding="utf-8")
    return path


def test_factory_started_and_sleeps_off_in_a_user_suite(tmp_path: Path) -> None:
    """In a plain user suite the factory returns started emulators and a 503 x3 test
    needs no backoff sleeps (Retry-After 30 s would time the test out otherwise)."""
    _write(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--timeout", "20",
         str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_factory_type_passes_mypy_strict(tmp_path: Path) -> None:
    """A test annotated with the exported `EmulatorFactory` passes `mypy --strict`."""
    path = _write(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--follow-imports=silent",
         str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_emulator_help_has_no_endpoint_table() -> None:
    """`help(Emulator)` shows `endpoints=None`, not the whole endpoint table as a default."""
    text = pydoc.render_doc(Emulator, renderer=pydoc.plaintext)
    assert "endpoints: 'Mapping[str, Endpoint] | None' = None" in text
    assert "Endpoint(name=" not in text
    assert len(text) < 20_000
