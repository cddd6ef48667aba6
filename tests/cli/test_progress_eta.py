"""Progress of `simapi bulk` shows an ETA: in the plain lines off a terminal and as a
column of the live bar on one (issue 17)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import TimeRemainingColumn

from simapi_async.bulk import BulkProgress
from simapi_async.cli._progress import BulkProgressView


def _snapshot(**changes: object) -> BulkProgress:
    values: dict[str, object] = {"done": 400, "succeeded": 390, "failed": 10, "skipped": 0,
                                 "in_flight": 5, "elapsed": 4.0, "concurrency": 50,
                                 "recent_rate": 100.0}
    values.update(changes)
    return BulkProgress(**values)  # type: ignore[arg-type]


def test_plain_progress_lines_end_with_an_eta() -> None:
    """400 of 1,000 done at 100/s: the line says ETA 0:00:06; the input's own count (when
    the engine knows it) wins over the CLI's."""
    view = BulkProgressView(Console(file=io.StringIO(), force_terminal=False), "block", 1000)
    assert view.line(_snapshot()).endswith("ETA 0:00:06")
    assert view.line(_snapshot(expected=400_400)).endswith("ETA 1:06:40")


def test_no_eta_without_a_total_or_a_rate() -> None:
    """An input of unknown size (stdin) or a run that has not finished a target yet shows
    no ETA rather than a wrong one."""
    console = Console(file=io.StringIO(), force_terminal=False)
    assert "ETA" not in BulkProgressView(console, "block", None).line(_snapshot())
    idle = _snapshot(done=0, succeeded=0, failed=0, recent_rate=0.0)
    assert "ETA" not in BulkProgressView(console, "block", 1000).line(idle)


def test_the_live_bar_has_an_eta_column() -> None:
    """On a terminal the bar carries a time-remaining column after the word ETA."""
    out = io.StringIO()
    view = BulkProgressView(Console(file=out, force_terminal=True, width=200), "block", 1000)
    assert view._progress is not None
    assert any(isinstance(c, TimeRemainingColumn) for c in view._progress.columns)
    view.update(_snapshot())
    view._progress.console.print(view._progress.get_renderable())
    assert "ETA" in out.getvalue()
