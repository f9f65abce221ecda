"""Run the reference engines (vectorbt, backtrader) on Grekko-style inputs.

Grekko's convention: a *decision* signal is taken on bar ``t``'s close; with
``execution="next_open"`` the market order fills at bar ``t + 1``'s open, with
``execution="close"`` it fills at bar ``t``'s close. The functions here translate
that convention into whatever the reference engine needs (see ``SEMANTICS.md``
beside this file for the source-cited reasoning) and return a small, engine
neutral :class:`RefResult`.

Heavy imports (vectorbt, backtrader) are done lazily inside the functions, so
``from tests.parity.references import RefResult`` is cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

TRADE_COLUMNS = [
    "col",
    "entry_idx",
    "exit_idx",
    "entry_price",
    "exit_price",
    "size",
    "direction",
    "pnl",
    "fees",
    "status",
]
"""Columns of :attr:`RefResult.trades`.

``entry_idx``/``exit_idx`` are the bars on which the fills really happen (for
``next_open`` that is the bar after the decision). ``direction`` is +1 (long) or
-1 (short). ``fees`` are entry + exit fees of the trade. ``status`` is
``"closed"`` or ``"open"``; an open trade has ``exit_idx == -1`` and is marked to
the last close in ``exit_price``/``pnl`` (unrealised, net of its entry fees).
"""


@dataclass(frozen=True)
class RefResult:
    """What a reference run reports."""

    n_trades: int
    """All round trips, closed ones plus a position still open at the end."""
    final_equity: float
    """Cash plus positions marked at the last close (summed over all assets)."""
    trades: pd.DataFrame
    """One row per trade, columns :data:`TRADE_COLUMNS`."""
    n_closed: int = -1
    """Closed round trips only (backtrader's native trade count)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Engine-specific details (e.g. rejected orders, per-column equity)."""


def empty_trades() -> pd.DataFrame:
    """An empty trades table with the right columns."""
    return pd.DataFrame({c: pd.Series(dtype="float64") for c in TRADE_COLUMNS})


def _as_2d(a: Any, dtype: Any = np.float64) -> np.ndarray:
    arr = np.asarray(a, dtype=dtype)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError("inputs must be 1-D (one asset) or 2-D (n_bars x n_assets)")
    return arr


def _bool_2d(a: Any, shape: tuple[int, int]) -> np.ndarray:
    if a is None:
        return np.zeros(shape, dtype=bool)
    arr = _as_2d(a, dtype=bool)
    return np.broadcast_to(arr, shape).copy()


def vbt_stop_fill_price(
    direction: int,
    entry_price: float,
    sl: float | None,
    tp: float | None,
    open_: float,
    high: float,
    low: float,
) -> float:
    """The fill price of vectorbt's stop exit on one bar, NaN if no stop is hit.

    Mirrors ``vectorbt/portfolio/nb.py:get_stop_price_nb`` with the SL checked
    before the TP (``simulate_from_signals_nb``) and ``stop_exit_price="stoplimit"``.
    Only used to label which vectorbt exit orders were stop exits (their bar index
    must not be shifted); the parity numbers never depend on it.
    """
    for stop, hit_below in ((sl, True), (tp, False)):
        if stop is None or np.isnan(stop):
            continue
        if (direction > 0) == hit_below:
            level = entry_price * (1 - stop)
            if open_ <= level:
                return open_
        else:
            level = entry_price * (1 + stop)
            if level <= open_:
                return open_
        if low <= level <= high:
            return level
    return math.nan


def vbt_from_signals(
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    entries: Any,
    exits: Any,
    *,
    short_entries: Any = None,
    short_exits: Any = None,
    fee: float = 0.001,
    init_cash: float = 10_000.0,
    execution: str = "next_open",
    sl: float | None = None,
    tp: float | None = None,
    size: str | float = "all",
    size_type: str = "amount",
    cash_sharing: bool = False,
    call_seq: str = "auto",
    min_size: float = 1e-8,
    **kwargs: Any,
) -> RefResult:
    """Run ``vectorbt.Portfolio.from_signals`` on Grekko *decision* signals.

    ``execution``:

    * ``"next_open"`` (Grekko default): the signal stays on its decision bar ``t``
      and the order price there is ``open[t + 1]`` (NaN on the last bar, so a
      decision on the last bar never fills). The stop base is the order price
      (``stop_entry_price="price"``) and vectorbt checks the stop from bar
      ``t + 1`` on, i.e. from the very bar the entry filled in. Order records are
      therefore stamped one bar early; the returned trades are re-stamped to the
      real fill bar (signal fills +1, stop exits unchanged).
    * ``"next_open_shifted"``: vectorbt's documented recipe, signals shifted
      forward one bar and ``price=open``. Same fills without stops; with stops
      the stop is only checked from the bar *after* the entry bar.
    * ``"close"``: fill at the decision bar's close, stop active from the next bar.

    ``size="all"`` is ``size=np.inf`` (all available cash, see SEMANTICS.md),
    a float is passed as is with ``size_type`` ("amount", "value" or "percent").
    Multi-asset inputs (2-D) with ``cash_sharing=True`` form one group sharing
    ``init_cash``; ``call_seq="auto"`` executes sells before buys in each bar.
    """
    import vectorbt as vbt

    o = _as_2d(open)
    h = _as_2d(high)
    lo = _as_2d(low)
    c = _as_2d(close)
    n, k = c.shape
    le = _bool_2d(entries, (n, k))
    lx = _bool_2d(exits, (n, k))
    se = _bool_2d(short_entries, (n, k))
    sx = _bool_2d(short_exits, (n, k))

    if execution == "next_open":
        price: Any = np.vstack([o[1:], np.full((1, k), np.nan)])
        stop_entry_price = "price"
    elif execution == "next_open_shifted":

        def shift(a: np.ndarray) -> np.ndarray:
            return np.vstack([np.zeros((1, k), dtype=bool), a[:-1]])

        le, lx, se, sx = shift(le), shift(lx), shift(se), shift(sx)
        price = o
        stop_entry_price = "price"
    elif execution == "close":
        price = c  # same as vectorbt's default price=np.inf (-> close), kept 2-D on purpose
        stop_entry_price = "close"
    else:
        raise ValueError(f"unknown execution {execution!r}")

    sizes = np.inf if size == "all" else float(size)
    idx = pd.RangeIndex(n)
    cols = pd.RangeIndex(k)

    def frame(a: Any) -> Any:
        return pd.DataFrame(a, index=idx, columns=cols) if isinstance(a, np.ndarray) else a

    # Always the long/short signal mode with 2-D arrays and explicit stop arguments:
    # all-False short signals are the same as direction="longonly", and uniform
    # argument types let numba reuse one compilation of simulate_from_signals_nb
    # (it is not cached on disk) for every call.
    use_stops = sl is not None or tp is not None
    stop_kwargs: dict[str, Any] = dict(
        sl_stop=np.nan if sl is None else float(sl),
        tp_stop=np.nan if tp is None else float(tp),
        stop_entry_price=stop_entry_price,
        stop_exit_price="stoplimit",
        upon_stop_exit="close",
        use_stops=use_stops,
    )
    group_kwargs: dict[str, Any] = {}
    if cash_sharing:
        group_kwargs = dict(cash_sharing=True, group_by=True, call_seq=call_seq)

    pf = vbt.Portfolio.from_signals(
        frame(c),
        frame(le),
        frame(lx),
        short_entries=frame(se),
        short_exits=frame(sx),
        price=frame(price),
        open=frame(o),
        high=frame(h),
        low=frame(lo),
        size=sizes,
        size_type=size_type,
        fees=fee,
        init_cash=init_cash,
        accumulate=False,
        upon_opposite_entry="reverse",
        min_size=min_size,
        **stop_kwargs,
        **group_kwargs,
        **kwargs,
    )

    rec = pf.trades.records_arr
    rows = []
    for r in rec:
        col = int(r["col"])
        direction = 1 if int(r["direction"]) == 0 else -1
        entry_idx = int(r["entry_idx"])
        exit_idx = int(r["exit_idx"])
        closed = int(r["status"]) == 1
        if execution == "next_open":
            entry_idx += 1
            if closed:
                is_stop = use_stops and not np.isnan(
                    vbt_stop_fill_price(
                        direction,
                        float(r["entry_price"]),
                        sl,
                        tp,
                        o[exit_idx, col],
                        h[exit_idx, col],
                        lo[exit_idx, col],
                    )
                )
                if not is_stop:
                    exit_idx += 1
        if not closed:
            exit_idx = -1
        rows.append(
            dict(
                col=col,
                entry_idx=entry_idx,
                exit_idx=exit_idx,
                entry_price=float(r["entry_price"]),
                exit_price=float(r["exit_price"]) if closed else float(c[-1, col]),
                size=float(r["size"]),
                direction=direction,
                pnl=float(r["pnl"]),
                fees=float(r["entry_fees"] + r["exit_fees"]),
                status="closed" if closed else "open",
            )
        )
    trades = pd.DataFrame(rows, columns=TRADE_COLUMNS) if rows else empty_trades()
    trades = trades.sort_values(["col", "entry_idx"], kind="stable").reset_index(drop=True)
    final_value = np.asarray(pf.final_value(), dtype=float)
    orders = pf.orders.records_arr
    return RefResult(
        n_trades=len(trades),
        final_equity=float(final_value.sum()),
        trades=trades,
        n_closed=int((trades["status"] == "closed").sum()),
        extra=dict(final_value=final_value, n_orders=len(orders), portfolio=pf),
    )


def _bt_allin_size(cash: float, price: float, fee: float) -> float:
    """Largest size backtrader's ``BackBroker._execute`` accepts for all of ``cash``.

    ``_execute`` computes ``cash - size * price - abs(size) * commission * price``
    and rejects the opening part (``Order.Margin``) when the result is < 0, so
    ``cash / (price * (1 + fee))`` is nudged down by ulps until it passes.
    """
    size = cash / (price * (1 + fee))
    while (cash - size * price) - abs(size) * fee * price < 0.0:
        size = math.nextafter(size, 0.0)
    return size


def bt_sma_cross(
    open: Any,
    high: Any,
    low: Any,
    close: Any,
    volume: Any,
    fast: int,
    slow: int,
    *,
    fee: float = 0.001,
    init_cash: float = 10_000.0,
    size_units: float = 0.1,
    long_short: bool = False,
    sizing: str = "units",
) -> RefResult:
    """Run a backtrader SMA(fast)/SMA(slow) cross with market orders.

    Signals come from ``bt.ind.CrossOver(SMA(close, fast), SMA(close, slow))``
    evaluated in ``next()`` on bar ``t``; market orders fill at bar ``t + 1``'s
    open (backtrader's default), commission ``setcommission(commission=fee)``
    (stock-like, percentage: ``abs(size) * fee * price`` per fill).

    ``sizing``:

    * ``"units"``: a fixed ``size_units`` per entry; with ``long_short`` the
      reversal is one order for ``2 * size_units`` (``order_target_size``).
    * ``"all_in_close"``: long only, ``size = cash / (close[t] * (1 + fee))`` at
      decision time (the usual backtrader way). The fill happens at ``open[t+1]``,
      so every entry whose open is above the decision close is rejected with
      ``Order.Margin``: it cannot match an all-in engine (see SEMANTICS.md).
    * ``"all_in_open"``: long only, cheat-on-open: the decision of bar ``t`` is
      remembered and the order is sized and sent in ``next_open()`` of bar
      ``t + 1`` with ``open[t+1]`` (``Cerebro(cheat_on_open=True)``, which sets
      ``broker.set_coo(True)``); it fills at that same open. This matches all-in.
    """
    import backtrader as bt

    o = np.asarray(open, dtype=float)
    n = len(o)
    df = pd.DataFrame(
        {
            "open": o,
            "high": np.asarray(high, dtype=float),
            "low": np.asarray(low, dtype=float),
            "close": np.asarray(close, dtype=float),
            "volume": np.asarray(volume, dtype=float),
        },
        index=pd.date_range("2000-01-01", periods=n, freq="h"),
    )
    if sizing not in ("units", "all_in_close", "all_in_open"):
        raise ValueError(f"unknown sizing {sizing!r}")
    if long_short and sizing != "units":
        raise ValueError("long/short is only implemented with fixed units")

    fills: list[tuple[int, float, float, float]] = []
    rejected: list[tuple[int, str]] = []
    closed_trades: list[tuple[int, int]] = []

    class SmaCross(bt.Strategy):  # type: ignore[misc]
        def __init__(self) -> None:
            sma_fast = bt.ind.SMA(self.data.close, period=fast)
            sma_slow = bt.ind.SMA(self.data.close, period=slow)
            self.cross = bt.ind.CrossOver(sma_fast, sma_slow)
            self.decision = 0

        def _act(self, x: float, price_for_size: float) -> None:
            pos = self.position.size
            if long_short:
                if x > 0 and pos <= 0:
                    self.order_target_size(target=size_units)
                elif x < 0 and pos >= 0:
                    self.order_target_size(target=-size_units)
                return
            if x > 0 and pos == 0:
                if sizing == "units":
                    self.buy(size=size_units)
                else:
                    self.buy(size=_bt_allin_size(self.broker.getcash(), price_for_size, fee))
            elif x < 0 and pos > 0:
                self.close()

        def next(self) -> None:
            if sizing == "all_in_open":
                self.decision = self.cross[0]  # acted upon in next_open of the next bar
            else:
                self._act(self.cross[0], self.data.close[0])

        def next_open(self) -> None:
            if sizing == "all_in_open" and self.decision:
                x, self.decision = self.decision, 0
                self._act(x, self.data.open[0])

        def notify_order(self, order: Any) -> None:
            bar = len(self.data) - 1
            if order.status == order.Completed:
                ex = order.executed
                fills.append((bar, float(ex.size), float(ex.price), float(ex.comm)))
            elif order.status in (order.Margin, order.Rejected, order.Canceled):
                rejected.append((bar, order.getstatusname()))

        def notify_trade(self, trade: Any) -> None:
            if trade.isclosed:
                closed_trades.append((int(trade.baropen) - 1, int(trade.barclose) - 1))

    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=sizing == "all_in_open")
    cerebro.adddata(bt.feeds.PandasData(dataname=df, openinterest=None))
    cerebro.addstrategy(SmaCross)
    cerebro.broker.setcash(init_cash)
    cerebro.broker.setcommission(commission=fee)
    cerebro.run()
    final_value = float(cerebro.broker.getvalue())

    trades = _fills_to_trades(fills, float(df["close"].iloc[-1]))
    return RefResult(
        n_trades=len(trades),
        final_equity=final_value,
        trades=trades,
        n_closed=len(closed_trades),
        extra=dict(fills=fills, rejected=rejected, closed_trades=closed_trades),
    )


