"""Promotion gates: the statistical checks a sweep must pass before its strategy may trade.

:func:`evaluate_gates` compares a sweep's summary (``summary.json`` of
``grekko sweep``, or the metrics its MLflow run carries) with the thresholds
of ``conf/promote`` and returns one :class:`Gate` per check, with why it
matters and where its threshold comes from. A gate whose number is missing
fails: "not measured" is not "passed". ``grekko promote`` registers a model
only when every gate passes; ``grekko-live run --strategy models:/…`` checks
the model version carries a passed tag for every gate configured there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from grekko_research.config import PromoteConfig

__all__ = ["GATE_DOCS", "Gate", "evaluate_gates", "gate_inputs", "gate_rows", "gate_tag"]


@dataclass(frozen=True)
class Gate:
    """One check: the measured value, the rule, whether it passed, and why it matters."""

    name: str
    value: float | None
    rule: str
    ok: bool
    why: str = ""
    source: str = ""


# name → (why it matters, where the threshold comes from)
GATE_DOCS: dict[str, tuple[str, str]] = {
    "out-of-sample Sharpe": (
        "the stitched walk-forward windows are the only returns no parameter saw",
        "Pardo (2008), The Evaluation and Optimization of Trading Strategies, ch. 11",
    ),
    "deflated Sharpe (effective trials)": (
        "the best of many trials looks good by luck; deflated by the independent trials",
        "Bailey & López de Prado (2014) DSR; López de Prado & Lewis (2019) ONC; 0.95 = 5% test",
    ),
    "probability of backtest overfitting": (
        "how often the in-sample winner ranks below the median out of sample",
        "Bailey, Borwein, López de Prado & Zhu (2017), CSCV; 0.5 = no better than chance",
    ),
    "out-of-sample max drawdown": (
        "the loss a trader must sit through before the edge pays",
        "house limit: a 35% drawdown needs +54% to recover",
    ),
    "trades (in sample)": (
        "too few trades make every statistic above noise",
        "central-limit rule of thumb (n >= 30)",
    ),
    "random-entry p-value": (
        "does the rule beat random entries holding as long? one lucky trade does not",
        "Aronson (2006), Evidence-Based Technical Analysis, ch. 5; White (2000) reality check",
    ),
    "Monte Carlo drawdown (p95)": (
        "the drawdown 1 in 20 reorderings/resamplings of the trades reaches",
        "trade bootstrap (Efron & Tibshirani 1993); limit: house risk budget",
    ),
    "live parity check": (
        "live must trade what was tested: the runner + paper venue replay gives the same fills",
        "grekko-live replay parity (tests/integration/test_live_parity.py)",
    ),
}


def gate_tag(name: str) -> str:
    """The model-version tag recording that the gate ``name`` passed (``gate.<slug>``)."""
    return "gate." + "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def gate_inputs(summary: dict[str, Any]) -> dict[str, float | None]:
    """Pick the numbers the gates read from a sweep summary."""
    oos = summary.get("out_of_sample") or {}
    over = summary.get("overfitting") or {}
    ins = summary.get("in_sample") or {}
    rob = summary.get("robustness") or {}

    def num(x: Any) -> float | None:
        return float(x) if isinstance(x, int | float) and math.isfinite(x) else None

    return {
        "oos_sharpe": num(oos.get("sharpe_ratio")),
        "deflated_sharpe": num(over.get("deflated_sharpe_eff")),
        "pbo": num(over.get("pbo")),
        "oos_max_drawdown": num(oos.get("max_drawdown")),
        "trades": num(ins.get("trade_count")),
        "random_entry_pvalue": num(rob.get("pvalue_random_entries")),
        "mc_drawdown": num(rob.get("bootstrap.max_drawdown.p5")),  # the deepest 5%: negative
        "parity": num(summary.get("parity_passed")),
    }


def evaluate_gates(summary: dict[str, Any], gates: PromoteConfig) -> list[Gate]:
    """Return every configured gate evaluated on ``summary`` (see :func:`gate_inputs`)."""
    v = gate_inputs(summary)
    out: list[Gate] = []

    def add(name: str, value: float | None, rule: str, passed: bool) -> None:
        why, source = GATE_DOCS[name]
        out.append(Gate(name, value, rule, value is not None and passed, why, source))

    if gates.min_oos_sharpe is not None:
        x = v["oos_sharpe"]
        add("out-of-sample Sharpe", x, f">= {gates.min_oos_sharpe}",
            x is not None and x >= gates.min_oos_sharpe)  # fmt: skip
    if gates.min_deflated_sharpe is not None:
        x = v["deflated_sharpe"]
        add("deflated Sharpe (effective trials)", x, f">= {gates.min_deflated_sharpe}",
            x is not None and x >= gates.min_deflated_sharpe)  # fmt: skip
    if gates.max_pbo is not None:
        x = v["pbo"]
        add("probability of backtest overfitting", x, f"<= {gates.max_pbo}",
            x is not None and x <= gates.max_pbo)  # fmt: skip
    if gates.max_drawdown is not None:
        x = v["oos_max_drawdown"]
        add("out-of-sample max drawdown", x, f">= -{gates.max_drawdown}",
            x is not None and x >= -gates.max_drawdown)  # fmt: skip
    if gates.min_trades is not None:
        x = v["trades"]
        add("trades (in sample)", x, f">= {gates.min_trades}",
            x is not None and x >= gates.min_trades)  # fmt: skip
    if gates.max_random_entry_pvalue is not None:
        x = v["random_entry_pvalue"]
        add("random-entry p-value", x, f"<= {gates.max_random_entry_pvalue}",
            x is not None and x <= gates.max_random_entry_pvalue)  # fmt: skip
    if gates.max_mc_drawdown is not None:
        x = v["mc_drawdown"]
        add("Monte Carlo drawdown (p95)", x, f">= -{gates.max_mc_drawdown}",
            x is not None and x >= -gates.max_mc_drawdown)  # fmt: skip
    if gates.require_parity:
        x = v["parity"]
        add("live parity check", x, "passed", x is not None and x >= 1.0)
    return out


def gate_rows(gates: list[Gate]) -> list[dict[str, Any]]:
    """The gate table as plain rows (JSON, MLflow artifact, tearsheet)."""
    return [
        {
            "gate": g.name,
            "value": g.value,
            "rule": g.rule,
            "ok": g.ok,
            "why": g.why,
            "source": g.source,
        }
        for g in gates
    ]
