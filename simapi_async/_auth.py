"""Login and the token: lazy login, single flight, proactive renewal, stale-401 safety."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import attrs

from ._config import TOKEN_RENEW_MARGIN
from ._exceptions import AuthenticationError

__all__ = ["Credentials", "LoginResult", "TokenManager", "parse_login_response"]

log = logging.getLogger("simapi_async")


@attrs.frozen(slots=True, repr=False)
class Credentials:
    """Login and password; the password never shows in `repr`."""

    login: str
    password: str = attrs.field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(login={self.login!r}, password='***')"


@attrs.frozen(slots=True, repr=False)
class LoginResult:
    """A token and, when the server said, how many seconds it stays valid."""

    token: str
    lifetime: float | None = None

    def __repr__(self) -> str:
        return f"LoginResult(token='***', lifetime={self.lifetime!r})"


def parse_login_response(body: Any) -> LoginResult:
    """The token from any shape API.md lists: `token`, `access_token`, `data.token`,
    `data.access_token`; `expires_in` (seconds) or `expires_at` (ISO time) beside it.
    """
    candidates: list[dict[str, Any]] = []
    if isinstance(body, dict):
        candidates.append(body)
        if isinstance(body.get("data"), dict):
            candidates.append(body["data"])
    for obj in candidates:
        for key in ("token", "access_token"):
            token = obj.get(key)
            if isinstance(token, str) and token:
                lifetime = _lifetime(obj)
                return LoginResult(token, lifetime if lifetime is not None else _lifetime(body))
    raise AuthenticationError(
        "the login answer holds no token (looked at token, access_token, data.token, "
        "data.access_token)",
        status=200,
    )


def _lifetime(obj: Any) -> float | None:
    if not isinstance(obj, dict):
        return None
    expires_in = obj.get("expires_in")
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool) and expires_in > 0:
        return float(expires_in)
    if isinstance(expires_in, str):
        try:
            value = float(expires_in)
        except ValueError:
            value = 0.0
        if value > 0:
            return value
    expires_at = obj.get("expires_at")
    if isinstance(expires_at, str):
        try:
            when = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        remaining = (when - dt.datetime.now(dt.UTC)).total_seconds()
        return max(remaining, 0.0)
    return None


class TokenManager:
    """Holds the bearer token and gets a new one when needed, once for all waiters.

    - `get()` returns `(token, generation)`. With no token (or an expired one) the first
      caller starts one login and every other caller awaits that same login; when it
      fails, all of them get its `AuthenticationError`.
    - When the token nears its end (60 s or a tenth of its lifetime left, the shorter)
      one renewal starts in the background and callers keep using the current token.
    - `invalidate(generation)` drops the token only if it is still the one of that
      generation: a late `401` for an old token never throws away a newer one.
    """

    def __init__(
        self,
        login: Callable[[], Awaitable[LoginResult]] | None,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._login = login
        self._clock = clock
        self._token = token
        self._expires_at: float | None = None
        self._renew_at: float | None = None
        self.generation = 0
        self.logins = 0
        self._issued: list[str] = [token] if token else []
        self._flight: asyncio.Task[LoginResult] | None = None

    @property
    def can_login(self) -> bool:
        return self._login is not None

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def issued(self) -> tuple[str, ...]:
        """The latest tokens this manager held (for scrubbing them out of any text)."""
        return tuple(self._issued)

    def __repr__(self) -> str:
        state = "set" if self._token else "none"
        return f"<TokenManager token={state} generation={self.generation}>"

    def current(self) -> tuple[str, int] | None:
        """The token and its generation when it is valid and not due for renewal, without
        awaiting anything (the request path's fast case); else None: use `get()`."""
        token = self._token
        if token is not None and (self._renew_at is None or self._clock() < self._renew_at):
            return token, self.generation
        return None

    async def get(self) -> tuple[str, int]:
        current = self.current()
        if current is not None:
            return current
        token = self._token
        if token is not None and self._expires_at is not None \
                and self._clock() < self._expires_at:
            if self._login is not None:
                self._start_flight()  # renew in the background, keep the valid token
            return token, self.generation
        if self._login is None:
            raise AuthenticationError(
                "the token is missing or expired and no login/password was given", status=401
            )
        await asyncio.shield(self._start_flight())
        if self._token is None:  # pragma: no cover - the flight sets it or raises
            raise AuthenticationError("login gave no token", status=401)
        return self._token, self.generation

    def invalidate(self, generation: int) -> bool:
        """Forget the token of `generation` (after a 401); False if a newer one exists."""
        if generation != self.generation or self._token is None:
            return False
        self._token = None
        self._expires_at = self._renew_at = None
        return True

    async def aclose(self) -> None:
        flight = self._flight
        if flight is not None and not flight.done():
            flight.cancel()
            with contextlib.suppress(BaseException):
                await flight

    def _start_flight(self) -> asyncio.Task[LoginResult]:
        if self._flight is None:
            task = asyncio.get_running_loop().create_task(self._do_login())
            task.add_done_callback(_retrieve)
            self._flight = task
        return self._flight

    async def _do_login(self) -> LoginResult:
        assert self._login is not None
        try:
            result = await self._login()
        except AuthenticationError:
            raise
        except Exception as exc:
            status = getattr(exc, "status", 0)
            raise AuthenticationError(f"login failed: {exc}", status=status) from exc
        finally:
            self._flight = None
        self.logins += 1
        self._token = result.token
        self._issued = [*self._issued[-7:], result.token]
        self.generation += 1
        if result.lifetime is not None:
            self._expires_at = self._clock() + result.lifetime
            margin = min(TOKEN_RENEW_MARGIN, result.lifetime / 10.0)
            self._renew_at = self._expires_at - margin
        else:
            self._expires_at = self._renew_at = None
        log.debug("logged in (token generation %d)", self.generation)
        return result


def _retrieve(task: asyncio.Task[LoginResult]) -> None:
    """Mark a background login's failure as seen (its waiters, if any, got it already)."""
    if not task.cancelled():
        task.exception()
