"""A pool as an engine asset: its bars and, per bar, the pool state its fills are quoted on.

:func:`poolstate_bars` turns a per-minute pool-state file (the store's ``poolstate.parquet``,
demeter's layout: open/close/lowest/highest tick, amounts in, in-range liquidity) into
:class:`~grekko_research.data.bars.Bars` of the base token priced in the quote token and a
:class:`PoolSeries`, which :func:`grekko_research.engine.backtest` takes as
``pools={symbol: series}``; :func:`replayed_bars` does the same from pool events folded by
:class:`~grekko_research.dex.pool.PoolState` (then each bar also carries the window of
initialised ticks around the price, so a large swap crosses them).

Per bar ``t`` the pool row (``engine.layout.POOL_*``) is the pool *as of the bar's open*
(the liquidity in range when a market order decided at the previous close executes), the LP
fee, the gas per fill in the quote currency, and the window of ticks. A pool-state file has
no tick map: its rows carry no window, so a swap moves along the in-range liquidity only
(exact for trades that stay inside the current tick range; deeper ones over- or under-state
the impact by what the neighbouring ranges hold).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.dex.fill import AmmFillRule
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v3.tick_math import sqrt_ratio_at_tick
from grekko_research.engine.layout import (
    AMM_BASE_IS_TOKEN0,
    AMM_DECIMALS0,
    AMM_DECIMALS1,
    AMM_HAIRCUT_BPS,
    AMM_MAX_IMPACT,
    AMM_REFUSE,
    N_AMM_STATE,
    POOL_FEE,
    POOL_GAS,
    POOL_LIQUIDITY,
    POOL_N_TICKS,
    POOL_WINDOW,
)
from grekko_research.errors import ConfigError, DataError

if TYPE_CHECKING:
    import pandas as pd

    from grekko_research.dex.events import PoolEvent

__all__ = ["PoolSeries", "gas_quote_series", "pool_rows", "poolstate_bars", "replayed_bars"]


@dataclass(frozen=True)
class PoolSeries:
    """What the engine's AMM fill model needs of one asset.

    ``rows``: ``(n_bars, 4 + 3W)`` pool rows (``engine.layout.POOL_*``); ``base_is_token0``:
    the traded asset is the pool's token0 (else token1; the other token is the quote
    currency); ``decimals0``/``decimals1``: the tokens' decimals; ``rule``: the fill rule
    (price-impact limit, refuse or shrink, MEV haircut; its ``gas_quote`` is already in the
    rows' gas column).
    """

    rows: npt.NDArray[np.float64]
    base_is_token0: bool
    decimals0: int
    decimals1: int
    rule: AmmFillRule = field(default_factory=AmmFillRule)

    def __post_init__(self) -> None:
        rows = np.ascontiguousarray(self.rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] < POOL_WINDOW or (rows.shape[1] - POOL_WINDOW) % 3:
            raise ConfigError(f"PoolSeries.rows: expected (n, 4 + 3W), got shape {rows.shape}")
        bad = ~(rows[:, POOL_LIQUIDITY] >= 0.0) | ~(rows[:, POOL_GAS] >= 0.0)
        if bad.any():
            raise DataError(f"PoolSeries.rows: row {int(np.argmax(bad))}: liquidity or gas < 0 "
                            "or NaN")  # fmt: skip
        object.__setattr__(self, "rows", rows)

    def fill_state(self) -> npt.NDArray[np.float64]:
        """The asset's ``Rules.fill_state`` row (``engine.layout.AMM_*``)."""
        st = np.zeros(N_AMM_STATE)
        st[AMM_BASE_IS_TOKEN0] = float(self.base_is_token0)
        st[AMM_DECIMALS0] = self.decimals0
        st[AMM_DECIMALS1] = self.decimals1
        st[AMM_MAX_IMPACT] = self.rule.max_price_impact
        st[AMM_REFUSE] = float(self.rule.refuse)
        st[AMM_HAIRCUT_BPS] = self.rule.mev_haircut_bps
        return st


def pool_rows(
    liquidity: npt.ArrayLike,
    fee: float,
    gas: npt.ArrayLike,
    windows: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]] | None = None,
) -> npt.NDArray[np.float64]:
    """Build ``(n, 4 + 3W)`` pool rows.

    ``liquidity``, ``gas``: ``(n,)`` (gas may be a scalar); ``windows``: per bar the
    initialised ticks (ascending) and their net liquidity, at most ``W`` of each.
    """
    liq = np.asarray(liquidity, dtype=np.float64)
    n = liq.shape[0]
    w = 0 if windows is None else max((len(np.asarray(t)) for t, _ in windows), default=0)
    rows = np.zeros((n, POOL_WINDOW + 3 * w))
    rows[:, POOL_LIQUIDITY] = liq
    rows[:, POOL_FEE] = fee
    rows[:, POOL_GAS] = np.broadcast_to(np.asarray(gas, dtype=np.float64), (n,))
    if windows is not None:
        if len(windows) != n:
            raise ConfigError(f"pool_rows: {len(windows)} tick windows for {n} bars")
        a = POOL_WINDOW
        for t, (ticks, nets) in enumerate(windows):
            tk = np.asarray(ticks, dtype=np.int64)
            m = len(tk)
            rows[t, POOL_N_TICKS] = m
            rows[t, a : a + m] = tk
            rows[t, a + w : a + w + m] = [sqrt_ratio_at_tick(int(x)) / 2**96 for x in tk]
            rows[t, a + 2 * w : a + 2 * w + m] = np.asarray(nets, dtype=np.float64)
    return rows


