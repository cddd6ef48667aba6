"""What a bulk run tells: one `ItemResult` per target, a `BulkReport`, `BulkProgress`."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs

from .._exceptions import APIStatusError, BulkError, NotAttemptedError, SimApiError
from ._targets import Target

__all__ = ["BulkProgress", "BulkReport", "ItemResult", "error_reason"]

#: `ItemResult.outcome` values.
OK, FAILED, UNKNOWN, SKIPPED = "ok", "failed", "unknown", "skipped"
#: `ItemResult.skipped` of a target a previous run (its journal) did.
DONE_BEFORE = "done in a previous run"


@attrs.frozen(slots=True)
class ItemResult:
    """The result of one target of a bulk run.

    `ok` says whether the operation is known to be done (for a target skipped because a
    previous run did it, too). `skipped` gives why a target was not sent ("done in a
    previous run", "duplicate", "already blocked" with `skip_already`, ...). `outcome` is
    `ok`, `failed`, `unknown` (the request may have reached the server: a non-idempotent
    operation is then never repeated), or `skipped`. `attempts` counts the requests of the
    target's operation that were sent (retries and a replay after a `401` included; a SIM
    lookup or a login made on the way not), `elapsed` its seconds.
    """

    target: Target
    ok: bool
    error: SimApiError | None = None
    attempts: int = 0
    elapsed: float = 0.0
    skipped: str | None = None
    outcome: str = OK
    result: Any = attrs.field(default=None, repr=False, eq=False)
    #: The state the run found before it changed this target (what `undo` restores),
    #: e.g. ``{"blocked": False}`` or ``{"packet_id": 101}``; None when not recorded.
    before: dict[str, Any] | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def number(self) -> str:
        return self.target.number


@attrs.frozen(slots=True)
class BulkProgress:
    """A snapshot handed to `on_progress`: how far the run is."""

    done: int
    succeeded: int
    failed: int
    skipped: int
    in_flight: int
    elapsed: float
    concurrency: int
    #: Targets in the input when known (a sized input, or the CLI's count), else None.
    expected: int | None = None
    #: Requests/s the session paces at under the server's quota (None: not paced).
    pacing_rate: float | None = None
    #: Seconds until a pause the server asked for (`Retry-After`) ends; 0 if none.
    paused_for: float = 0.0
    #: Targets finished per second over the last few seconds (the rate achieved now).
    recent_rate: float = 0.0

    @property
    def rate(self) -> float:
        """Targets finished per second so far."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def paced(self) -> bool:
        """Whether the API's quota is holding the run back (paced, or paused)."""
        return self.pacing_rate is not None or self.paused_for > 0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate achieved lately (None when the total is unknown)."""
        rate = self.recent_rate or self.rate
        if self.expected is None or rate <= 0:
            return None
        return max(0, self.expected - self.done) / rate


def error_reason(error: BaseException | None) -> str:
    """A short, stable label for grouping failures: `404 NotFoundError`, `APITimeoutError`."""
    if error is None:
        return "unknown"
    if isinstance(error, APIStatusError):
        return f"{error.status} {type(error).__name__}"
    return type(error).__name__


@attrs.define(slots=True)
class BulkReport:
    """The summary of a bulk run.

    `succeeded + failed + skipped == total`, where `total` counts every target read
    (of this shard). `failures` keeps the failed `ItemResult`s (at most `keep_failures`;
    the journal has them all); `reasons` counts failures by reason.
    """

    operation: str
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    duplicates: int = 0
    #: Skipped because their state was already the wanted one (`skip_already`).
    already: int = 0
    not_attempted: int = 0
    unknown: int = 0
    elapsed: float = 0.0
    failures: list[ItemResult] = attrs.field(factory=list, repr=False)
    failures_dropped: int = 0
    reasons: Counter[str] = attrs.field(factory=Counter)
    requests: int = 0
    retries: int = 0
    relogins: int = 0
    #: Answers that paced the run (429, 503 with Retry-After); each target went back in line.
    rate_limited: int = 0
    #: Requests spent listing the fleet for identifiers (instead of a lookup per target).
    list_requests: int = 0
    stopped: str | None = None
    keep_failures: int = attrs.field(default=10_000, repr=False)

    @property
    def ok(self) -> bool:
        """True when no target failed."""
        return self.failed == 0

    @property
    def throughput(self) -> float:
        """Targets finished (skips excluded) per second."""
        done = self.succeeded + self.failed
        return done / self.elapsed if self.elapsed > 0 else 0.0

    def add(self, result: ItemResult) -> None:
        """Count one result."""
        self.total += 1
        if result.skipped is not None:
            self.skipped += 1
            if result.skipped == "duplicate":
                self.duplicates += 1
            elif result.ok and result.skipped != DONE_BEFORE:
                self.already += 1
        elif result.ok:
            self.succeeded += 1
        else:
            self.failed += 1
            if result.outcome == UNKNOWN:
                self.unknown += 1
            if isinstance(result.error, NotAttemptedError):
                self.not_attempted += 1
            self.reasons[error_reason(result.error)] += 1
            if len(self.failures) < self.keep_failures:
                self.failures.append(result)
            else:
                self.failures_dropped += 1

    def raise_for_failures(self) -> None:
        """Raise `BulkError` (carrying this report) if any target failed."""
        if self.failed:
            top = ", ".join(f"{reason}: {n}" for reason, n in self.reasons.most_common(3))
            raise BulkError(
                f"{self.operation}: {self.failed} of {self.total} targets failed ({top})",
                report=self,
            )

    def summary(self) -> str:
        """One line for logs and terminals."""
        return (
            f"{self.operation}: {self.total} targets, {self.succeeded} ok, {self.failed} failed,"
            f" {self.skipped} skipped in {self.elapsed:.1f}s ({self.throughput:.0f}/s)"
        )
