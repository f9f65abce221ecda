"""``grekko dex replay`` and ``grekko dex quote`` on the shared day of logs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.dex.events import read_raw_logs
from grekko_research.dex.pool import PoolState
from tests.unit.dex.conftest import RAW_030


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "120"})
    # Grekko's errors reach main() (which prints them as one line) as exceptions
    return r.exit_code, r.output + (str(r.exception) if r.exception else "")


def test_replay_reports_and_writes_json(uniswap_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code, text = _run("dex", "replay", str(uniswap_dir / RAW_030), "--json", str(out))
    assert code == 0, text
    assert "fee 0.3 %" in text  # the fee tier found from the swaps
    assert "267" in text and "100.00%" in text
    payload = json.loads(out.read_text())
    assert payload["reproduced"] == payload["swaps"] == 267
    assert all(c["mode"] for c in payload["checks"])


def test_quote_is_the_pool_state_quote(uniswap_dir: Path) -> None:
    code, text = _run("dex", "quote", "--pool", str(uniswap_dir / RAW_030),
                      "--amount-out", "5000", "--sell", "token1", "--fee", "3000")  # fmt: skip
    assert code == 0, text
    state = PoolState.from_events(read_raw_logs(uniswap_dir / RAW_030), 3000)
    q = state.quote(5000 * 10**6, zero_for_one=False, exact_in=False)
    assert q.amount_out == 5000 * 10**6
    assert f"{q.amount_in / 1e18:,.6f}" in text
    assert "price impact" in text


def test_bad_input_is_one_clear_line(uniswap_dir: Path, tmp_path: Path) -> None:
    raw = str(uniswap_dir / RAW_030)
    code, text = _run("dex", "quote", "--pool", raw, "--amount-in", "1", "--amount-out", "1")
    assert code == 1 and "exactly one of --amount-in and --amount-out" in text
    code, text = _run("dex", "quote", "--pool", raw, "--amount-in", "1", "--fee", "123")
    assert code == 1 and "not a fee tier" in text
    code, text = _run("dex", "replay", str(tmp_path / "none.csv"))
    assert code == 1 and "no such log file" in text
