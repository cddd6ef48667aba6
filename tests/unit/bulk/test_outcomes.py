"""The outcome of a failed non-idempotent target: "unknown" (never resent) when the
answer says the server may have acted, "failed" (resent by a resume) when it proves not."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import simapi_async as sa
from simapi_async._session import CallStats
from simapi_async.bulk._engine import BulkRun


def _status(status: int) -> sa.APIStatusError:
    return sa.APIStatusError(f"HTTP {status}", status=status)


MAY_HAVE_ACTED = [
    _status(100), _status(101), _status(199),
    *(_status(s) for s in (300, 301, 302, 303, 304, 305, 307, 308, 399)),
    sa.ServerError("bad gateway", status=502), sa.ServerError("x", status=500),
    sa.ServerError("x", status=599),
    sa.ServerError("not JSON", status=200),  # 2xx with a body that is not JSON
    sa.ResponseFormatError("unreadable"),
    sa.APIConnectionError("dropped", reached_server=None),
    sa.APIConnectionError("reset after sending", reached_server=True),
    sa.APITimeoutError("read timeout", reached_server=None),
]
PROVABLY_NOT = [
    *(_status(s) for s in (400, 405, 408, 409, 410, 413, 414, 415, 418, 431, 451, 499)),
    sa.AuthenticationError("refused", status=401),
    sa.AuthenticationError("login failed: 503", status=503),  # the login, not the write
    sa.PermissionDeniedError("no", status=403),
    sa.NotFoundError("no such SIM", status=404),
    sa.UnprocessableEntityError("invalid", status=422),
    sa.RateLimitError("slow down", status=429),
    sa.APIConnectionError("refused", reached_server=False),
    sa.APITimeoutError("connect timeout", reached_server=False),
    sa.NotAttemptedError("not attempted"),
    sa.InvalidInputError("number", "1", "bad"),
]


def _run(retry_safe: bool = False) -> BulkRun:
    run = BulkRun.__new__(BulkRun)  # only `op` is read by the decision
    run.op = SimpleNamespace(retry_safe=retry_safe)  # type: ignore[assignment]
    return run


def _sent(attempts: int = 1) -> CallStats:
    stats = CallStats("send_sms")
    stats.attempts = attempts
    return stats


@pytest.mark.parametrize("error", MAY_HAVE_ACTED, ids=repr)
def test_answers_that_may_follow_processing_are_unknown(error: sa.SimApiError) -> None:
    """1xx, every 3xx, 5xx, an unreadable 2xx, a drop or timeout after sending: unknown."""
    assert _run()._maybe_done(error, _sent()) is True


@pytest.mark.parametrize("error", PROVABLY_NOT, ids=repr)
def test_refusals_and_unsent_requests_are_failed(error: sa.SimApiError) -> None:
    """Every 4xx, a refused connection, a failed login, a target never sent: failed."""
    assert _run()._maybe_done(error, _sent()) is False


@pytest.mark.parametrize("error", MAY_HAVE_ACTED[:3] + MAY_HAVE_ACTED[-3:], ids=repr)
def test_nothing_is_unknown_when_the_operations_request_never_left(
    error: sa.SimApiError,
) -> None:
    """With no request of the operation sent (a SIM lookup or the login failed), the
    target is failed whatever the error."""
    assert _run()._maybe_done(error, _sent(attempts=0)) is False


def test_idempotent_operations_are_never_unknown() -> None:
    """A retry-safe operation can be repeated: its failures are plain failures."""
    assert _run(retry_safe=True)._maybe_done(_status(303), _sent()) is False
