"""Promotion gates: the statistical checks a sweep must pass before its strategy may trade.

:func:`evaluate_gates` compares a sweep's summary (``summary.json`` of
``grekko sweep``, or the metrics its MLflow run carries) with the thresholds
of ``conf/promote`` and returns one :class:`Gate` per check. A gate whose
number is missing fails: "not measured" is not "passed". ``grekko promote``
registers a model only when every gate passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from grekko_research.config import PromoteConfig

__all__ = ["Gate", "evaluate_gates", "gate_inputs", "gate_tag"]


@dataclass(frozen=True)
class Gate:
    """One check: the measured value, the rule, and whether it passed."""

    name: str
    value: float | None
    rule: str
    ok: bool


def gate_tag(name: str) -> str:
    """The model-version tag recording that the gate ``name`` passed (``gate.<slug>``)."""
    return "gate." + "_".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def gate_inputs(summary: dict[str, Any]) -> dict[str, float | None]:
    """Pick the numbers the gates read from a sweep summary."""
    oos = summary.get("out_of_sample") or {}
    over = summary.get("overfitting") or {}
    ins = summary.get("in_sample") or {}

    def num(x: Any) -> float | None:
        return float(x) if isinstance(x, int | float) and math.isfinite(x) else None

    return {
        "oos_sharpe": num(oos.get("sharpe_ratio")),
        "deflated_sharpe": num(over.get("deflated_sharpe")),
        "pbo": num(over.get("pbo")),
        "oos_max_drawdown": num(oos.get("max_drawdown")),
        "trades": num(ins.get("trade_count")),
        "parity": num(summary.get("parity_passed")),
    }


def evaluate_gates(summary: dict[str, Any], gates: PromoteConfig) -> list[Gate]:
    """Return every configured gate evaluated on ``summary`` (see :func:`gate_inputs`)."""
    v = gate_inputs(summary)
    out: list[Gate] = []

    def add(name: str, value: float | None, rule: str, passed: bool) -> None:
        out.append(Gate(name, value, rule, value is not None and passed))

    if gates.min_oos_sharpe is not None:
        x = v["oos_sharpe"]
        add(
            "out-of-sample Sharpe",
            x,
            f">= {gates.min_oos_sharpe}",
            x is not None and x >= gates.min_oos_sharpe,
        )
    if gates.min_deflated_sharpe is not None:
        x = v["deflated_sharpe"]
        add("deflated Sharpe (probability)", x, f">= {gates.min_deflated_sharpe}",
            x is not None and x >= gates.min_deflated_sharpe)  # fmt: skip
    if gates.max_pbo is not None:
        x = v["pbo"]
        add(
            "probability of backtest overfitting",
            x,
            f"<= {gates.max_pbo}",
            x is not None and x <= gates.max_pbo,
        )
    if gates.max_drawdown is not None:
        x = v["oos_max_drawdown"]
        add("out-of-sample max drawdown", x, f">= -{gates.max_drawdown}",
            x is not None and x >= -gates.max_drawdown)  # fmt: skip
    if gates.min_trades is not None:
        x = v["trades"]
        add(
            "trades (in sample)",
            x,
            f">= {gates.min_trades}",
            x is not None and x >= gates.min_trades,
        )
    if gates.require_parity:
        x = v["parity"]
        add("live parity check", x, "passed", x is not None and x >= 1.0)
    return out
