"""Login and the token: lazy login, single flight, proactive renewal, stale-401 safety;
with a `TokenStore` (`_tokens.py`), one login among every process of the account."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ._config import (
    LOGIN_BREAKER_BASE_DELAY,
    LOGIN_BREAKER_MAX_DELAY,
    LOGIN_BREAKER_THRESHOLD,
    MIN_TOKEN_LIFETIME,
    TOKEN_RENEW_MARGIN,
)
from ._exceptions import AuthenticationError, SimApiError

if TYPE_CHECKING:
    from ._tokens import TokenStore

__all__ = [
    "Credentials",
    "LoginResult",
    "TokenManager",
    "is_header_value",
    "parse_login_response",
]

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
    """A token and, when the server said, how many seconds it stays valid (as the server
    said: zero or negative when its expiry is already past by our clock)."""

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
                if not is_header_value(token):
                    raise AuthenticationError(
                        f"the login answer's {key} is not a valid header value (control "
                        "characters, non-ASCII or surrounding spaces); it is not sent",
                        status=200,
                    )
                lifetime = _lifetime(obj)
                return LoginResult(token, lifetime if lifetime is not None else _lifetime(body))
    raise AuthenticationError(
        "the login answer holds no token (looked at token, access_token, data.token, "
        "data.access_token)",
        status=200,
    )


def is_header_value(token: str) -> bool:
    """Whether `token` can be sent as ``Authorization: Bearer <token>``: visible ASCII and
    inner spaces only (RFC 9110 field-value without the obsolete non-ASCII bytes), so no
    CR, LF or NUL that would end or split the header."""
    return token.isascii() and token.isprintable() and token.strip() == token


def _lifetime(obj: Any) -> float | None:
    """Seconds the token is valid for, as the answer says; None when it says nothing.
    The value may be zero or negative (an `expires_at` already past): see `TokenManager`."""
    if not isinstance(obj, dict):
        return None
    expires_in = obj.get("expires_in")
    value: float | None = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        value = float(expires_in)
    elif isinstance(expires_in, str):
        try:
            value = float(expires_in)
        except ValueError:
            value = None
    if value is not None and math.isfinite(value):
        return value
    expires_at = obj.get("expires_at")
    if isinstance(expires_at, str):
        try:
            when = dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        return (when - dt.datetime.now(dt.UTC)).total_seconds()
    return None


class TokenManager:
    """Holds the bearer token and gets a new one when needed, once for all waiters.

    - `get()` returns `(token, generation)`. With no token (or an expired one) the first
      caller starts one login and every other caller awaits that same login; when it
      fails, all of them get its `AuthenticationError`.
    - When the token nears its end (60 s or a tenth of its lifetime left, the shorter)
      one renewal starts in the background and callers keep using the current token. An
      expiry that is already past or under a second away (a server clock that is off) is
      not used: the token is then valid until a 401 (logged once, as a WARNING).
    - `rejected(generation)` after a 401 drops the token only if it is still the one of
      that generation: a late `401` for an old token never throws away a newer one.
    - The login breaker: when `LOGIN_BREAKER_THRESHOLD` fresh tokens in a row are
      answered 401 before any request was accepted with them, no login is made for a
      pause (1 s, doubling up to 60 s); calls that need one fail at once with
      `AuthenticationError`. After the pause one probe login is made; a request accepted
      with its token (`accepted`) closes the breaker.
    - With a `store` (a `TokenStore`, e.g. Redis): a token is taken from the store, and
      a login is made only when the store has none, or has the very token this manager
      is renewing or saw refused (`stale_generation`), once among every process sharing
      it. `logins` counts the logins this manager made itself. When the store fails
      (`FleetBackendError`) the manager logs in on its own (one warning) and tries the
      store again after `store_retry` seconds.
    """

    def __init__(
        self,
        login: Callable[[], Awaitable[LoginResult]] | None,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        store: TokenStore | None = None,
        store_retry: float = 30.0,
    ) -> None:
        self._login = login
        self._store = store if login is not None else None
        self._store_retry = store_retry
        self._store_down_until = -math.inf
        self._store_down = False
        self._shared_generation: int | None = None  # the store's, of the token we hold
        self._just_logged_in: LoginResult | None = None
        self._clock = clock
        self._token = token
        self._expires_at: float | None = None
        self._renew_at: float | None = None
        self.generation = 0
        self.logins = 0
        self._issued: list[str] = [token] if token else []
        self._flight: asyncio.Task[LoginResult] | None = None
        self._closed = False
        self._warned_expiry = False
        # The login breaker: the last generation a request was accepted with, the last
        # one counted as refused, how many fresh ones were refused in a row, and the pause.
        self._accepted = -1
        self._last_refused = -1
        self.refused_in_a_row = 0
        self._pause = LOGIN_BREAKER_BASE_DELAY
        self._paused_until: float | None = None

    @property
    def can_login(self) -> bool:
        return self._login is not None

    @property
    def token(self) -> str | None:
        return self._token

    @property
    def closed(self) -> bool:
        """Whether `aclose()` was called (no login is started after it)."""
        return self._closed

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
            if self._login is not None and not self._closed:
                self._start_flight()  # renew in the background, keep the valid token
            return token, self.generation
        if self._login is None:
            raise AuthenticationError(
                "the token is missing or expired and no login/password was given", status=401
            )
        if self._closed:
            raise SimApiError("this AsyncSession is closed")
        if self._flight is None:
            self._check_breaker()
        flight = self._start_flight()
        try:
            await asyncio.shield(flight)
        except asyncio.CancelledError:
            # The login was cancelled by `aclose()`, not this caller's task: a typed error.
            task = asyncio.current_task()
            if self.closed and flight.cancelled() and (task is None or not task.cancelling()):
                raise SimApiError(
                    "this AsyncSession was closed while it was logging in"
                ) from None
            raise
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

    def rejected(self, generation: int) -> bool:
        """The server answered 401 to the token of `generation`: forget it, as `invalidate`.

        A token refused before any request was accepted with it counts towards the login
        breaker (once per token, however many requests were refused with it).
        """
        if generation == self.generation and generation != self._accepted \
                and generation != self._last_refused:
            self._last_refused = generation
            self.refused_in_a_row += 1
            if self.refused_in_a_row >= LOGIN_BREAKER_THRESHOLD:
                self._paused_until = self._clock() + self._pause
                log.warning(
                    "the server answered 401 to %d fresh tokens in a row; no login for %.0f s",
                    self.refused_in_a_row, self._pause,
                )
                self._pause = min(self._pause * 2.0, LOGIN_BREAKER_MAX_DELAY)
        return self.invalidate(generation)

    def accepted(self, generation: int) -> None:
        """A request with the token of `generation` got an answer other than 401: the
        token works, and the login breaker closes."""
        if generation != self._accepted and generation == self.generation:
            self._accepted = generation
            self.refused_in_a_row = 0
            self._pause = LOGIN_BREAKER_BASE_DELAY
            self._paused_until = None

    def _check_breaker(self) -> None:
        """Raise while the login breaker pauses logins; after the pause, let one through."""
        if self._paused_until is None:
            return
        left = self._paused_until - self._clock()
        if left > 0:
            raise AuthenticationError(
                f"the server rejects every fresh token ({self.refused_in_a_row} in a row "
                f"answered 401); not logging in again for {left:.1f} s",
                status=401,
            )

    async def aclose(self) -> None:
        self._closed = True
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
            result = await self._obtain()
        except AuthenticationError:
            raise
        except Exception as exc:
            status = getattr(exc, "status", 0)
            raise AuthenticationError(f"login failed: {exc}", status=status) from exc
        finally:
            self._flight = None
        self._token = result.token
        self._issued = [*self._issued[-7:], result.token]
        self.generation += 1
        lifetime = self._usable(result.lifetime)
        if lifetime is not None:
            self._expires_at = self._clock() + lifetime
            margin = min(TOKEN_RENEW_MARGIN, lifetime / 10.0)
            self._renew_at = self._expires_at - margin
        else:
            self._expires_at = self._renew_at = None
        log.debug("logged in (token generation %d)", self.generation)
        return result

    async def _counted_login(self) -> LoginResult:
        """One login of this manager's own (counted in `logins`)."""
        assert self._login is not None
        result = await self._login()
        self.logins += 1
        self._just_logged_in = result
        return result

    async def _obtain(self) -> LoginResult:
        """A token: from the store (one login among all its users) or a login of our own."""
        store = self._store
        if store is None or self._clock() < self._store_down_until:
            return await self._counted_login()
        from .fleet._errors import FleetBackendError

        self._just_logged_in = None
        try:
            stored = await store.login_once(self._counted_login,
                                            stale_generation=self._shared_generation)
        except FleetBackendError as exc:
            self._store_down_until = self._clock() + self._store_retry
            if not self._store_down:
                self._store_down = True
                log.warning("the shared token store failed (%s); logging in on our own, "
                            "trying the store again in %.0f s", exc, self._store_retry)
            made = self._just_logged_in  # our login went through, its storing failed
            return made if made is not None else await self._counted_login()
        if self._store_down:
            self._store_down = False
            log.info("the shared token store is back (%r)", store)
        self._shared_generation = stored.generation
        lifetime = None if stored.expires_at is None else stored.expires_at - time.time()
        return LoginResult(stored.token, lifetime)

    def _usable(self, lifetime: float | None) -> float | None:
        """`lifetime`, or None (valid until a 401) when it is past or too short to use."""
        if lifetime is None or lifetime >= MIN_TOKEN_LIFETIME:
            return lifetime
        if not self._warned_expiry:
            self._warned_expiry = True
            log.warning(
                "the login answer's expiry leaves %.1f s (is the server's clock off?); the "
                "token is used until the server answers 401", lifetime,
            )
        return None


def _retrieve(task: asyncio.Task[LoginResult]) -> None:
    """Mark a background login's failure as seen (its waiters, if any, got it already)."""
    if not task.cancelled():
        task.exception()
