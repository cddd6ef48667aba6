"""Hostile answers from the server: each ends in a typed error, never a hang or a leak.

Every case is served by a tiny aiohttp.web server on 127.0.0.1 that logs in with the
sentinel token; each test also checks that no error text holds the password or token.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async._config import DEFAULT_MAX_RESPONSE_BYTES

from .conftest import (
    ICCID,
    NUMBER,
    SENTINEL_TOKEN,
    assert_no_secret,
    serve,
    session_on,
    texts_of,
)

Call = Callable[[sa.AsyncSession], Awaitable[Any]]
READ: Call = lambda api: api.sims.get(NUMBER)  # noqa: E731
WRITE: Call = lambda api: api.sims.block(NUMBER, iccid=ICCID)  # noqa: E731
SMS: Call = lambda api: api.sims.send_sms(NUMBER, "internet")  # noqa: E731
CALLS = pytest.mark.parametrize("call", [READ, WRITE, SMS], ids=["get", "block", "send_sms"])


def _answer(status: int, body: bytes, content_type: str = "application/json") -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type)
    return handler


async def _fails(server_handler: Any, call: Call, error: type[BaseException],
                 **session: Any) -> tuple[BaseException, int]:
    """Run `call` against the handler; the error raised and how many API requests it made."""
    async with serve(server_handler) as server, session_on(server.base_url, **session) as api:
        with pytest.raises(error) as info:
            await call(api)
    assert_no_secret(texts_of(info.value))
    made = sum(1 for r in server.requests if not r.path.endswith("/login"))
    return info.value, made


# -- bodies that are not JSON -------------------------------------------------------------


@CALLS
@pytest.mark.parametrize("body", [b'{"number": "7918', b"\xff\xfe\x00garbage", b"[1, 2",
                                  b'{"token": "' + SENTINEL_TOKEN.encode() + b'"'])
async def test_truncated_or_garbled_json_on_200_is_a_server_error(call: Call, body: bytes) -> None:
    """A 200 whose body is cut JSON or bytes raises ServerError(status=200), sent once
    (an answer came: nothing to retry); a token echoed in the body is scrubbed."""
    err, made = await _fails(_answer(200, body), call, sa.ServerError)
    assert isinstance(err, sa.ServerError)
    assert err.status == 200
    assert "not JSON" in str(err)
    assert made == 1


async def _cut_short(request: web.Request) -> web.StreamResponse:
    """Promises 100 bytes, sends 16 and closes the connection."""
    resp = web.StreamResponse(status=200, headers={"Content-Length": "100",
                                                   "Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"number": "7918')
    assert request.transport is not None
    request.transport.close()
    return resp


async def test_body_cut_short_is_retried_for_reads() -> None:
    """A body shorter than its Content-Length is a connection error, retried for a read."""
    err, made = await _fails(_cut_short, READ, sa.APIConnectionError, max_retries=2)
    assert not isinstance(err, sa.APITimeoutError)
    assert made == 3


async def test_body_cut_short_on_send_sms_is_not_retried_and_may_have_reached() -> None:
    """send_sms whose answer was cut short is not repeated: its outcome is unknown."""
    err, made = await _fails(_cut_short, SMS, sa.APIConnectionError, max_retries=5)
    assert isinstance(err, sa.APIConnectionError)
    assert err.reached_server is None
    assert made == 1


@pytest.mark.parametrize("status", [200, 500, 502, 503])
async def test_html_where_json_was_expected(status: int) -> None:
    """An HTML page (a proxy's login or error page) is a ServerError naming the status and
    the content type; 5xx pages are retried for reads, a 200 page is not."""
    page = b"<html><body><h1>Bad Gateway</h1>" + b"<p>nginx</p>" * 50 + b"</body></html>"
    err, made = await _fails(_answer(status, page, "text/html"), READ, sa.ServerError,
                             max_retries=2)
    assert isinstance(err, sa.ServerError)
    assert err.status == status
    assert "text/html" in str(err)
    assert made == (1 if status == 200 else 3)


async def test_html_5xx_on_send_sms_is_sent_once() -> None:
    """A 502 HTML page after send_sms is not retried (the SMS may have been sent)."""
    _err, made = await _fails(_answer(502, b"<html>bad gateway</html>", "text/html"), SMS,
                             sa.ServerError, max_retries=5)
    assert made == 1


# -- JSON of the wrong shape --------------------------------------------------------------

WRONG_TYPES = [
    ("get", {"number": [7, 9, 1, 8]}, "number"),
    ("get", {"number": NUMBER, "iccid": {"value": ICCID}}, "iccid"),
    ("get", {"data": {"number": NUMBER, "packet_id": "three"}}, "data.packet_id"),
    ("get", {"number": NUMBER, "blocked_services": 42}, "blocked_services"),
    ("get", [{"number": NUMBER}], "(the whole body)"),
    ("get", "just a string", "(the whole body)"),
    ("list", {"data": {"number": NUMBER}}, "data"),
    ("list", {"data": [{"number": NUMBER}, {"number": {"x": 1}}]}, "data[1].number"),
    ("list", {"data": [], "meta": {"current_page": "first"}}, "meta.current_page"),
    ("packets", [{"id": 1, "small_packets": {"id": 2}}], "[0].small_packets"),
    ("packets", {"data": [{"id": 1, "price": {"rub": 10}}]}, "data[0].price"),
    ("cdr", [{"number": NUMBER, "started_at": {"date": "2024-03-01"}}], "[0].started_at"),
    ("cdr", {"data": [{"number": NUMBER, "volume": [1, 2]}]}, "data[0].volume"),
    ("cdr", [{"number": NUMBER, "start": "yesterday"}], "[0].start"),
    ("block", {"success": "maybe"}, "success"),
    ("block", {"success": True, "message": ["done"]}, "message"),
]

RESOURCE_CALLS: dict[str, Call] = {
    "get": READ,
    "list": lambda api: api.sims.list(),
    "packets": lambda api: api.packets.list(),
    "cdr": lambda api: _drain(api.cdr.internet("2024-03-01", "2024-03-01")),
    "block": WRITE,
}


async def _drain(it: Any) -> list[Any]:
    return [x async for x in it]


@pytest.mark.parametrize(("call", "body", "field"), WRONG_TYPES,
                         ids=[f"{c}-{f}" for c, _, f in WRONG_TYPES])
async def test_wrong_types_name_the_field(call: str, body: Any, field: str) -> None:
    """A field of the wrong JSON type raises ResponseFormatError naming that field."""
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(body)

    err, made = await _fails(handler, RESOURCE_CALLS[call], sa.ResponseFormatError)
    assert isinstance(err, sa.ResponseFormatError)
    assert err.field == field
    assert made == 1


# -- bodies too big, bodies that never end ----------------------------------------------

_MB = 1024 * 1024


async def _chunked_50mb(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await resp.prepare(request)
    await resp.write(b'{"number": "' + b"7" * 100)
    chunk = b"1" * _MB
    for _ in range(50):
        await resp.write(chunk)
    await resp.write(b'"}')
    await resp.write_eof()
    return resp


async def _sized_50mb(request: web.Request) -> web.StreamResponse:
    return web.Response(body=b" " * (50 * _MB) + b"{}", content_type="application/json")


@pytest.mark.parametrize("handler", [_chunked_50mb, _sized_50mb], ids=["chunked", "sized"])
async def test_50mb_body_is_refused_by_the_default_limit(handler: Any) -> None:
    """A 50 MB answer, with or without Content-Length, raises ResponseFormatError naming
    max_response_bytes (32 MiB by default) instead of filling memory; not retried."""
    err, made = await _fails(handler, READ, sa.ResponseFormatError)
    assert "max_response_bytes=33554432" in str(err)
    assert made == 1


@pytest.mark.parametrize(("size", "fits"), [(1000, True), (1001, False)])
async def test_a_small_configured_limit_is_exact(size: int, fits: bool) -> None:
    """With max_response_bytes=1000 a 1000-byte answer is read and a 1001-byte one refused."""
    body = b'{"number": "' + NUMBER.encode() + b'"}'
    body += b" " * (size - len(body))

    async with serve(_answer(200, body)) as server, \
            session_on(server.base_url, max_response_bytes=1000) as api:
        if fits:
            assert (await api.sims.get(NUMBER)).number == NUMBER
        else:
            with pytest.raises(sa.ResponseFormatError, match="max_response_bytes=1000"):
                await api.sims.get(NUMBER)


@pytest.mark.parametrize("limit", [None, 1 * _MB])
async def test_gzip_bomb_is_bounded_by_the_decompressed_size(limit: int | None) -> None:
    """A small gzip body that inflates past the limit raises ResponseFormatError: the
    limit counts decompressed bytes."""
    inflated = (limit or DEFAULT_MAX_RESPONSE_BYTES) + _MB
    bomb = gzip.compress(b" " * inflated, 9)
    assert len(bomb) < inflated // 100

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=bomb, headers={"Content-Encoding": "gzip",
                                                "Content-Type": "application/json"})

    extra = {} if limit is None else {"max_response_bytes": limit}
    err, made = await _fails(handler, READ, sa.ResponseFormatError, **extra)
    assert "max_response_bytes" in str(err)
    assert made == 1


async def test_slow_drip_body_ends_at_the_timeout() -> None:
    """A body that trickles a byte at a time forever ends at the session's timeout with
    APITimeoutError (the timeout covers the whole answer, not each read)."""
    release = asyncio.Event()

    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"number": "7')
        while not release.is_set():
            await resp.write(b"1")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(release.wait(), 0.02)
        return resp

    try:
        _err, made = await _fails(drip, READ, sa.APITimeoutError, timeout=0.3, max_retries=1)
    finally:
        release.set()
    assert made == 2


# -- answers that say "no" in a 200 -------------------------------------------------------


async def test_write_answered_success_false_is_not_ok_and_not_retried() -> None:
    """A write answered 200 {"success": false, "message"} returns OperationResult(ok=False)
    with the message; it is not retried (the server answered)."""
    refusal = b'{"success": false, "message": "SIM is already blocked"}'
    async with serve(_answer(200, refusal)) as server, session_on(server.base_url) as api:
        result = await api.sims.block(NUMBER, iccid=ICCID)
        sms = await api.sims.send_sms(NUMBER, "call")
    assert (result.ok, result.message) == (False, "SIM is already blocked")
    assert not sms.ok
    assert sum(1 for r in server.requests if not r.path.endswith("/login")) == 2


async def test_bulk_counts_success_false_as_failed_with_the_message() -> None:
    """In bulk, success=false answers are failures whose error carries the message."""
    refusal = b'{"success": false, "message": "SIM is already blocked"}'
    targets = [sa.Target(f"7918111{i:04d}", iccid=ICCID) for i in range(20)]
    async with serve(_answer(200, refusal)) as server, session_on(server.base_url) as api:
        report = await api.bulk.block(targets, concurrency=5)
    assert (report.total, report.failed, report.succeeded) == (20, 20, 0)
    assert all("SIM is already blocked" in str(r.error) for r in report.failures)
    assert sum(1 for r in server.requests if not r.path.endswith("/login")) == 20


@pytest.mark.parametrize("body", [
    b"", b"{}", b'{"success": true}', b'{"success": 1}', b'{"success": "true"}',
    b'{"success": false, "message": "no"}', b'{"success": "0"}', b"[]", b'"done"',
    b'{"success": "maybe"}', b'{"success": null, "data": {"message": "queued"}}',
])
async def test_bulk_counts_the_same_with_and_without_a_result_hook(body: bytes) -> None:
    """Without a hook the engine skips building models for plain successes; whatever the
    answer, the report is the one a run with a hook gets (and the hook sees each target)."""
    targets = [sa.Target(f"7918111{i:04d}", iccid=ICCID) for i in range(6)]
    seen: list[sa.ItemResult] = []
    async with serve(_answer(200, body)) as server, session_on(server.base_url) as api:
        bare = await api.bulk.block(targets, concurrency=3)
        hooked = await api.bulk.block(targets, concurrency=3, on_result=seen.append)
    counts = [(r.total, r.succeeded, r.failed, dict(r.reasons)) for r in (bare, hooked)]
    assert counts[0] == counts[1]
    assert len(seen) == 6
    assert {r.ok for r in seen} == ({True} if hooked.ok else {False})
    assert [str(r.error) for r in bare.failures] == [str(r.error) for r in hooked.failures]


# -- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["call", "login"])
async def test_redirect_to_another_host_is_never_followed(status: int, where: str) -> None:
    """A redirect (of a call or of the login) is an APIStatusError; the other host gets no
    request at all, so neither the token nor the password can reach it."""
    async def stolen(request: web.Request) -> web.StreamResponse:
        return web.json_response({"token": "attacker"})

    async with serve(stolen, login=None) as other:
        async def redirect(request: web.Request) -> web.StreamResponse:
            # The Location echoes the query: for the login, that is the password.
            return web.Response(status=status, headers={
                "Location": f"{other.base_url}/steal{request.path_qs}"})

        login = redirect if where == "login" else None
        async with serve(redirect, **({"login": login} if login else {})) as server, \
                session_on(server.base_url, max_retries=3) as api:
            with pytest.raises(sa.APIStatusError) as info:
                await api.sims.get(NUMBER)
        assert other.requests == []
    err = info.value
    chained = err.__cause__ if isinstance(err, sa.AuthenticationError) and where == "login" \
        else err
    assert isinstance(chained, sa.APIStatusError)
    assert chained.status == status
    assert "not followed" in str(chained)
    assert_no_secret(texts_of(err))
    assert len(server.requests) == 1 + (where == "call")  # no retry of a redirect


# -- a peer that does not speak HTTP --------------------------------------------------------


@pytest.mark.parametrize("reply", [b"", b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 200\r\nbroken"])
async def test_a_peer_that_does_not_speak_http(reply: bytes) -> None:
    """A peer closing at once, answering another protocol or half an HTTP head: a typed
    APIConnectionError after the read's retries (each a new connection)."""
    connections = 0

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(peer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with sa.AsyncSession(f"http://127.0.0.1:{port}", token=SENTINEL_TOKEN,
                                   max_retries=2) as api:
            with pytest.raises(sa.APIConnectionError) as info:
                await api.sims.get(NUMBER)
    finally:
        server.close()
        await server.wait_closed()
    assert_no_secret(texts_of(info.value))
    # Three attempts, one connection each: aiohttp's own resend of an idempotent method
    # after a hang-up (RFC 9112 §9.3.1) is off, the SDK alone decides about repeats.
    assert connections == 3


@pytest.mark.parametrize("body", [b"<html>SMS queued</html>", b'{"success": "maybe"}'])
async def test_unreadable_2xx_to_send_sms_is_an_unknown_outcome(
    body: bytes, tmp_path: Path
) -> None:
    """A send_sms answered 2xx with a body the SDK cannot read was accepted by the
    server: bulk reports its outcome unknown, not failed, and neither the run nor a
    resume from its journal sends it again (one request per number)."""
    targets = [sa.Target(f"7918111{i:04d}") for i in range(3)]
    journal = tmp_path / "sms.jsonl"
    async with serve(_answer(200, body, "text/html")) as server, \
            session_on(server.base_url) as api:
        report = await api.bulk.send_sms(targets, type="call", journal=journal)
        again = await api.bulk.send_sms(targets, type="call", journal=journal)
    assert report.failed == 3
    assert report.unknown == 3
    assert again.skipped == 3
    sent = sorted(r.path for r in server.requests if "/sim/send-sms/" in r.path)
    assert sent == sorted(f"/api/v2/sim/send-sms/{t.number}" for t in targets)
