"""`cdr.internet` over the session's streaming read: answers over max_response_bytes,
retries and re-login before the body, a hostile record."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

import simapi_async as sa
from simapi_async import _retry
from simapi_async.testing import Emulator

from ..helpers import connected

DAY = dt.date(2026, 10, 1)


@contextlib.asynccontextmanager
async def _cdr_server(
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A loopback server whose ``cdr/internet`` is `answer`; yields its base URL."""
    app = web.Application()
    app.router.add_get("/api/v2/cdr/internet", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _want(emu: Emulator, days: int = 1) -> list[tuple[str, str]]:
    return sorted((r.number, r.start.isoformat()) for d in range(days)
                  for n in emu.fleet.numbers for r in emu.fleet.cdr(n, DAY + dt.timedelta(d)))


async def test_an_answer_far_over_max_response_bytes_is_read_whole(emu: Emulator) -> None:
    """A CDR answer 20x max_response_bytes is streamed: every record, none twice."""
    async with connected(emu, max_response_bytes=4096) as api:
        got = [(r.number, r.started_at.isoformat()) async for r in
               api.cdr.internet(DAY, DAY + dt.timedelta(days=1))]
    assert sorted(got) == _want(emu, 2)
    assert len(got) > 300  # about 250 bytes a record: far over 4 KiB


async def test_other_answers_keep_max_response_bytes(emu: Emulator) -> None:
    """Non-CDR answers are still refused over max_response_bytes."""
    async with connected(emu, max_response_bytes=4096) as api:
        with pytest.raises(sa.ResponseFormatError, match="max_response_bytes"):
            await api.sims.list(limit=200)


@pytest.mark.parametrize("status", [503, 429, 500])
async def test_a_failed_status_before_the_body_is_retried(emu: Emulator, status: int) -> None:
    """The streaming read goes through the same retries as every request."""
    _retry.set_testing(True)
    try:
        async with connected(emu) as api:
            await api.authenticate()
            emu.fail_next(2, status=status, retry_after=0)
            got = [r async for r in api.cdr.internet(DAY, DAY)]
            assert api.stats.retries == 2
    finally:
        _retry.set_testing(False)
    assert len(got) == len(_want(emu))


async def test_an_expired_token_is_renewed_once_for_a_streamed_answer() -> None:
    """A 401 on the streamed request logs in again and replays it once."""
    async with Emulator(sims=30, seed=3) as emu, connected(emu) as api:
        await api.authenticate()
        emu.revoke_tokens()
        got = [r async for r in api.cdr.internet(DAY, DAY)]
        assert api.stats.relogins == 1
        assert emu.stats.logins == 2
    assert len(got) == len(_want(emu))


async def test_a_hostile_record_cannot_exhaust_memory() -> None:
    """One 5 MB record is refused (ResponseFormatError), not buffered."""

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"data": [{"number": "79181111111", "apn": "')
        for _ in range(80):
            await resp.write(b"x" * 65536)
        await resp.write(b'"}]}')
        return resp

    async with _cdr_server(huge) as url, sa.AsyncSession(url, token="t") as api:
        with pytest.raises(sa.ResponseFormatError, match="more than"):
            [r async for r in api.cdr.internet(DAY, DAY)]



async def test_a_server_writing_a_record_at_a_time_gives_every_record() -> None:
    """2,000 records, each its own HTTP chunk: every record comes once, in order (small
    pieces are joined with what is buffered behind them on the way to the decoder)."""

    async def one_by_one(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"data": [')
        for i in range(2000):
            await resp.write((b"," if i else b"") + b'{"number": "7918%07d", "start": '
                             b'"2026-10-01T05:%02d:%02d+03:00", "volume": %d}'
                             % (i, i // 60 % 60, i % 60, i))
        await resp.write(b'], "success": true}')
        return resp

    async with _cdr_server(one_by_one) as url, sa.AsyncSession(url, token="t") as api:
        got = [r.volume_bytes async for r in api.cdr.internet(DAY, DAY)]
    assert got == list(range(2000))


async def test_small_pieces_are_joined_with_what_is_buffered_big_ones_pass_as_they_are(
) -> None:
    """`_pieces` over a real aiohttp StreamReader: a 100 KiB piece comes out as it is
    (the same object: not copied); 2,000 pieces of 70 bytes already buffered behind it
    come out as a few joined pieces; the bytes are the same, in order."""
    from unittest import mock

    from aiohttp import StreamReader

    from simapi_async._transport import _pieces

    small = [b"%070d" % i for i in range(2000)]
    big = b"x" * 100_000
    reader = StreamReader(mock.Mock(_reading_paused=False), 2**16,
                          loop=asyncio.get_running_loop())
    for piece in [big, *small]:  # each its own HTTP chunk, as the parser feeds them
        reader.begin_http_chunk_receiving()
        reader.feed_data(piece)
        reader.end_http_chunk_receiving()
    reader.feed_eof()
    out = [p async for p in _pieces(reader)]
    assert b"".join(out) == big + b"".join(small)
    assert out[0] is big
    assert len(out) < 10
