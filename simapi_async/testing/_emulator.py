"""`Emulator`: the whole API on loopback, built from the endpoint table, with faults.

>>> async def demo() -> None:
...     async with Emulator(sims=100, seed=1) as emu:
...         print(emu.base_url)           # http://127.0.0.1:PORT
...         emu.faults.error_rate_503 = 0.1
...         emu.fail_next(2, status=429, retry_after=0.05)

Each request goes: route (404 / 405) → stats → forced failures (`fail_next`) → rate
limit (429) → latency → one die (hang / 429 / 500 / 503 / 502 HTML / drop) → bearer token
(401) → validation (422) → SIM lookup (404) → state change → answer in `Shapes`.
``GET /_emulator/stats`` answers `emu.stats` as JSON (uncounted), for a running emulator.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import re
import secrets
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, Literal, Protocol

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from .._endpoints import ENDPOINTS, Endpoint, In
from .._exceptions import InvalidInputError
from ._faults import FaultEngine, Faults
from ._fleet import Fleet, build_fleet
from ._handlers import HANDLERS
from ._shapes import Shapes, login_body
from ._stats import EmulatorStats
from ._validate import Call, validate
from ._wire import HTML_502, Reject, error_response, json_response, loads_object, validation_error

__all__ = ["STATS_PATH", "Emulator", "EmulatorFactory"]

#: ``GET /_emulator/stats``: `emu.stats` as JSON while it serves (outside the API's paths).
STATS_PATH: Final = "_emulator/stats"

_log = logging.getLogger("simapi_async.testing")
_PLACEHOLDER: Final = re.compile(r"{(\w+)}")
_UNAUTHENTICATED: Final = {"message": "Unauthenticated."}
# Module-level so tests can replace them (token expiry, latency) without real waiting.
_now = time.monotonic
_sleep = asyncio.sleep


class _AccessLogger(AbstractAccessLogger):
    """Method, path (never the query: login's password travels there), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        status = "dropped" if request.transport is None else response.status
        self.logger.info("%s %s %s %.1fms", request.method, request.path, status, time * 1e3)


class _Router:
    """Method + path → endpoint, literal paths first; else the allowed methods (405) or 404."""

    def __init__(self, table: Mapping[str, Endpoint]) -> None:
        unknown = sorted(set(table) - set(HANDLERS) - {"login"})
        if unknown:
            raise InvalidInputError("endpoints", unknown[0], "is not an operation it can serve")
        self._literal: dict[str, dict[str, Endpoint]] = {}
        templates: dict[str, dict[str, Endpoint]] = {}
        for op in table.values():
            path = op.path.lstrip("/")
            group = self._literal if "{" not in path else templates
            methods = group.setdefault(path, {})
            if op.method in methods:
                raise InvalidInputError(
                    "endpoints", op.name, f"{op.method} {path} is already {methods[op.method].name}"
                )
            methods[op.method] = op
        self._templates = [(self._compile(path), methods) for path, methods in templates.items()]

    @staticmethod
    def _compile(template: str) -> re.Pattern[str]:
        parts, pos = [], 0
        for m in _PLACEHOLDER.finditer(template):
            parts += [re.escape(template[pos:m.start()]), f"(?P<{m.group(1)}>[^/]+)"]
            pos = m.end()
        return re.compile("".join([*parts, re.escape(template[pos:])]))

    def resolve(self, method: str, path: str) -> tuple[Endpoint, dict[str, str]] | list[str]:
        methods = self._literal.get(path)
        if methods is not None:
            op = methods.get(method)
            return (op, {}) if op is not None else sorted(methods)
        allowed: set[str] = set()
        for pattern, methods in self._templates:
            m = pattern.fullmatch(path)
            if m is not None:
                op = methods.get(method)
                if op is not None:
                    return op, m.groupdict()
                allowed.update(methods)
        return sorted(allowed)


class EmulatorFactory(Protocol):
    """The `simapi_emulator_factory` fixture: `await factory(**Emulator_kwargs)` → a
    started `Emulator`, stopped when the test ends."""

    async def __call__(self, **kwargs: Any) -> Emulator: ...


class Emulator:
    """The SIM management API served from an in-memory fleet (see the module docstring).

    `sims` numbered SIM cards (plus ~2 % spares) are derived from `seed`. `token_ttl`
    (seconds) makes tokens expire and login answers carry `expires_in`.
    `credentials_in` says where login reads `login`/`password` ("query" as documented,
    or "body"). `fast=True` drops the access log and debug logging (for benchmarks).
    `endpoints` is the endpoint table to serve (default: the SDK's own `ENDPOINTS`; e.g.
    `with_overrides(ENDPOINTS, ...)`).
    """

    def __init__(
        self,
        sims: int = 1000,
        seed: int = 1,
        *,
        login: str = "demo",
        password: str = "demo-password",  # noqa: S107 - the emulator's documented demo login
        token_ttl: float | None = None,
        credentials_in: Literal["query", "body"] = "query",
        shapes: Shapes | None = None,
        faults: Faults | None = None,
        fast: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        endpoints: Mapping[str, Endpoint] | None = None,
        client_sizes: tuple[int, int] = (50, 200),
    ) -> None:
        if not isinstance(sims, int) or isinstance(sims, bool) or sims < 0:
            raise InvalidInputError("sims", sims, "must be an integer >= 0")
        if credentials_in not in ("query", "body"):
            raise InvalidInputError("credentials_in", credentials_in, "must be 'query' or 'body'")
        if token_ttl is not None and token_ttl <= 0:
            raise InvalidInputError("token_ttl", token_ttl, "must be seconds > 0 or None")
        low, high = client_sizes
        if not 1 <= low <= high:
            raise InvalidInputError(
                "client_sizes", client_sizes, "must be (low, high) with 1 <= low <= high"
            )
        self.sims_count, self.seed = sims, seed
        self.client_sizes = (low, high)
        self.login = login
        self._password = password
        self.token_ttl = token_ttl
        self.credentials_in = credentials_in
        self.shapes = shapes if shapes is not None else Shapes()
        self.fast = fast
        self.host, self.port = host, port
        self.stats = EmulatorStats()
        self._engine = FaultEngine(faults if faults is not None else Faults(), seed)
        self._router = _Router(ENDPOINTS if endpoints is None else endpoints)
        self._tokens: dict[str, float | None] = {}
        self._fleet: Fleet | None = None
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._closing: asyncio.Event | None = None

    def __repr__(self) -> str:
        where = self._base_url or "not started"
        return f"<Emulator sims={self.sims_count} seed={self.seed} {where}>"

    @property
    def password(self) -> str:
        return self._password

    @property
    def faults(self) -> Faults:
        """The live fault settings; change attributes (or assign a new `Faults`) any time."""
        return self._engine.faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._engine.faults = value

    @property
    def fleet(self) -> Fleet:
        """The in-memory fleet (built on first use)."""
        if self._fleet is None:
            self._fleet = build_fleet(self.sims_count, self.seed, self.client_sizes)
        return self._fleet

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash) once started."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not started: use `async with Emulator() as emu`")
        return self._base_url

    @property
    def app(self) -> web.Application:
        """The aiohttp application (made on first use)."""
        if self._app is None:
            self._app = self.make_app()
        return self._app

    def make_app(self) -> web.Application:
        """A new aiohttp application serving this emulator's state, e.g. to mount it::

        outer.add_subapp("/prefix/", emu.make_app())
        """
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def start(self) -> None:
        """Serve on `host`:`port` (a free port by default)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already started")
        _ = self.fleet
        self._closing = asyncio.Event()
        runner = web.AppRunner(
            self.app, access_log=None if self.fast else logging.getLogger("simapi_async.access"),
            access_log_class=_AccessLogger, handler_cancellation=True, shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        host, port = runner.addresses[0][:2]
        self._runner = runner
        self._base_url = f"http://{f'[{host}]' if ':' in host else host}:{port}"

    async def stop(self) -> None:
        """Stop serving; requests left hanging are released (their connections dropped)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        if self._closing is not None:
            self._closing.set()
        await runner.cleanup()
        self._base_url = None
        self._app = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def fail_next(self, count: int, status: int = 429, retry_after: float | None = 1.0) -> None:
        """Answer the next `count` requests with `status` (`Retry-After` on 429 and 503)."""
        self._engine.fail_next(count, status, retry_after)

    def revoke_tokens(self) -> None:
        """Every token issued so far becomes invalid (the next call with it gets 401)."""
        self._tokens.clear()

    def expire_tokens(self) -> None:
        """Every token issued so far expires now, as if its TTL had run out."""
        for token in self._tokens:
            self._tokens[token] = 0.0

    def issue_token(self, ttl: float | None = None) -> str:
        """A valid bearer token without a login call (e.g. for a session given `token=`)."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = None if ttl is None else _now() + ttl
        return token

    # -- serving ---------------------------------------------------------------------

    async def _on_shutdown(self, _: web.Application) -> None:
        if self._closing is not None:
            self._closing.set()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["tail"] == STATS_PATH and request.method == "GET":
            return json_response(self.stats.as_dict())  # not counted in the stats
        stats = self.stats
        stats.total_requests += 1
        stats.note_connection(request.transport)
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        try:
            response = await self._serve(request)
        finally:
            stats.in_flight -= 1
        if response is None:  # dropped: nothing can be written any more
            stats.dropped += 1
            request.protocol.force_close()
            return web.Response()
        stats.status_counts[response.status] += 1
        return response

    async def _serve(self, request: web.Request) -> web.StreamResponse | None:
        method = "GET" if request.method == "HEAD" else request.method
        path = request.match_info["tail"]
        resolved = self._router.resolve(method, path)
        if isinstance(resolved, list):
            return self._unrouted(request.method, path, resolved)
        op, path_args = resolved
        self.stats.requests[op.name] += 1
        engine, faults, injected = self._engine, self._engine.faults, self.stats.injected
        forced = engine.take_forced()
        if forced is not None:
            status, retry_after = forced
            injected[str(status)] += 1
            if status == 502:
                return web.Response(status=502, text=HTML_502, content_type="text/html")
            return error_response(status, retry_after if status in (429, 503) else None)
        if faults.maintenance:
            injected["maintenance"] += 1
            return error_response(503, faults.retry_after)
        headers: dict[str, str] = {}
        if faults.rate_limit is not None:
            now = _now()
            limit, remaining, retry = engine.rate_limited(now)
            headers = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining)}
            if retry is not None:
                injected["429"] += 1
                if faults.rate_window is not None:
                    reset = engine.window_reset_at(now, time.time())
                    headers["X-RateLimit-Reset"] = str(math.ceil(reset))
                return error_response(429, retry, headers)
        if faults.latency:
            delay = engine.latency()
            if delay > 0:
                await _sleep(delay)
        then_drop = False
        if faults.any_random():
            kind = engine.roll()
            if kind is not None:
                injected[kind] += 1
            if kind == "hang":
                await self._hang()
                return None
            if kind == "502":
                return web.Response(status=502, text=HTML_502, content_type="text/html")
            if kind == "429":
                return error_response(429, faults.retry_after, headers)
            if kind in ("500", "503"):
                return error_response(int(kind))
            if kind == "drop":
                if not engine.drop_applies():
                    return None
                then_drop = True
        response = await self._process(request, op, path_args)
        if then_drop:
            return None
        response.headers.update(headers)
        return response

    def _unrouted(self, method: str, path: str, allowed: list[str]) -> web.Response:
        if not allowed:
            return json_response({"message": f"The route {path} could not be found."}, 404)
        shown = [*allowed, "HEAD"] if "GET" in allowed else allowed
        text = (f"The {method} method is not supported for route {path}. "
                f"Supported methods: {', '.join(shown)}.")
        return json_response({"message": text}, 405, {"Allow": ", ".join(shown)})

    async def _hang(self) -> None:
        self.stats.hung += 1
        if self._closing is None:
            self._closing = asyncio.Event()
        await self._closing.wait()

    async def _process(
        self, request: web.Request, op: Endpoint, path_args: dict[str, str]
    ) -> web.Response:
        try:
            if not op.authenticated:
                return await self._login(request)
            if not self._authorized(request):
                return json_response(_UNAUTHENTICATED, 401)
            body: dict[str, Any] = {}
            if any(p.where is In.BODY for p in op.params):
                body = loads_object(await request.read())
            call = Call(op, path_args, request.query, body, request, self.fleet, self.shapes,
                        self.stats)
            return HANDLERS[op.name](call, validate(call))
        except Reject as rejected:
            if not self.fast:
                _log.debug("%s answered %s: %s", op.name, rejected.status,
                           rejected.body.get("message"))
            return rejected.response()
        except Exception:
            _log.exception("emulator: %s failed", op.name)
            return error_response(500)

    def _authorized(self, request: web.BaseRequest) -> bool:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() != "bearer ":
            return False
        token = header[7:].strip()
        if token not in self._tokens:
            return False
        expiry = self._tokens[token]
        return expiry is None or _now() < expiry

    async def _login(self, request: web.Request) -> web.Response:
        source: Mapping[str, Any] = request.query
        if self.credentials_in == "body":
            source = loads_object(await request.read())
        errors: dict[str, list[str]] = {}
        given: dict[str, str] = {}
        for name in ("login", "password"):
            value = source.get(name)
            if value is None or value == "":
                errors[name] = [f"The {name} field is required."]
            elif not isinstance(value, str):
                errors[name] = [f"The {name} field must be a string."]
            else:
                given[name] = value
        if errors:
            raise validation_error(errors)
        ok = hmac.compare_digest(given["login"].encode(), self.login.encode())
        ok &= hmac.compare_digest(given["password"].encode(), self._password.encode())
        if not ok:
            raise Reject(401, {"message": "Invalid credentials."})
        ttl = self._engine.faults.token_ttl or self.token_ttl
        token = self.issue_token(ttl)
        self.stats.logins += 1
        return json_response(login_body(self.shapes, token, ttl))
