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
    for name, data in (("fleet", _fleet()), ("ledger", _ledger())):
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    assert set(_report.load_all()) == {"quota", "cdr_stream", "fleet", "ledger"}


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


def _fleet_row(quota: float, k: int, shared: bool, **extra: Any) -> dict[str, Any]:
    row = {"quota": quota, "processes": k, "shared": shared, "filled": 1.0, "share_429": 0.0,
           "share_429_warmup": 0.0, "logins": 5 if shared else 5 * k, "failed": 0,
           "failures": [{}] * k}
    return {**row, **extra}


def _fleet(**shared_extra: Any) -> dict[str, Any]:
    rows = [_fleet_row(50.0, 1, True), _fleet_row(50.0, 1, False),
            _fleet_row(50.0, 4, True, share_429_warmup=0.065, **shared_extra),
            _fleet_row(50.0, 4, False, share_429_warmup=0.207, failed=2,
                       failures=[{}, {}, {"RateLimitError": 1}, {"RateLimitError": 1}])]
    return {"machine": {**META, "commit": "5c04350"}, "seconds": 20.0, "warmup": 5.0,
            "concurrency": 16, "token_ttl": 5.0, "rows": rows}


def _ledger() -> dict[str, Any]:
    ledger = {"mode": "ledger", "targets": 5000, "workers": 4, "lease_s": 2.0,
              "run_wall_s": 8.0, "killed_held_chunks": 1, "reclaim_after_kill_s": 1.9,
              "ledger_rows": 5000, "ledger_numbers": 5000, "ledger_not_final": 0,
              "commit": "abc1234", "date": "2026-12-01 13:42 UTC"}
    return {"machine": META, "parts": {
        "ledger block": {**ledger, "op": "block", "throughput_per_s": 600,
                         "outcomes": {"ok": 5000}, "writes_applied": 5018,
                         "writes_repeated": 18},
        "shards block": {"op": "block", "mode": "shards + file journals", "targets": 5000,
                         "workers": 4, "run_wall_s": 7.5, "throughput_per_s": 750, "ok": 5000,
                         "writes_applied": 5000, "writes_repeated": 0},
        "ledger send_sms": {**ledger, "op": "send_sms", "throughput_per_s": 300,
                            "outcomes": {"ok": 4963, "unknown": 37},
                            "writes_applied": 5000, "writes_repeated": 0}}}


def test_fleet_is_rendered_from_its_file_with_issue_15_targets():
    """The fleet section's table, explanations and issue 15 targets come from fleet.json."""
    text = _report.render({"fleet": _fleet()}, "full")
    assert "## Fleet (issue 15" in text
    assert "| 50 | 4 | 1.000 | 1.000 | 0.0% / 0.0% | 6.5% / 20.7% | **5** / 20 | 0 / 2 |" in text
    assert "(5 in 20 s with 5 s tokens renewed a tenth early, for K = 1 and 4)" in text
    assert "(21 % 429s in the first 5 s at K=4); shared, the first rate learned holds for all " \
           "(0-6.5 %" in text
    assert "the first 64 calls go out before anything is known" in text
    assert "The 2 failed calls alone at Q=50, K=4 are `RateLimitError`s" in text
    assert "fleet: shared: logins <= one per token lifetime" in text
    assert "| 5 | <= 5 | **yes** |" in text
    assert "met in every shared row." in text


def test_a_shared_fleet_row_logging_in_too_often_misses_the_target():
    """One login more than a token lifetime allows in a shared row fails issue 15's target."""
    targets = _report.DERIVED_TARGETS["fleet"](_fleet(logins=6))
    assert [t["holds"] for t in targets.values()] == [True, True, False]
    assert "**not met**" in _report.render({"fleet": _fleet(logins=6)}, "full")


def test_ledger_is_rendered_with_the_exactly_once_check():
    """The ledger section gives targets/s of ledger and shards, reclaim time and unknowns."""
    text = _report.render({"ledger": _ledger()}, "full")
    assert "## Ledger (issue 15" in text
    assert "| ledger block | 5,000 | 4 + 1 fresh | 8 | 600 | 1.9 s (1 chunk) | ok 5,000 |" in text
    assert "| shards block | 5,000 | 4 | 7.5 | 750 | no kill |" in text
    assert "ok 4,963, unknown 37 | **yes**" in text
    assert "Ledger ÷ shards (`block`, 5,000 targets): 0.80" in text
    assert "`send_sms`: 37 of 5,000 targets `unknown`" in text


def test_a_second_sms_to_one_number_fails_the_exactly_once_check():
    """A repeated send_sms write at the emulator makes the ledger's exactly-once check say no."""
    data = _ledger()
    data["parts"]["ledger send_sms"]["writes_repeated"] = 1
    text = _report.render({"ledger": data}, "full")
    assert "ok 4,963, unknown 37 | **no**" in text
