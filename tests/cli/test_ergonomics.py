"""The command line as a new user meets it (issue 17): paging, CSV, messages, fields."""

from __future__ import annotations

import csv
import io
import json
import socket
from pathlib import Path

from aiohttp import web

from simapi_async.cli._inputs import TargetReader
from simapi_async.testing import Emulator
from tests.cli.conftest import EmulatorThread, Invoke, env_for, middleware


def _limits_seen(thread_kwargs: dict[str, object], cap: int | None,
                 invoke: Invoke, args: list[str]) -> tuple[list[int], str]:
    seen: list[int] = []

    def hook(request: web.Request) -> web.StreamResponse | None:
        if request.path.endswith("sim/list"):
            limit = int(request.query.get("limit", "0"))
            seen.append(limit)
            if cap is not None and limit > cap:
                body = {"message": f"The limit may not be greater than {cap}.",
                        "errors": {"limit": [f"The limit may not be greater than {cap}."]}}
                return web.json_response(body, status=422)
        return None

    with EmulatorThread(middlewares=[middleware(hook)], **thread_kwargs) as emu:
        result = invoke(["sims", "list", "--all", *args], env=env_for(emu))
    assert result.exit_code == 0, result.output
    return seen, result.stdout


def test_list_all_pages_with_the_largest_accepted_size(invoke: Invoke) -> None:
    """Without --limit, `sims list --all` asks for 1000 a page (not 50)."""
    seen, out = _limits_seen({"sims": 1500, "seed": 3}, None, invoke, ["--json"])
    assert set(seen) == {1000}
    assert len(json.loads(out)) == 1500


def test_list_all_falls_back_on_a_422_for_limit(invoke: Invoke) -> None:
    """A server whose maximum is 200 answers 422 to 1000 and 500; paging goes on with 200."""
    seen, out = _limits_seen({"sims": 450, "seed": 3}, 200, invoke, ["--json"])
    assert seen[:3] == [1000, 500, 200]
    assert set(seen[3:]) == {200}
    assert len(json.loads(out)) == 450


def test_list_all_keeps_an_explicit_limit(invoke: Invoke) -> None:
    """`--limit 70` is used as given, no probing."""
    seen, _ = _limits_seen({"sims": 150, "seed": 3}, None, invoke, ["--json", "--limit", "70"])
    assert set(seen) == {70}


def test_csv_identifiers_round_trip_into_bulk_input(invoke: Invoke, emu: Emulator,
                                                    env: dict[str, str]) -> None:
    """`sims list --all --format csv` writes number,iccid,imsi,... that the bulk input
    reader reads back as the same targets, with their ICCID and IMSI."""
    result = invoke(["sims", "list", "--all", "--format", "csv"], env=env)
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header.startswith("number,iccid,imsi,status")
    reader = TargetReader(io.StringIO(result.stdout, newline=""), "sims.csv")
    targets = list(reader)
    assert (reader.format, reader.bad) == ("csv", 0)
    assert [t.number for t in targets] == emu.fleet.numbers
    first = emu.fleet.sims[emu.fleet.numbers[0]]
    assert (targets[0].iccid, targets[0].imsi) == (first.iccid, first.imsi)


