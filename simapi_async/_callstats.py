"""Counters of one logical call, kept per task by whoever wants them (the bulk engine).

Its own module so that `bulk/` reads it without importing the session (no import circle).
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._ratelimit import RateLimiter

__all__ = ["CALL_STATS", "CallStats"]


class CallStats:
    """Counters of one logical call, kept in a context variable by whoever wants them
    (the bulk engine reports attempts per target and slows down on 429s).

    `attempts` counts the HTTP requests of `operation` only (every operation when None):
    a SIM lookup made on the way does not count, nor does a login (it runs in its own
    task, where `CALL_STATS` is None). The bulk engine reads it as "the requests the
    server saw for this target" and "may this have reached the server".
    """

    __slots__ = ("attempts", "counting", "limiter", "operation", "rate_limited", "stop")

    def __init__(self, operation: str | None = None, limiter: RateLimiter | None = None,
                 stop: asyncio.Future[None] | None = None) -> None:
        self.attempts = 0
        self.rate_limited = 0
        self.operation = operation
        #: Whether the request under way is one of `operation` (set by `request`).
        self.counting = True
        #: A caller's own rate limit on top of the session's (a bulk run's `rate_limit`):
        #: applied to every request made in this context — lookups and retries included.
        self.limiter = limiter
        #: Done when the caller gives up (a bulk run stopped): a request still waiting
        #: for the API's quota then raises `NotAttemptedError` instead of being sent.
        self.stop = stop


#: Set by a caller (per task) to have its calls counted; None costs nothing.
CALL_STATS: ContextVar[CallStats | None] = ContextVar("simapi_call_stats", default=None)
