"""Historical VaR over a rolling window, maintained incrementally: one estimator for every driver.

The definition is :func:`~grekko_research.risk.checks.historical_var_nb`'s (the reference):
with the last ``window`` returns ``r = equity[i] / equity[i − 1] − 1`` sorted ascending, VaR is
``−r[k − 1]`` for ``k = ⌈window × (1 − confidence)⌉`` (at least 1); NaN until ``window + 1``
equities were seen and while a return of the window is invalid (an equity before it not
positive, or the equity itself NaN). Sorting the window again at every bar costs
O(window log window) and an allocation; here the window is kept sorted as it slides: each new
equity evicts the oldest return and inserts the new one by binary search, moving only the
values between the two positions (O(window) at worst, in place, nothing allocated), and the
quantile is read at its index. The returns are the same floating-point numbers and an order
statistic does not depend on how it was sorted, so the value is the reference's to the bit
(``tests/unit/risk/test_var_window.py`` compares them over random and real series).

The state is one float64 array (:func:`var_state_len` long) so a backtest kernel keeps it in
its risk state (``engine/_risk.py``) and the live risk engine in a :class:`VarWindow`; both
drive it with :func:`var_push_nb` and read it with :func:`var_check_nb`:

=======================  ==========================================================
``st[0]``                window (returns kept)
``st[1]``                equities pushed so far
``st[2]``                invalid returns in the window
``st[3]``                the last equity pushed
``st[4 : 4+w]``          the window's returns, a ring in arrival order
``st[4+w : 4+2w]``       1.0 where that return is valid
``st[4+2w : 4+3w]``      the valid returns, sorted ascending (NaN last, as ``np.sort``)
=======================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numba import njit

__all__ = [
    "VarWindow",
    "var_check_nb",
    "var_init_nb",
    "var_push_nb",
    "var_state_len",
    "var_value_nb",
]

_W, _COUNT, _BAD, _LAST = range(4)
_HEAD = 4


@njit(cache=True, nogil=True)
def var_state_len(window: int) -> int:
    """Length of the state array of a ``window``-return VaR."""
    return _HEAD + 3 * max(window, 0)


@njit(cache=True, nogil=True)
def var_init_nb(st: np.ndarray, window: int) -> None:
    """Reset ``st`` (``var_state_len(window)`` floats) to an empty window."""
    st[:] = 0.0
    st[_W] = window
    st[_LAST] = np.nan


@njit(cache=True, nogil=True, inline="always")
def _before(x: float, y: float) -> bool:
    """``x`` sorts before ``y``: ascending, NaN last (``np.sort``'s order)."""
    return x < y or (x == x and y != y)


@njit(cache=True, nogil=True)
def _lower_bound(s: np.ndarray, lo: int, n: int, x: float) -> int:
    """First index ``i`` in ``s[lo : lo + n]`` (sorted) with ``x`` not after ``s[i]``."""
    a, b = lo, lo + n
    while a < b:
        m = (a + b) >> 1
        if _before(s[m], x):
            a = m + 1
        else:
            b = m
    return a


@njit(cache=True, nogil=True)
def _replace(s: np.ndarray, lo: int, n: int, old: float, new: float) -> None:
    """Replace one ``old`` by ``new`` in the sorted ``s[lo : lo + n]``, moving only the values
    between their positions."""
    p = _lower_bound(s, lo, n, old)  # s[p] is old (or, for NaN, a NaN: all alike)
    q = _lower_bound(s, lo, n, new)
    if q <= p:
        for i in range(p, q, -1):
            s[i] = s[i - 1]
        s[q] = new
    else:
        for i in range(p, q - 1):
            s[i] = s[i + 1]
        s[q - 1] = new


@njit(cache=True, nogil=True)
def _insert(s: np.ndarray, lo: int, n: int, new: float) -> None:
    q = _lower_bound(s, lo, n, new)
    for i in range(lo + n, q, -1):
        s[i] = s[i - 1]
    s[q] = new


@njit(cache=True, nogil=True)
def _delete(s: np.ndarray, lo: int, n: int, old: float) -> None:
    p = _lower_bound(s, lo, n, old)
    for i in range(p, lo + n - 1):
        s[i] = s[i + 1]


@njit(cache=True, nogil=True)
def var_push_nb(st: np.ndarray, equity: float) -> None:
    """Add the next equity: its return over the last one enters the window, the oldest leaves."""
    w = int(st[_W])
    count = int(st[_COUNT])
    if count >= 1 and w >= 1:
        a = st[_LAST]
        valid = a > 0.0 and equity == equity
        r = equity / a - 1.0 if valid else np.nan
        m = count - 1  # this return's index; the ring slot it takes held return m − w
        held = min(m, w)
        bad = int(st[_BAD])
        ring, ok, srt = _HEAD, _HEAD + w, _HEAD + 2 * w
        slot = m % w
        n_sorted = held - bad
        out_valid = m >= w and st[ok + slot] > 0.0
        if m >= w and not out_valid:
            bad -= 1
        if valid and out_valid:
            _replace(st, srt, n_sorted, st[ring + slot], r)
        elif valid:
            _insert(st, srt, n_sorted, r)
        elif out_valid:
            _delete(st, srt, n_sorted, st[ring + slot])
        if not valid:
            bad += 1
        st[ring + slot] = r
        st[ok + slot] = 1.0 if valid else 0.0
        st[_BAD] = bad
    st[_LAST] = equity
    st[_COUNT] = count + 1


@njit(cache=True, nogil=True)
def var_value_nb(st: np.ndarray, confidence: float) -> float:
    """The historical VaR of the window (a loss fraction); NaN while it is not full or holds an
    invalid return."""
    w = int(st[_W])
    if w < 1 or st[_COUNT] < w + 1 or st[_BAD] > 0.0:
        return np.nan
    k = int(np.ceil(w * (1.0 - confidence) - 1e-9))
    k = min(max(k, 1), w)
    var: float = -st[_HEAD + 2 * w + k - 1]
    return var


@njit(cache=True, nogil=True)
def var_check_nb(st: np.ndarray, confidence: float, limit: float) -> tuple[bool, float, float]:
    """Return ``(ok, VaR, limit)``: passes while the window is not full, fails on bad data
    (the breaker's check, :func:`~grekko_research.risk.checks.var_nb`'s rule)."""
    value = var_value_nb(st, confidence)
    if st[_COUNT] < st[_W] + 1:
        return True, value, limit
    return value <= limit, value, limit


class VarWindow:
    """The incremental VaR state of a live run (or of any caller outside a kernel).

    Parameters
    ----------
    window
        Returns kept (``risk.portfolio.var.window``).
    equities
        Equities to push first, oldest first (a restored run's history).
    """

    def __init__(self, window: int, equities: Iterable[float] = ()) -> None:
        self.window = int(window)
        self.state = np.empty(int(var_state_len(self.window)))
        var_init_nb(self.state, self.window)
        for e in equities:
            self.push(e)

    def push(self, equity: float) -> None:
        """Add the next bar's equity."""
        var_push_nb(self.state, float(equity))

    @property
    def count(self) -> int:
        """Equities pushed so far."""
        return int(self.state[_COUNT])

    def value(self, confidence: float) -> float:
        """The historical VaR at ``confidence`` (NaN while not full or on bad data)."""
        return float(var_value_nb(self.state, float(confidence)))
