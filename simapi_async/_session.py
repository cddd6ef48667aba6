"""`AsyncSession`, the public face: construction and its checks, the sub-clients,
properties, `with_options`, lifecycle.

The one request path every call goes through (rate limit, auth, retry, aiohttp, status
and body) is `_transport.Transport`, which the session inherits.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import ipaddress
import math
import os
import platform
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _endpoints
from ._auth import Credentials, TokenManager, is_header_value
from ._callstats import CALL_STATS, CallStats
from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    RetryPolicy,
)
from ._endpoints import Endpoint, In
from ._exceptions import InvalidInputError
from ._quota import Pacer, QuotaState
from ._redact import keep_secret
from ._retry import Retrier
from ._shared_quota import SharedQuota
from ._tokens import TokenStore
from ._transport import Transport, _no_silent_resend
from ._urls import UrlBuilder
from ._version import __version__
from .bulk import BulkResource
from .resources import CdrResource, PacketsResource, SimsResource

__all__ = ["CALL_STATS", "AsyncSession", "CallStats", "SessionStats"]

class _Default:
    """"Not given: use the default" (`max_retries` takes `retry=`'s, else 3). A named
    sentinel, so `help(AsyncSession)` shows ``max_retries=<default: 3>``, not an object
    address."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<default: 3>"

    def __bool__(self) -> bool:
        return False


_UNSET: Final[Any] = _Default()


@attrs.frozen(slots=True)
class SessionStats:
    """Counters of one session, as a snapshot (`api.stats`)."""

    requests: int = 0
    retries: int = 0
    logins: int = 0
    relogins: int = 0
    rate_limited: int = 0
    budget_exhausted: int = 0
    #: Seconds callers spent waiting for the rate limit or a pause the server asked for.
    rate_limit_wait: float = 0.0


class AsyncSession(Transport):
    """A client of the SIM management API: one connection pool, login, retries, rate limit.

    >>> async with AsyncSession("https://portal.example", login="u", password="p") as api:
    ...     sim = await api.sims.get("+7 918 111-11-11")

    Parameters:
      base_url             the portal's address, without the /api/v2 the SDK adds
      login                the login for the lazy first-call login (or give `token=`)
      password             its password (never logged, shown or kept in errors)
      token                a pre-issued bearer token: no login call
      timeout              seconds per request, or an aiohttp.ClientTimeout
      max_connections      connection-pool size (aiohttp TCPConnector limit)
      max_retries          retries after the first attempt (default 3, or `retry=`'s)
      rate_limit           at most this many requests per second across the session
      retry                a RetryPolicy (delays, Retry-After cap); max_retries overrides it
      session              the caller's aiohttp ClientSession (the caller closes it)
      trace_configs        aiohttp TraceConfigs passed through for metrics and hooks
      allow_insecure_http  allow plain http:// to a host other than loopback
      credentials_in       where login sends login/password: "query" or "body"
      endpoint_overrides   per-operation corrections of the endpoint table
      max_response_bytes   refuse to hold a larger answer in memory
      redis_url            share the rate limit (set or learned) and the login through
                           Redis with every session of this base URL and login, in any
                           process or host (extra `fleet`; not read from the environment
                           here: `from_env`/`from_profile` and the CLI read
                           SIMAPI_REDIS_URL)
      limiter              a SharedQuota to take the request slots from (instead of the
                           one redis_url makes); the caller closes it
      token_store          a TokenStore to share the token through (likewise)

    Sub-clients: `sims` (read and change SIM cards), `packets` (tariff packets), `cdr`
    (usage records), `bulk` (one operation over many SIMs). `with_options(timeout=...,
    max_retries=...)` gives a view with other defaults over the same pool and token;
    `from_env()` and `from_profile(name)` build one from the environment or a profile.
    """

    def __init__(
        self,
        base_url: str,
        *,
        login: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float | aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_retries: int = _UNSET,
        rate_limit: float | None = None,
        retry: RetryPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        allow_insecure_http: bool = False,
        credentials_in: str = "query",
        endpoint_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        redis_url: str | None = None,
        limiter: SharedQuota | None = None,
        token_store: TokenStore | None = None,
    ) -> None:
        traces = _check_plumbing(session, trace_configs, endpoint_overrides,
                                 allow_insecure_http)
        self._base = _check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self._urls = UrlBuilder(self._base)
        if (login is None) != (password is None):
            field = "password" if password is None else "login"
            raise InvalidInputError(field, None, "login and password go together")
        if login is None and token is None:
            raise InvalidInputError("login", None, "give login= and password=, or token=")
        for name, value in (("login", login), ("password", password), ("token", token)):
            if value is not None and (not isinstance(value, str) or not value):
                shown = value if name == "login" else "***"
                raise InvalidInputError(name, shown, "must be a non-empty string")
        if token is not None and not is_header_value(token):
            raise InvalidInputError(
                "token", "***", "is not a valid HTTP header value (control characters, "
                "non-ASCII or surrounding spaces)",
            )
        if credentials_in not in ("query", "body"):
            raise InvalidInputError("credentials_in", credentials_in, "must be 'query' or 'body'")
        if isinstance(max_connections, bool) or not isinstance(max_connections, int) \
                or max_connections < 1:
            raise InvalidInputError("max_connections", max_connections, "must be an int >= 1")
        self._timeout = _check_timeout(timeout)
        self._max_connections = max_connections
        if isinstance(max_response_bytes, bool) or not isinstance(max_response_bytes, int) \
                or max_response_bytes < 1:
            raise InvalidInputError(
                "max_response_bytes", max_response_bytes, "must be an int >= 1 (bytes)"
            )
        self._max_bytes = max_response_bytes
        self._credentials = Credentials(login, password) if login and password else None
        self._password = password
        self._endpoints = _endpoints.with_overrides(_endpoints.ENDPOINTS, endpoint_overrides)
        self._login_endpoint = self._endpoints["login"]
        if credentials_in == "body":
            self._login_endpoint = attrs.evolve(
                self._login_endpoint,
                params=tuple(attrs.evolve(p, where=In.BODY) for p in self._login_endpoint.params),
            )
        self._retry_policy = _retry_policy(retry, max_retries)
        self._retries = 0
        self._rate_limited = 0
        self._relogins = 0
        self._requests = 0
        self._retrier = Retrier(self._retry_policy, on_retry=self._count_retry)
        limiter, token_store, self._owned_shared = _shared_pieces(
            self._base, login if self._credentials else None, token, redis_url, limiter,
            token_store)
        self._pacer = Pacer(rate_limit, max_pause=self._retry_policy.max_retry_after,
                            shared=limiter)
        self._tokens = TokenManager(
            self._login_uncounted if self._credentials else None, token=token,
            store=token_store,
        )
        self._http = session
        self._loop: asyncio.AbstractEventLoop | None = None  # the pool's, set by _client()
        self._owns_http = session is None
        if session is not None:
            _no_silent_resend(session)
        self._trace_configs = traces
        self._closed = False
        # Read-only multidicts: aiohttp merges them as they are, where a dict is first
        # converted on every request.
        self._headers: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict({
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": f"simapi_async/{__version__} python/{platform.python_version()} "
            f"aiohttp/{aiohttp.__version__}",
        }))
        self._auth_token: str | None = None
        self._auth_headers = self._headers
        self._attach_resources()
        keep_secret(self)  # errors raised far from here (the converter's) hide them too

    def _attach_resources(self) -> None:
        """The sub-clients (`sims`, `packets`, `cdr`, `bulk`)."""
        self.sims = SimsResource(self)
        self.packets = PacketsResource(self)
        self.cdr = CdrResource(self)
        self.bulk = BulkResource(self)

    # -- construction helpers ---------------------------------------------------------

    @classmethod
    def from_env(cls, **overrides: Any) -> AsyncSession:
        """A session configured from `SIMAPI_BASE_URL`, `SIMAPI_LOGIN`, `SIMAPI_PASSWORD`,
        `SIMAPI_TOKEN`, `SIMAPI_REDIS_URL`; keyword arguments override the environment."""
        env = os.environ
        kwargs: dict[str, Any] = {}
        for key, var in (("login", "SIMAPI_LOGIN"), ("password", "SIMAPI_PASSWORD"),
                         ("token", "SIMAPI_TOKEN"), ("redis_url", "SIMAPI_REDIS_URL")):
            if env.get(var):
                kwargs[key] = env[var]
        kwargs.update(overrides)
        base_url = kwargs.pop("base_url", None) or env.get("SIMAPI_BASE_URL")
        if not base_url:
            raise InvalidInputError("SIMAPI_BASE_URL", None, "is not set in the environment")
        if "login" not in kwargs and "token" not in kwargs:
            raise InvalidInputError(
                "SIMAPI_LOGIN", None,
                "set SIMAPI_LOGIN and SIMAPI_PASSWORD, or SIMAPI_TOKEN, in the environment",
            )
        return cls(base_url, **kwargs)

    @classmethod
    def from_profile(cls, name: str | None = None, **overrides: Any) -> AsyncSession:
        """A session from profile `name` of ``~/.config/simapi/config.toml`` (default:
        `SIMAPI_PROFILE`, else ``default``): its `base_url`, `login`, and the password
        from its `password_command` / keyring (or a token from `token_command`); its
        `redis_url` shares the quota and token (extra `fleet`).
        `SIMAPI_*` variables override the profile; keyword arguments override both.

        >>> api = AsyncSession.from_profile("prod", timeout=10)  # doctest: +SKIP
        """
        from ._profiles import load_profile

        profile = load_profile(name)
        if profile is None:
            raise InvalidInputError("profile", "default", "no [profiles.default] in the "
                                    "config file: name a profile or run `simapi configure`")
        kwargs: dict[str, Any] = {}
        if not ({"login", "password", "token"} & overrides.keys()):
            kwargs.update(profile.credentials())
        redis_url = os.environ.get("SIMAPI_REDIS_URL") or profile.redis_url
        if redis_url:
            kwargs["redis_url"] = redis_url
        kwargs.update(overrides)
        base_url = (kwargs.pop("base_url", None) or os.environ.get("SIMAPI_BASE_URL")
                    or profile.base_url)
        if not base_url:
            raise InvalidInputError(f"profiles.{profile.name}.base_url", None, "is not set")
        return cls(base_url, **kwargs)

    _view_of: AsyncSession | None = None

    def with_options(self, *, timeout: float | aiohttp.ClientTimeout = _UNSET,
                     max_retries: int = _UNSET) -> AsyncSession:
        """This session with other defaults for the calls made through the result: the
        same connection pool, token (and login), pacer and retry budget; nothing to close.

        >>> await api.with_options(timeout=120, max_retries=0).sims.list(limit=1000)
        >>> patient = api.with_options(max_retries=10)   # for a block of calls

        Its `stats` count the calls made through it. Closing it does nothing; closing the
        session it came from closes both.
        """
        root = self._view_of or self
        view = copy.copy(self)
        view._view_of = root
        view._client = root._client  # type: ignore[method-assign]  # the one pool
        if timeout is not _UNSET:
            view._timeout = _check_timeout(timeout)
        if max_retries is not _UNSET:
            view._retry_policy = _retry_policy(self._retry_policy, max_retries)
            view._retrier = Retrier(view._retry_policy, on_retry=view._count_retry)
        view._requests = view._retries = view._relogins = view._rate_limited = 0
        view._attach_resources()
        return view

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def max_connections(self) -> int:
        """The connection-pool size (when the session owns its pool)."""
        return self._max_connections

    @property
    def retry_policy(self) -> RetryPolicy:
        return self._retry_policy

    @property
    def rate_limiter(self) -> Pacer | None:
        """The session's pacer when it paces requests (a `rate_limit` was given, or the
        server's quota was learned), else None. See `quota` for what it knows."""
        return self._pacer if self._pacer.rate is not None else None

    @property
    def quota(self) -> QuotaState:
        """What this session has learned of the server's quota, and how it paces now."""
        return self._pacer.state()

    @property
    def endpoints(self) -> Mapping[str, Endpoint]:
        """This session's endpoint table (with any overrides applied)."""
        return self._endpoints

    @property
    def stats(self) -> SessionStats:
        """A snapshot of this session's counters."""
        return SessionStats(
            requests=self._requests,
            retries=self._retries,
            logins=self._tokens.logins,
            relogins=self._relogins,
            rate_limited=self._rate_limited,
            budget_exhausted=self._retrier.budget_exhausted,
            rate_limit_wait=self._pacer.waited,
        )

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        who = f"login={self._credentials.login!r}" if self._credentials else "token=***"
        return f"<AsyncSession {self._base} {who}>"

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._client()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool (if this session owns it). Closing twice is harmless."""
        if self._closed or self._view_of is not None:  # a with_options view closes nothing
            return
        self._closed = True
        await self._tokens.aclose()
        await self._pacer.aclose()
        try:
            if self._http is not None and self._owns_http:
                await self._http.close()
        finally:
            for piece in self._owned_shared:  # what redis_url= made (not the caller's)
                await piece.aclose()

    async def authenticate(self) -> None:
        """Log in now (normally done lazily by the first call); fails fast on bad credentials."""
        await self._tokens.get()


def _shared_pieces(
    base_url: str, login: str | None, token: str | None, redis_url: object,
    limiter: object, token_store: object,
) -> tuple[SharedQuota | None, TokenStore | None, list[SharedQuota | TokenStore]]:
    """The shared quota and token store: the caller's, or made from `redis_url` (keys
    scoped by a hash of the base URL and the login; a token= session shares only the
    quota, scoped by a hash of its token). Also what the session made (it closes those)."""
    if limiter is not None and not isinstance(limiter, SharedQuota):
        raise InvalidInputError("limiter", type(limiter).__name__,
                                "must be a SharedQuota (e.g. simapi_async.fleet.RedisQuota)")
    if token_store is not None and not isinstance(token_store, TokenStore):
        raise InvalidInputError(
            "token_store", type(token_store).__name__,
            "must be a TokenStore (e.g. simapi_async.fleet.RedisTokenStore)")
    if token_store is not None and login is None:
        raise InvalidInputError("token_store", type(token_store).__name__,
                                "needs login= and password= (a token= session never logs in)")
    made: list[SharedQuota | TokenStore] = []
    if redis_url is None:
        return limiter, token_store, made
    from .fleet._redis import check_redis_url

    url = check_redis_url(redis_url)
    if limiter is not None and (token_store is not None or login is None):
        return limiter, token_store, made  # nothing left to make
    from .fleet._errors import require

    require("redis")  # the `fleet` extra: an ImportError that says so
    from .fleet import RedisQuota, RedisTokenStore

    account = login if login is not None else \
        "token:" + hashlib.sha256((token or "").encode()).hexdigest()
    if limiter is None:
        limiter = RedisQuota(url, base_url=base_url, login=account)
        made.append(limiter)
    if token_store is None and login is not None:
        token_store = RedisTokenStore(url, base_url=base_url, login=login)
        made.append(token_store)
    return limiter, token_store, made


def _retry_policy(retry: RetryPolicy | None, max_retries: int) -> RetryPolicy:
    try:
        if retry is None:
            return RetryPolicy() if max_retries is _UNSET else RetryPolicy(max_retries=max_retries)
        if not isinstance(retry, RetryPolicy):
            raise InvalidInputError("retry", retry, "must be a RetryPolicy")
        if max_retries is _UNSET:
            return retry
        return attrs.evolve(retry, max_retries=max_retries)
    except ValueError as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError("max_retries", max_retries, str(exc)) from None


def _check_timeout(timeout: float | aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    seconds = math.nan
    if isinstance(timeout, int | float) and not isinstance(timeout, bool):
        try:
            seconds = float(timeout)
        except OverflowError:  # an int too big for a float
            seconds = math.inf
    if not (math.isfinite(seconds) and seconds > 0):
        raise InvalidInputError(
            "timeout", timeout, "must be a finite number of seconds > 0 or a ClientTimeout"
        )
    return aiohttp.ClientTimeout(total=seconds)


def _check_plumbing(
    session: object, trace_configs: object, endpoint_overrides: object,
    allow_insecure_http: object,
) -> list[aiohttp.TraceConfig]:
    """Refuse the wrong type for the session's plumbing arguments now, not at the first
    request; returns the trace configs as a list."""
    if session is not None and not isinstance(session, aiohttp.ClientSession):
        raise InvalidInputError("session", session, "must be an aiohttp.ClientSession")
    if session is not None and session.auth is not None:  # aiohttp: a ValueError per call
        raise InvalidInputError(
            "session", session, "must not have auth= (the SDK sends its own Authorization)"
        )
    if not isinstance(allow_insecure_http, bool):  # "false" from a config file is truthy
        raise InvalidInputError("allow_insecure_http", allow_insecure_http, "must be a bool")
    if endpoint_overrides is not None and not (
        isinstance(endpoint_overrides, Mapping)
        and all(isinstance(v, Mapping) for v in endpoint_overrides.values())
    ):
        raise InvalidInputError(
            "endpoint_overrides", endpoint_overrides,
            "must map operation names to {'method'|'path'|'retry_safe': value}",
        )
    if trace_configs is None:
        return []
    configs = list(trace_configs) if isinstance(trace_configs, list | tuple) else None
    if configs is None or not all(isinstance(t, aiohttp.TraceConfig) for t in configs):
        raise InvalidInputError(
            "trace_configs", trace_configs, "must be a list of aiohttp.TraceConfig"
        )
    return configs


def _check_base_url(base_url: object, *, allow_insecure_http: bool) -> str:
    if not isinstance(base_url, str) or not base_url.strip():
        raise InvalidInputError("base_url", base_url, "must be a URL such as https://portal.example")
    try:
        url = URL(base_url.strip())
    except (ValueError, TypeError) as exc:
        raise InvalidInputError("base_url", base_url, f"is not a URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise InvalidInputError("base_url", base_url, "must be an http(s) URL with a host")
    if url.user or url.password:
        raise InvalidInputError(
            "base_url", url.with_user(None).with_password(None).human_repr(),
            "must not carry credentials; pass login= and password=",
        )
    if url.query_string or url.fragment:
        raise InvalidInputError("base_url", base_url, "must not have a query or fragment")
    if url.scheme == "http" and not allow_insecure_http and not _is_loopback(url.host):
        raise InvalidInputError(
            "base_url", base_url,
            "plain http to a host other than loopback would send credentials in clear; "
            "use https or pass allow_insecure_http=True",
        )
    text = str(url)
    return text if text.endswith("/") else text + "/"


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False

