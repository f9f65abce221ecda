"""The drift attribution itself: a backtest's fills and a live run's orders → the P&L gap, term by
term (pure: no I/O, no clock; see :mod:`live.drift` for the method).

Every price is in the quote currency, every time in ms: a bar is named by its open time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from grekko_research.errors import ConfigError

__all__ = [
    "TERMS",
    "BacktestFill",
    "DriftReport",
    "LiveFill",
    "LiveOrder",
    "Prices",
    "Refusal",
    "attribute",
]

TERMS = ("signal", "timing", "slippage", "fees", "funding", "partial", "refused", "residual")
"""The terms of the gap, in the order the table shows them (``docs/execution.md``)."""

_STEPS = ("signal", "refused", "partial", "timing", "slippage", "fees", "funding")
# The order the backtest is turned into the live run, one term at a time (the waterfall).
_REL = 1e-9  # two quantities this close (relative) are one: an exit that closes the position


@dataclass(frozen=True)
class BacktestFill:
    """One executed order of the backtest.

    ``model_price`` is the bar model's price before the engine's own slippage (the open of
    the bar it executed at); ``price`` what the engine filled at; ``fee`` its fee.
    """

    symbol: str
    side: str  # "buy" | "sell"
    qty: float
    price: float
    fee: float
    decision_ts: int  # the bar whose close decided it
    exec_ts: int  # the bar at whose open it executed
    model_price: float


@dataclass(frozen=True)
class LiveFill:
    """One execution of a live order (``ts_ms`` on the run's clock; ``fee`` in quote)."""

    ts_ms: int
    qty: float
    price: float
    fee: float = 0.0


@dataclass(frozen=True)
class LiveOrder:
    """One order of the live run, as its log tells it.

    ``modelled``: an order the backtest can have too (the strategy's decision, a risk flatten,
    an emulated stop's exit); a manual order, a kill switch's flatten or a native stop is
    not, and its P&L lands in the residual.
    """

    client_id: str
    symbol: str
    side: str
    qty: float  # asked
    decision_ts: int
    state: str
    fills: tuple[LiveFill, ...] = ()
    modelled: bool = True
    reason: str | None = None

    @property
    def filled_qty(self) -> float:
        return math.fsum(f.qty for f in self.fills)

    @property
    def refused(self) -> bool:
        """Refused by the venue (nothing filled)."""
        return self.state == "REJECTED" and not self.fills


@dataclass(frozen=True)
class Refusal:
    """An order the live risk engine refused at a decision (no order was created)."""

    symbol: str
    decision_ts: int
    qty: float
    reason: str = ""


@dataclass(frozen=True)
class Prices:
    """One side's bars over the window: each bar's open per symbol, and the marks.

    ``marks``: each symbol's close at the window's last bar ``last_ts`` (what open positions
    are valued at). ``opens[symbol][ts]``: the open of bar ``ts`` (absent: the side did not
    see that bar).
    """

    tf_ms: int
    first_ts: int
    last_ts: int
    opens: Mapping[str, Mapping[int, float]]
    marks: Mapping[str, float]

    def __post_init__(self) -> None:
        if self.tf_ms <= 0:
            raise ConfigError(f"Prices.tf_ms must be positive, got {self.tf_ms}")
        if self.last_ts < self.first_ts:
            raise ConfigError(f"Prices: last bar {self.last_ts} before first {self.first_ts}")
        bad = [s for s, m in self.marks.items() if not math.isfinite(m)]
        if bad:
            raise ConfigError(f"Prices: no finite mark (last close) for {bad}")

    def bar_of(self, ts_ms: int) -> int:
        """The open time of the bar containing ``ts_ms``."""
        return self.first_ts + (ts_ms - self.first_ts) // self.tf_ms * self.tf_ms

    def open_at(self, symbol: str, ts: int) -> float:
        return float(self.opens.get(symbol, {}).get(ts, math.nan))


@dataclass(frozen=True)
class DriftReport:
    """The gap and its terms (``terms[t]`` sums ``orders[i]['terms'][t]`` over the orders,
    except ``funding`` and ``residual``, which are the run's); every figure in quote currency.

    ``live_pnl - backtest_pnl == gap == sum(terms.values())`` exactly: the residual is
    computed as what the other terms leave.
    """

    live_pnl: float
    backtest_pnl: float
    terms: dict[str, float]
    orders: list[dict[str, Any]]
    window: tuple[int, int]
    tf_ms: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return self.live_pnl - self.backtest_pnl

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``grekko-live drift --json``, the MLflow artifact)."""
        return {
            "live_pnl": self.live_pnl,
            "backtest_pnl": self.backtest_pnl,
            "gap": self.gap,
            "terms": dict(self.terms),
            "window": {"first_ts": self.window[0], "last_ts": self.window[1]},
            "tf_ms": self.tf_ms,
            "orders": self.orders,
            **self.meta,
        }


# -- the state the waterfall walks -------------------------------------------------------------


@dataclass(frozen=True)
class _Leg:
    """An execution in one stage: ``qty`` None closes whatever that stage holds (an exit)."""

    key: int
    symbol: str
    sign: int  # +1 buy, -1 sell
    ts: int
    qty: float | None
    price: float
    fee_rate: float | None  # None: ``fee`` is the amount
    fee: float = 0.0
    fill: int = -1  # from the timing stage on: which of the live order's fills it is


@dataclass
class _Pair:
    """One decision: the backtest's fill and/or the live run's order (or its refusal)."""

    symbol: str
    side: str
    decision_ts: int
    bt: BacktestFill | None = None
    live: LiveOrder | None = None
    refusal: Refusal | None = None
    bt_exit: bool = False
    live_exit: bool = False


def _sign(side: str) -> int:
    if side not in ("buy", "sell"):
        raise ConfigError(f"a side is 'buy' or 'sell', got {side!r}")
    return 1 if side == "buy" else -1


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _REL * max(abs(a), abs(b), 1e-12)


def _pnl(legs: Sequence[_Leg], marks: Mapping[str, float]) -> dict[int, float]:
    """P&L per pair key of executions ``legs`` marked at ``marks``: sign · qty · (mark − price)
    − fee; an exit leg closes what the earlier legs of its symbol hold (nothing if flat)."""
    out: dict[int, float] = {}
    pos: dict[str, float] = {}
    for leg in sorted(legs, key=lambda g: (g.ts, g.key)):
        held = pos.get(leg.symbol, 0.0)
        if leg.qty is None:
            qty = abs(held) if held * leg.sign < 0 else 0.0
        else:
            qty = leg.qty
        if qty == 0.0:
            out.setdefault(leg.key, 0.0)
            continue
        pos[leg.symbol] = held + leg.sign * qty
        fee = leg.fee if leg.fee_rate is None else leg.fee_rate * qty * leg.price
        pnl = leg.sign * qty * (marks[leg.symbol] - leg.price) - fee
        out[leg.key] = out.get(leg.key, 0.0) + pnl
    return out


# -- pairing -----------------------------------------------------------------------------------


def _exits_bt(fills: Sequence[BacktestFill]) -> list[bool]:
    """Whether each backtest fill closes its symbol's position exactly."""
    pos: dict[str, float] = {}
    out = []
    for f in fills:
        held, s = pos.get(f.symbol, 0.0), _sign(f.side)
        out.append(held * s < 0 and _close(abs(held), f.qty))
        pos[f.symbol] = held + s * f.qty
    return out


