"""benchmarks._timers: the benchmark server's precise sleeps (order, never early, cancels)."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator

import pytest

from benchmarks import _timers
from benchmarks._timers import PreciseTimer


@pytest.fixture
def timer() -> Iterator[PreciseTimer]:
    with PreciseTimer() as t:
        yield t
    assert not t.running


def _timer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "precise-timer"]


async def _sleeper(timer: PreciseTimer, delay: float, log: list[tuple[float, float]]) -> float:
    deadline = time.monotonic() + delay
    await timer.sleep(delay)
    woke = time.monotonic()
    log.append((deadline, woke))
    return woke - deadline


async def _until(timer: PreciseTimer, deadline: float, log: list[tuple[float, float]]) -> None:
    await timer.sleep_until(deadline)
    log.append((deadline, time.monotonic()))


async def _sleep_until_all(timer: PreciseTimer, deadlines: list[float]) -> None:
    """Sleepers for `deadlines` (distinct); they wake in deadline order, none early.

    The order holds for every deadline still ahead once all sleepers are in the heap: all
    earlier deadlines woke before it. (Deadlines passing while sleepers are still being
    added may be popped before an earlier one is even pushed: that is no fault.)
    """
    log: list[tuple[float, float]] = []
    tasks = [asyncio.create_task(_until(timer, d, log)) for d in deadlines]
    await asyncio.sleep(0)  # every task has run to its await: all entries are pushed
    all_pushed = time.monotonic()
    await asyncio.gather(*tasks)
    assert sorted(d for d, _ in log) == sorted(deadlines)
    assert all(woke >= deadline for deadline, woke in log)
    ranks = {d: rank for rank, d in enumerate(sorted(deadlines))}
    for position, (deadline, _) in enumerate(log):
        if deadline > all_pushed:
            assert ranks[deadline] == position


async def test_resolves_in_deadline_order_never_early(timer: PreciseTimer) -> None:
    start = time.monotonic()
    delays = [0.012, 0.003, 0.020, 0.001, 0.007, 0.015, 0.0031]
    await _sleep_until_all(timer, [start + d for d in delays])


async def test_an_earlier_deadline_interrupts_a_long_wait(timer: PreciseTimer) -> None:
    log: list[tuple[float, float]] = []
    long = asyncio.create_task(_sleeper(timer, 0.2, log))
    await asyncio.sleep(0)  # the long sleep is in the heap first
    await _sleeper(timer, 0.005, log)
    assert len(log) == 1  # the short one did not wait for the long one
    await long
    assert all(woke >= deadline for deadline, woke in log)


async def test_a_cancelled_sleeper_does_not_stop_the_others(timer: PreciseTimer) -> None:
    log: list[tuple[float, float]] = []
    tasks = [asyncio.create_task(_sleeper(timer, d, log)) for d in (0.002, 0.005, 0.008, 0.011)]
    await asyncio.sleep(0)
    tasks[1].cancel()
    tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert isinstance(results[2], asyncio.CancelledError)
    assert len(log) == 2
    assert all(woke >= deadline for deadline, woke in log)
    await _sleeper(timer, 0.001, log)  # the thread goes on after skipping cancelled futures
    assert len(log) == 3


async def test_cancel_while_due_is_skipped(timer: PreciseTimer) -> None:
    """A sleeper cancelled after its deadline passed but before the loop ran the wake-up."""
    task = asyncio.create_task(timer.sleep(0.001))
    await asyncio.sleep(0)
    # block the loop on purpose: the thread's wake-up is queued behind the cancel
    time.sleep(0.005)  # noqa: ASYNC251
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await timer.sleep(0.001)


@pytest.mark.parametrize("delay", [0.0, -1.0])
async def test_non_positive_delay_just_yields(timer: PreciseTimer, delay: float) -> None:
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    task = asyncio.create_task(other())
    await timer.sleep(delay)
    order.append("after sleep")
    await task
    assert order == ["other", "after sleep"]  # it yielded once, like asyncio.sleep(0)


async def test_many_concurrent_sleepers(timer: PreciseTimer) -> None:
    rng = random.Random(7)
    log: list[tuple[float, float]] = []
    delays = [rng.uniform(0.0, 0.02) for _ in range(500)]
    await asyncio.gather(*(_sleeper(timer, d, log) for d in delays))
    assert len(log) == 500
    assert all(woke >= deadline for deadline, woke in log)


async def test_many_concurrent_deadlines_in_order(timer: PreciseTimer) -> None:
    rng = random.Random(8)
    start = time.monotonic()
    await _sleep_until_all(timer, [start + rng.uniform(-0.001, 0.02) for _ in range(500)])


async def test_stop_hands_waiting_sleepers_to_the_loop() -> None:
    timer = PreciseTimer().start()
    log: list[tuple[float, float]] = []
    task = asyncio.create_task(_sleeper(timer, 0.05, log))
    await asyncio.sleep(0)
    await asyncio.to_thread(timer.stop)
    assert not timer.running
    await task
    assert log[0][1] >= log[0][0]
    await _sleeper(timer, 0.002, log)  # a stopped timer still sleeps, on the loop's timers
    assert log[1][1] >= log[1][0]
    with pytest.raises(RuntimeError):
        timer.start()


async def test_an_unstarted_timer_refuses() -> None:
    with pytest.raises(RuntimeError):
        await PreciseTimer().sleep(0.001)


async def test_shared_precise_sleep_starts_and_stops() -> None:
    try:
        deadline = time.monotonic() + 0.003
        await _timers.precise_sleep(0.003)
        assert time.monotonic() >= deadline
        assert len(_timer_threads()) >= 1
    finally:
        _timers.stop()
    assert not any(t.is_alive() for t in _timer_threads())
