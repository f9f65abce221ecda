"""Independent pandas formulas for the indicators, and the comparison helpers.

Each reference is written from the textbook definition with pandas rolling /
ewm operations, not from Grekko's kernels, and takes 1-D numpy arrays without
NaN (the real data files have none). ``seeded_ewm`` is the one building block
shared by the recursive indicators: pandas' ``ewm(adjust=False)`` started from
the mean of the first ``seed`` values instead of the first value.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

LN2 = math.log(2.0)


def seeded_ewm(x: pd.Series, alpha: float, seed: int) -> pd.Series:
    """Return ``y = y_prev + alpha·(x − y_prev)`` seeded with the mean of the first ``seed`` valid values."""
    valid = x.dropna()
    y = valid.copy()
    y.iloc[: seed - 1] = np.nan
    y.iloc[seed - 1] = valid.iloc[:seed].mean()
    return y.ewm(alpha=alpha, adjust=False).mean().reindex(x.index)


def _s(x: np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(x, dtype=float))


def true_range(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> pd.Series:
    """Return the true range; the first bar, without a previous close, is ``high − low``."""
    hs, ls, pc = _s(h), _s(lo), _s(c).shift(1)
    return pd.concat([hs - ls, (hs - pc).abs(), (ls - pc).abs()], axis=1).max(axis=1)


def ref_sma(c: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    return (_s(c).rolling(w).mean().to_numpy(),)


def ref_ema(c: np.ndarray, span: int) -> tuple[np.ndarray, ...]:
    return (seeded_ewm(_s(c), 2.0 / (span + 1), span).to_numpy(),)


def ref_wma(c: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    weights = np.arange(1, w + 1, dtype=float)
    out = _s(c).rolling(w).apply(lambda a: float(a @ weights) / weights.sum(), raw=True)
    return (out.to_numpy(),)


def ref_rsi(c: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    d = _s(c).diff()
    gain = seeded_ewm(d.clip(lower=0.0), 1.0 / n, n)
    loss = seeded_ewm((-d).clip(lower=0.0), 1.0 / n, n)
    return ((100.0 * gain / (gain + loss)).to_numpy(),)


def ref_macd(c: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, ...]:
    s = _s(c)
    line = seeded_ewm(s, 2.0 / (fast + 1), fast) - seeded_ewm(s, 2.0 / (slow + 1), slow)
    sig = seeded_ewm(line, 2.0 / (signal + 1), signal)
    return line.to_numpy(), sig.to_numpy(), (line - sig).to_numpy()


def ref_atr(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    return (seeded_ewm(true_range(h, lo, c), 1.0 / n, n).to_numpy(),)


def ref_bollinger(c: np.ndarray, w: int, k: float) -> tuple[np.ndarray, ...]:
    roll = _s(c).rolling(w)
    mid, sd = roll.mean(), roll.std(ddof=0)
    return mid.to_numpy(), (mid + k * sd).to_numpy(), (mid - k * sd).to_numpy()


def ref_donchian(h: np.ndarray, lo: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    upper, lower = _s(h).rolling(w).max(), _s(lo).rolling(w).min()
    return upper.to_numpy(), lower.to_numpy(), ((upper + lower) / 2).to_numpy()


def ref_keltner(
    h: np.ndarray, lo: np.ndarray, c: np.ndarray, w: int, aw: int, mult: float
) -> tuple[np.ndarray, ...]:
    band = pd.Series(ref_atr(h, lo, c, aw)[0])
    mid = seeded_ewm(_s(c), 2.0 / (w + 1), w).where(band.notna())
    return mid.to_numpy(), (mid + mult * band).to_numpy(), (mid - mult * band).to_numpy()


def ref_adx(h: np.ndarray, lo: np.ndarray, c: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    hs, ls = _s(h), _s(lo)
    up, down = hs.diff(), -ls.diff()
    plus_dm = up.where((up > down) & (up > 0), 0.0).iloc[1:]
    minus_dm = down.where((down > up) & (down > 0), 0.0).iloc[1:]
    tr = true_range(h, lo, c).iloc[1:]
    # Wilder's running sum S ← S − S/n + x seeded with a sum is n × this mean-seeded EMA;
    # the factor n cancels in the DI ratios.
    s_tr = seeded_ewm(tr, 1.0 / n, n)
    plus_di = 100.0 * seeded_ewm(plus_dm, 1.0 / n, n) / s_tr
    minus_di = 100.0 * seeded_ewm(minus_dm, 1.0 / n, n) / s_tr
    dx = 100.0 * (plus_di - minus_di).abs() / (plus_di + minus_di)
    adx = seeded_ewm(dx, 1.0 / n, n)
    pad = [np.nan]
    return (
        np.r_[pad, adx.to_numpy()],
        np.r_[pad, plus_di.to_numpy()],
        np.r_[pad, minus_di.to_numpy()],
    )


def ref_obv(c: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, ...]:
    direction = np.sign(_s(c).diff()).fillna(0.0)
    return ((direction * _s(v)).cumsum().to_numpy(),)


def ref_vwap(
    h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray, w: int
) -> tuple[np.ndarray, ...]:
    tp = (_s(h) + _s(lo) + _s(c)) / 3.0
    return (((tp * _s(v)).rolling(w).sum() / _s(v).rolling(w).sum()).to_numpy(),)


def ref_zscore(c: np.ndarray, w: int) -> tuple[np.ndarray, ...]:
    s = _s(c)
    roll = s.rolling(w)
    return (((s - roll.mean()) / roll.std(ddof=0)).to_numpy(),)


def ref_volatility(c: np.ndarray, w: int, ppy: float) -> tuple[np.ndarray, ...]:
    r = np.log(_s(c)).diff()
    return ((r.rolling(w).std(ddof=1) * math.sqrt(ppy)).to_numpy(),)


def ref_simple_volatility(c: np.ndarray, w: int, ppy: float) -> tuple[np.ndarray, ...]:
    r = _s(c).pct_change()
    return ((r.rolling(w).std(ddof=1) * math.sqrt(ppy)).to_numpy(),)


def ref_parkinson(h: np.ndarray, lo: np.ndarray, w: int, ppy: float) -> tuple[np.ndarray, ...]:
    u = np.log(_s(h) / _s(lo)) ** 2
    return (np.sqrt(u.rolling(w).mean() / (4.0 * LN2) * ppy).to_numpy(),)


def ref_garman_klass(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, w: int, ppy: float
) -> tuple[np.ndarray, ...]:
    u = 0.5 * np.log(_s(h) / _s(lo)) ** 2 - (2.0 * LN2 - 1.0) * np.log(_s(c) / _s(o)) ** 2
    return (np.sqrt(u.rolling(w).mean().clip(lower=0.0) * ppy).to_numpy(),)


def ref_xs_rank(x: np.ndarray) -> np.ndarray:
    frame = pd.DataFrame(x)
    ranks = frame.rank(axis=1, method="average")
    count = frame.notna().sum(axis=1)
    scaled = ranks.sub(1.0).div(count - 1, axis=0)
    scaled[count == 1] = ranks[count == 1] * 0.5  # a lone value: rank 1 → 0.5
    return scaled.to_numpy()


def assert_matches(
    actual: np.ndarray,
    expected: np.ndarray,
    *,
    rtol: float,
    atol: float = 0.0,
    start: int = 0,
) -> None:
    """Assert equal NaN positions and values within ``rtol``/``atol`` from row ``start`` on."""
    a, e = np.asarray(actual)[start:], np.asarray(expected)[start:]
    assert a.shape == e.shape, (a.shape, e.shape)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg="NaN positions differ")
    assert np.isfinite(e).any(), "nothing to compare"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
