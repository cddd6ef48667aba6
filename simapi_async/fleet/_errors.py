"""The one error of the fleet backends, and URLs shown without their password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from .._exceptions import SimApiError

__all__ = ["FleetBackendError", "redact_dsn", "require"]


class FleetBackendError(SimApiError):
    """Redis or PostgreSQL cannot be reached or failed mid-way (after the retries made).

    `backend` is `"redis"` or `"postgresql"`, `url` the server's URL without its
    password. The message never holds a password or a token; the driver's exception is
    chained as `__cause__` (the drivers do not put passwords in their messages).
    """

    def __init__(self, backend: str, url: str, message: str) -> None:
        super().__init__(f"{backend} at {redact_dsn(url)}: {message}")
        self.backend = backend
        self.url = redact_dsn(url)


def redact_dsn(url: str) -> str:
    """`url` with the password of its user part replaced by ``***``.

    >>> redact_dsn("redis://:hunter2@cache:6379/0")
    'redis://:***@cache:6379/0'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        netloc += f":{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def require(module: str, extra: str = "fleet") -> None:
    """Raise a clear ImportError when an optional driver is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ImportError(
            f"this needs the {module!r} package: pip install 'simapi_async[{extra}]'"
        )
