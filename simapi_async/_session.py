"""`AsyncSession`: the connection pool, and the one request path every call goes through.

caller → resource method → endpoint table → `AsyncSession.request` (rate limit, auth,
retry) → aiohttp → status / body → the caller's converter.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import ipaddress
import json
import logging
import math
import os
import platform
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Final, Self

import aiohttp
import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _endpoints, _instrumentation
from ._auth import (
    Credentials,
    LoginResult,
    TokenManager,
    is_header_value,
    parse_login_response,
)
from ._config import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    RetryPolicy,
)
from ._endpoints import Endpoint, In
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    InvalidInputError,
    RateLimitError,
    ResponseFormatError,
    ServerError,
    SimApiError,
    UnprocessableEntityError,
    status_error,
)
from ._quota import Pacer, QuotaState
from ._ratelimit import RateLimiter
from ._redact import keep_secret, redact_params, redact_url, safe_cause, scrub, scrub_json
from ._retry import Retrier, parse_retry_after
from ._urls import UrlBuilder
from ._version import __version__

_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

try:  # optional speed-up: `pip install simapi_async[speedups]`
    import orjson

    def _loads(data: bytes) -> Any:
        return orjson.loads(data)

    def _dumps(obj: Any) -> bytes:
        encoded: bytes = orjson.dumps(obj)  # typed Any where orjson's stubs are absent
        return encoded

except ImportError:  # pragma: no cover - exercised where orjson is absent

    def _loads(data: bytes) -> Any:
        return json.loads(data)

    def _dumps(obj: Any) -> bytes:
        # Same limits as orjson, so behaviour does not depend on the optional speed-up.
        if isinstance(obj, dict):
            for value in obj.values():
                if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
                    raise TypeError("Integer exceeds 64-bit range")
        return json.dumps(obj, separators=(",", ":")).encode()


__all__ = ["AsyncSession", "SessionStats"]

log = logging.getLogger("simapi_async")

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
_EXCERPT = 200


class CallStats:
    """Counters of one logical call, kept in a context variable by whoever wants them
    (the bulk engine reports attempts per target and slows down on 429s).

    `attempts` counts the HTTP requests of `operation` only (every operation when None):
    a SIM lookup made on the way does not count, nor does a login (it runs in its own
    task, where `CALL_STATS` is None). The bulk engine reads it as "the requests the
    server saw for this target" and "may this have reached the server".
    """

    __slots__ = ("attempts", "counting", "limiter", "operation", "rate_limited", "stop")

    def __init__(self, operation: str | None = None, limiter: RateLimiter | None = None,
                 stop: asyncio.Future[None] | None = None) -> None:
        self.attempts = 0
        self.rate_limited = 0
        self.operation = operation
        #: Whether the request under way is one of `operation` (set by `request`).
        self.counting = True
        #: A caller's own rate limit on top of the session's (a bulk run's `rate_limit`):
        #: applied to every request made in this context — lookups and retries included.
        self.limiter = limiter
        #: Done when the caller gives up (a bulk run stopped): a request still waiting
        #: for the API's quota then raises `NotAttemptedError` instead of being sent.
        self.stop = stop


#: Set by a caller (per task) to have its calls counted; None costs nothing.
CALL_STATS: ContextVar[CallStats | None] = ContextVar("simapi_call_stats", default=None)


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


class AsyncSession:
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
        self._pacer = Pacer(rate_limit, max_pause=self._retry_policy.max_retry_after)
        self._tokens = TokenManager(
            self._login_uncounted if self._credentials else None, token=token
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
        from .bulk import BulkResource
        from .resources import CdrResource, PacketsResource, SimsResource

        self.sims = SimsResource(self)
        self.packets = PacketsResource(self)
        self.cdr = CdrResource(self)
        self.bulk = BulkResource(self)

    # -- construction helpers ---------------------------------------------------------

    @classmethod
    def from_env(cls, **overrides: Any) -> AsyncSession:
        """A session configured from `SIMAPI_BASE_URL`, `SIMAPI_LOGIN`, `SIMAPI_PASSWORD`,
        `SIMAPI_TOKEN`; keyword arguments override the environment."""
        env = os.environ
        kwargs: dict[str, Any] = {}
        for key, var in (("login", "SIMAPI_LOGIN"), ("password", "SIMAPI_PASSWORD"),
                         ("token", "SIMAPI_TOKEN")):
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
        from its `password_command` / keyring (or a token from `token_command`).
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
        if self._http is not None and self._owns_http:
            await self._http.close()

    async def authenticate(self) -> None:
        """Log in now (normally done lazily by the first call); fails fast on bad credentials."""
        await self._tokens.get()

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            raise SimApiError("this AsyncSession is closed")
        http = self._http
        if http is None or self._loop is not asyncio.get_running_loop():
            return self._first_client()
        return http

    def _first_client(self) -> aiohttp.ClientSession:
        """The pool, created (or the caller's adopted) in the running loop; a typed error
        when it belongs to another loop (its connections cannot be used from this one)."""
        loop = asyncio.get_running_loop()
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
            traces = [*self._trace_configs,
                      *(t for h in _instrumentation.discover() for t in h.trace_configs())]
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                trace_configs=traces or None,
            )
            _no_silent_resend(self._http)
            self._loop = loop
        elif self._loop is None:  # the caller's session=, used for the first time
            owner = getattr(self._http, "_loop", None)
            self._loop = owner if isinstance(owner, asyncio.AbstractEventLoop) else loop
        if self._loop is not loop:
            raise SimApiError(
                "this AsyncSession belongs to another event loop (possibly closed already): "
                "create the session in the event loop you use it in"
            )
        return self._http

    # -- the request path ---------------------------------------------------------------

    async def request(self, operation: str, params: Mapping[str, Any] | None = None) -> Any:
        """Call one operation of the endpoint table; returns the decoded JSON body.

        `params` maps the API's parameter names (`number`, `iccid`, `numbers[]`, ...) to
        values already validated by the caller; None means absent. The answer is a dict, a
        list, or None for an empty body. Errors are `SimApiError`s.

        >>> await api.request("block", {"number": "79181111111", "iccid": "8970..."})
        """
        if _instrumentation.ACTIVE and not _instrumentation.IN_CALL.get():  # else: free
            return await _instrumentation.instrumented_call(
                self, operation, lambda: self.request(operation, params))
        try:
            endpoint = self._endpoints[operation]
        except KeyError:
            raise InvalidInputError(
                "operation", operation, "is not an operation of the endpoint table"
            ) from None
        if not endpoint.authenticated:
            raise InvalidInputError("operation", operation, "use authenticate() to log in")
        try:
            path, query, body = endpoint.build(params or {})
            data = None if body is None else _dumps(body)
        except InvalidInputError:
            raise
        except (TypeError, ValueError) as exc:  # e.g. an int orjson or str() cannot write
            raise InvalidInputError(
                "params", operation, f"cannot be sent: {type(exc).__name__}: {exc}"
            ) from None
        url = self._base + path
        call = CALL_STATS.get()
        if call is not None and call.operation is not None:
            call.counting = operation == call.operation

        try:
            # The first attempt, inlined: one coroutine less on every request's way.
            current = self._tokens.current()
            if current is None:
                result = await self._authenticated_attempt(endpoint, url, query, data)
            else:
                status, raw, headers = await self._send(
                    endpoint.method, url, query, data, current[0])
                if status == 401 and self._tokens.can_login:
                    result = await self._replay_after_401(endpoint, url, query, data,
                                                          current[1], 1)
                else:
                    result = self._result(endpoint.method, url, status, raw, headers)
        except SimApiError as exc:
            failure = exc
        else:
            self._retrier.succeeded()
            return result

        tries = [1]

        async def attempt() -> Any:
            tries[0] += 1
            return await self._authenticated_attempt(endpoint, url, query, data, tries[0])

        return await self._retrier.after_failure(failure, attempt, retry_safe=endpoint.retry_safe)

    async def _authenticated_attempt(
        self, endpoint: Endpoint, url: str, query: list[tuple[str, str]], data: bytes | None,
        attempt: int = 1,
    ) -> Any:
        current = self._tokens.current()
        token, generation = current if current is not None else await self._tokens.get()
        status, raw, headers = await self._send(endpoint.method, url, query, data, token, attempt)
        if status == 401 and self._tokens.can_login:
            return await self._replay_after_401(endpoint, url, query, data, generation, attempt)
        if status != 401:
            self._tokens.accepted(generation)
        return self._result(endpoint.method, url, status, raw, headers)

    async def _replay_after_401(
        self, endpoint: Endpoint, url: str, query: list[tuple[str, str]], data: bytes | None,
        generation: int, attempt: int,
    ) -> Any:
        """One re-login and one replay; a 401 means the server did not act on it. A second
        401 raises `AuthenticationError`; fresh tokens refused again and again open the
        login breaker (see `TokenManager`), so the logins stay few."""
        self._relogins += 1
        self._tokens.rejected(generation)
        token, fresh = await self._tokens.get()
        status, raw, headers = await self._send(endpoint.method, url, query, data, token, attempt)
        if status == 401:
            self._tokens.rejected(fresh)
        else:
            self._tokens.accepted(fresh)
        return self._result(endpoint.method, url, status, raw, headers)

    async def _login_uncounted(self) -> LoginResult:
        """`_do_login` counted in no caller's `CallStats`: the login task's context is a
        copy of the caller's that started it, and its requests are nobody's attempts."""
        outer = CALL_STATS.set(None)
        try:
            return await self._do_login()
        finally:
            CALL_STATS.reset(outer)

    async def _do_login(self) -> LoginResult:
        assert self._credentials is not None
        endpoint = self._login_endpoint
        path, query, body = endpoint.build(
            {"login": self._credentials.login, "password": self._credentials.password}
        )
        url = self._base + path
        data = None if body is None else _dumps(body)

        tries = [0]

        async def attempt() -> Any:
            tries[0] += 1
            status, raw, headers = await self._send(
                endpoint.method, url, query, data, None, tries[0]
            )
            if status in (401, 403, 422):
                err = self._status_error(endpoint.method, url, status, raw, headers)
                said = err.message
                if said == _reason(status) and not _server_message(err.body):
                    said = f"HTTP {status}, the answer gives no reason"  # not our guess
                raise AuthenticationError(
                    f"login refused: {said}", status=status, body=err.body,
                    method=endpoint.method, url=err.url,
                )
            return self._result(endpoint.method, url, status, raw, headers)

        body_json = await self._retrier.call(attempt, retry_safe=True)
        return parse_login_response(body_json)

    async def _send(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]],
        data: bytes | None,
        token: str | None,
        attempt: int = 1,
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """One HTTP exchange; aiohttp's errors become ours, with secrets scrubbed."""
        call = CALL_STATS.get()
        if call is not None and call.limiter is not None:
            await call.limiter.acquire()
        pacer = self._pacer
        timed = pacer.engaged
        if timed:
            await pacer.acquire(None if call is None else call.stop)
            sent_at = time.monotonic()
        if call is not None and call.counting:  # once nothing can hold it back any more
            call.attempts += 1
        http = self._client()
        headers = self._headers
        if token is not None:
            if token is not self._auth_token:  # one headers object per token, not per request
                self._auth_token = token
                authorized = CIMultiDict(headers)
                authorized["Authorization"] = "Bearer " + token
                self._auth_headers = CIMultiDictProxy(authorized)
            headers = self._auth_headers
        self._requests += 1
        debug = log.isEnabledFor(logging.DEBUG)
        started = time.perf_counter() if debug else 0.0
        failure: SimApiError | None = None
        try:
            async with http.request(
                method,
                self._urls.build(url, query),
                data=data,
                headers=headers,
                allow_redirects=False,
                timeout=self._timeout,  # never None: None would mean "no timeout" to aiohttp
                # A caller's own session= must not change what a status means:
                raise_for_status=False,
                auto_decompress=True,
            ) as resp:
                status = resp.status
                resp_headers = resp.headers
                pacer.observe(status, resp_headers)
                if timed:
                    pacer.note_latency(time.monotonic() - sent_at)
                raw = await self._read(resp)
        # Each error is built here and raised below, outside the except blocks: aiohttp's
        # exception (which holds the request, its URL and its headers) is then neither the
        # __cause__ (a scrubbed stand-in is) nor the __context__ of ours.
        except TimeoutError as exc:
            shown = self._show(url, query)
            connecting = isinstance(exc, aiohttp.ConnectionTimeoutError)
            failure = APITimeoutError(
                f"{method} {shown} timed out"
                + (" while connecting" if connecting else ""),
                method=method, url=shown,
                reached_server=False if connecting else None,
            )
            failure.__cause__ = safe_cause(exc, self._secrets)
        except aiohttp.ClientConnectorError as exc:
            shown = self._show(url, query)
            failure = APIConnectionError(
                f"could not connect for {method} {shown}: "
                f"{redact_params(scrub(str(exc), self._secrets))}",
                method=method, url=shown, reached_server=False,
            )
            failure.__cause__ = safe_cause(exc, self._secrets)
        except (aiohttp.ClientError, OSError) as exc:
            shown = self._show(url, query)
            failure = APIConnectionError(
                f"connection failed during {method} {shown}: "
                f"{type(exc).__name__}: {redact_params(scrub(str(exc), self._secrets))}",
                method=method, url=shown, reached_server=None,
            )
            failure.__cause__ = safe_cause(exc, self._secrets)
        except RuntimeError:
            if not http.closed:
                raise
            failure = SimApiError("this AsyncSession is closed" if self._owns_http else
                                  "the aiohttp ClientSession given as session= is closed")
        if failure is not None:
            raise failure
        if debug:
            log.debug(
                "%s %s -> %d (attempt %d, %.1f ms)", method, self._show(url, query), status,
                attempt, (time.perf_counter() - started) * 1000.0,
            )
        return status, raw, resp_headers

    @contextlib.asynccontextmanager
    async def _stream(
        self, operation: str, params: Mapping[str, Any]
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """The body of a 2xx answer to the GET `operation`, as chunks while it arrives (a
        CDR answer may be far bigger than `max_response_bytes`; the caller bounds what it
        keeps). Opening goes the way of `request`: rate limit, login, one re-login on a
        401, retries until a 2xx's headers arrive; an error status is raised as there.
        The read timeout applies per chunk, not to the whole body. A connection lost while
        the body arrives is an `APIConnectionError` (not retried: records were handed out).
        """
        endpoint = self._endpoints[operation]
        path, query, _ = endpoint.build(params)
        url = self._base + path
        t = self._timeout
        timeout = aiohttp.ClientTimeout(total=None, connect=t.connect or t.total,
                                        sock_read=t.sock_read or t.total)
        method = endpoint.method

        def failed(exc: BaseException, during: str) -> SimApiError:
            shown = self._show(url, query)
            cls = APITimeoutError if isinstance(exc, TimeoutError) else APIConnectionError
            return cls(f"{during} {method} {shown}: {type(exc).__name__}: "
                       f"{scrub(str(exc), self._secrets)}", method=method, url=shown,
                       reached_server=None)

        async def open_once(token: str) -> aiohttp.ClientResponse:
            call = CALL_STATS.get()
            if call is not None and call.limiter is not None:
                await call.limiter.acquire()
            if self._pacer.engaged:
                await self._pacer.acquire()
            if call is not None:
                call.attempts += 1
            headers = CIMultiDict(self._headers)
            headers["Authorization"] = "Bearer " + token
            self._requests += 1
            try:
                resp = await self._client().request(
                    method, self._urls.build(url, query), data=None, headers=headers,
                    allow_redirects=False, timeout=timeout,
                )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise failed(exc, "request failed:") from safe_cause(exc, self._secrets)
            self._pacer.observe(resp.status, resp.headers)
            return resp

        async def attempt() -> aiohttp.ClientResponse:
            current = self._tokens.current()
            token, generation = current if current is not None else await self._tokens.get()
            resp = await open_once(token)
            if resp.status == 401 and self._tokens.can_login:
                resp.release()
                self._relogins += 1
                self._tokens.invalidate(generation)
                resp = await open_once((await self._tokens.get())[0])
            if not 200 <= resp.status < 300:
                try:
                    raw = await self._read(resp)
                finally:
                    resp.release()
                raise self._status_error(method, url, resp.status, raw, resp.headers)
            return resp

        resp = await self._retrier.call(attempt, retry_safe=endpoint.retry_safe)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.content.iter_chunked(262144):
                    yield chunk
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise failed(exc, "connection lost reading") from safe_cause(exc, self._secrets)

        try:
            yield chunks()
        finally:
            resp.release()

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, refusing to hold more than `max_response_bytes` in memory."""
        limit = self._max_bytes
        length = resp.content_length
        if length is not None and length > limit:
            raise ResponseFormatError(
                f"the answer is {length} bytes, more than max_response_bytes={limit}"
            )
        if length is not None and "Content-Encoding" not in resp.headers:
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > limit:
                raise ResponseFormatError(
                    f"the answer is more than max_response_bytes={limit} bytes"
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _result(
        self, method: str, url: str, status: int, raw: bytes, headers: CIMultiDictProxy[str]
    ) -> Any:
        """The decoded body of a 2xx answer, else the matching `APIStatusError`."""
        if 200 <= status < 300:
            if not raw or raw.isspace():
                return None
            try:
                return _loads(raw)
            except (ValueError, RecursionError):  # RecursionError: json's answer to [[[[...
                excerpt = _excerpt(raw, self._secrets)
                raise ServerError(
                    f"the answer is not JSON ({headers.get('Content-Type', 'no content type')}):"
                    f" {excerpt!r}",
                    status=status, body=excerpt, method=method, url=redact_url(url),
                ) from None
        raise self._status_error(method, url, status, raw, headers)

    def _status_error(
        self, method: str, url: str, status: int, raw: bytes, headers: CIMultiDictProxy[str]
    ) -> APIStatusError:
        body: Any = None
        message = ""
        is_json = True
        if raw and not raw.isspace():
            try:
                body = _loads(raw)
            except (ValueError, RecursionError):
                is_json = False
                body = _excerpt(raw, self._secrets)
        body = scrub_json(body, self._secrets)
        if is_json:
            message = _server_message(body)
        shown_url = redact_url(url)
        plain_headers = _scrub_headers(headers, self._secrets)
        common: dict[str, Any] = {
            "status": status, "body": body, "method": method, "url": shown_url,
            "headers": plain_headers,
        }
        if 300 <= status < 400:
            location = URL(headers.get("Location", ""))
            return APIStatusError(
                f"redirect to {location.host or location.path or 'nowhere'} not followed "
                "(the API does not redirect; the token is never sent elsewhere)", **common,
            )
        cls = status_error(status)
        if status == 503 and "Retry-After" in headers:  # maintenance: flow control
            call = CALL_STATS.get()
            if call is not None:
                call.rate_limited += 1
        if not is_json:
            message = (
                f"HTTP {status} with a body that is not JSON "
                f"({headers.get('Content-Type', 'no content type')}): {body!r}"
            )
        message = message or _reason(status)
        if cls is UnprocessableEntityError:
            return UnprocessableEntityError(message, errors=_field_errors(body), **common)
        if cls is RateLimitError:
            self._rate_limited += 1
            call = CALL_STATS.get()
            if call is not None:
                call.rate_limited += 1
            return RateLimitError(
                message, retry_after=parse_retry_after(headers.get("Retry-After")), **common
            )
        return cls(message, **common)

    @property
    def _secrets(self) -> tuple[str, ...]:
        """Every secret this session knows: scrubbed from any text it produces."""
        issued = self._tokens.issued
        return (self._password, *issued) if self._password else issued

    def _show(self, url: str, query: list[tuple[str, str]]) -> str:
        if not query:
            return url
        return redact_url(str(URL(url).with_query(query)))

    def _count_retry(self, exc: BaseException, delay: float) -> None:
        self._retries += 1
        for hook in _instrumentation.ACTIVE:
            hook.retried(exc, delay)


# -- helpers ------------------------------------------------------------------------------


def _no_silent_resend(http: aiohttp.ClientSession) -> None:
    """Turn off aiohttp's own resend of a request with an idempotent *method* (PUT,
    DELETE, GET...) after a reused keep-alive connection drops: with a write's method
    overridden to PUT, one `send_sms` would reach the server twice. The SDK alone decides
    about repeats (`_retry.py`, by the endpoint's `retry_safe`, not by its method).

    aiohttp (3.9 to 3.14 at least) has no public option for it; `_retry_connection` is
    the switch its own `test_utils.TestClient` turns off. Set once per `ClientSession`
    (a caller's own too: its other requests lose only that silent resend), so the
    request path pays nothing. tests/hardening/test_never_repeats.py fails if a future
    aiohttp moves the switch.
    """
    if hasattr(http, "_retry_connection"):
        http._retry_connection = False


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


def _excerpt(raw: bytes, secrets: Sequence[str]) -> str:
    """The start of a body that is not JSON, for a message: the whole text is scrubbed
    (before and after its whitespace is squeezed) and only then cut, so a secret that the
    cut would split is gone as a whole."""
    text = scrub(" ".join(scrub(raw.decode("utf-8", "replace"), secrets).split()), secrets)
    return text if len(text) <= _EXCERPT else text[: _EXCERPT - 3] + "..."


def _server_message(body: Any) -> str:
    """What an error answer says, in the first place that says it: ``message``, else
    ``error`` (with ``error_description`` after it, OAuth style), else
    ``error_description`` or ``detail``; a JSON string body is its own message."""
    if isinstance(body, str):
        return body.strip()
    if not isinstance(body, dict):
        return ""

    def text(key: str) -> str:
        value = body.get(key)
        if isinstance(value, dict):  # {"error": {"message": "..."}}
            value = value.get("message")
        return value.strip() if isinstance(value, str) else ""

    if said := text("message"):
        return said
    if said := text("error"):
        description = text("error_description")
        return f"{said}: {description}" if description and description != said else said
    return text("error_description") or text("detail")


def _scrub_headers(headers: Mapping[str, str], secrets: Sequence[str]) -> dict[str, str]:
    """Response headers to keep on an error: no cookies, no secret a server echoed back
    (e.g. a redirect's Location repeating the login query with the password)."""
    out: dict[str, str] = {}
    for key, value in headers.items():
        lowered = key.lower()
        if lowered == "set-cookie":
            continue
        if lowered in ("location", "content-location", "refresh"):
            value = redact_url(value)
        out[key] = scrub(value, secrets)
    return out


def _field_errors(body: Any) -> dict[str, list[str]]:
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return {}
    out: dict[str, list[str]] = {}
    for key, value in errors.items():
        if isinstance(value, list):
            out[str(key)] = [str(v) for v in value]
        else:
            out[str(key)] = [str(value)]
    return out


_REASONS: Final = {
    401: "Unauthenticated.",
    403: "Forbidden.",
    404: "Not found.",
    422: "The given data was invalid.",
    429: "Too many requests.",
}


def _reason(status: int) -> str:
    return _REASONS.get(status, f"HTTP {status}")

