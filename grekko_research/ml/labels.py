"""Labels: the only values allowed to look forward, and only inside the trainer's purged windows.

Each label function returns ``(label, end)``: the label of row ``t`` and the row ``end[t]``
whose close it needs (``-1`` when it cannot be known within the data). The walk-forward
trainer fits a model at the close of row ``f`` on rows whose ``end <= f - embargo`` only:
that is the purge, in rows, of López de Prado's purged cross-validation
(:mod:`grekko_research.optimize.splits`).
"""

from __future__ import annotations

import numpy as np

from grekko_research.errors import ConfigError

__all__ = ["LABELS", "forward_return", "make_label", "sign_label", "triple_barrier"]

LABELS = ("sign", "forward_return", "triple_barrier")


def _check(horizon: int) -> None:
    if horizon < 1:
        raise ConfigError(f"label horizon must be >= 1 bar, got {horizon}")


def forward_return(close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Log return from the close of ``t`` to the close of ``t + horizon``; ``(n,)`` in, out."""
    _check(horizon)
    n = close.shape[0]
    out = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(np.where(close > 0, close, np.nan))
    if n > horizon:
        out[:-horizon] = logc[horizon:] - logc[:-horizon]
        end[:-horizon] = np.arange(horizon, n)
    end[~np.isfinite(out)] = -1
    return out, end


def sign_label(close: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """1.0 when the forward return over ``horizon`` is positive, else 0.0 (NaN: unknown)."""
    ret, end = forward_return(close, horizon)
    out = np.where(np.isfinite(ret), (ret > 0).astype(np.float64), np.nan)
    return out, end


def triple_barrier(
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    horizon: int,
    width: float,
    vol: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Triple-barrier label (López de Prado 2018, ch. 3): 1.0 when the upper barrier
    ``close[t] * exp(width * vol[t])`` is touched first within ``horizon`` bars, 0.0 when the
    lower one or the time barrier is (a long-only model's "don't buy"). ``end`` is the row the
    outcome became known: the touch, or ``t + horizon``. When both barriers are touched in the
    same bar the lower one counts (the pessimistic order)."""
    _check(horizon)
    if width <= 0:
        raise ConfigError(f"triple-barrier width must be > 0, got {width}")
    n = close.shape[0]
    out = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    for t in range(n - horizon):
        c, v = close[t], vol[t]
        if not (np.isfinite(c) and np.isfinite(v) and c > 0 and v > 0):
            continue
        up, down = c * np.exp(width * v), c * np.exp(-width * v)
        label, done = 0.0, t + horizon
        for s in range(t + 1, t + horizon + 1):
            if low[s] <= down:
                label, done = 0.0, s
                break
            if high[s] >= up:
                label, done = 1.0, s
                break
        out[t], end[t] = label, done
    return out, end


def make_label(
    kind: str,
    close: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    horizon: int,
    *,
    width: float = 1.0,
    vol: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The label ``kind`` (one of :data:`LABELS`) for one symbol's ``(n,)`` series."""
    if kind == "sign":
        return sign_label(close, horizon)
    if kind == "forward_return":
        return forward_return(close, horizon)
    if kind == "triple_barrier":
        if vol is None:
            raise ConfigError("triple_barrier needs a volatility series (vol=)")
        return triple_barrier(close, high, low, horizon, width, vol)
    raise ConfigError(f"label {kind!r}: expected one of {list(LABELS)}")
