"""Fit calibrated cost models from per-order rows (pure: DataFrames in, CostModels out).

The rows are the execution-quality table of our own runs (``grekko-live calibrate`` folds the
event logs and adds the bar features) or a cold start from an L2 capture
(:func:`~grekko_research.costs.book_walk_rows`). Columns read (:data:`ROW_COLUMNS`):

- ``venue``, ``symbol``: one model per pair;
- ``order_type``: ``market`` rows fit the slippage, ``limit`` rows the fill probability;
- ``slip_bps``: the taker cost against the bar model's price (``slip_model_bps`` of the
  quality table: a positive number is a cost);
- ``share``: ``qty / volume`` of the decision's bar; ``sigma_bps``: the volatility of the
  closes up to that bar (:func:`bar_features` computes both as the engine does);
- ``through_bps``, ``filled`` (limit rows): how far the bars of its life traded through the
  limit, and whether it filled.

The slippage fit is a non-negative least squares (``scipy.optimize.nnls``) of
``slip_bps ~ a + b·sqrt(share) + c·sigma_bps``: the square-root impact practitioners use,
every coefficient a cost (never a rebate), readable as bps. The fill probability is a
one-feature logistic regression (scikit-learn) of ``filled ~ through_bps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from grekko_research.engine._fills import bar_volatility_bps_nb
from grekko_research.engine.costs import MAX_COST_BPS, CostModel
from grekko_research.errors import DataError

__all__ = [
    "MIN_ORDERS",
    "ROW_COLUMNS",
    "bar_features",
    "fit_cost_model",
    "fit_cost_models",
    "fit_fill_probability",
    "fit_slippage",
]

ROW_COLUMNS = ("venue", "symbol", "order_type", "slip_bps", "share", "sigma_bps")
MIN_ORDERS = 3  # fewer filled market orders than this: no slippage fit (say so)


def bar_features(
    decision_ts: Sequence[int] | np.ndarray,
    qty: Sequence[float] | np.ndarray,
    bar_ts: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    vol_window: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(share, sigma_bps)`` of orders decided on the bars opened at ``decision_ts``.

    ``bar_ts``, ``close``, ``volume``: one symbol's bars (``(n,)``, ts increasing). ``share``
    is ``|qty| / volume`` of the decision's bar (1 where the volume is 0 or unknown, as the
    engine counts it) and ``sigma_bps`` the engine's volatility (the same kernel,
    :func:`~grekko_research.engine._fills.bar_volatility_bps_nb`) over ``vol_window`` bars up
    to that bar. An order whose decision bar is not among the bars gets NaN for both.
    """
    ts = np.asarray(bar_ts, dtype=np.int64)
    closes = np.ascontiguousarray(np.asarray(close, dtype=np.float64).reshape(-1, 1))
    vols = np.asarray(volume, dtype=np.float64)
    dec = np.asarray(decision_ts, dtype=np.int64)
    q = np.abs(np.asarray(qty, dtype=np.float64))
    share = np.full(len(dec), np.nan)
    sigma = np.full(len(dec), np.nan)
    pos = np.searchsorted(ts, dec)
    for i, t in enumerate(pos):
        if t >= len(ts) or ts[t] != dec[i]:
            continue
        v = vols[t]
        share[i] = q[i] / v if v > 0 else 1.0
        sigma[i] = bar_volatility_bps_nb(closes, int(t), 0, vol_window)
    return share, sigma


def _check_columns(rows: pd.DataFrame, needed: Sequence[str], what: str) -> None:
    missing = [c for c in needed if c not in rows.columns]
    if missing:
        raise DataError(f"{what}: the rows lack columns {missing} (have {list(rows.columns)})")


