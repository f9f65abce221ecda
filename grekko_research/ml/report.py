"""The evaluation report of a walk-forward model: out-of-sample only, against buy-and-hold.

Everything is measured on rows scored by a model fitted before them (from the first fit on):
classification quality (AUC, accuracy, log-loss, Brier), calibration by probability decile,
feature importance averaged over the windows' models (gain for LightGBM, impurity for
forests, |standardised coefficient| for logistic models; normalised to sum to 1), the
strategy's turnover, and the strategy's and buy-and-hold's performance over the same span.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, backtest
from grekko_research.metrics import performance_summary, periods_per_year
from grekko_research.ml.strategy import WalkForwardModelStrategy, label_arrays

__all__ = ["WalkForwardReport", "evaluate_walk_forward", "importance_of"]

_KEEP = ("total_return", "sharpe_ratio", "max_drawdown", "annualized_volatility")


@dataclass
class WalkForwardReport:
    """Out-of-sample evaluation of one parameter set on one sample (first symbol)."""

    oos_rows: int
    first_oos_row: int
    n_windows: int
    auc: float
    accuracy: float
    log_loss: float
    brier: float
    base_rate: float
    calibration: list[dict[str, float]]
    importance: dict[str, float]
    turnover: float
    strategy: dict[str, float]
    buy_and_hold: dict[str, float]
    windows: list[dict[str, int]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The headline numbers as a flat dict (JSON-ready)."""
        top = sorted(self.importance.items(), key=lambda kv: -kv[1])[:5]
        return {
            "oos_rows": self.oos_rows, "windows": self.n_windows, "auc": self.auc,
            "accuracy": self.accuracy, "log_loss": self.log_loss, "brier": self.brier,
            "base_rate": self.base_rate, "turnover": self.turnover,
            **{f"strategy.{k}": v for k, v in self.strategy.items()},
            **{f"buy_and_hold.{k}": v for k, v in self.buy_and_hold.items()},
            "top_features": [k for k, _ in top],
        }  # fmt: skip


def importance_of(model: Any, n_features: int) -> np.ndarray:
    """Normalised importance of one fitted model (zeros for a constant model)."""
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    if hasattr(est, "booster_"):
        raw = est.booster_.feature_importance(importance_type="gain")
    elif hasattr(est, "feature_importances_"):
        raw = est.feature_importances_
    elif hasattr(est, "coef_"):
        raw = np.abs(np.ravel(est.coef_))
    else:
        return np.zeros(n_features)
    raw = np.asarray(raw, dtype=np.float64)
    total = raw.sum()
    return raw / total if total > 0 else np.zeros(n_features)


def _calibration(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    edges = np.quantile(p, np.linspace(0, 1, bins + 1))
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    out = []
    for b in range(bins):
        m = which == b
        if m.sum() >= 5:
            out.append({"predicted": float(p[m].mean()), "observed": float(y[m].mean()),
                        "count": float(m.sum())})  # fmt: skip
    return out


def _perf(equity: np.ndarray, ppy: float) -> dict[str, float]:
    s = performance_summary(equity, periods_per_year=ppy)
    assert isinstance(s, dict)
    return {k: float(s[k]) for k in _KEEP if k in s}


def evaluate_walk_forward(
    strategy: WalkForwardModelStrategy,
    bars: Bars,
    params: Any,
    config: EngineConfig | None = None,
) -> WalkForwardReport:
    """Fit ``strategy`` walk-forward on ``bars`` with ``params`` and report out of sample."""
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    *results, names = strategy.walk_forward(bars, params, keep_models=True)
    res = results[0]
    y, _ = label_arrays(bars, params, 0)
    scored = np.isfinite(res.score)
    first = int(np.argmax(scored)) if scored.any() else bars.n_bars
    m = scored & np.isfinite(y)
    p, yy = np.clip(res.score[m], 1e-6, 1 - 1e-6), y[m]
    both = len(np.unique(yy)) == 2
    imp = np.zeros(len(names))
    for w in res.windows:
        imp += importance_of(w.model, len(names))
    imp = imp / imp.sum() if imp.sum() > 0 else imp
    cfg = strategy.configure(config or EngineConfig(), params)
    run = backtest(bars, strategy.signals(bars, params), cfg)
    pos = np.asarray(run.positions)[:, 0] * bars.close[:, 0]
    eq = np.asarray(run.equity)
    weight = np.where(eq > 0, pos / eq, 0.0)
    ppy = periods_per_year(bars.timeframe)
    span = slice(first, bars.n_bars)
    close = bars.close[span, 0]
    return WalkForwardReport(
        oos_rows=int(m.sum()),
        first_oos_row=first,
        n_windows=len(res.windows),
        auc=float(roc_auc_score(yy, p)) if both else float("nan"),
        accuracy=float(accuracy_score(yy, p > 0.5)),
        log_loss=float(log_loss(yy, p, labels=[0, 1])),
        brier=float(brier_score_loss(yy, p)),
        base_rate=float(yy.mean()) if len(yy) else float("nan"),
        calibration=_calibration(p, yy) if len(p) >= 50 else [],
        importance=dict(zip(names, imp.tolist(), strict=True)),
        turnover=float(np.abs(np.diff(weight[span])).mean()) if bars.n_bars - first > 1 else 0.0,
        strategy=_perf(eq[span] / eq[first], ppy),
        buy_and_hold=_perf(close / close[0], ppy),
        windows=[
            {"fit_row": w.fit_row, "first": w.first, "last": w.last, "rows": w.n_rows}
            for w in res.windows
        ],
    )
