"""The exception hierarchy: every error the SDK raises is a `SimApiError`.

```
SimApiError
├── InvalidInputError (also ValueError)      bad input, caught before any request
│   └── UndoRefusedError                     bulk undo: the operation has no inverse (.done)
├── ResponseFormatError                      a 2xx answer the SDK cannot understand
├── NotAttemptedError                        bulk: the run stopped before this target
├── BulkError                                bulk: raise_for_failures() on a report with failures
├── JournalError                             bulk: the journal cannot be written (.report .path)
├── APIConnectionError                       could not connect / connection dropped
│   └── APITimeoutError
└── APIStatusError                           .status .message .body .method .url (redacted)
    ├── AuthenticationError   401 / login refused
    ├── PermissionDeniedError 403
    ├── NotFoundError         404
    ├── UnprocessableEntityError 422         .errors: dict[str, list[str]]
    ├── RateLimitError        429            .retry_after
    └── ServerError           5xx (also a non-JSON body such as a proxy's HTML page)
```

Messages and reprs carry only redacted URLs: no password or token ever appears in them.
"""

from __future__ import annotations

from typing import Any

from ._redact import known_secrets, scrub_json, scrub_known

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BulkError",
    "InvalidInputError",
    "JournalError",
    "NotAttemptedError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseFormatError",
    "ServerError",
    "SimApiError",
    "UnprocessableEntityError",
    "status_error",
]


class SimApiError(Exception):
    """Base class of every error raised by simapi_async."""

    message: str

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidInputError(SimApiError, ValueError):
    """A value given to the SDK is not acceptable; raised before any request is sent.

    `field` names the parameter, `value` is what was given (never a secret).
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        try:
            shown = repr(value)
        except Exception:  # e.g. an int past Python's digit limit for str()
            shown = f"<{type(value).__name__}>"
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {field} {shown}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


class ResponseFormatError(SimApiError):
    """The server answered with success, but the body cannot be understood.

    `field` names the part of the answer that did not fit (e.g. ``"data[3].number"``).
    It is raised far from the session (by the converter), so the message and the body are
    scrubbed of every live session's password and tokens here: an answer that echoes the
    `Authorization` header never puts the token into an error.
    """

    def __init__(self, message: str, *, field: str | None = None, body: Any = None) -> None:
        super().__init__(scrub_known(message))
        self.field = field
        self.body = scrub_json(body, known_secrets()) if body is not None else None


class NotAttemptedError(SimApiError):
    """A bulk run stopped (`max_failures` reached, or cancelled) before trying this target."""


class BulkError(SimApiError):
    """A bulk run ended with failures; `report` is its `BulkReport`."""

    def __init__(self, message: str, *, report: Any) -> None:
        super().__init__(message)
        self.report = report


class JournalError(SimApiError):
    """A bulk run's journal could not be written (disk full, file gone read-only...).

    The run stops at once: targets not yet sent end "not attempted", the ones in flight
    finish; then this is raised with the run's `report` (every result, also those the
    journal missed) and the journal's `path`. The journal holds every line written before
    the failure, so a rerun with it resumes correctly once the disk has room.
    """

    def __init__(self, message: str, *, path: str, report: Any = None) -> None:
        super().__init__(message)
        self.path = path
        self.report = report


class APIConnectionError(SimApiError):
    """The request did not get an HTTP answer (refused, reset, dropped, DNS failure).

    `reached_server` is False when the request provably never reached the server (so a
    non-idempotent operation may be retried), None when that is unknown.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        reached_server: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.reached_server = reached_server


class APITimeoutError(APIConnectionError):
    """The request did not complete within its timeout; the server may have acted on it."""


class APIStatusError(SimApiError):
    """The server answered with a non-success HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Any = None,
        method: str = "",
        url: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = body
        self.method = method
        self.url = url
        self.headers = headers or {}

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.url else ""
        return f"{self.status}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class AuthenticationError(APIStatusError):
    """401, or the login was refused or gave no token."""


class PermissionDeniedError(APIStatusError):
    """403: the account may not do this."""


class NotFoundError(APIStatusError):
    """404: no such SIM, number or resource."""


class UnprocessableEntityError(APIStatusError):
    """422: Laravel validation failed; `errors` maps each field to its messages."""

    def __init__(self, message: str, *, errors: dict[str, list[str]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.errors: dict[str, list[str]] = errors or {}

    def __str__(self) -> str:
        base = super().__str__()
        if not self.errors:
            return base
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in self.errors.items())
        return f"{base} [{detail}]"


class RateLimitError(APIStatusError):
    """429: too many requests; `retry_after` is the server's hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx, or an answer that is not JSON at all (a proxy's HTML page)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIStatusError)
