"""What the console's price chart draws: bars thinned to a point budget, the market regime of
each stretch as bands, and the detected events as markers, all from the library's analysis.

The analysis runs on every bar of the window (regimes and events need their full history);
only the drawing is thinned: ``bars_per_point`` bars become one OHLCV point (first open,
highest high, lowest low, last close, summed volume), and when the regime changes more often
than the budget allows, each point takes the regime of its last bar. Events keep their exact
bar and price; past ``max_events`` the most recent are kept (``event_counts`` has them all).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import pandas as pd

from grekko_research.analysis.detectors import (
    PHASE_NAMES,
    bull_traps,
    capitulations,
    wyckoff_phases,
)
from grekko_research.analysis.regimes import HmmParams, hmm_regimes
from grekko_research.analysis.scanners import vol_breakouts
from grekko_research.errors import ConfigError

__all__ = ["HMM_MAX_BARS", "Regime", "market_chart", "regime_names"]

Regime = Literal["wyckoff", "hmm"]
HMM_MAX_BARS = 3000
"""The walk-forward HMM fits a model every 50 bars: past this many bars a request would take
minutes, so it is refused with a hint to narrow the window."""

_HMM_NAMES = {2: ("bearish", "bullish"), 3: ("bearish", "neutral", "bullish")}


def regime_names(regime: Regime, n_states: int = HmmParams().n_states) -> list[str]:
    """The labels a regime's bands carry, in code order."""
    if regime == "wyckoff":
        return list(PHASE_NAMES)
    names = _HMM_NAMES.get(n_states)
    return [f"hmm {i}: {names[i]}" if names else f"hmm {i}" for i in range(n_states)]


def _labels(regime: Regime, frame: pd.DataFrame, phase: np.ndarray) -> np.ndarray:
    """One regime code per bar (-1: not labelled yet, e.g. in the warm-up)."""
    if regime == "wyckoff":
        codes = phase
    else:
        if len(frame) > HMM_MAX_BARS:
            raise ConfigError(
                f"regime=hmm: at most {HMM_MAX_BARS} bars (this window has {len(frame)}): "
                "narrow it with start/end, or use regime=wyckoff"
            )
        codes = hmm_regimes(frame["close"].to_numpy(np.float64)).label
    return np.where(np.isfinite(codes), codes, -1).astype(np.int64)


def _runs(codes: np.ndarray) -> list[tuple[int, int, int]]:
    """(first row, last row, code) of each run of one code, unlabelled runs left out."""
    if len(codes) == 0:
        return []
    cut = np.flatnonzero(np.diff(codes) != 0) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut - 1, len(codes) - 1]
    return [
        (int(a), int(b), int(codes[a])) for a, b in zip(starts, ends, strict=True) if codes[a] >= 0
    ]


def _bands(
    codes: np.ndarray, ts: np.ndarray, step_ms: int, names: list[str], budget: int
) -> tuple[list[dict[str, Any]], bool]:
    """Regime bands ``[start, end)`` in ms; coarsened to ``budget`` points when needed."""
    runs = _runs(codes)
    thinned = len(runs) > budget
    if thinned:  # each point of the drawing takes the regime of its last bar
        k = math.ceil(len(codes) / budget)
        last = np.minimum(np.arange(k - 1, len(codes) + k - 1, k), len(codes) - 1)
        per_point = np.repeat(codes[last], k)[: len(codes)]
        runs = _runs(per_point)
    ends = np.r_[ts[1:], ts[-1] + step_ms]
    bands = [{"start": int(ts[a]), "end": int(ends[b]), "label": names[c]} for a, b, c in runs]
    return bands, thinned


