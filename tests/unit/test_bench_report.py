"""benchmarks._report: RESULTS.md rendered from every result file, each with its commit."""

from __future__ import annotations

import json
from typing import Any

from benchmarks import _report, _runner

META = {"date": "2026-12-01 12:00 UTC", "python": "3.11.7", "platform": "Linux", "cpu": "x",
        "cores": 2, "memory_gb": 1.0, "load_average_at_start": [1.0, 1.0, 1.0],
        "versions": {"simapi_async": "0.1.0"}, "commit": "abc1234"}


def _quota() -> dict[str, Any]:
    row = {"quota": 50.0, "latency_ms": 0.0, "targets": "numbers only",
           "sdk": {"targets_per_s": 49.9, "share_429": 0.0, "requests_per_target": 1.002},
           "ideal": {"targets_per_s": 50.0, "share_429": 0.0, "requests_per_target": 1.0},
           "sdk_vs_ideal": 0.998}
    return {"machine": META, "seconds": 30.0, "warmup": 5.0, "rows": [row]}


def _cdr_stream() -> dict[str, Any]:
    return {"machine": {**META, "commit": "def5678-dirty"},
            "decoders": {"records": 1000, "body_mb": 0.3, "ijson_backend": "yajl2_c",
                         "ijson_c_rec_s": 100, "splitter_orjson_rec_s": 300,
                         "splitter_orjson_16k_rec_s": 400},
            "huge": [{"mode": "stream", "records": 5_000_000, "seconds": 20.0,
                      "rec_s": 250_000, "rss_before_mb": 39, "peak_rss_mb": 75,
                      "answer_mb": 1540}],
            "sync": [{"dest": "parquet", "sims": 10, "records": 5, "days": 2, "seconds": 1.0,
                      "rec_s": 5, "mb": 0.1, "peak_rss_mb": 50}]}


def test_quota_and_cdr_stream_are_rendered_with_their_commits():
    """The quota and cdr_stream results get sections, targets and their commit in RESULTS.md."""
    text = _report.render({"quota": _quota(), "cdr_stream": _cdr_stream()}, "full")
    assert "## Quota" in text
    assert "**0.998**" in text
    assert "## CDR at any answer size" in text
    assert "| 5,000,000 records (1,540 MB) | streamed" in text
    assert "`abc1234`" in text
    assert "`def5678-dirty`" in text
    assert ">= 250,000 records/s | 250,000 | >= 250000 | **yes** |" in text


def test_every_result_file_is_loaded(tmp_path, monkeypatch):
    """load_all reads quota.json and cdr_stream.json next to the scenario files."""
    monkeypatch.setattr(_report, "RESULTS", tmp_path)
    for name, data in (("quota", _quota()), ("cdr_stream", _cdr_stream())):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    assert set(_report.load_all()) == {"quota", "cdr_stream"}


def test_the_commit_measured_is_named():
    """machine() names the commit of this checkout (a short hash, maybe -dirty)."""
    commit = _report.machine()["commit"]
    assert commit == "unknown" or commit.split("-")[0].isalnum()


def test_benchmark_processes_get_the_same_pinned_allocator(monkeypatch):
    """Clients and emulator get the same MALLOC_* thresholds unless BENCH_MALLOC=default."""
    monkeypatch.delenv("BENCH_MALLOC", raising=False)
    assert _runner.malloc_env() == _runner.MALLOC_PINNED
    assert int(_runner.MALLOC_PINNED["MALLOC_MMAP_THRESHOLD_"]) > 256 * 1024
    monkeypatch.setenv("BENCH_MALLOC", "default")
    assert _runner.malloc_env() == {}
