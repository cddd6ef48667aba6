"""Login and bearer tokens: placement of credentials, 401s, TTL, revocation, expiry."""

from __future__ import annotations

import aiohttp
import pytest

from simapi_async.testing import Emulator, Faults
from simapi_async.testing import _emulator as emulator_module

from .conftest import Client


async def test_login_returns_a_working_token(emu: Emulator, anon: Client,
                                             creds: dict[str, str]) -> None:
    """Login with query credentials returns a bearer token that other endpoints accept."""
    r = await anon("POST", "api/v2/login", params=creds)
    assert r.status == 200
    assert r.body["token_type"] == "Bearer"
    assert "expires_in" not in r.body
    anon.token = r.body["token"]
    assert (await anon("GET", "api/v2/sim/packets")).status == 200
    assert emu.stats.logins == 1


async def test_each_login_gets_a_new_token(anon: Client, creds: dict[str, str]) -> None:
    """Two logins give two different random tokens."""
    a = await anon("POST", "api/v2/login", params=creds)
    b = await anon("POST", "api/v2/login", params=creds)
    assert a.body["token"] != b.body["token"]


async def test_wrong_password_is_401(emu: Emulator, anon: Client) -> None:
    """Wrong credentials answer 401 "Invalid credentials." and count no login."""
    r = await anon("POST", "api/v2/login", params={"login": emu.login, "password": "nope"})
    assert r.status == 401
    assert r.body == {"message": "Invalid credentials."}
    assert emu.stats.logins == 0


async def test_credentials_in_body_when_query_expected_is_422(
    anon: Client, creds: dict[str, str]
) -> None:
    """Credentials sent as a JSON body to a query-login count as missing: 422."""
    r = await anon("POST", "api/v2/login", json=creds)
    assert r.status == 422
    assert r.body["errors"] == {"login": ["The login field is required."],
                                "password": ["The password field is required."]}
    assert r.body["message"] == "The login field is required. (and 1 more error)"


async def test_credentials_in_body_mode() -> None:
    """With credentials_in="body", the body logs in and the query does not."""
    async with Emulator(sims=5, credentials_in="body") as emu, \
            aiohttp.ClientSession(emu.base_url + "/") as http:
        anon = Client(http, None)
        creds = {"login": emu.login, "password": emu.password}
        assert (await anon("POST", "api/v2/login", params=creds)).status == 422
        r = await anon("POST", "api/v2/login", json=creds)
        assert r.status == 200
        assert r.body["token"]


async def test_no_token_is_401(emu: Emulator, anon: Client) -> None:
    """A call without `Authorization` answers 401 "Unauthenticated."."""
    r = await anon("GET", f"api/v2/sim/{emu.fleet.numbers[0]}")
    assert r.status == 401
    assert r.body == {"message": "Unauthenticated."}


@pytest.mark.parametrize("header", ["Bearer made-up", "Basic abc", "made-up", "Bearer "])
async def test_bad_authorization_is_401(anon: Client, header: str) -> None:
    """Unknown tokens and non-bearer schemes answer 401."""
    r = await anon("GET", "api/v2/sim/packets", headers={"Authorization": header})
    assert r.status == 401


async def test_auth_is_checked_before_validation(anon: Client) -> None:
    """An unauthenticated call with a bad number gets 401, not 422 (middleware first)."""
    r = await anon("GET", "api/v2/sim/123")
    assert r.status == 401


async def test_revoke_tokens(emu: Emulator, api: Client) -> None:
    """After `revoke_tokens()` a token that worked gets 401."""
    assert (await api("GET", "api/v2/sim/packets")).status == 200
    emu.revoke_tokens()
    assert (await api("GET", "api/v2/sim/packets")).status == 401


async def test_expire_tokens(emu: Emulator, api: Client) -> None:
    """After `expire_tokens()` a token that worked gets 401; a new login works again."""
    emu.expire_tokens()
    assert (await api("GET", "api/v2/sim/packets")).status == 401
    api.token = emu.issue_token()
    assert (await api("GET", "api/v2/sim/packets")).status == 200


async def test_token_ttl_gives_expires_in_and_expires(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """With token_ttl, login says `expires_in` and the token fails once the TTL has passed."""
    async with Emulator(sims=5, token_ttl=30) as emu, \
            aiohttp.ClientSession(emu.base_url + "/") as http:
        anon = Client(http, None)
        r = await anon("POST", "api/v2/login", params={"login": emu.login,
                                                         "password": emu.password})
        assert r.body["expires_in"] == 30
        anon.token = r.body["token"]
        assert (await anon("GET", "api/v2/sim/packets")).status == 200
        now = emulator_module._now()
        monkeypatch.setattr(emulator_module, "_now", lambda: now + 31)
        assert (await anon("GET", "api/v2/sim/packets")).status == 401


async def test_faults_token_ttl_overrides(emu: Emulator, anon: Client,
                                          creds: dict[str, str]) -> None:
    """`faults.token_ttl` set at runtime applies to the next login."""
    emu.faults.token_ttl = 0.5
    r = await anon("POST", "api/v2/login", params=creds)
    assert r.body["expires_in"] == 0.5


async def test_password_not_in_repr() -> None:
    """The emulator's repr shows neither its password nor any token."""
    emu = Emulator(sims=1, password="s3cret-pass")
    token = emu.issue_token()
    assert "s3cret-pass" not in repr(emu)
    assert token not in repr(emu)


async def test_login_is_subject_to_faults(emu: Emulator, anon: Client,
                                          creds: dict[str, str]) -> None:
    """Login gets injected failures like any endpoint (clients must cope)."""
    emu.faults = Faults(error_rate_503=1.0)
    r = await anon("POST", "api/v2/login", params=creds)
    assert r.status == 503
    assert emu.stats.logins == 0