def _events(frame: pd.DataFrame, ts: np.ndarray) -> list[dict[str, Any]]:
    """Every detected event with where it is drawn and its evidence in words."""
    h, lo, c, v = (frame[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))
    out: list[dict[str, Any]] = []
    _, wy = wyckoff_phases(h, lo, c, v)
    for r in wy.to_dict("records"):
        out.append(
            {
                "bar": int(r["bar"]),
                "kind": str(r["kind"]),
                "price": float(r["close"]),
                "confirmed": None,
                "detail": f"volume z {r['volume_z']:.1f}, trend z {r['trend_z']:.2f}, "
                f"support {r['support']:,.2f}, resistance {r['resistance']:,.2f}",
            }
        )
    for r in capitulations(c, lo, v).to_dict("records"):
        out.append(
            {
                "bar": int(r["bar"]),
                "kind": "capitulation",
                "price": float(c[int(r["bar"])]),
                "confirmed": int(r["confirmed"]),
                "detail": f"log return {r['return']:.3f} (z {r['return_z']:.1f}), volume z "
                f"{r['volume_z']:.1f}, low {r['low']:,.2f}, rebound {r['rebound']:.1%}",
            }
        )
    for r in bull_traps(h, c, v).to_dict("records"):
        out.append(
            {
                "bar": int(r["bar"]),
                "kind": "bull_trap",
                "price": float(r["breakout_close"]),
                "confirmed": int(r["confirmed"]),
                "detail": f"broke {r['level']:,.2f} on {r['volume_ratio']:.2f}x volume, "
                f"peak {r['peak']:,.2f}, back below after {int(r['bars'])} bars",
            }
        )
    for r in vol_breakouts(h, lo, c).to_dict("records"):
        out.append(
            {
                "bar": int(r["bar"]),
                "kind": f"breakout_{r['direction']}",
                "price": float(r["close"]),
                "confirmed": None,
                "detail": f"true range {r['tr_atr']:.1f}x ATR past {r['channel_edge']:,.2f}, "
                + (
                    f"squeeze percentile {r['squeeze_pct']:.2f}"
                    if np.isfinite(r["squeeze_pct"])
                    else "squeeze not measured (too little history)"
                ),
            }
        )
    for e in out:
        e["ts"] = int(ts[e.pop("bar")])
        conf = e.pop("confirmed")
        e["confirmed_ts"] = None if conf is None else int(ts[conf])
    out.sort(key=lambda e: (e["ts"], e["kind"]))
    return out


def _thin(frame: pd.DataFrame, k: int) -> dict[str, list[Any]]:
    """OHLCV points of ``k`` bars each (the last may hold fewer)."""
    group = np.arange(len(frame)) // k
    g = frame.groupby(group, sort=True)
    agg = g.agg(
        t=("timestamp", "first"),
        o=("open", "first"),
        h=("high", "max"),
        l=("low", "min"),
        c=("close", "last"),
        v=("volume", "sum"),
    )
    return {
        "t": [int(x) for x in agg["t"]],
        **{col: [float(x) for x in agg[col]] for col in ("o", "h", "l", "c", "v")},
    }


def market_chart(
    frame: pd.DataFrame,
    *,
    regime: Regime,
    points: int,
    max_events: int = 1000,
    step_ms: int | None = None,
) -> dict[str, Any]:
    """The chart of one series' bars (``timestamp`` ms bar opens, ``open``…``volume``).

    Raises
    ------
    ConfigError
        No bars, or ``regime="hmm"`` on more than :data:`HMM_MAX_BARS` bars.
    """
    frame = frame[["timestamp", "open", "high", "low", "close", "volume"]].reset_index(drop=True)
    finite = np.isfinite(frame[["open", "high", "low", "close"]].to_numpy(np.float64)).all(axis=1)
    frame = frame[finite].reset_index(drop=True)
    frame["volume"] = frame["volume"].fillna(0.0)
    if frame.empty:
        raise ConfigError("no bars in the window")
    ts = frame["timestamp"].to_numpy(np.int64)
    if step_ms is None:
        step_ms = int(np.median(np.diff(ts))) if len(ts) > 1 else 60_000
    h, lo, c, v = (frame[k].to_numpy(np.float64) for k in ("high", "low", "close", "volume"))
    phase, _ = wyckoff_phases(h, lo, c, v)
    names = regime_names(regime)
    codes = _labels(regime, frame, phase)
    k = max(1, math.ceil(len(frame) / points))
    bands, coarse = _bands(codes, ts, step_ms, names, points)
    events = _events(frame, ts)
    counts: dict[str, int] = {}
    for e in events:
        counts[e["kind"]] = counts.get(e["kind"], 0) + 1
    return {
        "regime": regime,
        "regimes": names,
        "bars_total": len(frame),
        "bars_per_point": k,
        "bar_ms": step_ms,
        "bands_coarsened": coarse,
        **_thin(frame, k),
        "bands": bands,
        "events": events[-max_events:],
        "event_counts": counts,
    }
