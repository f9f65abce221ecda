"""Fill models and fees: the one place an order becomes a fill price, a quantity and a fee.

Every fill of every driver (the backtest kernels, ``run_grid``, the live
:class:`~grekko_research.engine.book.EngineBook`, the paper venue) goes through
:func:`fill_nb` for its price and quantity and :func:`fee_nb` for its fee.

:func:`fill_nb` dispatches on the asset's fill model (``Rules.fill_model[j]``)
and hands the model its own data (``Rules.fill_state[j]``, one row per asset):

* ``FILL_OHLC`` (0, today's only model): a taker fill moves the reference
  price by the configured slippage, rounds it to the tick against the trader
  and keeps it inside the bar's low–high; a fill at a resting level (a maker
  limit, a take-profit) fills at that level, in full.

* ``FILL_AMM`` (1): a DEX pool's quote (:func:`amm_fill_price_nb`): the
  swap of the order's size through the pool as of the bar (``Market.pool``:
  in-range liquidity, LP fee, gas and a window of initialised ticks) starting
  at the reference price, by the AMM fill rule of :mod:`grekko_research.dex.fill`
  (price impact limit: shrink or refuse; MEV haircut), gas paid in the price.

* ``FILL_CALIBRATED`` (2): a cost model fitted to our own fills
  (:func:`calibrated_fill_nb`, :class:`~grekko_research.engine.costs.CostModel`,
  ``docs/execution.md``): a taker pays ``a + b·sqrt(|size| / volume) + c·σ``
  basis points (volume and σ, the close-to-close volatility in bps per bar,
  as of the bar before the fill's: ``Market.pool`` rows, ``CAL_BAR_*``),
  capped, on the tick grid, inside the bar;
  a resting limit fills the expected share ``P(fill)`` of its size, a
  logistic function of how far the bar traded through its price.

A new model — say an L2 book walk (depth, partial fills) — is a new ``FILL_*`` id, one
scalar function of ``(state row, side, size, reference price, bar)`` returning
``(price, quantity)``, and one branch here; its data rides in ``fill_state``
(or a wider array beside it in :class:`~grekko_research.engine._state.Rules`),
so no kernel signature changes.

Also here: the tick rounding, the pending-order trigger rules and the position
stop rules, the scalar decisions about *whether* and *at which level* something
fills.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.dex._nb import FloatPool
from grekko_research.dex.fill import amm_fill_nb
from grekko_research.engine._state import Market, Rules, njit_inline
from grekko_research.engine.layout import (
    AMM_BASE_IS_TOKEN0,
    AMM_DECIMALS0,
    AMM_DECIMALS1,
    AMM_HAIRCUT_BPS,
    AMM_MAX_IMPACT,
    AMM_REFUSE,
    CAL_A,
    CAL_B,
    CAL_BAR_SIGMA,
    CAL_BAR_VOLUME,
    CAL_C,
    CAL_FILL_A,
    CAL_FILL_B,
    CAL_MAX_BPS,
    CFG_SLIP_KIND,
    CFG_SLIP_VALUE,
    FILL_AMM,
    FILL_CALIBRATED,
    FILL_OHLC,
    KIND_LIMIT,
    KIND_MARKET,
    KIND_STOP,
    KIND_STOP_LIMIT,
    KIND_STOP_LOSS,
    KIND_TAKE_PROFIT,
    KIND_TRAILING_STOP,
    POOL_FEE,
    POOL_GAS,
    POOL_LIQUIDITY,
    POOL_N_TICKS,
    POOL_WINDOW,
    S_P_KIND,
    S_P_LIMIT,
    S_P_SIZE,
    S_P_STOP,
    S_P_TRIG,
    S_POS,
    S_SL,
    S_TP,
    S_TRAIL_D,
    S_TRAIL_PEAK,
    SLIP_BPS,
    SLIP_RANGE,
    SLIP_VOLUME,
)

__all__ = [
    "FILL_AMM",
    "FILL_CALIBRATED",
    "FILL_OHLC",
    "amm_fill_price_nb",
    "calibrated_bar_features_nb",
    "calibrated_fill_nb",
    "fee_nb",
    "fill_nb",
    "limit_touch_nb",
]


@njit_inline
def fee_nb(size: float, price: float, rate: float, fixed: float) -> float:
    """Return the fee of a fill of ``size`` units at ``price``: ``rate`` × notional + ``fixed``."""
    return abs(size) * price * rate + fixed


@njit(cache=True, nogil=True)
def _round_tick(price: float, tick: float, side: float) -> float:
    """Round a fill price to the tick grid against the trader (buys up, sells down)."""
    if tick <= 0.0:
        return price
    steps = price / tick
    if side > 0.0:
        return float(np.ceil(steps - 1e-9) * tick)
    return float(np.floor(steps + 1e-9) * tick)


@njit(cache=True, nogil=True)
def _round_tick_nearest(price: float, tick: float) -> float:
    if tick <= 0.0 or np.isnan(price):
        return price
    return float(np.round(price / tick) * tick)


@njit(cache=True, nogil=True)
def _slipped(
    price: float,
    side: float,
    size: float,
    high: float,
    low: float,
    volume: float,
    tick: float,
    cfg: np.ndarray,
) -> float:
    """Return a taker fill price after slippage, on the tick grid, inside [low, high]."""
    kind = int(cfg[CFG_SLIP_KIND])
    value = cfg[CFG_SLIP_VALUE]
    out = price
    if kind == SLIP_BPS:
        out = price * (1.0 + side * value * 1e-4)
    elif kind == SLIP_RANGE:
        out = price + side * value * (high - low)
    elif kind == SLIP_VOLUME:
        share = abs(size) / volume if volume > 0.0 else 1.0
        out = price * (1.0 + side * value * share)
    if kind != 0:
        out = _round_tick(out, tick, side)
    return min(max(out, low), high)


@njit(cache=True, nogil=True)
def fill_nb(
    rules: Rules,
    market: Market,
    t: int,
    j: int,
    size: float,
    price: float,
    taker: bool,
) -> tuple[float, float]:
    """Return (fill price, filled quantity) of an order of ``size`` signed units on bar ``t``.

    ``price`` is the reference: the open or close for a market order, the
    level for a stop or a resting limit. ``size`` may be ±inf (all the buying
    power, sized at the fill): slippage by volume then sees no size. The
    quantity is signed like ``size``.
    """
    model = rules.fill_model[j]
    if model == FILL_OHLC:
        if not taker:
            return price, size
        side = 1.0 if size > 0.0 else -1.0
        q = 0.0 if np.isinf(size) else size
        fill = _slipped(price, side, q, market.high[t, j], market.low[t, j],
                        market.volume[t, j], rules.tick[j], rules.cfg)  # fmt: skip
        return fill, size
    if model == FILL_AMM:
        return amm_fill_price_nb(rules.fill_state[j], market.pool[t, j], size, price)
    if model == FILL_CALIBRATED:
        return calibrated_fill_nb(rules.fill_state[j], market.pool[t, j], size, price, taker,
                                  rules.tick[j], market.high[t, j], market.low[t, j])  # fmt: skip
    return np.nan, 0.0  # an unknown model fills nothing (refused as a NaN price)


@njit(cache=True, nogil=True)
def bar_volatility_bps_nb(close: np.ndarray, t: int, j: int, window: int) -> float:
    """Return the standard deviation (ddof 1) of the close-to-close log returns of asset ``j``
    over the ``window`` bars ending at bar ``t`` (included), in basis points per bar; 0.0 when
    fewer than two returns are known (NaN closes are skipped). ``close``: ``(n, k)``."""
    n = 0
    s = 0.0
    ss = 0.0
    for i in range(max(t - window + 1, 1), t + 1):
        a = close[i - 1, j]
        b = close[i, j]
        if a > 0.0 and b > 0.0:
            r = np.log(b / a)
            n += 1
            s += r
            ss += r * r
    if n < 2:
        return 0.0
    var = (ss - s * s / n) / (n - 1)
    return float(np.sqrt(max(var, 0.0)) * 1e4)


@njit(cache=True, nogil=True)
def calibrated_bar_features_nb(close: np.ndarray, volume: np.ndarray, j: int, window: int,
                               out: np.ndarray) -> None:  # fmt: skip
    """Write asset ``j``'s per-bar features of the calibrated model into ``out`` ``(n, k, w)``
    (``CAL_BAR_*`` columns): for a fill on bar ``t``, the volume of bar ``t − 1`` and the
    volatility of the closes up to it (:func:`bar_volatility_bps_nb`; bar 0: its own)."""
    for t in range(close.shape[0]):
        ref = t - 1 if t > 0 else 0
        out[t, j, CAL_BAR_VOLUME] = volume[ref, j]
        out[t, j, CAL_BAR_SIGMA] = bar_volatility_bps_nb(close, ref, j, window)


@njit(cache=True, nogil=True)
def calibrated_fill_nb(
    st: np.ndarray,
    row: np.ndarray,
    size: float,
    price: float,
    taker: bool,
    tick: float,
    high: float,
    low: float,
) -> tuple[float, float]:
    """Return (price, signed quantity) of an order under a calibrated cost model.

    ``st``: the asset's ``CAL_*`` row of ``Rules.fill_state``; ``row``: its ``CAL_BAR_*`` row
    of ``Market.pool`` for the bar (:func:`calibrated_bar_features_nb`: the volume and the
    volatility of the bar before — the decision's bar for a fill at the open, known when the
    order is sent). A taker fill pays ``min(a + b·sqrt(|size| / volume) + c·σ, max_bps)``
    basis points against the trader on ``price`` (then the tick, against the trader, and the
    bar's ``low``–``high``); no volume (0 or NaN) counts as a participation of 1. A resting
    fill (a limit at its level) fills ``P(fill) × size`` at ``price``, with
    ``P(fill) = 1 / (1 + exp(-(fa + fb·x)))`` and ``x`` how far the bar traded through the
    level in bps (a buy's level − low, a sell's high − level); ``fa = +inf``: always in full.
    Nothing fills (NaN price) for a size of ±inf (the cost depends on the size).
    """
    if np.isinf(size):
        return np.nan, 0.0
    buy = size > 0.0
    if not taker:
        fa = st[CAL_FILL_A]
        if np.isinf(fa) and fa > 0.0:
            return price, size
        through = (price - low) if buy else (high - price)
        x = max(through, 0.0) / price * 1e4
        p = 1.0 / (1.0 + np.exp(-(fa + st[CAL_FILL_B] * x)))
        return price, size * p
    vol = row[CAL_BAR_VOLUME]
    share = abs(size) / vol if vol > 0.0 else 1.0
    bps = st[CAL_A] + st[CAL_B] * np.sqrt(share) + st[CAL_C] * row[CAL_BAR_SIGMA]
    bps = min(max(bps, 0.0), st[CAL_MAX_BPS])
    side = 1.0 if buy else -1.0
    out = _round_tick(price * (1.0 + side * bps * 1e-4), tick, side)
    return min(max(out, low), high), size


_LOG_TICK = np.log(1.0001)


@njit(cache=True, nogil=True)
def amm_fill_price_nb(
    st: np.ndarray, row: np.ndarray, size: float, price: float
) -> tuple[float, float]:
    """Return (price, signed base quantity) of a swap of ``size`` base units through a pool.

    ``st``: the asset's ``AMM_*`` row of ``Rules.fill_state``; ``row``: its
    ``POOL_*`` row of ``Market.pool`` for the bar (liquidity, fee, gas, tick
    window). The swap starts at the pool price equal to ``price`` (the open for
    a market order, the level for a stop or a limit; a pool has no resting
    orders, so every fill is a swap there). A sale sends ``|size|`` base units
    in; a buy sends ``size × price`` of the quote currency in and receives the
    quote's output, so the quantity bought is smaller than ``size`` by the
    price impact and the LP fee. The AMM fill rule (``dex.fill.amm_fill_nb``)
    shrinks an order over the price-impact limit to the limit or refuses it
    and takes the MEV haircut off the output; gas (quote currency) is paid in
    the price. Nothing fills (NaN price) for a size of ±inf (a swap's price
    depends on its size), a pool without liquidity or a refused order.
    """
    if np.isinf(size) or size == 0.0 or not price > 0.0 or not row[POOL_LIQUIDITY] > 0.0:
        return np.nan, 0.0
    base0 = st[AMM_BASE_IS_TOKEN0] != 0.0
    d0 = st[AMM_DECIMALS0]
    d1 = st[AMM_DECIMALS1]
    raw = price * 10.0 ** (d1 - d0) if base0 else 10.0 ** (d1 - d0) / price  # token1/token0
    w = (row.shape[0] - POOL_WINDOW) // 3
    n = int(row[POOL_N_TICKS])
    a = POOL_WINDOW
    pool = FloatPool(
        np.sqrt(raw), row[POOL_LIQUIDITY], int(np.floor(np.log(raw) / _LOG_TICK)), row[POOL_FEE],
        row[a : a + n], row[a + w : a + w + n], row[a + 2 * w : a + 2 * w + n],
    )  # fmt: skip
    unit_base = 10.0 ** (d0 if base0 else d1)
    unit_quote = 10.0 ** (d1 if base0 else d0)
    buy = size > 0.0
    if buy:  # the quote token in: token0 in when the base is token1
        zero_for_one = not base0
        amount = size * price * unit_quote
    else:
        zero_for_one = base0
        amount = -size * unit_base
    used, out = amm_fill_nb(
        pool, zero_for_one, amount, st[AMM_MAX_IMPACT], st[AMM_REFUSE] != 0.0, st[AMM_HAIRCUT_BPS]
    )
    if not (used > 0.0 and out > 0.0):
        return np.nan, 0.0
    gas = row[POOL_GAS]
    if buy:
        qty = out / unit_base
        return (used / unit_quote + gas) / qty, qty
    qty = used / unit_base
    got = out / unit_quote - gas
    if got <= 0.0:  # gas eats the whole sale
        return np.nan, 0.0
    return got / qty, -qty


@njit_inline
def limit_touch_nb(
    buy: bool, lim: float, o: float, h: float, lo: float, at_open: bool
) -> tuple[float, bool, bool]:
    """A resting limit at ``lim``: (price, is_maker, filled) at the bar's open or inside it.

    At the open: filled at the open when the open is at or through the limit (a taker);
    inside the bar: filled at the limit when the range touches it (a maker). The one rule of
    the bar model for a resting limit (the pending orders here, the execution algorithms'
    schedules in :mod:`grekko_research.engine.algos`).
    """
    if at_open:
        if (buy and o <= lim) or (not buy and o >= lim):
            return o, False, True
        return np.nan, False, False
    if (buy and lo <= lim) or (not buy and h >= lim):
        return lim, True, True
    return np.nan, False, False


@njit(cache=True, nogil=True)
def _pending_fill_price(
    S: np.ndarray, j: int, o: float, h: float, lo: float, at_open: bool
) -> tuple[float, bool, bool]:
    """Return (price, is_maker, filled) for the asset's pending order at the open or intrabar."""
    kind = int(S[j, S_P_KIND])
    size = S[j, S_P_SIZE]
    buy = size > 0.0
    lim = S[j, S_P_LIMIT]
    stp = S[j, S_P_STOP]
    if kind == KIND_MARKET:
        return o, False, at_open
    if kind == KIND_STOP_LIMIT and S[j, S_P_TRIG] == 0.0:
        return _stop_limit_trigger(S, j, o, h, lo, at_open)
    if kind in (KIND_LIMIT, KIND_STOP_LIMIT):
        return limit_touch_nb(buy, lim, o, h, lo, at_open)
    if kind == KIND_STOP:
        if at_open:
            if (buy and o >= stp) or (not buy and o <= stp):
                return o, False, True
            return np.nan, False, False
        if (buy and h >= stp) or (not buy and lo <= stp):
            return stp, False, True
    return np.nan, False, False


@njit(cache=True, nogil=True)
def _stop_limit_trigger(
    S: np.ndarray, j: int, o: float, h: float, lo: float, at_open: bool
) -> tuple[float, bool, bool]:
    """An untriggered stop-limit order: trigger it and fill it when its rules allow."""
    buy = S[j, S_P_SIZE] > 0.0
    lim = S[j, S_P_LIMIT]
    stp = S[j, S_P_STOP]
    if at_open:
        if (buy and o >= stp) or (not buy and o <= stp):
            S[j, S_P_TRIG] = 1.0
            if (buy and o <= lim) or (not buy and o >= lim):
                return o, False, True
        return np.nan, False, False
    if (buy and h >= stp) or (not buy and lo <= stp):
        S[j, S_P_TRIG] = 1.0
        if (buy and lim >= stp) or (not buy and lim <= stp):
            return stp, False, True
    return np.nan, False, False


@njit(cache=True, nogil=True)
def stop_touch_nb(
    long: bool,
    stop: float,
    tp: float,
    o: float,
    h: float,
    lo: float,
    at_open: bool,
    tp_first: bool,
) -> tuple[int, float]:
    """Return (0 none, 1 stop, 2 take-profit; exit price) for a position's levels on one bar.

    The one rule of position stops, used by both kernels: at the open, a level
    the open passed fills at the open (the stop first); inside the bar, a level
    the range reaches fills at the level, and when both are reached
    ``tp_first`` decides. NaN levels are off.
    """
    if at_open:
        if stop == stop and ((long and o <= stop) or (not long and o >= stop)):
            return 1, o
        if tp == tp and ((long and o >= tp) or (not long and o <= tp)):
            return 2, o
        return 0, np.nan
    stop_hit = stop == stop and ((long and lo <= stop) or (not long and h >= stop))
    tp_hit = tp == tp and ((long and h >= tp) or (not long and lo <= tp))
    if stop_hit and tp_hit:
        if tp_first:
            return 2, tp
        return 1, stop
    if stop_hit:
        return 1, stop
    if tp_hit:
        return 2, tp
    return 0, np.nan


@njit_inline
def _venue_level(level: float, tick: float, up: bool) -> float:
    """A stop level on the venue's tick grid, as the runner sends it (towards the market)."""
    if tick <= 0.0 or level != level:
        return level
    steps = level / tick
    steps = np.ceil(steps - 1e-9) if up else np.floor(steps + 1e-9)  # float noise of exact ticks
    return float(steps * tick)


@njit(cache=True, nogil=True)
def venue_stop_hit_nb(
    S: np.ndarray, j: int, o: float, h: float, lo: float, gap: bool, tick: float
) -> tuple[int, float]:
    """Return (kind, exit price) of a position's stops held by the venue on one bar, else (0, nan).

    The Binance spot simulator's rules for the runner's OCO list (``live/sim/_spot_types.py``):
    the levels sit on the tick grid towards the market; the list's leg above the market is
    checked first (a long's take-profit, a short's stop-loss), then the other; a leg triggers
    at the open when ``gap`` (the list was on the venue before this bar) and the open is past
    it, else at its level when the range reaches it; a stop-market fills at that price.
    """
    pos = S[j, S_POS]
    if pos == 0.0:
        return 0, np.nan
    long = pos > 0.0
    sl = _venue_level(S[j, S_SL], tick, long)
    tp = _venue_level(S[j, S_TP], tick, not long)
    first, first_kind, second, second_kind = tp, KIND_TAKE_PROFIT, sl, KIND_STOP_LOSS
    if not long:
        first, first_kind, second, second_kind = sl, KIND_STOP_LOSS, tp, KIND_TAKE_PROFIT
    # The leg above the market triggers when the price rises to it; the one below, falls.
    if first == first:
        if gap and o >= first:
            return first_kind, o
        if h >= first:
            return first_kind, first
    if second == second:
        if gap and o <= second:
            return second_kind, o
        if lo <= second:
            return second_kind, second
    return 0, np.nan


@njit(cache=True, nogil=True)
def _stop_hit(
    S: np.ndarray, j: int, o: float, h: float, lo: float, at_open: bool, both: int
) -> tuple[int, float]:
    """Return (kind, exit price) of a position stop hit at the open or intrabar, else (0, nan)."""
    pos = S[j, S_POS]
    if pos == 0.0:
        return 0, np.nan
    long = pos > 0.0
    sl = S[j, S_SL]
    tp = S[j, S_TP]
    trail = np.nan
    d = S[j, S_TRAIL_D]
    if d == d:
        peak = S[j, S_TRAIL_PEAK]
        if d < 0.0:  # a fraction of the peak (pct trailing), stored negated
            d = -d * peak
        trail = peak - d if long else peak + d
    # The tighter of stop-loss and trailing stop protects the position.
    stop = sl
    stop_kind = KIND_STOP_LOSS
    if trail == trail and (
        np.isnan(stop) or (long and trail > stop) or (not long and trail < stop)
    ):
        stop = trail
        stop_kind = KIND_TRAILING_STOP
    which, price = stop_touch_nb(long, stop, tp, o, h, lo, at_open, both != 0)
    if which == 1:
        return stop_kind, price
    if which == 2:
        return KIND_TAKE_PROFIT, price
    return 0, np.nan


@njit(cache=True, nogil=True)
def usdm_stop_hit_nb(
    S: np.ndarray, j: int, o: float, h: float, lo: float, gap: bool, tick: float, skip_sl: bool
) -> tuple[int, float]:
    """Return (kind, exit price) of the first of a position's USD-M algo orders that one bar
    triggers, else (0, nan) (``Stops(trigger="usdm")``, ``live/sim/_usdm_algo.py``).

    Binance USD-M has no OCO: the runner places the stop-loss, the take-profit and the
    trailing stop as separate reduce-only algo orders, in that order, and a bar triggers them
    in placement order (the first fills, the others find nothing to reduce and expire). The
    stop-loss and take-profit levels sit on the tick grid towards the market and trigger at
    the open when ``gap`` (placed before this bar) and the open is past them, else at their
    level when the range reaches it. The trailing stop (``TRAILING_STOP_MARKET``, activated at
    the mark price of its placement: the entry bar's open) is not checked in its placement
    bar (``gap`` False); later, its level is ``callbackRate`` behind the peak of the bars
    before this one (``S_TRAIL_PEAK``), rounded away from the market onto the tick grid, and
    it triggers at the open past it or at the level. ``skip_sl``: the stop-loss has triggered
    already (a stop-limit resting at its limit).
    """
    pos = S[j, S_POS]
    if pos == 0.0:
        return 0, np.nan
    long = pos > 0.0
    sl = np.nan if skip_sl else _venue_level(S[j, S_SL], tick, long)
    if sl == sl:
        if long and ((gap and o <= sl) or lo <= sl):
            return KIND_STOP_LOSS, min(o, sl) if gap else sl
        if not long and ((gap and o >= sl) or h >= sl):
            return KIND_STOP_LOSS, max(o, sl) if gap else sl
    tp = _venue_level(S[j, S_TP], tick, not long)
    if tp == tp:
        if long and ((gap and o >= tp) or h >= tp):
            return KIND_TAKE_PROFIT, max(o, tp) if gap else tp
        if not long and ((gap and o <= tp) or lo <= tp):
            return KIND_TAKE_PROFIT, min(o, tp) if gap else tp
    d = S[j, S_TRAIL_D]
    if gap and d == d and d < 0.0:  # a pct trailing stop (stored negated), from its next bar
        peak = S[j, S_TRAIL_PEAK]
        level = _venue_level(peak * (1.0 + d) if long else peak * (1.0 - d), tick, not long)
        if long and (o <= level or lo <= level):
            return KIND_TRAILING_STOP, min(o, level)
        if not long and (o >= level or h >= level):
            return KIND_TRAILING_STOP, max(o, level)
    return 0, np.nan


@njit(cache=True, nogil=True)
def coinbase_stop_hit_nb(
    S: np.ndarray, j: int, o: float, h: float, lo: float, gap: bool, tick: float
) -> tuple[int, float]:
    """Return (kind, price) of a position's Coinbase bracket on one bar, else (0, nan)
    (``Stops(trigger="coinbase")``, ``live/sim/_coinbase_book.py``).

    One ``trigger_bracket_gtc`` order holds both exits, levels on the tick grid towards the
    market. Its stop leg is checked first: it triggers at the open when ``gap`` (placed before
    this bar) and the open is past it, else at its level when the range reaches it (kind
    stop-loss, the trigger price). Otherwise its limit leg (the take-profit) fills at its
    price, as a maker, when the bar trades *through* it (a sell's high above it): never on a
    touch, nor at a gapped open beyond it.
    """
    pos = S[j, S_POS]
    if pos == 0.0:
        return 0, np.nan
    long = pos > 0.0
    sl = _venue_level(S[j, S_SL], tick, long)
    if sl == sl:
        if long and ((gap and o <= sl) or lo <= sl):
            return KIND_STOP_LOSS, min(o, sl) if gap else sl
        if not long and ((gap and o >= sl) or h >= sl):
            return KIND_STOP_LOSS, max(o, sl) if gap else sl
    tp = _venue_level(S[j, S_TP], tick, not long)
    if tp == tp and ((long and h > tp) or (not long and lo < tp)):
        return KIND_TAKE_PROFIT, tp
    return 0, np.nan
