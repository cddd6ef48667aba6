"""The pacer's learning, fed synthetic answers on a fake clock; the limiter's give-back;
429s and the retry budget."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

import simapi_async as sa
from simapi_async import _quota
from simapi_async._config import RetryBudget, RetryPolicy
from simapi_async._quota import Pacer
from simapi_async._ratelimit import RateLimiter
from simapi_async._retry import Retrier, is_flow_control


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _bucket_run(pacer: Pacer, clock: Clock, refill: float, capacity: int,
                seconds: float, bucket: dict[str, float]) -> int:
    """Simulate a token bucket server answering requests sent at the pacer's rate (or
    100/s before it has one); returns how many were refused."""
    tokens = bucket.setdefault("tokens", float(capacity))
    refused = 0
    end = clock.now + seconds
    last = clock.now
    while clock.now < end:
        rate = pacer.rate or 100.0
        clock.now += 1.0 / rate
        tokens = min(capacity, tokens + (clock.now - last) * refill)
        last = clock.now
        headers = {"X-RateLimit-Limit": str(capacity)}
        if tokens >= 1:
            tokens -= 1
            headers["X-RateLimit-Remaining"] = str(int(tokens))
            pacer.observe(200, headers)
        else:
            refused += 1
            headers["X-RateLimit-Remaining"] = "0"
            headers["Retry-After"] = "0"
            pacer.observe(429, headers)
    bucket["tokens"] = tokens
    return refused


def test_the_refill_rate_of_a_token_bucket_is_learned_from_remaining() -> None:
    """X-RateLimit-Remaining moving against the answers seen gives the server's rate:
    after a minute at a 20/s bucket the pacer paces at about 20/s, with few refusals."""
    clock, bucket = Clock(), {}
    pacer = Pacer(clock=clock)
    _bucket_run(pacer, clock, refill=20.0, capacity=20, seconds=10, bucket=bucket)
    refused = _bucket_run(pacer, clock, refill=20.0, capacity=20, seconds=50,
                          bucket=bucket)
    assert pacer.rate is not None
    assert 18.0 <= pacer.rate <= 22.0
    assert refused <= 0.01 * 50 * 20


def test_a_lower_quota_is_followed() -> None:
    """When the server's quota drops (another client, the operator), the rate follows."""
    clock, bucket = Clock(), {}
    pacer = Pacer(clock=clock)
    _bucket_run(pacer, clock, refill=50.0, capacity=50, seconds=20, bucket=bucket)
    _bucket_run(pacer, clock, refill=10.0, capacity=50, seconds=40, bucket=bucket)
    assert pacer.rate is not None
    assert 8.0 <= pacer.rate <= 12.5


def test_the_users_rate_limit_caps_what_is_learned() -> None:
    """rate_limit is a ceiling: a quota above it does not raise the pace."""
    clock = Clock()
    pacer = Pacer(5.0, clock=clock)
    _bucket_run(pacer, clock, refill=50.0, capacity=50, seconds=10, bucket={})
    assert pacer.rate == 5.0


