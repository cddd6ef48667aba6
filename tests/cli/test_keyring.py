"""Profiles whose password is in the OS keyring (`keyring = true`, extra `keyring`), against
an in-memory keyring backend: `simapi configure --keyring`, `--profile`,
`AsyncSession.from_profile` (issue 17). No real OS keyring is touched."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import keyring
import keyring.core
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

import simapi_async as sa
from simapi_async._profiles import config_path
from simapi_async.testing import Emulator
from tests.cli.conftest import Invoke


class MemoryKeyring(KeyringBackend):
    """A keyring backend holding passwords in a dict."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.passwords.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """The process's keyring is an in-memory one for this test (the previous restored)."""
    previous = keyring.core._keyring_backend  # None until a first use picks one
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.core._keyring_backend = previous


def _write_profile(emu: Emulator, name: str = "laptop") -> None:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[profiles.{name}]\nbase_url = "{emu.base_url}"\nlogin = "{emu.login}"\n'
                    "keyring = true\n", encoding="utf-8")
    path.chmod(0o600)


def test_configure_keyring_stores_the_password_there_not_in_the_file(
        invoke: Invoke, emu: Emulator, memory_keyring: MemoryKeyring) -> None:
    """`simapi configure --keyring` puts the password (stdin's first line) in the keyring
    under service simapi/NAME and the login; the file says `keyring = true` and holds no
    password; `--profile NAME` then connects with it."""
    made = invoke(["configure", "--profile", "laptop", "--base-url", emu.base_url,
                   "--login", emu.login, "--keyring"], input=emu.password + "\n")
    assert made.exit_code == 0, made.output
    assert memory_keyring.passwords == {("simapi/laptop", emu.login): emu.password}
    text = config_path().read_text(encoding="utf-8")
    assert "keyring = true" in text
    assert emu.password not in text
    result = invoke(["sims", "get", emu.fleet.numbers[0], "--json", "--profile", "laptop"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["number"] == emu.fleet.numbers[0]
    assert emu.password not in result.output


async def test_from_profile_reads_the_password_from_the_keyring(
        emu: Emulator, memory_keyring: MemoryKeyring) -> None:
    """`AsyncSession.from_profile` takes a `keyring = true` profile's password from the
    keyring, and the session's repr does not show it."""
    _write_profile(emu)
    memory_keyring.set_password("simapi/laptop", emu.login, emu.password)
    async with sa.AsyncSession.from_profile("laptop") as api:
        assert emu.password not in repr(api)
        assert len(await api.packets.list()) > 0


def test_a_missing_keyring_entry_says_how_to_store_one(
        invoke: Invoke, emu: Emulator, memory_keyring: MemoryKeyring) -> None:
    """A `keyring = true` profile with nothing stored is a configuration error (exit 2)
    naming the fix, before any request."""
    _write_profile(emu)
    before = emu.stats.total_requests
    result = invoke(["packets", "--json", "--profile", "laptop"])
    assert result.exit_code == 2
    assert "no password for 'demo' in the OS keyring" in result.output
    assert "simapi configure --profile laptop --keyring" in result.output
    assert emu.stats.total_requests == before


def test_a_wrong_keyring_password_never_shows(
        invoke: Invoke, emu: Emulator, memory_keyring: MemoryKeyring) -> None:
    """A wrong password from the keyring fails the login; the message does not show it."""
    _write_profile(emu)
    memory_keyring.set_password("simapi/laptop", emu.login, "not-the-password-42")
    result = invoke(["packets", "--json", "--profile", "laptop"])
    assert result.exit_code != 0
    assert "not-the-password-42" not in result.output


def test_without_the_keyring_package_both_sides_say_how_to_install_it(
        invoke: Invoke, emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """With `keyring` not importable, `configure --keyring` and a `keyring = true` profile
    both say `pip install 'simapi_async[keyring]'` (exit 2)."""
    monkeypatch.setitem(sys.modules, "keyring", None)  # import keyring -> ImportError
    made = invoke(["configure", "--profile", "laptop", "--base-url", emu.base_url,
                   "--login", emu.login, "--keyring"], input="secret\n")
    assert made.exit_code == 2
    assert "simapi_async[keyring]" in made.output
    _write_profile(emu)
    used = invoke(["packets", "--json", "--profile", "laptop"])
    assert used.exit_code == 2
    assert "simapi_async[keyring]" in used.output
    with pytest.raises(sa.InvalidInputError, match=r"simapi_async\[keyring\]"):
        sa.AsyncSession.from_profile("laptop")
