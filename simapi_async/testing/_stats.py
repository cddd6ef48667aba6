"""What the emulator saw: counters a test can assert on (`emu.stats`)."""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Any

import attrs

__all__ = ["EmulatorStats"]


@attrs.define(slots=True, eq=False)
class EmulatorStats:
    """Counters since the emulator started (or since `reset()`).

    - `logins`: successful logins; `requests`: requests per operation name (routed
      requests only); `total_requests`: every request, unknown paths included.
    - `status_counts`: answers per HTTP status (dropped and hung requests have none).
    - `writes`: `(operation, number)` → how many times that write was applied (a drop
      after processing counts; an injected error before processing does not).
    - `in_flight` / `max_in_flight`: requests being handled now / at most at once.
    - `connections`: distinct TCP connections that carried a request.
    - `dropped`, `hung`: connections closed unanswered / requests left unanswered;
      `injected`: every injected fault by kind ("500", "503", "502", "429", "drop", ...).
    """

    logins: int = 0
    requests: Counter[str] = attrs.field(factory=Counter)
    total_requests: int = 0
    status_counts: Counter[int] = attrs.field(factory=Counter)
    writes: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    connections: int = 0
    dropped: int = 0
    hung: int = 0
    injected: Counter[str] = attrs.field(factory=Counter)
    _seen: weakref.WeakSet[Any] = attrs.field(factory=weakref.WeakSet, repr=False)
    _seen_ids: set[int] = attrs.field(factory=set, repr=False)

    def reset(self) -> None:
        """Zero every counter (requests still in flight stay counted in `in_flight`)."""
        self.logins = self.total_requests = self.connections = 0
        self.dropped = self.hung = 0
        self.max_in_flight = self.in_flight
        for counter in (self.requests, self.status_counts, self.writes, self.injected):
            counter.clear()
        self._seen = weakref.WeakSet()
        self._seen_ids.clear()

    def as_dict(self) -> dict[str, Any]:
        """The counters as JSON-ready values (what ``GET /_emulator/stats`` answers);
        `writes` is summed per operation, `duplicated_writes` counts repeated ones."""
        writes: Counter[str] = Counter()
        duplicated: Counter[str] = Counter()
        for (op, _), count in self.writes.items():
            writes[op] += count
            if count > 1:
                duplicated[op] += count - 1
        return {
            "logins": self.logins, "total_requests": self.total_requests,
            "requests": dict(self.requests),
            "status_counts": {str(k): v for k, v in sorted(self.status_counts.items())},
            "writes": dict(writes), "duplicated_writes": dict(duplicated),
            "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
            "connections": self.connections, "dropped": self.dropped, "hung": self.hung,
            "injected": dict(self.injected),
        }

    def duplicates(self, operation: str) -> dict[str, int]:
        """Numbers on which `operation` was applied more than once → how many times.

        >>> s = EmulatorStats(); s.writes[("send_sms", "79181111111")] = 2
        >>> s.duplicates("send_sms")
        {'79181111111': 2}
        """
        return {n: c for (op, n), c in self.writes.items() if op == operation and c > 1}

    def note_connection(self, transport: Any) -> None:
        """Count `transport` once, however many requests it carries."""
        if transport is None:
            return
        try:
            if transport in self._seen:
                return
            self._seen.add(transport)
        except TypeError:  # a transport that cannot be weakly referenced (e.g. uvloop)
            key = id(transport)
            if key in self._seen_ids:
                return
            self._seen_ids.add(key)
        self.connections += 1
