"""Keeping secrets out of text: redacted URLs, scrubbed messages, safe exception causes."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

__all__ = ["REDACTED", "SECRET_QUERY_KEYS", "redact_url", "safe_cause", "scrub"]

REDACTED = "***"
#: Query parameters whose values are never shown.
MIN_SECRET_LENGTH = 4
SECRET_QUERY_KEYS = frozenset({"password", "token", "access_token", "api_key", "secret"})


def redact_url(url: object) -> str:
    """`url` as text with the values of secret query parameters replaced by ``***``.

    >>> redact_url("https://p.example/api/v2/login?login=u&password=hunter2")
    'https://p.example/api/v2/login?login=u&password=%2A%2A%2A'
    """
    text = str(url)
    if "?" not in text:
        return text
    parts = urlsplit(text)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
        return text
    safe = [(k, REDACTED if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs]
    return urlunsplit(parts._replace(query=urlencode(safe)))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (and its URL-quoted form) replaced.

    Secrets shorter than `MIN_SECRET_LENGTH` are not searched for: replacing every "t" of
    a message would destroy it and protect nothing.
    """
    for secret in secrets:
        if len(secret) < MIN_SECRET_LENGTH:
            continue
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            if form in text:
                text = text.replace(form, REDACTED)
    return text


def safe_cause(exc: BaseException, secrets: Iterable[str]) -> BaseException:
    """`exc` itself when its text holds no secret, else a stand-in carrying scrubbed text.

    Used as the `from` of the SDK's own errors, so that a traceback, which prints the
    chained exception, never shows a password that aiohttp put into its message.
    """
    secrets = [s for s in secrets if s]
    text = f"{exc!s} {exc!r}"
    if scrub(text, secrets) == text:
        return exc
    stand_in: type[Exception] = type(
        type(exc).__name__, (Exception,), {"__module__": type(exc).__module__}
    )
    return stand_in(scrub(str(exc), secrets))
