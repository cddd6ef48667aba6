"""What the emulator puts on the wire: JSON bodies, Laravel error bodies, fault bodies."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final

from aiohttp import web

__all__ = [
    "HTML_502",
    "Reject",
    "dumps",
    "error_response",
    "format_retry_after",
    "json_response",
    "loads_object",
    "validation_error",
]


def _std_dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


dumps: Callable[[Any], bytes]
try:
    import orjson

    dumps = orjson.dumps
except ImportError:  # pragma: no cover - orjson is an optional speed-up
    dumps = _std_dumps


def loads_object(raw: bytes) -> dict[str, Any]:
    """The JSON object in a request body; anything else (bad JSON, a list) reads as empty.

    Laravel treats an unparsable JSON body as no input at all, so the missing parameters
    are then reported by validation (422).
    """
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(body), status=status, headers=headers, content_type="application/json"
    )


class Reject(Exception):
    """Raised inside a handler to answer with an error status and a Laravel JSON body."""

    def __init__(
        self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers

    def response(self) -> web.Response:
        return json_response(self.body, self.status, self.headers)


def validation_error(errors: Mapping[str, list[str]]) -> Reject:
    """Laravel's 422: the first message, "(and N more errors)", and every message by field."""
    messages = [m for texts in errors.values() for m in texts]
    message = messages[0]
    more = len(messages) - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return Reject(422, {"message": message, "errors": {k: list(v) for k, v in errors.items()}})


STATUS_MESSAGES: Final[Mapping[int, str]] = {
    401: "Unauthenticated.",
    403: "This action is unauthorized.",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Attempts.",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_response(
    status: int, retry_after: float | None = None, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The answer of an injected fault: Laravel's JSON body for `status`."""
    out = dict(headers or {})
    if retry_after is not None:
        out["Retry-After"] = format_retry_after(retry_after)
    body = {"message": STATUS_MESSAGES.get(status, "Error")}
    return json_response(body, status, out)


def format_retry_after(seconds: float) -> str:
    """Whole seconds as an integer ("1"); fractions rounded up to milliseconds ("0.05")."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{math.ceil(seconds * 1000) / 1000:.3f}".rstrip("0").rstrip(".")


HTML_502: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
