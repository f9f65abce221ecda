"""The observation an RL agent sees at a bar's close: causal, finite-window market features.

Every feature at bar *t* is computed from a fixed window of closes ending at *t*, each window
on its own (no running sums, no exponential smoothing), so the value at *t* depends on exactly
the last :meth:`ObservationSpec.warmup` bars: a live runner's rolling window and the
backtest's whole history give bit-identical observations, hence identical policy decisions.

The observation leaves out the account's cash. With ``position=True`` it ends with the
position the policy holds — its previous decision's target level — so the agent can learn to
stay put instead of churning. That makes a decision depend on the one before it: to keep the
policy an ordinary strategy (the conformance checks and the live replay parity apply), the
memory restarts from flat at every *anchor* row, whose open time is a whole multiple of
``anchor`` bars since the epoch (:func:`anchor_rows`): a decision then depends only on the
bars since the last anchor and the market warm-up before it, whatever row the data starts at
(:meth:`ObservationSpec.decision_warmup`). The environment restarts it at the same rows, so
the agent trains on what it will see. The environment's reward still charges every fee,
slippage and stop of the engine, so what the agent learns is net of costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from grekko_research.errors import ConfigError

__all__ = ["ObservationSpec", "anchor_rows", "observations", "rolling_mean", "rolling_std"]

CLIP = 5.0  # every feature is a z-like number; the tails carry no extra information


@dataclass(frozen=True)
class ObservationSpec:
    """Which features the observation holds (all scaled by the recent volatility).

    ``lags``
        The last ``lags`` one-bar log returns, each divided by the volatility.
    ``vol_window``
        Bars of the volatility (standard deviation of one-bar log returns).
    ``trend_windows``
        For each window *w*: ``log(close / mean close over w) / (vol × sqrt(w))``.
    ``vol_ratio_window``
        The log of the volatility over ``vol_window`` divided by the one over this (longer)
        window: calm or agitated market. 0 turns it off.
    """

    lags: int = 8
    vol_window: int = 24
    trend_windows: tuple[int, ...] = (24, 96)
    vol_ratio_window: int = 168
    position: bool = False  # append the held position (the previous decision's level)
    anchor: int = 168  # with position: bars between the restarts of that memory from flat

    def __post_init__(self) -> None:
        if self.anchor < 1:
            raise ConfigError(f"ObservationSpec.anchor must be >= 1, got {self.anchor}")
        if self.lags < 1:
            raise ConfigError(f"ObservationSpec.lags must be >= 1, got {self.lags}")
        if self.vol_window < 2:
            raise ConfigError(f"ObservationSpec.vol_window must be >= 2, got {self.vol_window}")
        if any(w < 2 for w in self.trend_windows):
            raise ConfigError(f"ObservationSpec.trend_windows must be >= 2: {self.trend_windows}")
        if self.vol_ratio_window and self.vol_ratio_window <= self.vol_window:
            raise ConfigError(
                "ObservationSpec.vol_ratio_window must exceed vol_window "
                f"({self.vol_ratio_window} <= {self.vol_window}), or be 0"
            )
        object.__setattr__(self, "trend_windows", tuple(int(w) for w in self.trend_windows))

    @property
    def market_size(self) -> int:
        """The number of market features (what :func:`observations` returns)."""
        return self.lags + len(self.trend_windows) + (1 if self.vol_ratio_window else 0)

    @property
    def size(self) -> int:
        """The number of features the policy takes (the market's, then the position)."""
        return self.market_size + (1 if self.position else 0)

    def warmup(self) -> int:
        """Bars needed before the first complete market observation (its row index)."""
        longest_vol = max(self.vol_window, self.vol_ratio_window)
        return max(longest_vol + 1, self.lags + 1, self.vol_window + 1, *self.trend_windows)

    def decision_warmup(self) -> int:
        """Bars before a decision that does not depend on where the data starts: the market
        warm-up, and with ``position`` up to ``anchor`` more bars until the memory's restart."""
        return self.warmup() + (self.anchor if self.position else 0)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trend_windows"] = list(self.trend_windows)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObservationSpec:
        known = {"lags", "vol_window", "trend_windows", "vol_ratio_window", "position", "anchor"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown observation fields {unknown}; known: {sorted(known)}")
        values = dict(data)
        if "trend_windows" in values:
            values["trend_windows"] = tuple(values["trend_windows"])
        return cls(**values)


def rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Population std of each window of ``x`` ending at a row (NaN before), window by window."""
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= window:
        out[window - 1 :] = sliding_window_view(x, window).std(axis=1)
    return out


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    out = np.full(x.shape[0], np.nan)
    if x.shape[0] >= window:
        out[window - 1 :] = sliding_window_view(x, window).mean(axis=1)
    return out


def anchor_rows(index: np.ndarray, bar_ms: int, anchor: int) -> np.ndarray:
    """Rows whose open time is a whole multiple of ``anchor`` bars since the epoch ``(n,)``."""
    return np.asarray((np.asarray(index, dtype=np.int64) // bar_ms) % anchor == 0)


def observations(close: np.ndarray, spec: ObservationSpec) -> np.ndarray:
    """Return the ``(n, spec.market_size)`` float32 market observations of one symbol's
    ``(n,)`` closes (the position, when the spec has it, is the caller's to append).

    Rows before :meth:`ObservationSpec.warmup` are NaN; later rows are finite and clipped
    to ±5. A non-positive or non-finite close raises (it would poison every window it is in).
    """
    c = np.asarray(close, dtype=np.float64).reshape(-1)
    bad = ~np.isfinite(c) | (c <= 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ConfigError(f"observations: close at row {row} is {c[row]!r}; expected > 0")
    n = c.shape[0]
    logc = np.log(c)
    ret = np.full(n, np.nan)
    ret[1:] = np.diff(logc)
    # the volatility of the returns ending at t (the first return is row 1)
    vol = np.full(n, np.nan)
    vol[1:] = rolling_std(ret[1:], spec.vol_window)
    vol = np.maximum(vol, 1e-8)  # a constant window: no movement, no division by zero
    cols: list[np.ndarray] = []
    for lag in range(spec.lags):
        lagged = np.full(n, np.nan)
        if lag < n:  # a window shorter than the lags (a live run's first bars) stays NaN
            lagged[lag:] = ret[: n - lag]
        cols.append(lagged / vol)
    for w in spec.trend_windows:
        cols.append((logc - np.log(rolling_mean(c, w))) / (vol * np.sqrt(w)))
    if spec.vol_ratio_window:
        long = np.full(n, np.nan)
        long[1:] = rolling_std(ret[1:], spec.vol_ratio_window)
        cols.append(np.log(vol / np.maximum(long, 1e-8)))
    out = np.column_stack(cols)
    out[: spec.warmup()] = np.nan
    return np.clip(out, -CLIP, CLIP).astype(np.float32)