def _live_position(orders: Sequence[LiveOrder], symbol: str, before_ts: int) -> float:
    return math.fsum(
        _sign(o.side) * f.qty
        for o in orders
        if o.symbol == symbol
        for f in o.fills
        if f.ts_ms < before_ts
    )


def _exits_live(orders: Sequence[LiveOrder]) -> list[bool]:
    """Whether each live order asked to close its symbol's position (what earlier orders
    filled) exactly."""
    out = []
    pos: dict[str, float] = {}
    for o in orders:
        held, s = pos.get(o.symbol, 0.0), _sign(o.side)
        out.append(held * s < 0 and _close(abs(held), o.qty))
        pos[o.symbol] = held + s * o.filled_qty
    return out


def _pairs(
    bt: Sequence[BacktestFill], live: Sequence[LiveOrder], refusals: Sequence[Refusal]
) -> list[_Pair]:
    """Pair each backtest fill with the live order of the same decision (symbol, decided bar,
    side), or with the live risk engine's refusal of it; unpaired ones stand alone."""
    bt = sorted(bt, key=lambda f: f.exec_ts)
    pairs: dict[tuple[str, int, str], list[_Pair]] = {}
    order: list[_Pair] = []
    for f, is_exit in zip(bt, _exits_bt(bt), strict=True):
        p = _Pair(f.symbol, f.side, f.decision_ts, bt=f, bt_exit=is_exit)
        pairs.setdefault((f.symbol, f.decision_ts, f.side), []).append(p)
        order.append(p)
    for o, is_exit in zip(live, _exits_live(live), strict=True):
        waiting = [p for p in pairs.get((o.symbol, o.decision_ts, o.side), []) if p.live is None]
        if waiting:
            waiting[0].live, waiting[0].live_exit = o, is_exit
        else:
            order.append(_Pair(o.symbol, o.side, o.decision_ts, live=o, live_exit=is_exit))
    for r in refusals:
        for p in order:
            if (p.bt is not None and p.live is None and p.refusal is None
                    and (p.symbol, p.decision_ts) == (r.symbol, r.decision_ts)):  # fmt: skip
                p.refusal = r
                break
    return order


