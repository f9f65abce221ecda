"""Position sizing shared by the backtest kernel and the live bridge (pure numba functions).

The kernel's signal-entry sizing (``engine/nb_orders._entry_size``) calls these functions, so
a backtest and a live :class:`~grekko_research.engine.book.EngineBook` size an entry with the
very same arithmetic. Each returns an *unsigned* quantity in units (or a fraction of equity);
the caller applies the side, then buying power and the lot size cap it, and the run's risk
spec decides it (:func:`~grekko_research.risk.evaluate.decide_order_nb`).

======================  ===================================================================
function                size
======================  ===================================================================
fixed fraction          ``fraction × equity / price``
volatility target       ``(target / vol) × equity / price``; 0 without a positive volatility
fractional Kelly        ``fixed fraction`` with ``f = fraction × (p·b − (1 − p)) / b`` clipped to
                        ``[0, cap]``; ``p`` win rate, ``b`` payoff ratio (mean winning return /
                        mean losing return), given or estimated from closed trades
======================  ===================================================================

Kelly statistics of closed trades are kept as four running sums (count, wins, sum of winning
returns, sum of losing returns' magnitudes) so that the kernel and a live book, which keeps no
trade list, estimate identically: :func:`record_trade_nb` adds one trade's return,
:func:`kelly_estimate_nb` turns the sums into ``(p, b)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "fixed_fraction_size_nb",
    "kelly_entry_fraction_nb",
    "kelly_estimate_nb",
    "kelly_fraction_nb",
    "kelly_stats_nb",
    "record_trade_nb",
    "vol_target_size_nb",
]


@njit(cache=True, nogil=True)
def fixed_fraction_size_nb(fraction: float, equity: float, price: float) -> float:
    """Return the units worth ``fraction`` × ``equity`` at ``price``."""
    return fraction * equity / price


@njit(cache=True, nogil=True)
def vol_target_size_nb(target: float, vol: float, equity: float, price: float) -> float:
    """Return the units whose notional is ``equity × target / vol`` (0 when ``vol`` is unknown).

    ``target`` and ``vol`` are annualised volatilities (0.2 = 20 %).
    """
    if np.isnan(vol) or vol <= 0.0:
        return 0.0
    return (target / vol) * equity / price


@njit(cache=True, nogil=True)
def kelly_fraction_nb(fraction: float, win_rate: float, payoff: float, cap: float) -> float:
    """Return ``fraction × (p·b − (1 − p)) / b`` clipped to ``[0, cap]``.

    ``win_rate`` (p) is the share of winning trades, ``payoff`` (b) the mean winning return over
    the mean losing return (a magnitude). ``b = inf`` (no loss seen) gives ``fraction × p``;
    ``b ≤ 0``, or a NaN p or b, gives 0 (no edge is known).
    """
    p = win_rate
    b = payoff
    if not (p == p and b == b) or b <= 0.0:
        return 0.0
    if np.isinf(b):
        f = fraction * p
    else:
        f = fraction * (p * b - (1.0 - p)) / b
    if f <= 0.0:  # also turns -0.0 into 0.0
        return 0.0
    return min(f, cap)


@njit(cache=True, nogil=True)
def record_trade_nb(stats: np.ndarray, ret: float) -> None:
    """Add one closed trade's return to ``stats`` = ``[n, wins, win_sum, loss_sum]`` in place.

    A return above 0 is a win; anything else a loss (of magnitude ``-ret``). NaN is skipped.
    """
    if ret != ret:
        return
    stats[0] += 1.0
    if ret > 0.0:
        stats[1] += 1.0
        stats[2] += ret
    else:
        stats[3] -= ret


@njit(cache=True, nogil=True)
def kelly_estimate_nb(
    n: float, wins: float, win_sum: float, loss_sum: float
) -> tuple[float, float]:
    """Return ``(p, b)`` from the running sums of :func:`record_trade_nb` (NaN, NaN with no trade).

    ``b`` is ``inf`` when no trade lost (or every loss was exactly 0), 0 when none won.
    """
    if n <= 0.0:
        return np.nan, np.nan
    p = wins / n
    losses = n - wins
    if wins <= 0.0:
        return p, 0.0
    if losses <= 0.0 or loss_sum <= 0.0:
        return p, np.inf
    return p, (win_sum / wins) / (loss_sum / losses)


@njit(cache=True, nogil=True)
def kelly_stats_nb(returns: np.ndarray) -> np.ndarray:
    """Return the running sums ``[n, wins, win_sum, loss_sum]`` of a ``(m,)`` array of trade returns."""
    stats = np.zeros(4)
    for i in range(returns.shape[0]):
        record_trade_nb(stats, returns[i])
    return stats


@njit(cache=True, nogil=True)
def kelly_entry_fraction_nb(
    fraction: float,
    win_rate: float,
    payoff: float,
    cap: float,
    min_trades: float,
    warmup: float,
    stats: np.ndarray,
) -> float:
    """Return the fraction of equity a Kelly-sized entry takes.

    With ``win_rate`` and ``payoff`` given (not NaN) they are used as they are. Otherwise both
    are estimated from the closed trades' running sums ``stats`` = ``[n, wins, win_sum,
    loss_sum]`` (:func:`record_trade_nb`) once at least ``min_trades`` trades have closed;
    before that the entry takes ``warmup`` (clipped to ``[0, cap]``).
    """
    if win_rate == win_rate and payoff == payoff:
        return kelly_fraction_nb(fraction, win_rate, payoff, cap)
    if stats[0] < min_trades:
        return min(max(warmup, 0.0), cap)
    p, b = kelly_estimate_nb(stats[0], stats[1], stats[2], stats[3])
    return kelly_fraction_nb(fraction, p, b, cap)
