"""Performance-weighted ensembles: Hedge (exponential weights) and regime-conditioned selection.

The pieces, each a pure function of arrays (:mod:`grekko_research.ml.ensemble_strategy` makes
a strategy of them):

:func:`member_exposure`
    What a member strategy holds at each bar, as a fraction of equity in ``[-1, 1]``, from its
    decisions of the last ``hold`` bars only: ``Signals`` are replayed from flat over those
    rows (an entry opens, an exit closes, a short entry reverses), ``TargetPositions`` in
    percent keep their last value. A fixed window, so the ensemble's decision at bar *t*
    depends on a bounded window and a live runner's rolling window decides as the backtest.
:func:`bar_gains`
    Each member's per-bar gain: its exposure decided at *t − 1* times the close-to-close
    return of bar *t*, minus ``cost`` per unit of exposure changed (averaged over symbols).
:func:`regime_labels`
    A causal market regime per bar: trend (close above or below its mean over
    ``trend_window``) × volatility (recent above or below longer-run): 4 labels, −1 in warm-up.
:func:`hedge_weights`
    Hedge (Freund & Schapire's exponential weights) over a sliding window: the weight of
    member *i* at bar *t* is proportional to ``exp(eta × sum of its gains over the last
    window bars)``; with ``regimes``, only the bars whose decision was taken in the current
    regime count (regime-conditioned Hedge); ``select=True`` puts all the weight on the best
    member of the regime instead (regime-conditioned selection). ``eta`` is the learning rate:
    0 is the equal-weight mix, large values follow the recent leader.

The weights at bar *t* use gains up to *t* (realised at its close): they weight the decisions
taken at *t*'s close, which execute at the next open. Nothing reads the future.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.errors import ConfigError
from grekko_research.ml.rl.features import rolling_mean, rolling_std

__all__ = ["bar_gains", "hedge_weights", "member_exposure", "regime_labels"]


@njit(cache=True, nogil=True)
def _signal_step_nb(pos: float, le: bool, lx: bool, se: bool, sx: bool) -> float:
    """The position after one row of signals (the engine's rules: a row's conflicting
    entry and exit cancel, as do a long and a short entry; a short entry reverses a long)."""
    if le and lx:
        le = lx = False
    if se and sx:
        se = sx = False
    if le and se:
        le = se = False
    if pos > 0:
        return -1.0 if se else (0.0 if lx else pos)
    if pos < 0:
        return 1.0 if le else (0.0 if sx else pos)
    return 1.0 if le else (-1.0 if se else 0.0)


@njit(cache=True, nogil=True)
def _replay_signals_nb(
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    hold: int,
) -> np.ndarray:
    """``(n, k)`` position (-1, 0, 1) from replaying each window of ``hold`` signal rows
    from flat (``_signal_step_nb`` per row)."""
    n, k = entries.shape
    out = np.zeros((n, k))
    for t in range(n):
        lo = max(0, t - hold + 1)
        for j in range(k):
            pos = 0.0
            for s in range(lo, t + 1):
                pos = _signal_step_nb(pos, entries[s, j], exits[s, j], short_entries[s, j],
                                      short_exits[s, j])  # fmt: skip
            out[t, j] = pos
    return out


@njit(cache=True, nogil=True)
def _last_target_nb(target: np.ndarray, hold: int) -> np.ndarray:
    """``(n, k)`` the last non-NaN target within each window of ``hold`` rows (0: none)."""
    n, k = target.shape
    out = np.zeros((n, k))
    for t in range(n):
        lo = max(0, t - hold + 1)
        for j in range(k):
            for s in range(t, lo - 1, -1):
                v = target[s, j]
                if v == v:
                    out[t, j] = min(1.0, max(-1.0, v))
                    break
    return out


def member_exposure(form: object, n: int, k: int, hold: int) -> np.ndarray:
    """Return a member's ``(n, k)`` exposure in ``[-1, 1]`` from its signal form.

    ``form`` is :class:`~grekko_research.engine.Signals` or percent
    :class:`~grekko_research.engine.TargetPositions`; anything else raises ConfigError.
    """
    from grekko_research.engine import Signals, TargetPositions

    if hold < 1:
        raise ConfigError(f"hold must be >= 1 bar, got {hold}")

    def mat(a: object, dtype: type) -> np.ndarray:
        if a is None:
            return np.zeros((n, k), dtype=dtype)
        arr: np.ndarray = np.asarray(a, dtype=dtype)
        return np.ascontiguousarray(arr.reshape(n, k))

    if isinstance(form, Signals):
        return _replay_signals_nb(
            mat(form.entries, np.bool_), mat(form.exits, np.bool_),
            mat(form.short_entries, np.bool_), mat(form.short_exits, np.bool_), int(hold),
        )  # fmt: skip
    if isinstance(form, TargetPositions):
        if form.kind != "percent":
            raise ConfigError(f"an ensemble member's targets must be percent, not {form.kind!r}")
        return _last_target_nb(mat(form.target, np.float64), int(hold))
    raise ConfigError(
        f"an ensemble member must decide with Signals or percent TargetPositions, "
        f"not {type(form).__name__}"
    )


def bar_gains(exposure: np.ndarray, close: np.ndarray, cost: float) -> np.ndarray:
    """Return the ``(n,)`` per-bar gain of holding ``exposure`` ``(n, k)`` decided a bar
    earlier, net of ``cost`` per unit of exposure changed, averaged over the symbols."""
    e = np.asarray(exposure, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    n = e.shape[0]
    g = np.zeros(e.shape)
    if n >= 2:
        ret = np.zeros(c.shape)
        ret[1:] = c[1:] / c[:-1] - 1.0
        g[1:] = e[:-1] * ret[1:]
        turn = np.zeros(e.shape)
        turn[1:] = np.abs(np.diff(e, axis=0))  # exposure changed at t-1, paid in bar t
        g[2:] -= cost * turn[1:-1]
    out: np.ndarray = np.nan_to_num(g, nan=0.0).mean(axis=1)
    return out


def regime_labels(close: np.ndarray, trend_window: int, vol_window: int) -> np.ndarray:
    """Return ``(n,)`` int labels ``2 × (calm? 0 : 1) + (uptrend? 1 : 0)``; −1 in warm-up.

    Trend: the symbols' mean of ``log(close / mean close over trend_window)`` above 0.
    Volatility: the mean std of one-bar log returns over ``vol_window`` above the one over
    ``4 × vol_window``. Every window is computed on its own (exact on truncation).
    """
    c = np.asarray(close, dtype=np.float64)
    if c.ndim == 1:
        c = c.reshape(-1, 1)
    n, k = c.shape
    trend = np.zeros(n)
    agitated = np.zeros(n)
    for j in range(k):
        lc = np.log(c[:, j])
        trend += lc - np.log(rolling_mean(c[:, j], trend_window))
        ret = np.full(n, np.nan)
        ret[1:] = np.diff(lc)
        short, long = np.full(n, np.nan), np.full(n, np.nan)
        short[1:] = rolling_std(ret[1:], vol_window)
        long[1:] = rolling_std(ret[1:], 4 * vol_window)
        agitated += short - long
    labels = (2 * (agitated > 0) + (trend > 0)).astype(np.int64)
    labels[: max(trend_window - 1, 4 * vol_window)] = -1
    labels[np.isnan(trend) | np.isnan(agitated)] = -1
    return labels


@njit(cache=True, nogil=True)
def _weights_into_nb(score: np.ndarray, eta: float, select: bool, out: np.ndarray) -> None:
    """Write the softmax of ``eta × score`` (or the best member's one-hot) into ``out``."""
    m = score.shape[0]
    if select:
        best = 0
        for i in range(1, m):
            if score[i] > score[best]:
                best = i
        for i in range(m):
            out[i] = 1.0 if i == best else 0.0
        return
    top = score.max()
    total = 0.0
    for i in range(m):
        out[i] = np.exp(eta * (score[i] - top))  # shifted: no overflow
        total += out[i]
    for i in range(m):
        out[i] /= total


@njit(cache=True, nogil=True)
def _hedge_nb(
    gains: np.ndarray, eta: float, window: int, regimes: np.ndarray, select: bool
) -> np.ndarray:
    """``(n, m)`` weights: softmax of ``eta ×`` windowed (regime-matched) gain sums, or the
    best member's one-hot with ``select``. ``regimes`` ``(n,)``, all -2 for unconditioned."""
    n, m = gains.shape
    out = np.empty((n, m))
    score = np.empty(m)
    for t in range(n):
        lo = max(1, t - window + 1)
        r = regimes[t]
        score[:] = 0.0
        for s in range(lo, t + 1):
            if r != -2 and regimes[s - 1] != r:  # the gain of bar s was decided at s-1
                continue
            for i in range(m):
                score[i] += gains[s, i]
        _weights_into_nb(score, eta, select, out[t])
    return out


def hedge_weights(
    gains: np.ndarray,
    eta: float,
    window: int,
    *,
    regimes: np.ndarray | None = None,
    select: bool = False,
) -> np.ndarray:
    """Return the ``(n, m)`` member weights of ``gains`` ``(n, m)`` (see the module notes)."""
    g = np.ascontiguousarray(np.nan_to_num(np.asarray(gains, dtype=np.float64), nan=0.0))
    if g.ndim != 2 or g.shape[1] < 1:
        raise ConfigError(f"gains must be bars × members, got shape {g.shape}")
    if not (np.isfinite(eta) and eta >= 0):
        raise ConfigError(f"the learning rate eta must be finite and >= 0, got {eta}")
    if window < 1:
        raise ConfigError(f"the Hedge window must be >= 1 bar, got {window}")
    if regimes is None:
        reg = np.full(g.shape[0], -2, dtype=np.int64)
    else:
        reg = np.ascontiguousarray(np.asarray(regimes, dtype=np.int64).reshape(g.shape[0]))
        if (reg == -2).any():
            raise ConfigError("regime label -2 is reserved")
    return _hedge_nb(g, float(eta), int(window), reg, bool(select))