# -- the waterfall -----------------------------------------------------------------------------


def attribute(
    backtest: Sequence[BacktestFill],
    live: Sequence[LiveOrder],
    stored: Prices,
    seen: Prices,
    *,
    refusals: Sequence[Refusal] = (),
    backtest_funding: float = 0.0,
    live_funding: float = 0.0,
    backtest_pnl: float | None = None,
    live_pnl: float | None = None,
    fee_rate: float = 0.0,
) -> DriftReport:
    """Explain ``live P&L − backtest P&L`` over the window, term by term.

    Parameters
    ----------
    backtest
        The backtest's fills (every one decided in the window).
    live
        The live run's orders, their fills in the window (others are dropped here).
    stored, seen
        The backtest's bars (the store's) and the bars the live run saw (its log's), over the
        same window ``[first_ts, last_ts]``.
    refusals
        Orders the live risk engine refused at a decision (no order created).
    backtest_funding, live_funding
        Funding paid (negative) or received over the window.
    backtest_pnl, live_pnl
        Each side's own P&L figure (default: computed from the fills and marks here); what
        they differ by from the fills' account lands in the residual.
    fee_rate
        The backtest's taker fee rate, for live orders the backtest did not make.

    Returns
    -------
    DriftReport
        The terms (``TERMS``) sum exactly to ``live_pnl − backtest_pnl``.
    """
    if (stored.first_ts, stored.last_ts, stored.tf_ms) != (seen.first_ts, seen.last_ts, seen.tf_ms):
        raise ConfigError(
            f"the backtest's window {stored.first_ts}..{stored.last_ts} ({stored.tf_ms} ms bars) "
            f"is not the live run's {seen.first_ts}..{seen.last_ts} ({seen.tf_ms} ms bars)"
        )
    first, last, tf = seen.first_ts, seen.last_ts, seen.tf_ms
    bt = [f for f in backtest if first <= f.decision_ts < last and f.qty > 0]
    window_end = last + tf  # a fill after the last bar's close is outside the window
    orders = sorted(
        (
            replace(o, fills=tuple(f for f in o.fills if f.ts_ms < window_end))
            for o in live
            if o.decision_ts < last
        ),
        key=lambda o: (o.decision_ts, o.client_id),
    )
    modelled = [o for o in orders if o.modelled]
    pairs = _pairs(bt, modelled, refusals)
    stages = _stages(pairs, modelled, stored, seen, fee_rate)
    values: list[dict[int, float]] = []
    totals: list[float] = []
    for i, legs in enumerate(stages):  # the last stage: the live run's funding instead
        per = _pnl(legs, stored.marks if i == 0 else seen.marks)
        values.append(per)
        paid = backtest_funding if i < len(stages) - 1 else live_funding
        totals.append(math.fsum(per.values()) + paid)
    terms = {t: 0.0 for t in TERMS}
    for i, step in enumerate(_STEPS):
        terms[step] = totals[i + 1] - totals[i]
    live_all = _pnl(
        [
            _Leg(0, o.symbol, _sign(o.side), f.ts_ms, f.qty, f.price, None, f.fee)
            for o in orders
            for f in o.fills
        ],
        seen.marks,
    )
    bt_total = totals[0] if backtest_pnl is None else float(backtest_pnl)
    live_total = (
        math.fsum(live_all.values()) + live_funding if live_pnl is None else float(live_pnl)
    )
    # What the modelled fills do not account for: orders outside the model, each side's own
    # accounting beside its fills; the terms then sum to the gap exactly.
    terms["residual"] = (live_total - bt_total) - math.fsum(terms[t] for t in _STEPS)
    rows = _rows(pairs, values)
    return DriftReport(live_total, bt_total, terms, rows, (first, last), tf)


def _rows(pairs: Sequence[_Pair], values: Sequence[dict[int, float]]) -> list[dict[str, Any]]:
    rows = []
    for k, p in enumerate(pairs):
        per = {step: values[i + 1].get(k, 0.0) - values[i].get(k, 0.0)
               for i, step in enumerate(_STEPS) if step != "funding"}  # fmt: skip
        o = p.live
        rows.append(
            {
                "symbol": p.symbol,
                "side": p.side,
                "decision_ts": p.decision_ts,
                "cause": _cause(p),
                "client_id": None if o is None else o.client_id,
                "state": None if o is None else o.state,
                "backtest_qty": None if p.bt is None else p.bt.qty,
                "live_qty": None if o is None else o.qty,
                "filled_qty": None if o is None else o.filled_qty,
                "backtest_price": None if p.bt is None else p.bt.price,
                "live_price": _vwap(o),
                "terms": per,
                "total": math.fsum(per.values()),
            }
        )
    return rows


