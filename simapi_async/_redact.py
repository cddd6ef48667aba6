"""Keeping secrets out of text: redacted URLs, scrubbed messages, safe exception causes.

A secret reaches a text in many spellings: as typed, percent-encoded by `quote` or
`quote_plus`, encoded by yarl into a query (``P@55w0rd#`` → ``P@55w0rd%23``, ``Summer
2024!`` → ``Summer+2024!``), half-decoded by `URL.human_repr`, escaped in JSON or in a
repr. `scrub` replaces every one of them. `safe_cause` turns a transport exception (which
holds the request, its URL and its headers) into a `ScrubbedCause` that carries only its
type's name and its scrubbed text: the SDK chains that, never aiohttp's own exception.
"""

from __future__ import annotations

import functools
import json
import re
import weakref
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from yarl import URL

__all__ = [
    "REDACTED",
    "SECRET_QUERY_KEYS",
    "ScrubbedCause",
    "SecretKeeper",
    "keep_secret",
    "known_secrets",
    "redact_params",
    "redact_url",
    "safe_cause",
    "scrub",
    "scrub_json",
    "scrub_known",
    "secret_forms",
]

REDACTED = "***"
#: Secrets shorter than this are not searched for (see `scrub`).
MIN_SECRET_LENGTH = 4
#: Query parameters whose values are never shown.
SECRET_QUERY_KEYS = frozenset({"password", "token", "access_token", "api_key", "secret"})

#: ``password=...`` (and the other secret keys) in free text, e.g. a URL in an error message.
_SECRET_PARAM = re.compile(
    r"(?i)(?<![A-Za-z0-9_])(" + "|".join(sorted(SECRET_QUERY_KEYS)) + r")=[^&\s'\"<>]*"
)
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


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


def redact_params(text: str) -> str:
    """`text` with the value after every ``password=``, ``token=``, ... replaced by ``***``:
    a second line of defence for texts that hold a URL (aiohttp's error messages).

    >>> redact_params("Connection timeout to host http://h/login?login=u&password=Summer+2024!")
    'Connection timeout to host http://h/login?login=u&password=***'
    """
    return _SECRET_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


@functools.lru_cache(maxsize=256)
def secret_forms(secret: str) -> frozenset[str]:
    """Every spelling of `secret` that may show up in a text: as typed, `quote` (with and
    without ``/`` safe), `quote_plus`, yarl's query encoding (what aiohttp sends and
    prints), `URL.human_repr`, JSON (ASCII-escaped or not) and Python reprs."""
    query_url = URL("http://h/").with_query({"p": secret})
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        URL.build(query={"p": secret}).raw_query_string.partition("=")[2],
        str(query_url).partition("?p=")[2],
        query_url.human_repr().partition("?p=")[2],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
    }
    return frozenset(f for f in forms if len(f) >= MIN_SECRET_LENGTH)


def _form_pattern(form: str) -> str:
    """A regex for `form` whose percent-escapes match in either case (``%2b`` = ``%2B``)."""
    out: list[str] = []
    last = 0
    for m in _ESCAPE.finditer(form):
        out.append(re.escape(form[last:m.start()]))
        out.append(f"(?i:{re.escape(m.group())})")
        last = m.end()
    out.append(re.escape(form[last:]))
    return "".join(out)


@functools.lru_cache(maxsize=64)
def _pattern(secrets: tuple[str, ...]) -> re.Pattern[str] | None:
    forms = {f for s in secrets for f in secret_forms(s)}
    if not forms:
        return None
    # Longest first: a form that is part of a longer one must not leave the rest behind.
    return re.compile("|".join(_form_pattern(f) for f in sorted(forms, key=len, reverse=True)))


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every spelling of each secret (see `secret_forms`) replaced by ``***``.

    Secrets shorter than `MIN_SECRET_LENGTH` are not searched for: replacing every "t" of
    a message would destroy it and protect nothing.

    >>> scrub("url='http://h/login?password=P@55w0rd%23'", ["P@55w0rd#"])
    "url='http://h/login?password=***'"
    """
    pattern = _pattern(tuple(s for s in secrets if len(s) >= MIN_SECRET_LENGTH))
    return text if pattern is None else _sub(pattern, text)


def _sub(pattern: re.Pattern[str], text: str) -> str:
    """Replace until nothing is left: a replacement can spell a secret anew with what
    surrounds it (``**&x`` in ``=**&x&x``). Each pass shortens the text, so this ends."""
    while True:
        text, found = pattern.subn(REDACTED, text)
        if not found:
            return text


def scrub_json(obj: Any, secrets: Iterable[str]) -> Any:
    """A decoded JSON value with every secret scrubbed out of its strings (keys too)."""
    pattern = _pattern(tuple(s for s in secrets if len(s) >= MIN_SECRET_LENGTH))
    return obj if pattern is None else _scrub_json(obj, pattern)


def _scrub_json(obj: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(obj, str):
        return _sub(pattern, obj)
    if isinstance(obj, dict):
        return {_sub(pattern, str(k)): _scrub_json(v, pattern) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_scrub_json(v, pattern) for v in obj]
    return obj


class ScrubbedCause(Exception):
    """The stand-in chained under an SDK error in place of a transport exception.

    aiohttp's exceptions hold the request (its URL with the login query, its headers with
    the bearer token): this one holds only the original's type name (`type_name`) and its
    text with every secret scrubbed, so a traceback or a walk down ``__cause__`` shows what
    went wrong and nothing else.
    """

    def __init__(self, type_name: str, text: str) -> None:
        super().__init__(f"{type_name}: {text}" if text else type_name)
        self.type_name = type_name
        self.text = text

    def __reduce__(self) -> tuple[type[ScrubbedCause], tuple[str, str]]:
        return type(self), (self.type_name, self.text)  # picklable, like any exception


def safe_cause(exc: BaseException, secrets: Iterable[str]) -> ScrubbedCause:
    """A `ScrubbedCause` for `exc`: its type's name and its text, scrubbed of `secrets`
    and of anything after ``password=`` or ``token=``."""
    secrets = tuple(s for s in secrets if s)
    kind = type(exc)
    name = f"{kind.__module__}.{kind.__qualname__}"
    try:
        text = str(exc)
    except Exception:  # an exception whose __str__ fails
        text = ""
    return ScrubbedCause(redact_params(scrub(name, secrets)), redact_params(scrub(text, secrets)))


# -- secrets every live session knows -------------------------------------------------------


class SecretKeeper(Protocol):
    """Anything that knows secrets to hide (an `AsyncSession`: its password and tokens)."""

    @property
    def _secrets(self) -> tuple[str, ...]: ...


_KEEPERS: weakref.WeakSet[Any] = weakref.WeakSet()


def keep_secret(keeper: SecretKeeper) -> None:
    """Have `scrub_known` hide `keeper`'s secrets for as long as it lives."""
    _KEEPERS.add(keeper)


def known_secrets() -> tuple[str, ...]:
    """The secrets of every live keeper (for errors raised far from any session)."""
    for _ in range(3):
        try:
            keepers = tuple(_KEEPERS)
            break
        except RuntimeError:  # another thread added a session while we looked
            continue
    else:  # pragma: no cover - three races in a row
        return ()
    return tuple(s for k in keepers for s in k._secrets)


def scrub_known(text: str) -> str:
    """`text` scrubbed of the secrets of every live session.

    For errors built where no session is at hand: the converter's `ResponseFormatError`
    about an answer that echoed the token, say.
    """
    return scrub(text, known_secrets()) if _KEEPERS else text