def gas_quote_series(
    base_fee_gwei: npt.ArrayLike, gas_units: float, native_price: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Gas per swap in the quote currency: ``base fee × gas units × native token price``.

    ``base_fee_gwei`` and ``native_price`` (quote currency per native token) are per bar;
    a swap through a V3 pool costs about 120,000–180,000 gas.
    """
    fee = np.asarray(base_fee_gwei, dtype=np.float64)
    if gas_units < 0 or (fee < 0).any():
        raise ConfigError("gas_quote_series: base fee and gas units must be >= 0")
    return fee * 1e-9 * gas_units * np.asarray(native_price, dtype=np.float64)


def _tick_price(
    tick: npt.NDArray[np.float64], base_is_token0: bool, d0: int, d1: int
) -> np.ndarray:
    """Price of the base in the quote token at ``tick`` (human units)."""
    p0 = np.power(1.0001, tick) * 10.0 ** (d0 - d1)  # token1 per token0
    return p0 if base_is_token0 else 1.0 / p0


def poolstate_bars(
    frame: pd.DataFrame,
    symbol: str,
    *,
    base: str = "token1",
    decimals0: int,
    decimals1: int,
    fee_pips: int,
    timeframe: str = "1m",
    rule: AmmFillRule | None = None,
    gas: npt.ArrayLike | None = None,
    exchange: str = "uniswap_v3",
) -> tuple[Bars, PoolSeries]:
    """Bars and pool rows from per-minute pool state (``PoolStore.read_poolstate``'s frame).

    ``base``: which token is traded (``token0``/``token1``). Bars of ``timeframe`` (a whole
    number of minutes) start at the minute grid; a bar without any minute in the file is
    flagged ``filled`` (no market: nothing fills) at the previous close. The pool row of a
    bar holds the in-range liquidity at the end of the minute before it (the first bar: its
    own). ``gas``: per-bar gas in the quote currency (default ``rule.gas_quote``).
    """
    if base not in ("token0", "token1"):
        raise ConfigError(f"base must be 'token0' or 'token1', not {base!r}")
    rule = rule or AmmFillRule()
    base0 = base == "token0"
    step = int(parse_timeframe(timeframe).ms)
    if step % 60_000:
        raise ConfigError(f"pool-state bars need a whole number of minutes, not {timeframe!r}")
    if len(frame) == 0:
        raise DataError(f"no pool state rows for {symbol}")
    ts = frame["timestamp"].to_numpy(dtype=np.int64)
    if (np.diff(ts) <= 0).any():
        raise DataError(f"{symbol}: pool-state timestamps are not strictly increasing")
    col = {c: frame[c].to_numpy(dtype=np.float64) for c in
           ("openTick", "closeTick", "lowestTick", "highestTick")}  # fmt: skip
    o = _tick_price(col["openTick"], base0, decimals0, decimals1)
    c = _tick_price(col["closeTick"], base0, decimals0, decimals1)
    hi_tick, lo_tick = (col["highestTick"], col["lowestTick"])
    h = _tick_price(hi_tick if base0 else lo_tick, base0, decimals0, decimals1)
    lo = _tick_price(lo_tick if base0 else hi_tick, base0, decimals0, decimals1)
    in0 = np.array([float(int(v)) for v in frame["inAmount0"]]) / 10.0**decimals0
    in1 = np.array([float(int(v)) for v in frame["inAmount1"]]) / 10.0**decimals1
    vol = (in0 + in1 / c) if base0 else (in1 + in0 / c)  # base units traded
    liq_end = np.array([float(int(v)) for v in frame["currentLiquidity"]])
    liq_open = np.concatenate([liq_end[:1], liq_end[:-1]])
    # group the minutes into bars on the grid
    bucket = (ts // step) * step
    index = np.arange(bucket[0], bucket[-1] + step, step, dtype=np.int64)
    pos = np.searchsorted(index, bucket)
    first = np.r_[True, pos[1:] != pos[:-1]]
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(ts)]
    n = len(index)
    has = np.zeros(n, dtype=bool)
    has[pos[starts]] = True
    b_open, b_high, b_low, b_close, b_vol, b_liq = (np.full(n, np.nan) for _ in range(6))
    b_open[pos[starts]] = o[starts]
    b_close[pos[starts]] = c[ends - 1]
    b_high[pos[starts]] = np.maximum.reduceat(h, starts)
    b_low[pos[starts]] = np.minimum.reduceat(lo, starts)
    b_vol[pos[starts]] = np.add.reduceat(vol, starts)
    b_liq[pos[starts]] = liq_open[starts]
    for t in range(1, n):  # bars without a minute: the previous close, no volume
        if not has[t]:
            b_open[t] = b_high[t] = b_low[t] = b_close[t] = b_close[t - 1]
            b_vol[t] = 0.0
            b_liq[t] = b_liq[t - 1]
    g = rule.gas_quote if gas is None else gas
    rows = pool_rows(b_liq, fee_pips / 1e6, g)
    bars = Bars(
        index=index, symbols=(symbol,), timeframe=timeframe,
        open=b_open[:, None], high=b_high[:, None], low=b_low[:, None],
        close=b_close[:, None], volume=b_vol[:, None],
        filled=~has[:, None], exchange=exchange, market="dex",
    )  # fmt: skip
    return bars, PoolSeries(rows, base0, decimals0, decimals1, rule)


def replayed_bars(
    events: Sequence[PoolEvent],
    symbol: str,
    *,
    fee_pips: int,
    base: str = "token1",
    decimals0: int,
    decimals1: int,
    timeframe: str = "1m",
    window: int = 16,
    rule: AmmFillRule | None = None,
    exchange: str = "uniswap_v3",
) -> tuple[Bars, PoolSeries]:
    """Bars and pool rows from pool events folded in order (a day of logs, say).

    Each bar's open is the pool price after the last event before it, its close the price
    after its last event, high/low the extreme prices its swaps reached, volume the base
    units swapped in and out; its pool row the in-range liquidity and the ``window``
    nearest initialised ticks each side *as learned from the logs so far* (ticks initialised
    before the first event and never touched are unknown: the replay's tick learning
    recovers what the day reveals, :mod:`grekko_research.dex.learn`).
    """
    from grekko_research.dex.events import V3Swap
    from grekko_research.dex.learn import learn_tick_nets
    from grekko_research.dex.pool import TICK_SPACING
    from grekko_research.dex.v3.ticks import TickMap

    if base not in ("token0", "token1"):
        raise ConfigError(f"base must be 'token0' or 'token1', not {base!r}")
    if not events:
        raise DataError(f"no pool events for {symbol}")
    rule = rule or AmmFillRule()
    base0 = base == "token0"
    step = int(parse_timeframe(timeframe).ms)
    ts = _event_times(events)
    spacing = TICK_SPACING[fee_pips]
    nets, gross, _ = learn_tick_nets(events, spacing)
    state = PoolState(fee_pips, spacing, ticks=TickMap.from_nets(spacing, nets, gross))
    index = np.arange((ts[0] // step) * step, (ts[-1] // step) * step + step, step, dtype=np.int64)
    n = len(index)
    b_open, b_high, b_low, b_close, b_vol, b_liq = (np.full(n, np.nan) for _ in range(6))
    windows: list[tuple[list[int], list[float]]] = []
    scale = 10.0 ** (decimals0 - decimals1)

    def price() -> float:
        p0 = (state.sqrt_price_x96 / 2**96) ** 2 * scale
        return p0 if base0 else 1.0 / p0

    k = 0
    started = False
    for t in range(n):
        end = index[t] + step
        if started:
            b_open[t] = price()
            b_liq[t] = float(state.liquidity)
            windows.append(_window(state, window))
        hi, lo, vol = -np.inf, np.inf, 0.0
        while k < len(events) and ts[k] < end:
            e = events[k]
            state.apply(e)
            if isinstance(e, V3Swap):
                p = price()
                if not started:
                    started = True
                    b_open[t] = p
                    b_liq[t] = float(state.liquidity)
                    windows.append(_window(state, window))
                hi, lo = max(hi, p), min(lo, p)
                a_base = e.amount0 if base0 else e.amount1
                vol += abs(a_base) / 10.0 ** (decimals0 if base0 else decimals1)
            k += 1
        if not started:
            windows.append(([], []))
            continue
        b_close[t] = price()
        b_high[t] = max(hi, b_open[t], b_close[t])
        b_low[t] = min(lo, b_open[t], b_close[t])
        b_vol[t] = vol
    filled = np.isnan(b_open)
    b_liq[filled] = 0.0
    rows = pool_rows(b_liq, fee_pips / 1e6, rule.gas_quote, windows)
    bars = Bars(
        index=index, symbols=(symbol,), timeframe=timeframe,
        open=b_open[:, None], high=b_high[:, None], low=b_low[:, None],
        close=b_close[:, None], volume=b_vol[:, None],
        filled=filled[:, None], exchange=exchange, market="dex",
    )  # fmt: skip
    return bars, PoolSeries(rows, base0, decimals0, decimals1, rule)


def _event_times(events: Sequence[PoolEvent]) -> np.ndarray:
    """Block times of ``events`` in epoch ms, checked present and in order."""
    import pandas as pd

    stamps = [e.meta.timestamp for e in events]
    if not all(stamps):
        raise DataError("replayed_bars needs events with block timestamps")
    ts: np.ndarray = (
        pd.to_datetime(pd.Series(stamps), utc=True).dt.as_unit("ms").astype("int64").to_numpy()
    )
    if (np.diff(ts) < 0).any():
        raise DataError("replayed_bars: events are not in time order")
    return ts


def _window(state: PoolState, w: int) -> tuple[list[int], list[float]]:
    """The ``w`` nearest initialised ticks each side of the price, and their nets."""
    ticks = sorted(state.ticks.initialized())
    i = int(np.searchsorted(ticks, state.tick, side="right"))
    near = ticks[max(0, i - w) : i + w]
    return near, [float(state.ticks.net[t]) for t in near]