def _cause(p: _Pair) -> str:
    """What the pairing says of one decision (the row's label; the terms say how much)."""
    if p.live is None:
        if p.refusal is not None:
            return "refused by the risk engine"
        return "backtest only" + (" (an exit: nothing held live)" if p.bt_exit else "")
    if p.bt is None:
        return "live only"
    if p.live.refused:
        return "refused by the venue"
    if p.live.filled_qty == 0:
        return f"not filled ({p.live.state.lower()})"
    if not _close(p.live.filled_qty, p.live.qty):
        return "partly filled"
    return "both"


def _vwap(o: LiveOrder | None) -> float | None:
    if o is None or not o.fills:
        return None
    return math.fsum(f.qty * f.price for f in o.fills) / o.filled_qty


def _stages(
    pairs: Sequence[_Pair],
    live: Sequence[LiveOrder],
    stored: Prices,
    seen: Prices,
    fee_rate: float,
) -> list[list[_Leg]]:
    """The executions at each stage: the backtest's, then after each of ``_STEPS``."""

    def ref(symbol: str, ts: int, fallback: float) -> float:
        # The open the live run saw; a bar it missed: the stored one.
        for prices in (seen, stored):
            v = prices.open_at(symbol, ts)
            if math.isfinite(v):
                return v
        return fallback

    s0: list[_Leg] = []
    s1: list[_Leg] = []
    for k, p in enumerate(pairs):
        b, o = p.bt, p.live
        if b is not None:
            rate = b.fee / (b.qty * b.price) if b.qty * b.price > 0 else 0.0
            s0.append(_Leg(k, p.symbol, _sign(p.side), b.exec_ts,
                           None if p.bt_exit else b.qty, b.price, rate))  # fmt: skip
            price = ref(p.symbol, b.exec_ts, b.model_price) * _ratio(b)
            decided, qty = _decided_qty(p, live)
            if decided:
                s1.append(_Leg(k, p.symbol, _sign(p.side), b.exec_ts, qty, price, rate))
        elif o is not None:
            ts = o.decision_ts + seen.tf_ms
            price = ref(p.symbol, ts, _vwap(o) or math.nan)
            qty = None if p.live_exit else o.qty
            s1.append(_Leg(k, p.symbol, _sign(p.side), ts, qty, price, fee_rate))
    # refused: nothing executes of an order refused live (venue or risk engine)
    s2 = [g for g in s1 if not _refused(pairs[g.key])]
    # partial: what was filled of each live order (a backtest-only exit still closes the rest)
    s3 = [g if (o := pairs[g.key].live) is None else replace(g, qty=o.filled_qty) for g in s2]
    # timing: each fill at the bar it happened in, at that bar's open (the model's price there)
    s4: list[_Leg] = []
    for g in s3:
        p = pairs[g.key]
        for i, f in enumerate(p.live.fills if p.live is not None else ()):
            price = ref(g.symbol, seen.bar_of(f.ts_ms), f.price) * _ratio(p.bt)
            s4.append(replace(g, ts=f.ts_ms, qty=f.qty, price=price, fill=i))
        if p.live is None:
            s4.append(g)
    # slippage: each fill's own price; fees: the venue's own fee
    s5 = [g if g.fill < 0 else replace(g, price=_fill(pairs, g).price) for g in s4]
    s6 = [g if g.fill < 0 else replace(g, fee_rate=None, fee=_fill(pairs, g).fee) for g in s5]
    return [s0, s1, s2, s3, s4, s5, s6, s6]  # funding: the same executions


def _decided_qty(p: _Pair, live: Sequence[LiveOrder]) -> tuple[bool, float | None]:
    """Whether the live run decided a backtest fill's order too, and the size it decided
    (``None``: an exit, closing what is held)."""
    assert p.bt is not None
    if p.live is not None:
        return True, None if p.live_exit else p.live.qty
    if p.refusal is not None:
        return True, None if p.bt_exit else p.refusal.qty
    if p.bt_exit and abs(_live_position(live, p.symbol, p.bt.exec_ts)) <= _REL * p.bt.qty:
        return True, None  # an exit of a position the live run did not hold: closes nothing
    return False, None  # the live strategy did not decide it


def _ratio(b: BacktestFill | None) -> float:
    """The engine's own slippage, as the ratio of its fill to the bar model's price."""
    return b.price / b.model_price if b is not None and b.model_price > 0 else 1.0


def _fill(pairs: Sequence[_Pair], g: _Leg) -> LiveFill:
    o = pairs[g.key].live
    assert o is not None
    return o.fills[g.fill]


def _refused(p: _Pair) -> bool:
    return p.refusal is not None or (p.live is not None and p.live.refused)