def fit_slippage(rows: pd.DataFrame) -> tuple[float, float, float, float, int]:
    """Return ``(a, b, c, r2, n)`` of ``slip_bps ~ a + b·sqrt(share) + c·sigma_bps`` with
    ``a, b, c ≥ 0`` over the rows with finite values (``n`` of them).

    Raise :class:`~grekko_research.errors.DataError` with fewer than :data:`MIN_ORDERS`.
    """
    from scipy.optimize import nnls

    _check_columns(rows, ("slip_bps", "share", "sigma_bps"), "fit_slippage")
    y = rows["slip_bps"].to_numpy(dtype=np.float64)
    share = rows["share"].to_numpy(dtype=np.float64)
    sigma = rows["sigma_bps"].to_numpy(dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(share) & np.isfinite(sigma) & (share >= 0) & (sigma >= 0)
    n = int(ok.sum())
    if n < MIN_ORDERS:
        raise DataError(
            f"fit_slippage: {n} usable market orders (finite slip_bps, share, sigma_bps); "
            f"at least {MIN_ORDERS} are needed"
        )
    X = np.column_stack([np.ones(n), np.sqrt(share[ok]), sigma[ok]])
    coef, _ = nnls(X, y[ok])
    resid = y[ok] - X @ coef
    tss = float(np.sum((y[ok] - y[ok].mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid**2)) / tss if tss > 0 else math.nan
    a, b, c = (float(min(v, MAX_COST_BPS)) for v in coef)
    return a, b, c, r2, n


def fit_fill_probability(rows: pd.DataFrame) -> tuple[float, float, int]:
    """Return ``(fill_a, fill_b, n)``: P(fill) = 1 / (1 + exp(-(fill_a + fill_b·through_bps)))
    over the rows with a finite ``through_bps`` (``n``); ``fill_a = inf`` when there are none
    or every one filled (the bar model's rule). A fit whose slope is negative (deeper trading
    through the limit filling less often: too little data) keeps the mean fill rate."""
    _check_columns(rows, ("through_bps", "filled"), "fit_fill_probability")
    x = rows["through_bps"].to_numpy(dtype=np.float64)
    ok = np.isfinite(x)
    y = rows["filled"].to_numpy(dtype=bool)[ok]
    x = np.maximum(x[ok], 0.0)
    n = int(ok.sum())
    if n == 0 or y.all():
        return math.inf, 0.0, n
    rate = float(y.mean())
    if not y.any():  # never filled: a floor, not -inf (the model stays a probability)
        return math.log(0.5 / (n + 1)), 0.0, n
    from sklearn.linear_model import LogisticRegression

    fit = LogisticRegression(C=1e4).fit(x.reshape(-1, 1), y)
    fa, fb = float(fit.intercept_[0]), float(fit.coef_[0, 0])
    if fb < 0:
        return math.log(rate / (1.0 - rate)), 0.0, n
    return fa, fb, n


def fit_cost_model(
    rows: pd.DataFrame,
    symbol: str,
    venue: str = "",
    *,
    vol_window: int = 20,
    source: str = "",
) -> CostModel:
    """Fit one venue/symbol's :class:`~grekko_research.engine.costs.CostModel` from its rows
    (``market`` rows: slippage, ``limit`` rows with ``through_bps``: fill probability). The
    cap ``max_bps`` is the largest cost observed, or 100 bps when none is larger."""
    _check_columns(rows, ("order_type",), "fit_cost_model")
    market = rows[rows["order_type"] == "market"]
    a, b, c, r2, n = fit_slippage(market)
    worst = float(np.nanmax(market["slip_bps"].to_numpy(dtype=np.float64)))
    fa, fb = math.inf, 0.0
    limits = rows[rows["order_type"] == "limit"]
    if len(limits) and "through_bps" in rows.columns:
        fa, fb, _ = fit_fill_probability(limits)
    return CostModel(
        symbol=symbol, venue=venue, a=a, b=b, c=c, vol_window=vol_window,
        max_bps=min(max(worst, 100.0), MAX_COST_BPS), fill_a=fa, fill_b=fb,
        n_orders=n, r2=r2, source=source,
    )  # fmt: skip


def fit_cost_models(
    rows: pd.DataFrame, *, vol_window: int = 20, source: str = ""
) -> tuple[CostModel, ...]:
    """One :class:`CostModel` per (venue, symbol) of ``rows`` (columns :data:`ROW_COLUMNS`),
    in sorted order. A pair with too few market orders raises, naming it."""
    _check_columns(rows, ROW_COLUMNS, "fit_cost_models")
    if rows.empty:
        raise DataError("fit_cost_models: no rows")
    out = []
    for (venue, symbol), g in rows.groupby(["venue", "symbol"], sort=True):
        try:
            out.append(fit_cost_model(g, str(symbol), str(venue), vol_window=vol_window,
                                      source=source))  # fmt: skip
        except DataError as exc:
            raise DataError(f"{venue} {symbol}: {exc}") from None
    return tuple(out)
