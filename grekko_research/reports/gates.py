"""A sweep's promotion gates and robustness distributions as tearsheet sections (plain HTML).

:func:`gate_sections` returns the ``(id, title, html)`` sections
:func:`~grekko_research.reports.tearsheet.write_tearsheet` shows after the metrics: one
table with each gate, its value, its threshold, pass/fail, why it matters and the
source of the threshold; then the Monte Carlo percentiles (p5 … p95) of every
distribution, the random-entry test and the cost-stress run; then the parity check.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ROBUSTNESS_LABELS", "gate_sections"]

ROBUSTNESS_LABELS: dict[str, str] = {
    "shuffle.max_drawdown": "trade order shuffled: max drawdown",
    "bootstrap.final_equity": "trades bootstrapped: final equity",
    "bootstrap.max_drawdown": "trades bootstrapped: max drawdown",
    "bootstrap.trade_sharpe": "trades bootstrapped: Sharpe per trade",
    "price.final_equity": "prices perturbed: final equity",
    "price.sharpe_ratio": "prices perturbed: Sharpe ratio",
    "price.max_drawdown": "prices perturbed: max drawdown",
    "skip.final_equity": "bars skipped: final equity",
    "skip.sharpe_ratio": "bars skipped: Sharpe ratio",
    "skip.max_drawdown": "bars skipped: max drawdown",
    "random_entries.log_return": "random entries, same exposure: log return",
}
_P = ("p5", "p25", "p50", "p75", "p95")


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _num(x: Any) -> str:
    if x is None:
        return "not measured"
    if isinstance(x, float):
        return f"{x:.4g}"
    return str(x)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], css: str) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "\n".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{th}</tr></thead><tbody>\n{body}\n</tbody></table>'


def gate_sections(
    gates: Sequence[Mapping[str, Any]],
    robustness: Mapping[str, float] | None,
    parity: Mapping[str, Any] | None,
) -> list[tuple[str, str, str]]:
    """The tearsheet sections of a sweep: gates (rows of :func:`~grekko_research.promote.gate_rows`),
    robustness percentiles, parity."""
    verdict = "every gate passes" if all(g["ok"] for g in gates) else "not promotable"
    rows = [(g["gate"], _num(g["value"]), g["rule"], "pass" if g["ok"] else "FAIL", g["why"],
             g["source"]) for g in gates]  # fmt: skip
    out = [("gates", f"Promotion gates: {verdict}",
            _table(("gate", "value", "threshold", "", "why it matters", "source"), rows,
                   "gates"))]  # fmt: skip
    rob = dict(robustness or {})
    if rob:
        dist_rows = [
            (label, *(_num(rob.get(f"{key}.{p}")) for p in _P))
            for key, label in ROBUSTNESS_LABELS.items()
            if f"{key}.p50" in rob
        ]
        facts = [
            ("random-entry p-value", _num(rob.get("pvalue_random_entries"))),
            ("rule's log return (held bars)", _num(rob.get("rule_log_return"))),
            ("exposure (share of bars held)", _num(rob.get("exposure"))),
            ("bootstrap p-value, mean trade > 0", _num(rob.get("pvalue_mean_trade"))),
            ("probability of a loss (bootstrap)", _num(rob.get("prob_loss"))),
            ("cost stress: final equity", _num(rob.get("stress.final_equity"))),
            ("cost stress: Sharpe ratio", _num(rob.get("stress.sharpe_ratio"))),
            ("cost stress: max drawdown", _num(rob.get("stress.max_drawdown"))),
            ("out-of-sample trades", _num(rob.get("trades"))),
            ("draws (trades) / engine re-runs / seed", f"{_num(rob.get('draws'))} / "
             f"{_num(rob.get('input_draws'))} / {_num(rob.get('seed'))}"),
        ]  # fmt: skip
        body = ('<div class="tables">'
                + _table(("distribution", *_P), dist_rows, "robustness")
                + _table(("", "value"), facts, "robustness-facts") + "</div>")  # fmt: skip
        out.append(("robustness", "Robustness (out of sample, Monte Carlo)", body))
    if parity is not None:
        diff = parity.get("first_difference") or parity.get("error") or "none"
        facts = [
            ("verdict", "same fills, trades and equity" if parity.get("passed") else "DIFFERENT"),
            ("window", f"{(parity.get('window') or {}).get('start')} → "
             f"{(parity.get('window') or {}).get('end')}"),
            ("fills / trades / bars", f"{parity.get('fills')} / {parity.get('trades')} / "
             f"{parity.get('bars')}"),
            ("first difference", str(diff)),
            ("command", str(parity.get("command", ""))),
        ]  # fmt: skip
        out.append(("parity", "Live-replay parity (grekko-live)",
                    _table(("", ""), facts, "parity")))  # fmt: skip
    return out
