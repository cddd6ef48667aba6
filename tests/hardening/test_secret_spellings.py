"""Secrets in every spelling: the password as typed and as `quote`, `quote_plus` and yarl
write it in a query, and the bearer token, never reach any text an error carries — its
message, repr, formatted traceback, every exception down its ``__cause__`` and
``__context__`` chain — nor a DEBUG log line, a report or a journal.

The faults are real: aiohttp itself puts the login URL into its error text when a header
line is longer than 8190 bytes, and its exception holds the request's headers.
"""

from __future__ import annotations

import logging
import traceback
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web
from yarl import URL

import simapi_async as sa

from .conftest import ICCID, NUMBER, SENTINEL_TOKEN, serve

#: Passwords whose spellings differ: yarl keeps ``@`` and ``!``, turns a space into ``+``,
#: quotes ``%``, ``+``, ``&``, ``=`` and every non-ASCII byte.
PASSWORDS = ["P@55w0rd#", "Summer 2024!", "50%+off&a=b", "пароль-Ключ€ 1"]


def spellings(secret: str) -> set[str]:
    """The ways `secret` may be written: as typed, `quote`, `quote_plus`, and as yarl
    writes it into a query (raw, `str`, `human_repr`)."""
    url = URL("http://h/").with_query({"p": secret})
    return {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        URL.build(query={"p": secret}).raw_query_string.partition("=")[2],
        str(url).partition("?p=")[2],
        url.human_repr().partition("?p=")[2],
    }


def chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything under it, following both ``__cause__`` and ``__context__``."""
    out: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is seen for seen in out):
            continue
        out.append(current)
        todo += [current.__cause__, current.__context__]
    return out


def every_text(exc: BaseException) -> list[str]:
    """Every text an error can show: the formatted traceback, and str/repr of each
    exception in its chain with its attributes (url, body, headers, request_info...)."""
    texts = ["".join(traceback.format_exception(exc))]
    for link in chain(exc):
        texts += [str(link), repr(link), *(repr(v) for v in vars(link).values())]
    return texts


def assert_hidden(texts: list[str], *secrets: str) -> None:
    for secret in secrets:
        for form in spellings(secret):
            for text in texts:
                assert form not in text, f"{form!r} (of {secret!r}) leaked into {text[:300]!r}"


def assert_no_aiohttp_exception(exc: BaseException) -> None:
    """No raw aiohttp exception (holding the request, its URL, its headers) is chained."""
    kinds = [type(link) for link in chain(exc)]
    assert not any(kind.__module__.startswith("aiohttp") for kind in kinds), kinds


async def huge_header(request: web.Request) -> web.StreamResponse:
    """An answer with a header line longer than aiohttp's 8190-byte limit (a proxy's
    giant Set-Cookie): aiohttp's error names the full request URL."""
    return web.json_response({"token": SENTINEL_TOKEN}, headers={"X-Big": "a" * 9000})


async def nothing(request: web.Request) -> web.StreamResponse:
    return web.json_response({})


@pytest.mark.parametrize("password", PASSWORDS)
async def test_aiohttp_error_text_on_login_never_shows_the_password(
    password: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A login that aiohttp fails with its request URL in the message (an over-long header)
    leaves no spelling of the password in the error, its chain, traceback or DEBUG log."""
    caplog.set_level(logging.DEBUG, logger="simapi_async")
    async with serve(nothing, login=huge_header) as server, \
            sa.AsyncSession(server.base_url, login="user", password=password,
                            max_retries=1) as api:
        with pytest.raises(sa.AuthenticationError) as info:
            await api.sims.get(NUMBER)
    assert "8190" in str(info.value)  # still says what went wrong
    assert_no_aiohttp_exception(info.value)
    assert_hidden([*every_text(info.value), *(r.getMessage() for r in caplog.records)],
                  password)


@pytest.mark.parametrize("password", PASSWORDS)
async def test_bulk_report_and_journal_never_show_the_password(
    password: str, tmp_path: Path
) -> None:
    """The same fault in a bulk run: neither the report, its failures nor the journal
    carries any spelling of the password."""
    journal = tmp_path / "block.jsonl"
    async with serve(nothing, login=huge_header) as server, \
            sa.AsyncSession(server.base_url, login="user", password=password,
                            max_retries=0) as api:
        report = await api.bulk.block([sa.Target(NUMBER, iccid=ICCID)], journal=journal)
    assert report.failed == 1
    texts = [report.summary(), repr(report), journal.read_text()]
    for failure in report.failures:
        assert failure.error is not None
        texts += every_text(failure.error)
    assert_hidden(texts, password)


async def test_aiohttp_error_on_a_call_never_keeps_the_token() -> None:
    """A call that aiohttp fails (an over-long header) chains no aiohttp exception, whose
    request headers hold the bearer token: not as __cause__, not as __context__."""
    async with serve(huge_header, login=None) as server, \
            sa.AsyncSession(server.base_url, token=SENTINEL_TOKEN, max_retries=0) as api:
        with pytest.raises(sa.APIConnectionError) as info:
            await api.sims.get(NUMBER)
    assert info.value.__context__ is None
    assert_no_aiohttp_exception(info.value)
    assert_hidden(every_text(info.value), SENTINEL_TOKEN)


@pytest.mark.parametrize("password", PASSWORDS)
async def test_login_answer_echoing_the_query_is_scrubbed(password: str) -> None:
    """A refused login whose body repeats the request's query (the password as it went on
    the wire) keeps no spelling of it in the error or its body."""
    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"message": "Invalid credentials.", "request":
                                  request.raw_path, "query": request.query_string}, status=401)

    async with serve(nothing, login=echo) as server, \
            sa.AsyncSession(server.base_url, login="user", password=password) as api:
        with pytest.raises(sa.AuthenticationError) as info:
            await api.authenticate()
    assert str(info.value.message) == "login refused: Invalid credentials."
    assert "password=" in str(info.value.body)  # the echo is kept, the value is not
    assert_hidden(every_text(info.value), password)


async def test_body_excerpt_is_scrubbed_before_it_is_cut() -> None:
    """A non-JSON error body with the token where the old 800-byte cut fell shows none of
    the token's characters: the whole text is scrubbed, then cut."""
    async def echo(request: web.Request) -> web.StreamResponse:
        return web.Response(status=500, body=b" " * 780 + SENTINEL_TOKEN.encode(),
                            content_type="text/plain")

    async with serve(echo) as server, \
            sa.AsyncSession(server.base_url, login="user", password="pw-unused-1",
                            max_retries=0) as api:
        with pytest.raises(sa.ServerError) as info:
            await api.sims.get(NUMBER)
    assert info.value.body == "***"
    for text in every_text(info.value):
        assert SENTINEL_TOKEN[:10] not in text, text


async def test_response_format_error_echoing_the_token_is_scrubbed() -> None:
    """A 2xx answer of the wrong shape that echoes the Authorization header: the
    ResponseFormatError's message and body hold no part of the token."""
    async def echo(request: web.Request) -> web.StreamResponse:
        return web.json_response({"number": {"echo": request.headers["Authorization"]}})

    async with serve(echo) as server, \
            sa.AsyncSession(server.base_url, login="user", password="pw-unused-1",
                            max_retries=0) as api:
        with pytest.raises(sa.ResponseFormatError) as info:
            await api.sims.get(NUMBER)
    assert info.value.field == "number"
    assert info.value.body == {"number": {"echo": "Bearer ***"}}
    for text in every_text(info.value):
        assert SENTINEL_TOKEN[:10] not in text, text