def test_a_fixed_window_is_recognised() -> None:
    """Remaining jumping back to the limit after a 429 that named the window's reset
    (Laravel's throttle) is a fixed window: the rate becomes limit per window."""
    clock = Clock()
    pacer = Pacer(clock=clock, wall=lambda: 0.0)
    for window in range(3):
        for i in range(60):
            clock.now += 0.01
            pacer.observe(200, {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": str(59 - i)})
        clock.now += 0.01
        pacer.observe(429, {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0",
                            "Retry-After": "10", "X-RateLimit-Reset": "10"})
        clock.now = 1000.0 + 10.0 * (window + 1)
    clock.now += 0.01
    pacer.observe(200, {"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59"})
    assert pacer.window is not None
    assert 9.0 < pacer.window < 11.0
    assert pacer.rate is not None
    assert 5.0 < pacer.rate <= 6.0


def test_without_headers_a_storm_of_429s_cuts_the_rate_but_a_rare_one_does_not() -> None:
    """AIMD where no X-RateLimit headers come: 429s over 2 % of a second's answers cut
    the rate; a single 429 among 200 answers only pauses."""
    clock = Clock()
    rare = Pacer(clock=clock)
    for _ in range(200):
        clock.now += 0.01
        rare.observe(200, {})
    rare.observe(429, {"Retry-After": "0"})
    assert rare.learned is None
    storm = Pacer(clock=clock)
    for i in range(100):
        clock.now += 0.02
        storm.observe(429 if i % 2 else 200, {})
    assert storm.learned is not None
    assert storm.learned < 50


def test_retry_after_pauses_everybody_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 429's Retry-After pauses the whole session (one pause, not one per caller)."""
    monkeypatch.setattr(_quota, "is_testing", lambda: False)
    clock = Clock()
    pacer = Pacer(clock=clock)
    pacer.observe(429, {"Retry-After": "3"})
    pacer.observe(429, {"Retry-After": "2"})  # inside the first pause: no second one
    assert pacer.engaged
    assert pacer.pauses == 1
    assert pacer.paused_for() == pytest.approx(3.0)


async def test_a_waiter_cancelled_in_the_queue_leaves_no_gap() -> None:
    """Callers cancelled while queued leave the queue; those behind them move up."""
    pacer = Pacer(200.0)
    waiters = [asyncio.create_task(pacer.acquire()) for _ in range(6)]
    await asyncio.sleep(0)
    for task in waiters[1:4]:
        task.cancel()
    done = await asyncio.gather(*waiters, return_exceptions=True)
    assert [isinstance(d, asyncio.CancelledError) for d in done] == [
        False, True, True, True, False, False]
    assert not pacer._waiters


async def test_a_stopped_caller_gives_up_waiting_without_sending() -> None:
    """A waiter whose stop future is done leaves the queue with NotAttemptedError."""
    pacer = Pacer(0.1)
    await pacer.acquire()  # the first slot: the next one is 10 s away
    stop: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(pacer.acquire(stop))
    await asyncio.sleep(0)
    stop.set_result(None)
    with pytest.raises(sa.NotAttemptedError):
        await waiting


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.started = asyncio.Event()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) == 3:
            self.started.set()
        await asyncio.Event().wait()  # until cancelled


async def test_a_limiter_slot_of_a_cancelled_caller_is_given_back() -> None:
    """A caller cancelled while it waits gives its slot back: the next one takes it
    (it used to keep it, so every cancelled waiter pushed everybody back)."""
    t = FakeTime()
    limiter = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    limiter.reserve()  # the slot at 100.0 is taken
    tasks = [asyncio.create_task(limiter.acquire()) for _ in range(3)]  # 100.1, .2, .3
    await t.started.wait()
    tasks[1].cancel()  # 100.2 given back
    tasks[2].cancel()  # 100.3, the last one: the schedule steps back
    await asyncio.gather(*tasks[1:], return_exceptions=True)
    assert limiter.reserve() == pytest.approx(0.2)
    assert limiter.reserve() == pytest.approx(0.3)
    tasks[0].cancel()
    await asyncio.gather(tasks[0], return_exceptions=True)


async def test_429s_do_not_spend_the_retry_budget() -> None:
    """A 429 (or a 503 with Retry-After) is flow control: retried without spending the
    budget that protects an outage, so a quota never turns retries off."""
    policy = RetryPolicy(max_retries=5, budget=RetryBudget(capacity=1.0))
    retrier = Retrier(policy)
    answers = [sa.RateLimitError("slow down", status=429, retry_after=0.0)] * 4
    maintenance = sa.ServerError("down", status=503, headers={"Retry-After": "0"})
    answers.append(maintenance)
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        if answers:
            raise answers.pop(0)
        return "ok"

    assert await retrier.call(attempt, retry_safe=False) == "ok"
    assert calls == 6
    assert retrier.budget is not None
    assert retrier.budget.tokens == 1.0
    assert is_flow_control(maintenance)
    assert not is_flow_control(sa.ServerError("down", status=503))


async def test_callers_that_give_up_waiting_leave_the_session_schedule_free() -> None:
    """200 callers who give up while queued for a 5/s rate_limit leave no booked turns
    behind: the next turn is at most one interval away (it used to be 40 s)."""
    pacer = Pacer(5.0)
    await pacer.acquire()

    async def impatient() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pacer.acquire(), 0.01)

    await asyncio.gather(*(impatient() for _ in range(200)))
    assert pacer.reserve() <= 0.2
