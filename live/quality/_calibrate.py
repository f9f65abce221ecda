"""A run's event log → the rows a cost model is fitted on (``grekko-live calibrate``).

The quality table (:func:`~live.quality.quality_table`) gives each order's cost against the
bar model (``slip_model_bps``: the fill against the next bar's open, where the backtest fills
a market order); the run's own ``bar_closed`` events give the bars, from which
:func:`grekko_research.costs.bar_features` computes what the engine's calibrated fill model
sees at the decision: the order's share of the decision bar's volume and the volatility of
the closes up to it. A limit order's row says how far the bar after its decision (the first
the engine tests a resting limit in) traded through its price, and whether it filled.
Pure: events in, a DataFrame out; the fit itself is :func:`grekko_research.costs.fit_cost_models`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, cast

import numpy as np
import pandas as pd

from grekko_research.costs import bar_features
from live.quality._fold import QualityFold
from live.quality._table import COLUMNS, order_row

__all__ = ["CALIBRATION_COLUMNS", "calibration_rows"]

CALIBRATION_COLUMNS = (
    "run_id", "client_id", "venue", "symbol", "side", "order_type", "qty", "filled_qty",
    "decision_ts", "slip_bps", "share", "sigma_bps", "through_bps", "filled",
)  # fmt: skip


def _bars(events: list[Any]) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """Each symbol's bars (ts, high, low, close, volume) from the log's ``bar_closed``."""
    symbols: list[str] = []
    rows: dict[str, list[tuple[int, float, float, float, float]]] = {}
    for e in events:
        if e.kind == "run_started":
            symbols = [str(s) for s in e.payload.get("symbols") or []]
        elif e.kind == "bar_closed":
            p = e.payload
            bar = p.get("bar") or []
            if len(bar) < 5:
                continue
            gone = list(p.get("filled") or [])
            for j, sym in enumerate(symbols):
                if j < len(gone) and gone[j]:
                    continue
                h, lo, c, v = (bar[i][j] for i in (1, 2, 3, 4))
                if c is None:
                    continue
                vol = math.nan if v is None else float(v)
                rows.setdefault(sym, []).append((int(p["ts"]), float(h), float(lo), float(c), vol))
    frames = {
        s: pd.DataFrame(r, columns=["ts", "high", "low", "close", "volume"])
        .drop_duplicates("ts", keep="last")
        .sort_values("ts", ignore_index=True)
        for s, r in rows.items()
    }
    return symbols, frames


def calibration_rows(events: Iterable[Any], *, vol_window: int = 20) -> pd.DataFrame:
    """The fit rows of one run's events (columns :data:`CALIBRATION_COLUMNS`): its strategy,
    stop and flatten orders that were decided on a bar of the log (manual orders and orders
    whose decision bar is unknown have no features and are left out)."""
    evs = list(events)
    fold = QualityFold()
    for e in evs:
        fold.add(e)
    records = fold.records()
    table = pd.DataFrame([order_row(o) for o in records], columns=list(COLUMNS))
    limits = {o.client_id: float(o.limit_price) for o in records if o.limit_price is not None}
    run_id = next((str(e.payload.get("run_id") or "") for e in evs if e.kind == "run_started"), "")
    _, bars = _bars(evs)
    out = []
    for sym, g in table.groupby("symbol", sort=True):
        b = bars.get(str(sym))
        if b is None or b.empty:
            continue
        g = g[g["kind"] != "manual"]
        share, sigma = bar_features(
            g["decision_ts"].to_numpy(np.int64), g["qty"].to_numpy(float),
            b["ts"].to_numpy(np.int64), b["close"].to_numpy(float),
            b["volume"].to_numpy(float), vol_window,
        )  # fmt: skip
        ts = b["ts"].to_numpy(np.int64)
        lows, highs = b["low"].to_numpy(float), b["high"].to_numpy(float)
        order_rows = cast(list[dict[str, Any]], g.to_dict("records"))
        for i, row in enumerate(order_rows):
            if not math.isfinite(share[i]):
                continue
            buy = row["side"] == "buy"
            filled = float(row["filled_qty"]) > 0
            through = math.nan
            limit = limits.get(str(row["client_id"]), math.nan)
            if row["order_type"] == "limit" and limit > 0:
                k = int(np.searchsorted(ts, int(row["decision_ts"]), side="right"))
                if k < len(ts):
                    lvl = float(lows[k] if buy else highs[k])
                    through = max((limit - lvl) if buy else (lvl - limit), 0.0) / limit * 1e4
            out.append({
                **{c: row[c] for c in ("client_id", "venue", "symbol", "side", "order_type",
                                       "qty", "filled_qty", "decision_ts")},
                "run_id": run_id,
                "slip_bps": row["slip_model_bps"] if filled else math.nan,
                "share": share[i], "sigma_bps": sigma[i], "through_bps": through,
                "filled": filled,
            })  # fmt: skip
    return pd.DataFrame(out, columns=list(CALIBRATION_COLUMNS))
