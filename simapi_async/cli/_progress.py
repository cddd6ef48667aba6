"""Progress of long commands: a live rich bar on a terminal, plain periodic lines otherwise
(cron logs, pipes, CI), so that a log shows the run is alive without filling up."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..bulk import BulkProgress

__all__ = ["BulkProgressView", "CountProgressView"]


class _View:
    """Shared start/stop: a rich `Progress` when the console is a terminal."""

    def __init__(self, console: Console, every: float) -> None:
        self.console = console
        self.live = console.is_terminal
        self.every = every
        self._last_line = time.monotonic()
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last_line < self.every:
            return False
        self._last_line = now
        return True

    def __enter__(self) -> _View:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()


class BulkProgressView(_View):
    """Targets done of a bulk run: done/total, ok, failed, skipped, rate."""

    def __init__(self, console: Console, label: str, total: int | None, *,
                 every: float = 5.0) -> None:
        super().__init__(console, every)
        self.label = label
        self.bad_lines = 0
        self._latest: BulkProgress | None = None
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("[green]ok {task.fields[ok]}"),
                TextColumn("[red]failed {task.fields[failed]}"),
                TextColumn("skipped {task.fields[skipped]}"),
                TextColumn("{task.fields[rate]:>6.0f}/s"),
                TextColumn("[yellow]{task.fields[pace]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            )
            self._task = self._progress.add_task(
                label, total=total, ok=0, failed=0, skipped=0, rate=0.0, pace=""
            )
        self.total = total

    def update(self, p: BulkProgress) -> None:
        """Show a snapshot (an `on_progress` hook of the bulk engine)."""
        self._latest = p
        failed = p.failed + self.bad_lines
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, completed=p.done + self.bad_lines, ok=p.succeeded, failed=failed,
                skipped=p.skipped, rate=p.recent_rate or p.rate, pace=pace(p),
            )
        elif self._due():
            self.console.print(self.line(p), markup=False)

    def line(self, p: BulkProgress) -> str:
        text = (f"{self.label}: {p.done + self.bad_lines:,} done ({p.succeeded:,} ok, "
                f"{p.failed + self.bad_lines:,} failed, {p.skipped:,} skipped), "
                f"{p.recent_rate or p.rate:,.0f}/s, {p.in_flight} in flight, {p.elapsed:.1f}s")
        eta = _eta(p, self.total)
        if eta is not None:
            text += f", ETA {eta}"
        paced = pace(p)
        return f"{text}; {paced}" if paced else text

    def finish(self) -> None:
        """The last word: complete the bar, or one final plain line."""
        p = self._latest
        if p is None:
            return
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=p.done + self.bad_lines)
        else:
            self.console.print(self.line(p), markup=False)


def pace(p: BulkProgress) -> str:
    """What the API's quota does to the run now ("" when nothing)."""
    if p.paused_for > 0:
        return f"API asked to wait {p.paused_for:.0f}s"
    if p.pacing_rate is not None:
        return f"API pacing {p.pacing_rate:,.1f} req/s"
    return ""


def _eta(p: BulkProgress, total: int | None) -> str | None:
    expected = p.expected if p.expected is not None else total
    rate = p.recent_rate or p.rate
    if expected is None or rate <= 0:
        return None
    seconds = int(max(0, expected - p.done) / rate)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


class CountProgressView(_View):
    """Records written, with days done of a date range as the bar."""

    def __init__(self, console: Console, label: str, days: int, *, every: float = 5.0) -> None:
        super().__init__(console, every)
        self.label = label
        self.days = days
        self.records = 0
        self.day = 0
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
                TextColumn("{task.fields[records]:,} records"),
                TimeElapsedColumn(),
                console=console,
            )
            self._task = self._progress.add_task(label, total=days, records=0)
        self._started = time.monotonic()

    def update(self, records: int, day: int) -> None:
        """`records` written so far; `day` (1-based) of the range reached."""
        self.records, self.day = records, min(day, self.days)
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.day, records=records)
        elif self._due():
            self.console.print(self.line(), markup=False)

    def line(self) -> str:
        elapsed = time.monotonic() - self._started
        return (f"{self.label}: {self.records:,} records, day {self.day}/{self.days}, "
                f"{elapsed:.1f}s")

    def finish(self) -> None:
        self.day = self.days
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=self.days, records=self.records)
        else:
            self.console.print(self.line(), markup=False)
