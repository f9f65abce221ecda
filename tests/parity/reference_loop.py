"""A plain-Python reference simulator of Grekko's *target* backtest semantics.

Clarity over speed: no numba, no vectorisation in the simulation. The Grekko
numba engine must produce the same numbers; ``test_reference_semantics.py``
shows that this loop equals vectorbt and backtrader (configured as described in
``SEMANTICS.md``), so the loop can later be swapped for the engine.

Semantics (one bar ``i``, ``execution="next_open"``):

1. **Open.** Orders decided on bar ``i - 1``'s close fill at ``open[i]``. With
   several assets sharing cash, sells go before buys (``order="auto"``,
   vectorbt's ``call_seq="auto"``: ascending approximate order value, ties in
   column order) or plain column order (``order="column"``).
2. **Stops.** For every open position, the stop-loss and then the take-profit
   are checked against bar ``i`` -- including the bar the position was entered
   in. Levels are ``entry_fill * (1 - sl)`` / ``entry_fill * (1 + tp)`` (long;
   mirrored for short). If the bar opens beyond a level the exit fills at the
   open (gap), otherwise at the level when ``low <= level <= high``. The stop-loss
   wins if both are hit in the same bar. The whole position is closed.
3. **Close.** Decision signals of bar ``i`` are turned into orders for
   ``open[i + 1]`` (signals of the last bar are dropped). An asset that was
   stopped out in this bar ignores its signals of this bar (one order per asset
   and bar, as in vectorbt). Entries while already in the same direction and
   exits while flat are ignored; an entry against the current position reverses
   it in one order; an entry and an exit of the same direction on one bar cancel.

With ``execution="close"`` step 3 fills at ``close[i]`` right away and the stop
of a new position is first checked on bar ``i + 1``.

Money: a buy of ``q`` units at ``p`` costs ``q * p * (1 + fee)``; a sell brings
``q * p * (1 - fee)``. Buys are capped by the cash (a partial fill buys
``cash / (1 + fee) / p``); all-in (``size=inf``) is exactly that cap. A short
sale adds its proceeds to cash; an all-in short (or the short leg of a
reversal) sells ``(cash + long_proceeds) / (p * (1 + fee))``. Equity is
``cash + sum(position * close)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tests.parity.references import TRADE_COLUMNS, RefResult, empty_trades


def sma_fsum(close: Any, period: int) -> np.ndarray:
    """Simple moving average as backtrader computes it: ``math.fsum(window) / period``.

    ``fsum`` is exactly rounded, so the values (and thus every cross) are
    bit-identical to ``backtrader.indicators.Average``.
    """
    x = np.asarray(close, dtype=float)
    out = np.full(len(x), np.nan)
    for i in range(period - 1, len(x)):
        out[i] = math.fsum(x[i - period + 1 : i + 1]) / period
    return out


def crossover_signals(close: Any, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-up / cross-down decision signals of SMA(fast) against SMA(slow).

    Same rule as ``backtrader.indicators.CrossOver``: the difference that was
    last non-zero before bar ``t`` had the other sign, and the difference on bar
    ``t`` is strictly positive (up) / negative (down). Signals therefore strictly
    alternate. The first possible signal is on bar ``slow``.
    """
    f = sma_fsum(close, fast)
    s = sma_fsum(close, slow)
    n = len(f)
    up = np.zeros(n, dtype=bool)
    down = np.zeros(n, dtype=bool)
    if n <= slow:
        return up, down
    nzd = f[slow - 1] - s[slow - 1]
    for t in range(slow, n):
        d = f[t] - s[t]
        up[t] = nzd < 0.0 and d > 0.0
        down[t] = nzd > 0.0 and d < 0.0
        if d:
            nzd = d
    return up, down


@dataclass
class _Position:
    size: float = 0.0  # signed units
    entry_idx: int = -1
    entry_price: float = math.nan
    entry_fees: float = 0.0
    sl_level: float = math.nan
    tp_level: float = math.nan


