"""Fault injection: what can go wrong (`Faults`) and the seeded dice that decide when.

`Faults` is a plain mutable settings object: change it while the emulator runs and the
next request sees the change::

    emu.faults.error_rate_503 = 0.1
    emu.faults.latency = (0.005, 0.02)

Every request rolls one die against the cumulative probabilities, in this order:
hang, 429, 500, 503, 502 (HTML), drop. Injected errors answer before the request is
processed (nothing is applied); a drop applies the write first with probability
`drop_after_processing` (default one half: the worst case for a client, which cannot
tell whether its write happened).
"""

from __future__ import annotations

import collections
import math
import random
from typing import Any, Literal

import attrs

from .._exceptions import InvalidInputError

__all__ = ["FaultEngine", "Faults", "Roll"]

Roll = Literal["hang", "429", "500", "503", "502", "drop"]


def _probability(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) and attribute.name == "drop_after_processing":
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidInputError(attribute.name, value, "must be a probability from 0 to 1")


def _latency(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, tuple):
        ok = (len(value) == 2 and all(isinstance(v, int | float) for v in value)
              and 0 <= value[0] <= value[1])
    else:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
    if not ok:
        raise InvalidInputError(
            attribute.name, value, "must be seconds >= 0 or a (low, high) tuple of seconds"
        )


def _seconds_or_none(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
        raise InvalidInputError(attribute.name, value, "must be seconds >= 0 or None")


def _positive_or_none(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise InvalidInputError(attribute.name, value, "must be a positive number or None")


@attrs.define(slots=True, kw_only=True)
class Faults:
    """What goes wrong, and how often. All zero by default: a healthy server.

    - `latency`: seconds added before each answer, or a `(low, high)` uniform range.
    - `error_rate_429`: probability of ``429 Too Many Attempts`` with `Retry-After:
      retry_after` (seconds, default 1; None: no header), whatever the request rate.
    - `error_rate_500` / `error_rate_503` / `error_rate_502_html`: probability of that
      answer (502 comes as a proxy's HTML page, `text/html`).
    - `drop_rate`: probability of closing the connection without answering;
      `drop_after_processing`: probability (or bool) that a dropped write was applied.
    - `hang_rate`: probability of never answering (until the client gives up).
    - `rate_limit`: requests per second across all clients (a token bucket, burst =
      one second's worth); beyond it `429` with `Retry-After` (seconds, possibly
      fractional) and `X-RateLimit-Limit` / `X-RateLimit-Remaining`. A `429` takes no
      token (as in Laravel's throttle, which refuses before it counts).
    - `rate_window`: seconds; makes `rate_limit` a fixed window instead, as Laravel's
      ``throttle:N,M`` middleware: ``rate_limit * rate_window`` requests per window, the
      window opening with the first request after the last one closed; a `429` carries
      `Retry-After` (whole seconds to the window's end) and `X-RateLimit-Reset` (its Unix
      time).
    - `maintenance`: every request is answered ``503`` with `Retry-After: retry_after`
      before anything runs, as Laravel's ``artisan down --retry=N``.
    - `token_ttl`: seconds; overrides the emulator's token lifetime for new logins.
    - `seed`: seed of the dice (default: the emulator's seed).
    """

    latency: float | tuple[float, float] = attrs.field(default=0.0, validator=_latency)
    error_rate_429: float = attrs.field(default=0.0, validator=_probability)
    retry_after: float | None = attrs.field(default=1.0, validator=_seconds_or_none)
    error_rate_500: float = attrs.field(default=0.0, validator=_probability)
    error_rate_503: float = attrs.field(default=0.0, validator=_probability)
    error_rate_502_html: float = attrs.field(default=0.0, validator=_probability)
    drop_rate: float = attrs.field(default=0.0, validator=_probability)
    drop_after_processing: float | bool = attrs.field(default=0.5, validator=_probability)
    hang_rate: float = attrs.field(default=0.0, validator=_probability)
    rate_limit: float | None = attrs.field(default=None, validator=_positive_or_none)
    rate_window: float | None = attrs.field(default=None, validator=_positive_or_none)
    maintenance: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    token_ttl: float | None = attrs.field(default=None, validator=_positive_or_none)
    seed: int | None = None

    def any_random(self) -> bool:
        """True when a die has to be rolled for each request."""
        return bool(self.hang_rate or self.error_rate_429 or self.error_rate_500
                    or self.error_rate_503 or self.error_rate_502_html or self.drop_rate)


class FaultEngine:
    """The mutable side of fault injection: the dice, the fail-next queue, the bucket."""

    def __init__(self, faults: Faults, seed: int) -> None:
        self.faults = faults
        self._rng = random.Random(faults.seed if faults.seed is not None else seed)
        self._forced: collections.deque[tuple[int, float | None]] = collections.deque()
        self._tokens = 0.0
        self._stamp: float | None = None
        self._window_end = 0.0
        self._window_used = 0

    def fail_next(self, count: int, status: int, retry_after: float | None) -> None:
        if not isinstance(count, int) or count < 0:
            raise InvalidInputError("count", count, "must be an integer >= 0")
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise InvalidInputError("status", status, "must be an HTTP status code")
        if retry_after is not None and retry_after < 0:
            raise InvalidInputError("retry_after", retry_after, "must be seconds >= 0")
        self._forced.extend([(status, retry_after)] * count)

    def take_forced(self) -> tuple[int, float | None] | None:
        """The next queued forced answer, if any."""
        return self._forced.popleft() if self._forced else None

    def rate_limited(self, now: float) -> tuple[int, int, float | None]:
        """(limit, remaining, retry_after or None when the request may pass)."""
        rate = self.faults.rate_limit
        assert rate is not None
        if self.faults.rate_window is not None:
            return self._window_limited(now, rate, self.faults.rate_window)
        capacity = max(1.0, rate)
        if self._stamp is None:
            self._tokens = capacity
        else:
            self._tokens = min(capacity, self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        limit = int(-(-capacity // 1))
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return limit, int(self._tokens), None
        return limit, 0, (1.0 - self._tokens) / rate

    def _window_limited(self, now: float, rate: float,
                        window: float) -> tuple[int, int, float | None]:
        """Laravel's throttle: `limit` hits per fixed window opened by the first hit."""
        limit = max(1, int(rate * window))
        if now >= self._window_end:
            self._window_end = now + window
            self._window_used = 0
        if self._window_used < limit:
            self._window_used += 1
            return limit, limit - self._window_used, None
        return limit, 0, max(1.0, float(math.ceil(self._window_end - now)))

    def window_reset_at(self, now: float, wall: float) -> float:
        """The Unix time the current fixed window ends (for `X-RateLimit-Reset`)."""
        return wall + max(0.0, self._window_end - now)

    def latency(self) -> float:
        value = self.faults.latency
        if isinstance(value, tuple):
            return self._rng.uniform(value[0], value[1])
        return float(value)

    def roll(self) -> Roll | None:
        """One die for this request: which fault, if any."""
        f = self.faults
        r = self._rng.random()
        odds: tuple[tuple[Roll, float], ...] = (
            ("hang", f.hang_rate), ("429", f.error_rate_429), ("500", f.error_rate_500),
            ("503", f.error_rate_503), ("502", f.error_rate_502_html), ("drop", f.drop_rate))
        for kind, p in odds:
            if r < p:
                return kind
            r -= p
        return None

    def drop_applies(self) -> bool:
        """Whether this dropped request is processed before its connection closes."""
        p = self.faults.drop_after_processing
        if isinstance(p, bool):
            return p
        return self._rng.random() < p