def _fills_to_trades(
    fills: list[tuple[int, float, float, float]], last_close: float
) -> pd.DataFrame:
    """Split backtrader fills (bar, signed size, price, commission) into round trips.

    A fill that crosses zero closes the trade and opens a new one; its
    commission is split pro rata, like backtrader's ``closedcomm``/``openedcomm``.
    """
    rows: list[dict[str, Any]] = []
    pos = 0.0
    cur: dict[str, Any] | None = None
    for bar, size, price, comm in fills:
        closing = 0.0
        if pos != 0 and np.sign(size) != np.sign(pos):
            closing = min(abs(size), abs(pos))
        opening = abs(size) - closing
        if closing and cur is not None:
            part = comm * closing / abs(size)
            cur["fees"] += part
            if closing == abs(pos):
                d = cur["direction"]
                cur.update(
                    exit_idx=bar,
                    exit_price=price,
                    status="closed",
                    pnl=d * (price - cur["entry_price"]) * cur["size"] - cur["fees"],
                )
                rows.append(cur)
                cur = None
        if opening:
            cur = dict(
                col=0,
                entry_idx=bar,
                exit_idx=-1,
                entry_price=price,
                exit_price=math.nan,
                size=opening,
                direction=int(np.sign(size)),
                pnl=math.nan,
                fees=comm * opening / abs(size),
                status="open",
            )
        pos += size
    if cur is not None:
        d = cur["direction"]
        cur.update(
            exit_price=last_close,
            pnl=d * (last_close - cur["entry_price"]) * cur["size"] - cur["fees"],
        )
        rows.append(cur)
    return pd.DataFrame(rows, columns=TRADE_COLUMNS) if rows else empty_trades()