def stop_fill_price(pos: _Position, open_: float, high: float, low: float) -> float:
    """Price at which the position's stop exits on this bar (NaN: not hit)."""
    long = pos.size > 0
    for level, adverse in ((pos.sl_level, True), (pos.tp_level, False)):
        if math.isnan(level):
            continue
        # "below" levels: long stop-loss, short take-profit
        if long == adverse:
            if open_ <= level:
                return open_
        elif level <= open_:
            return open_
        if low <= level <= high:
            return level
    return math.nan


class _Book:
    """Cash shared by a group of assets, their positions and the trade list."""

    def __init__(
        self,
        n_assets: int,
        init_cash: float,
        fee: float,
        sl: float | None,
        tp: float | None,
        min_size: float,
    ) -> None:
        self.cash = float(init_cash)
        self.fee = fee
        self.sl = sl
        self.tp = tp
        self.min_size = min_size
        self.pos = [_Position() for _ in range(n_assets)]
        self.trades: list[dict[str, Any]] = []
        self.rejected = 0

    # -- fills ---------------------------------------------------------------
    def _open(self, col: int, i: int, size: float, price: float, fees: float) -> None:
        p = self.pos[col]
        p.size, p.entry_idx, p.entry_price, p.entry_fees = size, i, price, fees
        d = 1 if size > 0 else -1
        p.sl_level = math.nan if self.sl is None else price * (1 - d * self.sl)
        p.tp_level = math.nan if self.tp is None else price * (1 + d * self.tp)

    def _close(self, col: int, i: int, price: float, fees: float) -> None:
        p = self.pos[col]
        d = 1 if p.size > 0 else -1
        q = abs(p.size)
        self.trades.append(
            dict(
                col=col,
                entry_idx=p.entry_idx,
                exit_idx=i,
                entry_price=p.entry_price,
                exit_price=price,
                size=q,
                direction=d,
                pnl=d * (price - p.entry_price) * q - p.entry_fees - fees,
                fees=p.entry_fees + fees,
                status="closed",
            )
        )
        self.pos[col] = _Position()

    def buy(self, col: int, i: int, qty: float, price: float, cash_limit: float) -> None:
        """Buy ``qty`` (inf = all of ``cash_limit``): covers a short first, rest goes long."""
        p = self.pos[col]
        if cash_limit <= 0:
            self.rejected += 1
            return
        cost = qty * price * (1 + self.fee)
        if cost <= cash_limit:
            fees = qty * price * self.fee
            self.cash -= cost
        else:  # partial fill: spend all of cash_limit
            qty = cash_limit / (1 + self.fee) / price
            fees = cash_limit - cash_limit / (1 + self.fee)
            self.cash -= cash_limit
        if qty < self.min_size:
            self.rejected += 1
            self.cash += qty * price + fees  # undo
            return
        cover = min(qty, -p.size) if p.size < 0 else 0.0
        if cover and cover < -p.size:
            raise NotImplementedError("not enough cash to cover the whole short position")
        if cover:
            self._close(col, i, price, fees * cover / qty)
        if qty - cover > 0:
            self._open(col, i, qty - cover, price, fees * (qty - cover) / qty)

    def sell(self, col: int, i: int, qty: float, price: float) -> None:
        """Sell ``qty`` units: closes a long first, the rest opens a short."""
        p = self.pos[col]
        if qty < self.min_size:
            self.rejected += 1
            return
        fees = qty * price * self.fee
        self.cash += qty * price - fees
        close_q = min(qty, p.size) if p.size > 0 else 0.0
        if close_q and close_q < p.size:
            raise NotImplementedError("partial reduction is not part of these semantics")
        if close_q:
            self._close(col, i, price, fees * close_q / qty)
        if qty - close_q > 0:
            self._open(col, i, -(qty - close_q), price, fees * (qty - close_q) / qty)

    def equity(self, close_row: np.ndarray) -> float:
        return self.cash + sum(
            p.size * float(close_row[j]) for j, p in enumerate(self.pos) if p.size
        )


@dataclass
class _Order:
    col: int
    side: str  # "long" (go long), "short" (go short), "exit_long", "exit_short"


