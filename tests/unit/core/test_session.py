"""AsyncSession: construction, lifecycle, error mapping, bounded reads, redirects."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

import simapi_async as sa

from .conftest import BASE, BLOCK, NUMBER, block, calls, url_re


@pytest.fixture
async def api() -> Any:
    async with sa.AsyncSession(BASE, token="t") as session:
        yield session


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, sa.AuthenticationError),
        (403, sa.PermissionDeniedError),
        (404, sa.NotFoundError),
        (422, sa.UnprocessableEntityError),
        (418, sa.APIStatusError),
        (500, sa.ServerError),
    ],
)
async def test_statuses_map_to_exception_classes(
    mocked: aioresponses, api: sa.AsyncSession, status: int, cls: type[sa.APIStatusError]
) -> None:
    """Each status family raises its own APIStatusError subclass with status and message."""
    mocked.post(BLOCK, status=status, payload={"message": "Nope."}, repeat=True)
    with pytest.raises(cls) as info:
        await block(api)
    assert info.value.status == status
    assert info.value.message == "Nope."
    assert info.value.method == "POST"
    assert info.value.url.startswith(f"{BASE}/api/v2/sim/block/{NUMBER}")


async def test_422_field_errors_are_exposed(mocked: aioresponses, api: sa.AsyncSession) -> None:
    """Laravel's 422 `errors` map lands in UnprocessableEntityError.errors."""
    body = {"message": "The given data was invalid.",
            "errors": {"iccid": ["The iccid does not match the number."]}}
    mocked.post(BLOCK, status=422, payload=body)
    with pytest.raises(sa.UnprocessableEntityError) as info:
        await block(api)
    assert info.value.errors == {"iccid": ["The iccid does not match the number."]}
    assert "iccid: The iccid does not match the number." in str(info.value)


