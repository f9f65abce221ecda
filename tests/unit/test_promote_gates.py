"""Promotion gates: every configured check, and missing numbers failing."""

from __future__ import annotations

from dataclasses import replace

from grekko_research.config import PromoteConfig
from grekko_research.promote import evaluate_gates

GOOD = {
    "out_of_sample": {"sharpe_ratio": 1.4, "max_drawdown": -0.2},
    "overfitting": {"deflated_sharpe": 0.99, "pbo": 0.1},
    "in_sample": {"trade_count": 80},
}


def test_a_good_sweep_passes_every_gate() -> None:
    gates = evaluate_gates(GOOD, PromoteConfig())
    assert len(gates) == 5 and all(g.ok for g in gates)


def test_each_gate_can_fail() -> None:
    bad = {
        "out_of_sample": {"sharpe_ratio": 0.1, "max_drawdown": -0.6},
        "overfitting": {"deflated_sharpe": 0.4, "pbo": 0.8},
        "in_sample": {"trade_count": 3},
    }
    gates = evaluate_gates(bad, PromoteConfig())
    assert [g.ok for g in gates] == [False] * 5
    assert {g.name for g in gates} == {
        "out-of-sample Sharpe",
        "deflated Sharpe (probability)",
        "probability of backtest overfitting",
        "out-of-sample max drawdown",
        "trades (in sample)",
    }


def test_missing_numbers_fail_and_unset_gates_are_skipped() -> None:
    gates = evaluate_gates({"out_of_sample": None, "overfitting": {}}, PromoteConfig())
    assert not any(g.ok for g in gates) and all(g.value is None for g in gates)
    only_sharpe = replace(
        PromoteConfig(), min_deflated_sharpe=None, max_pbo=None, max_drawdown=None, min_trades=None
    )
    assert [g.name for g in evaluate_gates(GOOD, only_sharpe)] == ["out-of-sample Sharpe"]
    parity = evaluate_gates(GOOD, replace(only_sharpe, require_parity=True))
    assert [g.ok for g in parity] == [True, False]  # no parity check measured yet
