"""The sweep's live-replay parity check: ``grekko-live parity`` in a subprocess (grekko_research
never imports live), its verdict recorded as given, a failure to run recorded as a failure."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from grekko_research.optimize.parity import parity_overrides, run_parity_check

ROOT = Path(__file__).resolve().parents[3]
WINDOW = {"start": "2021-01-18 00:00", "end": "2021-01-25 00:00", "bars": 168}


def _fake(monkeypatch: pytest.MonkeyPatch, code: str) -> None:
    monkeypatch.setenv("GREKKO_LIVE_COMMAND", shlex.join([sys.executable, "-c", code]))


def test_overrides_keep_the_sweeps_and_set_params_window_and_a_fresh_state(tmp_path: Path) -> None:
    out = parity_overrides(
        ["strategy=sma_cross", "data.start=2020-01-01", "live=binance", "live.mode=live",
         "engine.taker_fee=0.001"],
        {"fast": 5, "slow": 20, "on": True, "kind": "ema", "x": 0.25},
        "2021-01-18T00:00", tmp_path,
    )  # fmt: skip
    assert out[:2] == ["strategy=sma_cross", "engine.taker_fee=0.001"]
    assert "strategy.params.fast=5" in out and "strategy.params.on=true" in out
    assert 'strategy.params.kind="ema"' in out and "strategy.params.x=0.25" in out
    assert "data.start=2021-01-18T00:00" in out and f"live.state_dir={tmp_path}" in out
    assert not any(o.startswith(("data.start=2020", "live=", "live.mode=live")) for o in out)


def test_a_difference_is_recorded_with_the_first_difference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    verdict = {"passed": False, "fills": 4, "trades": 2, "bars": 168, "events": "/x",
               "first_difference": {"what": "fills", "index": 1}}  # fmt: skip
    _fake(monkeypatch, f"print({json.dumps(verdict)!r}); raise SystemExit(3)")
    got = run_parity_check(["strategy=sma_cross"], {"fast": 5}, WINDOW)
    assert got["passed"] is False and got["first_difference"] == {"what": "fills", "index": 1}
    assert got["window"] == WINDOW and "events" not in got
    assert got["command"].startswith("grekko-live parity strategy=sma_cross")


def test_a_check_that_cannot_run_fails_naming_why(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(monkeypatch, "import sys; sys.stderr.write('error: no data for X\\n'); sys.exit(1)")
    got = run_parity_check(["strategy=sma_cross"], {"fast": 5}, WINDOW)
    assert got["passed"] is False and "no data for X" in got["error"]
    assert got["error"].startswith("exit status 1")
    # a passing verdict printed with a failing status is not trusted either
    _fake(monkeypatch, "print('{\"passed\": true}'); raise SystemExit(1)")
    assert run_parity_check([], {}, WINDOW)["passed"] is False


def test_grekko_live_parity_replays_real_bars_and_agrees(
    research_store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real command on real candles: the live runner and paper venue trade exactly what
    the backtest traded on the window."""
    monkeypatch.setenv("GREKKO_DATA_DIR", str(research_store))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the subprocess imports this checkout
    monkeypatch.delenv("GREKKO_LIVE_COMMAND", raising=False)
    got = run_parity_check(
        ["strategy=sma_cross", "data.end=2021-01-25", "engine.taker_fee=0.001",
         "engine.slippage=bps", "engine.slippage_value=5"],
        {"fast": 5, "slow": 20}, {"start": "2021-01-04 00:00", "end": "2021-01-25", "bars": 0},
    )  # fmt: skip
    assert got["passed"] is True, got
    assert got["first_difference"] is None and got["fills"] >= 4 and got["bars"] > 400


def test_first_difference_names_what_differs_and_both_sides() -> None:
    from live.parity import _first_difference

    fields = ("time_ms", "side", "qty")
    a = [(1, "buy", 1.0), (2, "sell", 1.0)]
    assert _first_difference("fills", a, list(a), fields) is None
    diff = _first_difference("fills", a, [(1, "buy", 1.0), (2, "sell", 0.99)], fields)
    assert diff == {"what": "fills", "index": 1, "backtest": {"time_ms": 2, "side": "sell",
                    "qty": 1.0}, "live": {"time_ms": 2, "side": "sell", "qty": 0.99}}  # fmt: skip
    short = _first_difference("fills", a, a[:1], fields)
    assert short is not None and short["index"] == 1 and short["live"] == "1 fills"