async def test_html_error_page_gives_server_error_with_excerpt(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """A proxy's HTML 502 page becomes ServerError naming the status and a short excerpt."""
    html = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body>"
    mocked.post(BLOCK, status=502, body=html, content_type="text/html", repeat=True)
    with pytest.raises(sa.ServerError) as info:
        await block(api)
    assert info.value.status == 502
    assert "502 Bad Gateway" in str(info.value)
    assert "text/html" in str(info.value)
    assert len(str(info.value)) < 600


async def test_non_json_success_body_is_a_server_error(
    mocked: aioresponses, api: sa.AsyncSession
) -> None:
    """A 200 whose body is not JSON raises ServerError instead of returning garbage."""
    mocked.post(BLOCK, status=200, body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(sa.ServerError, match="not JSON"):
        await block(api)


async def test_empty_body_returns_none(mocked: aioresponses, api: sa.AsyncSession) -> None:
    """A write answered with an empty body returns None."""
    mocked.post(BLOCK, status=200, body="")
    assert await block(api) is None


async def test_redirect_is_not_followed(mocked: aioresponses, api: sa.AsyncSession) -> None:
    """A 302 to another host is an error; the request (and token) never goes there."""
    mocked.post(BLOCK, status=302, headers={"Location": "https://evil.example/steal"})
    mocked.post("https://evil.example/steal", payload={})
    with pytest.raises(sa.APIStatusError, match=r"evil\.example") as info:
        await block(api)
    assert info.value.status == 302
    assert calls(mocked, "POST", url_re("steal")) == []
    for (method, url), _ in mocked.requests.items():
        assert url.host == "portal.example", (method, url)


async def test_body_larger_than_limit_is_refused(mocked: aioresponses) -> None:
    """An answer over max_response_bytes raises ResponseFormatError instead of filling memory."""
    mocked.get(url_re("api/v2/sim/packets"), body=b"[" + b"1," * 5000 + b"1]")
    async with sa.AsyncSession(BASE, token="t", max_response_bytes=1000) as api:
        with pytest.raises(sa.ResponseFormatError, match="max_response_bytes"):
            await api.request("list_packets")


@pytest.mark.parametrize(
    "url",
    ["http://portal.example", "http://10.0.0.1:8080", "ftp://portal.example", "portal.example",
     "https://user:pw@portal.example", "https://portal.example/?x=1", ""],
)
def test_bad_base_urls_are_refused(url: str) -> None:
    """Plain http to a non-loopback host, other schemes, credentials in the URL: refused."""
    with pytest.raises(sa.InvalidInputError) as info:
        sa.AsyncSession(url, token="tok-123456")
    assert info.value.field == "base_url"
    assert "pw@" not in str(info.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9"])
def test_http_to_loopback_is_allowed(url: str) -> None:
    """Loopback over plain http is fine (emulator, tunnels)."""
    assert sa.AsyncSession(url, token="t").base_url.startswith("http://")


def test_insecure_http_can_be_allowed_explicitly() -> None:
    """allow_insecure_http=True accepts plain http to any host."""
    api = sa.AsyncSession("http://portal.example", token="t", allow_insecure_http=True)
    assert api.base_url == "http://portal.example/"


def test_credentials_must_be_complete() -> None:
    """A login without a password (or neither login nor token) is refused up front."""
    with pytest.raises(sa.InvalidInputError, match="password"):
        sa.AsyncSession(BASE, login="u")
    with pytest.raises(sa.InvalidInputError, match="token"):
        sa.AsyncSession(BASE)


def test_from_env_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env() takes base URL and credentials from SIMAPI_* variables."""
    monkeypatch.setenv("SIMAPI_BASE_URL", BASE)
    monkeypatch.setenv("SIMAPI_LOGIN", "envuser")
    monkeypatch.setenv("SIMAPI_PASSWORD", "envpass")
    monkeypatch.delenv("SIMAPI_TOKEN", raising=False)
    api = sa.AsyncSession.from_env(max_retries=1)
    assert api.base_url == BASE + "/"
    assert "envuser" in repr(api)
    assert "envpass" not in repr(api)
    assert api.retry_policy.max_retries == 1


def test_from_env_names_the_missing_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SIMAPI_BASE_URL, the error names that variable."""
    monkeypatch.delenv("SIMAPI_BASE_URL", raising=False)
    with pytest.raises(sa.InvalidInputError, match="SIMAPI_BASE_URL"):
        sa.AsyncSession.from_env()


async def test_close_twice_is_harmless_and_leaves_no_unclosed_warning() -> None:
    """aclose() closes the pool once; a second call does nothing; no ResourceWarning."""
    api = sa.AsyncSession(BASE, token="t")
    async with api:
        http = api._client()
    assert http.closed
    await api.aclose()
    del api, http
    gc.collect()  # with warnings as errors, an "Unclosed client session" would fail here


async def test_closed_session_refuses_requests() -> None:
    """A request on a closed session raises SimApiError, not an aiohttp error."""
    api = sa.AsyncSession(BASE, token="t")
    await api.aclose()
    with pytest.raises(sa.SimApiError, match="closed"):
        await block(api)


async def test_caller_owned_session_is_used_and_not_closed(mocked: aioresponses) -> None:
    """session= is used for requests and left open for its owner to close."""
    mocked.post(BLOCK, payload={})
    async with aiohttp.ClientSession() as http:
        async with sa.AsyncSession(BASE, token="t", session=http) as api:
            await block(api)
        assert not http.closed
    assert len(calls(mocked, "POST", BLOCK)) == 1


def test_one_pool_per_session_sized_by_max_connections() -> None:
    """The owned ClientSession uses one TCPConnector with limit=max_connections."""
    import asyncio

    async def check() -> None:
        async with sa.AsyncSession(BASE, token="t", max_connections=7) as api:
            http = api._client()
            assert http.connector is not None
            assert http.connector.limit == 7
            assert api._client() is http

    asyncio.run(check())


async def test_trace_configs_are_passed_through() -> None:
    """aiohttp TraceConfig hooks given to the session are installed on its ClientSession."""
    trace = aiohttp.TraceConfig()
    async with sa.AsyncSession(BASE, token="t", trace_configs=[trace]) as api:
        assert api._client().trace_configs == [trace]


async def test_unknown_operation_is_invalid_input(api: sa.AsyncSession) -> None:
    """request() with a name not in the endpoint table fails before any request."""
    with pytest.raises(sa.InvalidInputError, match="operation"):
        await api.request("explode")


async def test_endpoint_override_changes_method(mocked: aioresponses) -> None:
    """endpoint_overrides corrects a method without touching logic."""
    mocked.put(BLOCK, payload={"success": True})
    overrides = {"block": {"method": "PUT"}}
    async with sa.AsyncSession(BASE, token="t", endpoint_overrides=overrides) as api:
        assert await block(api) == {"success": True}
    assert len(calls(mocked, "PUT", BLOCK)) == 1


async def test_rate_limit_spaces_requests(mocked: aioresponses) -> None:
    """rate_limit= installs the session-wide limiter used by every request: five
    concurrent calls at 50/s span at least four 20 ms intervals (a lower bound it
    guarantees)."""
    sent: list[float] = []

    def stamp(url: Any, **kwargs: Any) -> None:
        sent.append(time.monotonic())

    mocked.post(BLOCK, payload={}, repeat=True, callback=stamp)
    async with sa.AsyncSession(BASE, token="t", rate_limit=50.0) as api:
        assert api.rate_limiter is not None
        assert api.rate_limiter.rate == 50.0
        await asyncio.gather(*(block(api) for _ in range(5)))
        waited = api.stats.rate_limit_wait
    assert len(calls(mocked, "POST", BLOCK)) == 5
    assert sent[-1] - sent[0] >= 4 * 0.02 - 1e-3  # five sends span four intervals at least
    assert waited > 0
