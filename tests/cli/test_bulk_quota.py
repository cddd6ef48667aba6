"""`simapi bulk` under the operator's quota: every target done, one request each."""

from __future__ import annotations

import json
from pathlib import Path

from simapi_async.testing import Faults

from .conftest import EmulatorThread, Invoke, env_for


def test_cli_block_of_500_numbers_under_a_quota_of_50_succeeds(invoke: Invoke,
                                                                tmp_path: Path) -> None:
    """`simapi bulk block numbers.txt` against a quota of 50/s (the emulator's
    `--rate-limit 50`), default settings: exit 0, 500 ok, at most 1.05 requests a target,
    at most 5 % of the answers 429 (it used to be 1 of 1,000 done)."""
    with EmulatorThread(sims=1000, seed=5, faults=Faults(rate_limit=50.0)) as emu:
        numbers = emu.fleet.numbers[:500]
        path = tmp_path / "numbers.txt"
        path.write_text("\n".join(numbers) + "\n", encoding="utf-8")
        result = invoke(["bulk", "block", str(path), "--json", "--no-journal"],
                        env=env_for(emu))
        assert result.exit_code == 0, result.output
        data = json.loads(result.stdout)
        assert (data["succeeded"], data["failed"]) == (500, 0)
        requests = emu.stats.total_requests
        assert requests / 500 <= 1.05
        assert emu.stats.status_counts[429] <= 0.05 * requests
        assert all(emu.fleet.sims[n].blocked for n in numbers)
