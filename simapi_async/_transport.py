"""The one request path: rate limit, auth, retry, aiohttp, status and body.

caller → resource method → endpoint table → `AsyncSession.request` (this module: the
quota's pacer, the token, the retrier) → aiohttp → status / body → the caller's
converter. `AsyncSession` (`_session.py`, the public face: construction, checks,
properties, lifecycle) inherits it; everything here works on the state its `__init__`
sets (declared below for the type checker).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from . import _instrumentation
from ._auth import Credentials, LoginResult, TokenManager, parse_login_response
from ._callstats import CALL_STATS
from ._endpoints import Endpoint
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
from ._redact import redact_params, redact_url, safe_cause, scrub, scrub_json
from ._retry import parse_retry_after

if TYPE_CHECKING:
    from ._config import RetryPolicy
    from ._quota import Pacer
    from ._retry import Retrier
    from ._urls import UrlBuilder

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


__all__ = ["Transport"]

log = logging.getLogger("simapi_async")

#: A streamed body's piece under this many bytes is joined with what is buffered behind
#: it, up to `_JOINED_PIECE` bytes (see `_pieces`).
_SMALL_PIECE: Final = 65_536
_JOINED_PIECE: Final = 262_144


async def _pieces(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """A streamed body as the connection delivered it (up to the transport's read size):
    `iter_chunked(n)` would join or split those pieces, one more copy of every byte of a
    CDR answer. A small piece (a server writing a record at a time) is joined with what
    is already buffered behind it, so the decoder still gets many records a call."""
    async for chunk, _ in content.iter_chunks():
        if not chunk:
            continue
        if len(chunk) < _SMALL_PIECE and not content.at_eof():
            more = content.read_nowait(_JOINED_PIECE - len(chunk))
            if more:
                chunk += more
        yield chunk

_EXCERPT = 200


class Transport:
    """The request path of `AsyncSession` (see the module docstring)."""

    # Set by AsyncSession.__init__:
    _base: str
    _urls: UrlBuilder
    _timeout: aiohttp.ClientTimeout
    _max_connections: int
    _max_bytes: int
    _credentials: Credentials | None
    _password: str | None
    _endpoints: Mapping[str, Endpoint]
    _login_endpoint: Endpoint
    _retry_policy: RetryPolicy
    _retrier: Retrier
    _pacer: Pacer
    _tokens: TokenManager
    _http: aiohttp.ClientSession | None
    _loop: asyncio.AbstractEventLoop | None
    _owns_http: bool
    _trace_configs: Sequence[aiohttp.TraceConfig]
    _closed: bool
    _headers: CIMultiDictProxy[str]
    _auth_token: str | None
    _auth_headers: CIMultiDictProxy[str]
    _requests: int
    _retries: int
    _relogins: int
    _rate_limited: int

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
            # The first attempt, inlined: one coroutine less on every request's way. The
            # wait for the quota comes before the token is picked: a token taken before a
            # long wait in line may expire in it (a 401, a re-login, a replay).
            paced = self._pacer.engaged or (call is not None and call.limiter is not None)
            if paced:
                await self._pace()
            current = self._tokens.current()
            if current is None:
                result = await self._authenticated_attempt(endpoint, url, query, data,
                                                           paced=paced)
            else:
                status, raw, headers = await self._send(
                    endpoint.method, url, query, data, current[0], paced=paced)
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
        attempt: int = 1, *, paced: bool = False,
    ) -> Any:
        if not paced:
            await self._pace()
        current = self._tokens.current()
        token, generation = current if current is not None else await self._tokens.get()
        status, raw, headers = await self._send(endpoint.method, url, query, data, token,
                                                attempt, paced=True)
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
        await self._pace()
        token, fresh = await self._tokens.get()
        status, raw, headers = await self._send(endpoint.method, url, query, data, token,
                                                attempt, paced=True)
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

    async def _pace(self) -> None:
        """Wait for the bulk run's own rate limit and the session's pacer (if engaged)."""
        call = CALL_STATS.get()
        if call is not None and call.limiter is not None:
            await call.limiter.acquire()
        if self._pacer.engaged:
            await self._pacer.acquire(None if call is None else call.stop)

    async def _send(
        self,
        method: str,
        url: str,
        query: list[tuple[str, str]],
        data: bytes | None,
        token: str | None,
        attempt: int = 1,
        *,
        paced: bool = False,
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """One HTTP exchange; aiohttp's errors become ours, with secrets scrubbed.
        `paced`: the caller waited for the rate limits already (`_pace`)."""
        call = CALL_STATS.get()
        pacer = self._pacer
        timed = pacer.engaged
        if not paced:
            if call is not None and call.limiter is not None:
                await call.limiter.acquire()
            if timed:  # a login (no token) goes first: every waiter waits for it
                await pacer.acquire(None if call is None else call.stop, first=token is None)
        if timed:
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
            """Send (after `_pace`: the token is picked once the turn has come)."""
            call = CALL_STATS.get()
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
            await self._pace()
            current = self._tokens.current()
            token, generation = current if current is not None else await self._tokens.get()
            resp = await open_once(token)
            if resp.status == 401 and self._tokens.can_login:
                resp.release()
                self._relogins += 1
                self._tokens.invalidate(generation)
                await self._pace()
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
                async for chunk in _pieces(resp.content):
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