def _decide(pos: float, le: bool, lx: bool, se: bool, sx: bool, allow_short: bool) -> str | None:
    """Turn one bar's decision signals into an order intent, given the position."""
    if le and lx:  # same-direction conflict: ignore both
        le = lx = False
    if se and sx:
        se = sx = False
    if le and se:  # long and short entry together: ignore both
        le = se = False
    if not allow_short:
        se = sx = False
    if pos > 0:
        if se:
            return "short"  # reversal
        if lx:
            return "exit_long"
        return None
    if pos < 0:
        if le:
            return "long"  # reversal
        if sx:
            return "exit_short"
        return None
    if le:
        return "long"
    if se:
        return "short"
    return None


def simulate(
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
    order: str = "auto",
    min_size: float = 1e-8,
) -> RefResult:
    """Simulate Grekko's target semantics (see the module docstring).

    ``size="all"``: all available cash (long) / all free cash (short).
    A float with ``size_type="amount"`` is a fixed number of units per entry
    (a reversal trades ``|position| + size``); with ``size_type="value"`` a fixed
    notional per entry, converted to units at the fill price; with
    ``size_type="percent"`` a fraction of the cash at the time of the fill
    (long entries from flat only). Without ``cash_sharing`` every column of a
    2-D input is an independent account with ``init_cash``.
    """
    o = np.asarray(open, dtype=float)
    if o.ndim == 1:
        args = [np.asarray(a, dtype=float)[:, None] for a in (open, high, low, close)]
        sig = [
            None if a is None else np.asarray(a, dtype=bool)[:, None]
            for a in (entries, exits, short_entries, short_exits)
        ]
        return simulate(
            *args,
            sig[0],
            sig[1],
            short_entries=sig[2],
            short_exits=sig[3],
            fee=fee,
            init_cash=init_cash,
            execution=execution,
            sl=sl,
            tp=tp,
            size=size,
            size_type=size_type,
            cash_sharing=cash_sharing,
            order=order,
            min_size=min_size,
        )
    n, k = o.shape
    if k > 1 and not cash_sharing:
        parts = [
            simulate(
                *(np.asarray(a, dtype=float)[:, j] for a in (open, high, low, close)),
                np.asarray(entries, dtype=bool)[:, j],
                np.asarray(exits, dtype=bool)[:, j],
                short_entries=None
                if short_entries is None
                else np.asarray(short_entries, bool)[:, j],
                short_exits=None if short_exits is None else np.asarray(short_exits, bool)[:, j],
                fee=fee,
                init_cash=init_cash,
                execution=execution,
                sl=sl,
                tp=tp,
                size=size,
                size_type=size_type,
                order=order,
                min_size=min_size,
            )
            for j in range(k)
        ]
        frames = [r.trades.assign(col=j) for j, r in enumerate(parts)]
        trades = (
            pd.concat(frames, ignore_index=True) if any(len(f) for f in frames) else empty_trades()
        )
        return RefResult(
            n_trades=sum(r.n_trades for r in parts),
            final_equity=sum(r.final_equity for r in parts),
            trades=trades,
            n_closed=sum(r.n_closed for r in parts),
        )

    h = np.asarray(high, dtype=float)
    lo = np.asarray(low, dtype=float)
    c = np.asarray(close, dtype=float)

    def sig(a: Any) -> np.ndarray:
        return (
            np.zeros((n, k), dtype=bool)
            if a is None
            else np.broadcast_to(np.asarray(a, dtype=bool), (n, k))
        )

    le, lx, se, sx = sig(entries), sig(exits), sig(short_entries), sig(short_exits)
    allow_short = short_entries is not None or short_exits is not None
    if execution not in ("next_open", "close"):
        raise ValueError(f"unknown execution {execution!r}")
    qty_param = math.inf if size == "all" else float(size)
    book = _Book(k, init_cash, fee, sl, tp, min_size)

    def approx_value(od: _Order, price: float) -> float:
        """vectorbt's approximate order value (call_seq="auto" sort key)."""
        pos = book.pos[od.col].size
        if od.side in ("exit_long", "exit_short"):
            return -pos * price
        sign = 1.0 if od.side == "long" else -1.0
        if size_type == "amount":
            q = abs(pos) + qty_param if pos * sign < 0 else qty_param
            return sign * q * price
        if size_type == "value":
            return sign * qty_param
        return sign * qty_param * book.cash  # percent

    def execute(orders: list[_Order], i: int, prices: np.ndarray) -> None:
        if order == "auto":
            orders = sorted(orders, key=lambda od: approx_value(od, prices[od.col]))  # stable
        elif order != "column":
            raise ValueError(f"unknown order {order!r}")
        for od in orders:
            col, p = od.col, float(prices[od.col])
            if math.isnan(p):
                continue
            pos = book.pos[col].size
            if od.side == "exit_long":
                book.sell(col, i, pos, p)
            elif od.side == "exit_short":
                book.buy(col, i, -pos, p, book.cash)
            elif od.side == "long":
                if size_type == "amount":
                    book.buy(col, i, -min(pos, 0.0) + qty_param, p, book.cash)
                elif size_type == "value":
                    if pos < 0:
                        raise NotImplementedError("reversal with value sizing")
                    book.buy(col, i, qty_param / p, p, book.cash)
                elif size_type == "percent":
                    if pos < 0:
                        raise NotImplementedError("reversal with percent sizing")
                    book.buy(col, i, math.inf, p, qty_param * book.cash)
                else:
                    raise ValueError(f"unknown size_type {size_type!r}")
            else:  # "short"
                long_q = max(pos, 0.0)
                if size_type != "amount":
                    raise NotImplementedError("short entries use amount sizing here")
                if math.isinf(qty_param):
                    free = book.cash + long_q * p * (1 - fee)
                    q = long_q + free / (p * (1 + fee))
                else:
                    q = long_q + qty_param
                book.sell(col, i, q, p)

    pending: list[_Order] = []
    for i in range(n):
        # 1. open: fill what was decided on the previous close
        if execution == "next_open" and pending:
            execute(pending, i, o[i])
        pending = []
        # 2. stops, active from the entry bar itself (next_open) / the next bar (close)
        stopped = [False] * k
        if sl is not None or tp is not None:
            for col in range(k):
                p = book.pos[col]
                if p.size == 0 or (execution == "close" and p.entry_idx >= i):
                    continue
                px = stop_fill_price(p, o[i, col], h[i, col], lo[i, col])
                if not math.isnan(px):
                    stopped[col] = True
                    if p.size > 0:
                        book.sell(col, i, p.size, px)
                    else:
                        book.buy(col, i, -p.size, px, book.cash)
        # 3. close: decisions
        orders = []
        for col in range(k):
            if stopped[col]:
                continue
            side = _decide(
                book.pos[col].size, le[i, col], lx[i, col], se[i, col], sx[i, col], allow_short
            )
            if side is not None:
                orders.append(_Order(col, side))
        if execution == "close":
            execute(orders, i, c[i])
        elif i + 1 < n:
            pending = orders

    trades = book.trades
    for col, p in enumerate(book.pos):
        if p.size:
            d = 1 if p.size > 0 else -1
            q = abs(p.size)
            last = float(c[-1, col])
            trades.append(
                dict(
                    col=col,
                    entry_idx=p.entry_idx,
                    exit_idx=-1,
                    entry_price=p.entry_price,
                    exit_price=last,
                    size=q,
                    direction=d,
                    pnl=d * (last - p.entry_price) * q - p.entry_fees,
                    fees=p.entry_fees,
                    status="open",
                )
            )
    df = pd.DataFrame(trades, columns=TRADE_COLUMNS) if trades else empty_trades()
    df = df.sort_values(["col", "entry_idx"], kind="stable").reset_index(drop=True)
    return RefResult(
        n_trades=len(df),
        final_equity=book.equity(c[-1]),
        trades=df,
        n_closed=int((df["status"] == "closed").sum()),
        extra=dict(rejected=book.rejected, cash=book.cash),
    )
