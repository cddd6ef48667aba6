"""Defaults and small immutable configuration values; every default lives here."""

from __future__ import annotations

import attrs

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "RetryBudget",
    "RetryPolicy",
]

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_RETRIES = 3
#: Largest response body read into memory; a larger answer raises `ResponseFormatError`.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
#: Lookups of a SIM by number (for writes given neither iccid nor imsi) kept per session.
DEFAULT_LOOKUP_CACHE_SIZE = 100_000
#: Renew a token when this many seconds, or a tenth of its lifetime, remain (the shorter).
TOKEN_RENEW_MARGIN = 60.0
#: An expiry that leaves less than this many seconds (or is already past: a server clock
#: that is off) is not used: the token is then valid until the server answers 401.
MIN_TOKEN_LIFETIME = 1.0
#: Fresh tokens answered 401 in a row before logins stop for a while (the login breaker),
#: the first pause in seconds (doubled each time the probe's token is refused), its cap.
LOGIN_BREAKER_THRESHOLD = 3
LOGIN_BREAKER_BASE_DELAY = 1.0
LOGIN_BREAKER_MAX_DELAY = 60.0


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen(slots=True)
class RetryBudget:
    """A session-wide token bucket that bounds retries when the API is down.

    Every retry spends `retry_cost` tokens; every call that succeeds puts back
    `success_refill` (up to `capacity`). With the defaults, a session retries freely while
    fewer than one call in five needs a retry; when everything fails, a fan-out of 10,000
    calls makes 10,000 + `capacity` requests instead of 40,000.
    """

    capacity: float = attrs.field(default=100.0, validator=_non_negative)
    retry_cost: float = attrs.field(default=1.0, validator=_non_negative)
    success_refill: float = attrs.field(default=0.2, validator=_non_negative)


@attrs.frozen(slots=True)
class RetryPolicy:
    """How failed requests are retried.

    Delays are exponential (`base_delay` · 2ⁿ, capped at `max_delay`) with full jitter; a
    `Retry-After` header is honoured up to `max_retry_after` seconds. `budget=None` turns
    the session-wide retry budget off.
    """

    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES)
    base_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)
    budget: RetryBudget | None = attrs.field(factory=RetryBudget)

    @max_retries.validator
    def _check_max_retries(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
            raise ValueError(f"max_retries must be an int from 0 to 100, got {value!r}")