def test_bulk_reads_a_listed_csv(invoke: Invoke, emu: Emulator, env: dict[str, str],
                                 tmp_path: Path) -> None:
    """The CSV of one page feeds `simapi bulk block` with no lookup per SIM."""
    listed = invoke(["sims", "list", "--limit", "5", "--format", "csv"], env=env)
    path = tmp_path / "five.csv"
    path.write_text(listed.stdout, encoding="utf-8")
    before = emu.stats.requests["get_sim"]
    result = invoke(["bulk", "block", str(path), "--json", "--no-journal"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["succeeded"] == 5
    assert emu.stats.requests["get_sim"] == before
    assert all(emu.fleet.sims[n].blocked for n in emu.fleet.numbers[:5])


def test_fields_select_json_and_csv_columns(invoke: Invoke, emu: Emulator,
                                            env: dict[str, str]) -> None:
    """`--fields number,status` keeps those keys, in that order, in JSON and CSV."""
    page = invoke(["sims", "list", "--limit", "3", "--json", "--fields", "number,status"],
                  env=env)
    assert [list(i) for i in json.loads(page.stdout)["items"]] == [["number", "status"]] * 3
    every = invoke(["sims", "list", "--all", "--json", "--fields", "status,number"], env=env)
    assert list(json.loads(every.stdout)[0]) == ["status", "number"]
    rows = list(csv.reader(invoke(["sims", "list", "--limit", "2", "--format", "csv",
                                   "--fields", "number,status"], env=env).stdout.splitlines()))
    assert rows[0] == ["number", "status"]
    assert len(rows) == 3
    one = invoke(["sims", "get", emu.fleet.numbers[0], "--json", "--fields", "number"], env=env)
    assert json.loads(one.stdout) == {"number": emu.fleet.numbers[0]}
    table = invoke(["sims", "get", emu.fleet.numbers[0], "--fields", "number"], env=env)
    assert table.exit_code == 2
    assert "--fields needs --json" in table.output


def test_get_json_carries_what_the_table_shows(invoke: Invoke, emu: Emulator,
                                               env: dict[str, str]) -> None:
    """Fields the model does not name (e.g. the financial block) are in `sims get --json`
    as in the table."""
    number = emu.fleet.numbers[4]
    invoke(["sims", "block-finance", number], env=env)
    table = invoke(["sims", "get", number], env=env).stdout
    data = json.loads(invoke(["sims", "get", number, "--json"], env=env).stdout)
    extra = [k for k in data if k not in {"number", "iccid", "imsi", "status", "packet_id",
                                         "packet_name", "inn", "blocked_services"}]
    assert extra, data
    for key in extra:
        assert key.replace("_", " ") in table


def test_errors_name_the_cli_options(invoke: Invoke, env: dict[str, str]) -> None:
    """Bad --from or --number values are reported by option name, not the Python name."""
    bad_date = invoke(["cdr", "export", "--from", "2026-11-31", "--out", "-"], env=env)
    assert bad_date.exit_code == 2
    assert "invalid --from '2026-11-31'" in bad_date.output
    assert "date_from" not in bad_date.output
    bad_number = invoke(["cdr", "export", "--from", "2026-11-01", "--number", "79999",
                         "--out", "-"], env=env)
    assert bad_number.exit_code == 2
    assert "invalid --number '79999'" in bad_number.output
    assert "numbers[0]" not in bad_number.output
    bad_arg = invoke(["sims", "get", "12"], env=env)
    assert "invalid NUMBER '12'" in bad_arg.output


def test_a_closed_port_says_cannot_reach(invoke: Invoke) -> None:
    """A server that is not listening: "cannot reach 127.0.0.1:PORT", exit 1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"SIMAPI_BASE_URL": f"http://127.0.0.1:{port}", "SIMAPI_LOGIN": "demo",
           "SIMAPI_PASSWORD": "demo-password"}
    result = invoke(["sims", "get", "79181111111", "--max-retries", "0"], env=env)
    assert result.exit_code == 1
    assert f"cannot reach 127.0.0.1:{port}" in result.output
    assert "demo-password" not in result.output


def test_a_base_url_with_api_v2_says_drop_the_suffix(invoke: Invoke, emu: Emulator,
                                                     env: dict[str, str]) -> None:
    """SIMAPI_BASE_URL=…/api/v2 gives a 404 for api/v2/api/v2/login; the message says what
    to change."""
    result = invoke(["sims", "get", emu.fleet.numbers[0]],
                    env={**env, "SIMAPI_BASE_URL": emu.base_url + "/api/v2"})
    assert result.exit_code == 1
    assert "drop the /api/v2 suffix" in result.output


def test_shell_completion_as_documented() -> None:
    """The README's `_SIMAPI_COMPLETE` line yields completions (here: `simapi si` → sims)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "_SIMAPI_COMPLETE": "bash_complete", "COMP_WORDS": "simapi si",
           "COMP_CWORD": "1"}
    run = subprocess.run([sys.executable, "-m", "simapi_async.cli"], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert "plain,sims" in run.stdout.splitlines()
