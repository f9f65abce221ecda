"""Promotion gates: every configured check, and missing numbers failing."""

from __future__ import annotations

from dataclasses import replace

from grekko_research.config import PromoteConfig
from grekko_research.promote import GATE_DOCS, evaluate_gates, gate_rows, gate_tag

GOOD = {
    "out_of_sample": {"sharpe_ratio": 1.4, "max_drawdown": -0.2},
    "overfitting": {"deflated_sharpe": 0.2, "deflated_sharpe_eff": 0.99, "pbo": 0.1},
    "in_sample": {"trade_count": 80},
    "robustness": {"pvalue_random_entries": 0.01, "bootstrap.max_drawdown.p5": -0.3},
    "parity_passed": 1.0,
}
NAMES = {
    "out-of-sample Sharpe",
    "deflated Sharpe (effective trials)",
    "probability of backtest overfitting",
    "out-of-sample max drawdown",
    "trades (in sample)",
    "random-entry p-value",
    "Monte Carlo drawdown (p95)",
    "live parity check",
}


def test_a_good_sweep_passes_every_gate() -> None:
    gates = evaluate_gates(GOOD, PromoteConfig())
    assert len(gates) == 8 and all(g.ok for g in gates)
    assert {g.name for g in gates} == NAMES == set(GATE_DOCS)
    # the deflated Sharpe gate reads the effective-trials DSR, not the raw-N one (0.2 here)
    dsr = next(g for g in gates if g.name.startswith("deflated"))
    assert dsr.value == 0.99
    # every row says why it matters and where its threshold comes from
    rows = gate_rows(gates)
    assert all(r["why"] and r["source"] and r["rule"] for r in rows)
    assert gate_tag("live parity check") == "gate.live_parity_check"


def test_each_gate_can_fail() -> None:
    bad = {
        "out_of_sample": {"sharpe_ratio": 0.1, "max_drawdown": -0.6},
        "overfitting": {"deflated_sharpe": 0.99, "deflated_sharpe_eff": 0.4, "pbo": 0.8},
        "in_sample": {"trade_count": 3},
        "robustness": {"pvalue_random_entries": 0.3, "bootstrap.max_drawdown.p5": -0.7},
        "parity_passed": 0.0,
    }
    gates = evaluate_gates(bad, PromoteConfig())
    assert [g.ok for g in gates] == [False] * 8
    assert {g.name for g in gates} == NAMES


def test_missing_numbers_fail_and_unset_gates_are_skipped() -> None:
    gates = evaluate_gates({"out_of_sample": None, "overfitting": {}}, PromoteConfig())
    assert not any(g.ok for g in gates) and all(g.value is None for g in gates)
    only_sharpe = replace(
        PromoteConfig(), min_deflated_sharpe=None, max_pbo=None, max_drawdown=None,
        min_trades=None, max_random_entry_pvalue=None, max_mc_drawdown=None, require_parity=False,
    )  # fmt: skip
    assert [g.name for g in evaluate_gates(GOOD, only_sharpe)] == ["out-of-sample Sharpe"]
    parity = evaluate_gates(
        {**GOOD, "parity_passed": None}, replace(only_sharpe, require_parity=True)
    )
    assert [g.ok for g in parity] == [True, False]  # no parity check measured


def test_parity_is_required_by_default() -> None:
    """require_parity is on: a sweep without a passed live-replay check is not promotable."""
    assert PromoteConfig().require_parity is True
    from grekko_research.config import compose_config

    assert compose_config([]).promote.require_parity is True
    names = [g.name for g in evaluate_gates({}, compose_config([]).promote)]
    assert "live parity check" in names
