"""Retries: the decision, `Retry-After`, the backoff delay, the budget, the testing switch.

Three small functions make every retry decision readable (`should_retry`,
`parse_retry_after`, `backoff_delay`); `Retrier` wires them into `backoff` and keeps a
session-wide retry budget so that an outage does not multiply the traffic.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Any, TypeVar

import backoff

from ._config import RetryBudget, RetryPolicy
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    RateLimitError,
    ServerError,
    SimApiError,
)

__all__ = [
    "Retrier",
    "backoff_delay",
    "is_flow_control",
    "is_testing",
    "parse_retry_after",
    "set_testing",
    "should_retry",
]

log = logging.getLogger("simapi_async")
T = TypeVar("T")

_testing = False

#: Statuses retried for every operation that may be retried at all.
RETRY_STATUSES = frozenset({429, 502, 503, 504})


def set_testing(on: bool) -> None:
    """Turn every backoff sleep off (True) or back on, for fast tests of retry paths.

    Decisions, counts and the budget work as usual; only the waiting is skipped.
    """
    global _testing
    _testing = bool(on)


def is_testing() -> bool:
    """Whether backoff sleeps are turned off."""
    return _testing


def should_retry(exc: BaseException, *, retry_safe: bool) -> bool:
    """Whether a failed attempt may be tried again.

    Retry-safe operations: connection errors, timeouts, 429, 500, 502, 503, 504. Operations
    whose repeat has an effect (a second SMS, a second billed packet): only when the
    request provably was not processed: a 429, a 503 that carries `Retry-After` (see
    `is_flow_control`), or a connection that never reached the server.
    """
    if isinstance(exc, RateLimitError) or is_flow_control(exc):
        return True
    if isinstance(exc, APIConnectionError):
        return retry_safe or exc.reached_server is False
    if isinstance(exc, ServerError) and retry_safe:
        return exc.status in RETRY_STATUSES or exc.status == 500
    return False


def is_flow_control(exc: BaseException) -> bool:
    """Whether `exc` is the server pacing its clients, not a failure: a 429, or a 503 with
    `Retry-After` (Laravel's maintenance mode answers so before any controller runs).

    Such an answer says the request was not processed, so it is retried whatever the
    operation, does not spend the retry budget, and never fails a bulk target.
    """
    if isinstance(exc, RateLimitError):
        return True
    return (isinstance(exc, ServerError) and exc.status == 503
            and header(exc.headers, "Retry-After") is not None)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """`headers[name]`, whatever the case of the key (a plain dict keeps the server's)."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date.

    Returns None for a missing or unreadable header; never a negative number.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def backoff_delay(retry: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Full-jitter exponential delay before retry number `retry` (0 = the first retry)."""
    ceiling = min(policy.max_delay, policy.base_delay * (2.0 ** min(retry, 32)))
    return (rng or random).uniform(0.0, ceiling)


def retry_delay(exc: BaseException, retry: int, policy: RetryPolicy) -> tuple[float, str]:
    """The delay before the next attempt and why: the server's hint, else backoff."""
    hint = exc.retry_after if isinstance(exc, RateLimitError) else None
    if hint is None and isinstance(exc, APIStatusError):
        hint = parse_retry_after(header(exc.headers, "Retry-After"))
    if hint is not None:
        return min(hint, policy.max_retry_after), "Retry-After"
    return backoff_delay(retry, policy), "backoff"


class _Budget:
    """The live token bucket of a `RetryBudget`."""

    __slots__ = ("_config", "tokens")

    def __init__(self, config: RetryBudget) -> None:
        self._config = config
        self.tokens = config.capacity

    def try_spend(self) -> bool:
        if self.tokens < self._config.retry_cost:
            return False
        self.tokens -= self._config.retry_cost
        return True

    def refill(self) -> None:
        capacity = self._config.capacity
        if self.tokens < capacity:  # full nearly always: nothing to do
            self.tokens = min(capacity, self.tokens + self._config.success_refill)


class Retrier:
    """Runs an attempt under the retry policy, with `backoff` doing the looping.

    `on_retry(exc, delay)` is told of every retry (for counters); the budget is shared by
    every call made through this object.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        on_retry: Callable[[BaseException, float], None] | None = None,
    ) -> None:
        self.policy = policy
        self.budget = _Budget(policy.budget) if policy.budget is not None else None
        self.budget_exhausted = 0
        self._on_retry = on_retry
        tries = policy.max_retries + 1
        common: dict[str, Any] = {
            "max_tries": tries,
            "jitter": None,
            "on_success": self._succeeded,
            "raise_on_giveup": True,
            "logger": None,  # our own debug lines instead of backoff's INFO/ERROR ones
        }
        waits: Any = self._waits  # backoff's stubs do not know wait generators take sends
        self._safe = backoff.on_exception(
            waits, SimApiError, giveup=self._give_up_safe, **common
        )(self._run)
        self._unsafe = backoff.on_exception(
            waits, SimApiError, giveup=self._give_up_unsafe, **common
        )(self._run)

    async def call(self, attempt: Callable[[], Awaitable[T]], *, retry_safe: bool) -> T:
        """Await `attempt()` until it succeeds, a retry is not allowed, or tries run out."""
        try:
            result: T = await attempt()
        except SimApiError as exc:
            failure = exc
        else:
            self.succeeded()
            return result
        return await self.after_failure(failure, attempt, retry_safe=retry_safe)

    def succeeded(self) -> None:
        """A call succeeded (at its first attempt): the retry budget refills."""
        if self.budget is not None:
            self.budget.refill()

    async def after_failure(
        self, failure: SimApiError, attempt: Callable[[], Awaitable[T]], *, retry_safe: bool
    ) -> T:
        """Go on after a first attempt failed with `failure`: re-raise it when it may not be
        retried, else retry `attempt` under the policy.

        The first attempt runs bare (`backoff` costs microseconds per call even when nothing
        fails, and most calls succeed at once); here the failure enters the backoff loop as
        its first try, re-raised there once, so delays, counts and the budget are as if
        backoff had run it.
        """
        if self.policy.max_retries == 0 or not should_retry(failure, retry_safe=retry_safe):
            raise failure
        first: list[BaseException] = [failure]

        async def again() -> T:
            if first:
                raise first.pop()
            return await attempt()

        runner = self._safe if retry_safe else self._unsafe
        retried: T = await runner(again)
        return retried

    @staticmethod
    async def _run(attempt: Callable[[], Awaitable[T]]) -> T:
        return await attempt()

    @staticmethod
    def _give_up_safe(exc: Exception) -> bool:
        return not should_retry(exc, retry_safe=True)

    @staticmethod
    def _give_up_unsafe(exc: Exception) -> bool:
        return not should_retry(exc, retry_safe=False)

    def _succeeded(self, details: Any) -> None:
        self.succeeded()

    def _waits(self) -> Generator[float | None, BaseException, None]:
        """backoff's wait generator: receives each failure, yields the delay before a retry.

        Returning (StopIteration) makes backoff give up and re-raise: that is how an empty
        retry budget stops a retry.
        """
        exc = yield None
        retry = 0
        while True:
            if (self.budget is not None and not is_flow_control(exc)
                    and not self.budget.try_spend()):
                self.budget_exhausted += 1
                log.debug("not retrying %s: the retry budget is spent", type(exc).__name__)
                return
            delay, why = retry_delay(exc, retry, self.policy)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("retry %d in %.3fs (%s) after %s", retry + 1, delay, why, exc)
            if self._on_retry is not None:
                self._on_retry(exc, delay)
            retry += 1
            exc = yield (0.0 if _testing else delay)
