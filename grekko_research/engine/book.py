"""The engine's account, advanced one bar, one decision and one fill at a time.

The backtest kernel runs a whole history in one call. A live run sees one closed bar at a
time, decides, sends orders and learns their fills later. :class:`EngineBook` holds the very
same state arrays the kernel holds and moves them with the kernel's own functions, so that a
live run sizes, checks and books its orders exactly as the backtest does:

- :meth:`EngineBook.plan` runs the kernel's decision step (reductions first, then entries
  sized by :class:`~grekko_research.engine.Sizing`, risk limits, buying power, lot and minimum
  notional, slippage) on a *copy* of the state at the price an order sent now would fill at,
  and returns the orders it would fill and the ones it would refuse, with the rule;
- :meth:`EngineBook.fill` books a fill the venue reported (cash, fee, position, trade);
- :meth:`EngineBook.close_bar` marks to market at a bar's close and applies the drawdown and
  daily-loss rules (a drawdown breach halts new exposure and flattens at the next decision).

- :meth:`EngineBook.stop_exits` finds the position stops (stop-loss, take-profit, trailing;
  %, absolute or ATR, armed by :meth:`fill` from the entry price as the kernel arms them) that a
  bar's open or range reaches, with the kernel's own rule and exit price; the runner holds them
  (emulated stops) and sends the exits;
- :meth:`EngineBook.fund` books a funding settlement the venue reported, as the kernel's
  funding phase books one (cash, the open trade's funding).

Calibrated cost models (``config.costs``) price the plan and the stop exits from the volume
and volatility of the bars the book closed, as the backtest prices its fills.

What the live book does not do (the venue or a later part does): pending limit/stop orders
(no intrabar simulation), liquidation; it books funding but does not compute it (the venue
settles it). :func:`check_live_config` refuses configurations that need them. Pure: no I/O,
no clock.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import layout as L
from grekko_research.engine._fills import fee_nb, fill_nb
from grekko_research.engine._phases import DAY_MS, roll_day_nb
from grekko_research.engine._records import record_table
from grekko_research.engine._state import Decisions, Market, Order, Rules, make_rules
from grekko_research.engine._step import (
    book_fill_nb,
    close_bar_nb,
    fund_nb,
    open_trades_nb,
    plan_nb,
    stops_nb,
)
from grekko_research.engine.api import Orders, Signals, TargetPositions, _kernel_inputs
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.costs import calibrated_fill_arrays, cost_features
from grekko_research.engine.layout import (
    A_CASH,
    A_EQUITY,
    A_FLATTEN_DUE,
    A_HALTED,
    A_PEAK,
    EVENT_FIELDS,
    FUNDING_FIELDS,
    KIND_MARKET,
    KIND_RISK_FLATTEN,
    KIND_STOP_LOSS,
    KIND_TAKE_PROFIT,
    KIND_TRAILING_STOP,
    ORDER_FIELDS,
    S_POS,
    S_SL,
    S_SL_REST,
    S_STOP_BAR,
    S_TP,
    S_TRAIL_D,
    S_TRAIL_PEAK,
    TRADE_FIELDS,
)
from grekko_research.engine.nb import init_state_nb
from grekko_research.errors import ConfigError
from grekko_research.indicators.volatility import atr_nb
from grekko_research.risk.rules import RULE_NAMES

__all__ = [
    "DAY_MS",
    "STOP_KINDS",
    "EngineBook",
    "PlannedOrder",
    "StopLevels",
    "check_live_config",
    "decision_atr",
    "decision_row",
    "fill_fee",
    "fill_price",
]

_O = {name: i for i, name in enumerate(ORDER_FIELDS)}
_T = {name: i for i, name in enumerate(TRADE_FIELDS)}
_E = {name: i for i, name in enumerate(EVENT_FIELDS)}
_NO_INDEX = np.zeros(0, dtype=np.int64)
_FILL_KINDS = {
    "market": KIND_MARKET,
    "risk_flatten": KIND_RISK_FLATTEN,
    "stop_loss": KIND_STOP_LOSS,
    "take_profit": KIND_TAKE_PROFIT,
    "trailing_stop": KIND_TRAILING_STOP,
}
STOP_KINDS = ("stop_loss", "take_profit", "trailing_stop")
"""The kinds of a position stop's exit (engine kind names)."""


def _one_bar(price: Any, high: Any, low: Any, volume: Any, filled: Any) -> Market:
    """A :class:`Market` of one bar (``(1, k)`` arrays) for the book's kernel calls: ``price``
    is both its open (an execution price) and its close (a mark)."""

    def row(a: Any) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64).reshape(1, -1)

    o = row(price)
    return Market(_NO_INDEX, o, row(high), row(low), o, row(volume),
                  np.ascontiguousarray(filled, dtype=np.bool_).reshape(1, -1), _EMPTY_F)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PlannedOrder:
    """One order the engine's decision step produced.

    ``size`` is signed (+ buys); ``price`` the expected fill price after slippage; ``status``
    an engine status name (``"filled"`` means: send it; anything else: refused, ``rule`` says
    by which risk rule when one did).
    """

    asset: int
    symbol: str
    size: float
    price: float
    fee: float
    kind: str
    status: str
    rule: str | None
    trigger: float = np.nan  # a stop's exit: the level (or gapped open) that fired it


def _with_costs(config: EngineConfig, market: Market, costs: Any, k: int) -> Market:
    """``market`` with the calibrated cost models' features as its ``pool`` row (``(1, k,
    N_CAL_BAR)``); unchanged without cost models."""
    if not config.costs:
        return market
    if costs is None:
        raise ConfigError(
            "a calibrated cost model needs its features at the decision (volume and "
            "volatility of the decision bar: engine.costs.cost_features of the window)"
        )
    pool = np.ascontiguousarray(costs, dtype=np.float64).reshape(1, k, L.N_CAL_BAR)
    return market._replace(pool=pool)


def fill_price(
    config: EngineConfig,
    price: float,
    size: float,
    *,
    high: float = np.inf,
    low: float = -np.inf,
    volume: float = np.nan,
    tick: float = 0.0,
    symbol: str | None = None,
    costs: np.ndarray | None = None,
) -> float:
    """The engine's taker fill price for a market order of ``size`` signed units at ``price``:
    slippage against the trader, rounded to ``tick`` against the trader, kept in [low, high]
    (the kernels' fill model, :func:`~grekko_research.engine._fills.fill_nb`). Where
    ``config.costs`` has a model for ``symbol``, that model prices it, with ``costs`` its
    features as of the decision bar (``(N_CAL_BAR,)``:
    :func:`~grekko_research.engine.costs.cost_features`)."""
    cfg = config.to_array(L.MODE_SIGNALS, L.TARGET_PERCENT)
    one = np.ones(1)
    rules = make_rules(cfg, config.risk.to_array(), one * 0.0, one * tick, one * 0.0)
    market = _one_bar(one * price, one * high, one * low, one * volume, np.zeros(1, np.bool_))
    models = [c for c in config.costs if c.symbol == symbol]
    if models:
        mine = dataclasses.replace(config, costs=tuple(models))
        model, state = calibrated_fill_arrays(
            mine, [models[0].symbol], rules.fill_model, rules.fill_state
        )
        rules = rules._replace(fill_model=model, fill_state=state)
        market = _with_costs(mine, market, costs, 1)
    fill, _ = fill_nb(rules, market, 0, 0, float(size), float(price), True)
    return float(fill)


def fill_fee(config: EngineConfig, size: float, price: float, *, maker: bool = False) -> float:
    """The engine's fee for a fill of ``size`` units at ``price`` (taker, or maker, rate ×
    notional + the fixed fee): :func:`~grekko_research.engine._fills.fee_nb`, the kernels' own."""
    rate = config.fees.maker if maker else config.fees.taker
    return float(fee_nb(float(size), float(price), float(rate), float(config.fees.fixed)))


def check_live_config(config: EngineConfig) -> None:
    """Raise :class:`ConfigError` for engine settings a live run cannot reproduce (yet).

    Live decisions fill at the next bar's open (``execution="next_open"``). Position stops are
    held by the runner (:meth:`EngineBook.stop_exits`).
    """
    if config.execution != "next_open":
        raise ConfigError(
            "live runs execute decisions at the next bar's open: engine.execution must be "
            f"'next_open', got {config.execution!r}"
        )


@dataclass(frozen=True, slots=True)
class StopLevels:
    """A position's armed stops (NaN: off): what the runner holds for it."""

    symbol: str
    position: float
    stop_loss: float
    take_profit: float
    trailing: float  # the trailing stop's level now (peak ∓ distance)


def decision_atr(config: EngineConfig, high: Any, low: Any, close: Any) -> np.ndarray | None:
    """The ATR per asset at the last of the given bars, as the backtest arms ATR stops with it
    (:func:`~grekko_research.indicators.volatility.atr_nb` over the same bars: give it every
    bar since the run's first for the backtest's value); ``None`` without ATR stops."""
    if not config.stops.needs_atr:
        return None
    h, lo, c = (np.ascontiguousarray(a, dtype=np.float64) for a in (high, low, close))
    out: np.ndarray = atr_nb(h, lo, c, config.stops.atr_window)[-1]
    return out


class EngineBook:
    """The kernel's account state for one live run (see the module docstring).

    Parameters
    ----------
    config
        The run's engine configuration (``check_live_config`` must accept it).
    symbols
        One symbol per asset column, in the order of the strategy's bars.
    first_ts_ms
        Open time of the first bar the run will execute on (starts the day counter).
    lot, tick, min_notional
        Market rules per asset (default: ``config.market``); a live venue's rules are merged in
        by the caller (the stricter wins).
    """

    def __init__(
        self,
        config: EngineConfig,
        symbols: Sequence[str],
        first_ts_ms: int,
        *,
        lot: np.ndarray | None = None,
        tick: np.ndarray | None = None,
        min_notional: np.ndarray | None = None,
    ) -> None:
        check_live_config(config)
        self.config = config
        self.symbols = tuple(symbols)
        k = len(self.symbols)
        mlot, mtick, mmin = config.market.arrays(k)
        self.lot = mlot if lot is None else np.asarray(lot, dtype=np.float64)
        self.tick = mtick if tick is None else np.asarray(tick, dtype=np.float64)
        self.min_notional = mmin if min_notional is None else np.asarray(min_notional, np.float64)
        self.limits = config.risk.to_array()
        self._cfgs: dict[tuple[int, int], np.ndarray] = {}
        self.cfg = self._cfg(L.MODE_SIGNALS, L.TARGET_PERCENT)
        self._rules_cache: dict[tuple[int, int], Rules] = {}
        self.S, self.A = init_state_nb(k, self.cfg, first_ts_ms // DAY_MS)
        self.bar = 0  # the bar counter t of the kernel: bars closed since the run's first
        # Calibrated cost models price a fill by the decision bar's volume and volatility: the
        # closes and volumes of the last bars closed (as many as the longest vol_window needs).
        keep = max((c.vol_window for c in config.costs), default=-1) + 1
        self._closes: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=max(keep, 1))

    def _cfg(self, mode: int, target_kind: int) -> np.ndarray:
        key = (mode, target_kind)
        if key not in self._cfgs:
            self._cfgs[key] = self.config.to_array(mode, target_kind)
        return self._cfgs[key]

    def _rules(self, mode: int, target_kind: int) -> Rules:
        key = (mode, target_kind)
        if key not in self._rules_cache:
            cfg = self._cfg(mode, target_kind)
            rules = make_rules(cfg, self.limits, self.lot, self.tick, self.min_notional)
            if self.config.costs:  # calibrated cost models fill their symbols, as in backtests
                model, state = calibrated_fill_arrays(
                    self.config, self.symbols, rules.fill_model, rules.fill_state
                )
                rules = rules._replace(fill_model=model, fill_state=state)
            self._rules_cache[key] = rules
        return self._rules_cache[key]

    def seed_closes(self, close: np.ndarray, volume: np.ndarray) -> None:
        """Bars closed before the book's first (``(n, k)`` closes and volumes: a live run's
        history), for the calibrated cost models' volatility; nothing without cost models."""
        if self.config.costs:
            k = len(self.symbols)
            for c, v in zip(np.reshape(close, (-1, k)), np.reshape(volume, (-1, k)), strict=True):
                self._closes.append((np.array(c, np.float64), np.array(v, np.float64)))

    def _costed(self, market: Market, costs: np.ndarray | None) -> Market:
        """``market`` with the cost models' features of the last closed bar (the decision
        bar of an order sent now, as the backtest's row of the bar it executes on)."""
        if not self.config.costs:
            return market
        if costs is None:
            k = len(self.symbols)
            closes = np.array([c for c, _ in self._closes]).reshape(-1, k)
            volumes = np.array([v for _, v in self._closes]).reshape(-1, k)
            costs = cost_features(self.config, self.symbols, closes, volumes)
        return _with_costs(self.config, market, costs, len(self.symbols))

    # -- reading ----------------------------------------------------------------------

    @property
    def cash(self) -> float:
        return float(self.A[A_CASH])

    @property
    def equity(self) -> float:
        """Equity at the last close (or the initial cash)."""
        return float(self.A[A_EQUITY])

    @property
    def halted(self) -> bool:
        """Whether the drawdown rule halted new exposure."""
        return bool(self.A[A_HALTED] > 0.0)

    def clear_halt(self) -> None:
        """Lift the drawdown halt (a human resumed the run).

        The running peak is re-based to the current equity: measured from the old
        peak, the drawdown that halted the run would halt it again at the next close.
        A flatten still due from the breach is cancelled with the halt.
        """
        self.A[A_HALTED] = 0.0
        self.A[A_FLATTEN_DUE] = 0.0
        self.A[A_PEAK] = self.A[A_EQUITY]

    def position(self, j: int) -> float:
        return float(self.S[j, S_POS])

    def open_trades(self) -> np.ndarray:
        """Trade records of the positions still open, marked at the last close."""
        return record_table(open_trades_nb(self.S, self.A, self.bar - 1))

    # -- the three steps --------------------------------------------------------------

    def start_bar(self, ts_ms: int) -> None:
        """Start the bar opening at ``ts_ms`` (the one the next decision executes on): a new
        UTC day resets the daily order count and the daily-loss reference (the kernel's
        day roll, :func:`~grekko_research.engine._phases.roll_day_nb`)."""
        roll_day_nb(self.A, int(ts_ms) // DAY_MS)

    def plan(
        self,
        decision: dict[str, Any] | None,
        prices: np.ndarray,
        *,
        high: np.ndarray | None = None,
        low: np.ndarray | None = None,
        volume: np.ndarray | None = None,
        vol: np.ndarray | None = None,
        costs: np.ndarray | None = None,
    ) -> list[PlannedOrder]:
        """Return the orders the engine would execute now for one decision row.

        ``decision`` is :func:`decision_row`'s result (the last bar's decisions), or ``None``
        for no decision (only a pending risk flatten is planned). ``prices`` are the expected
        execution prices before slippage, NaN for a symbol without a market now. ``high`` /
        ``low`` bound the slipped price (the execution bar's range when known; unbounded
        otherwise) and with ``volume`` feed ``range``/``volume`` slippage. ``vol`` is the
        annualised volatility per asset as of the decision bar (``vol_target`` sizing).
        ``costs`` are the calibrated cost models' features as of the decision bar
        (:func:`~grekko_research.engine.costs.cost_features`); by default those of the bars
        the book closed.
        The book itself does not change, except that a planned risk flatten is consumed.
        """
        k = len(self.symbols)
        px = np.asarray(prices, dtype=np.float64).reshape(k)
        hi = np.full(k, np.inf) if high is None else high
        lo = np.full(k, -np.inf) if low is None else low
        vo = np.full(k, np.nan) if volume is None else volume
        market = self._costed(_one_bar(px, hi, lo, vo, np.isnan(px)), costs)
        row = _NO_DECISION if decision is None else decision
        rules = self._rules(int(row["mode"]), int(row["target_kind"]))
        vol_row = _EMPTY_F if vol is None else np.asarray(vol, np.float64).reshape(1, k)
        dec = Decisions(
            row["entries"], row["exits"], row["short_entries"], row["short_exits"], row["target"],
            row["ord_kind"], row["ord_size"], row["ord_price"], row["ord_stop"], _EMPTY_F, vol_row,
        )  # fmt: skip
        # The kernel's decision row here is row 0: a stop exit on the deciding bar (the last
        # closed one, ``bar - 1``) is row 0's, for ``stops.skip_signals_on_exit_bar``.
        S = self.S.copy()
        S[:, S_STOP_BAR] = np.where(S[:, S_STOP_BAR] == self.bar - 1, 0.0, -1.0)
        orec = record_table(plan_nb(S, self.A, rules, market, dec, decision is not None))
        self.A[A_FLATTEN_DUE] = 0.0
        return [self._planned(r) for r in orec]

    def _planned(self, row: np.ndarray) -> PlannedOrder:
        j = int(row[_O["asset"]])
        rule = int(row[_O["rule"]])
        return PlannedOrder(
            asset=j,
            symbol=self.symbols[j],
            size=float(row[_O["side"]] * row[_O["size"]]),
            price=float(row[_O["price"]]),
            fee=float(row[_O["fee"]]),
            kind=L.KIND_NAMES[int(row[_O["kind"]])],
            status=L.STATUS_NAMES[int(row[_O["status"]])],
            rule=None if rule == 0 else _rule_name(rule),
        )

    def fill(
        self, j: int, size: float, price: float, *, kind: str = "market", atr: float = np.nan
    ) -> dict[str, Any]:
        """Book a fill of ``size`` signed units at ``price`` with the engine's taker fee.

        ``kind``: ``market``, ``risk_flatten`` or a stop's exit (:data:`STOP_KINDS`: not
        counted as a daily order; marks the bar as a stop exit's). A fill that opens a position
        arms its stops from the average entry price, ``atr`` (the decision bar's, see
        :func:`decision_atr`) measuring ATR stops. Returns ``{"order": record, "trade":
        closed-trade record or None}`` as dicts.
        """
        if kind not in _FILL_KINDS:
            raise ConfigError(f"fill kind must be one of {list(_FILL_KINDS)}, got {kind!r}")
        code = _FILL_KINDS[kind]
        rate = float(self.cfg[L.CFG_FEE_TAKER])
        order = Order(int(j), float(size), float(price), code, False, 0.0, float(atr))
        if kind in STOP_KINDS:
            self.S[int(j), S_STOP_BAR] = self.bar
        orders, trades = book_fill_nb(self.S, self.A, self.cfg, self.bar, order, rate)
        orec, trec = record_table(orders), record_table(trades)
        return {
            "order": dict(zip(ORDER_FIELDS, orec[0].tolist(), strict=True)),
            "trade": dict(zip(TRADE_FIELDS, trec[0].tolist(), strict=True)) if len(trec) else None,
        }

    def fund(self, j: int, amount: float, *, rate: float = np.nan) -> dict[str, Any]:
        """Book a funding settlement of asset ``j``: ``amount`` in quote, received (negative:
        paid), as the kernel's funding phase books it (out of or into the cash, into the open
        trade's funding: :func:`~grekko_research.engine._phases.pay_funding`); ``rate`` when
        known. The equity includes it from the next :meth:`close_bar`. Returns the funding
        record as a dict."""
        rec = record_table(fund_nb(self.S, self.A, self.bar, int(j), float(rate), -float(amount)))
        return dict(zip(FUNDING_FIELDS, rec[0].tolist(), strict=True))

    def close_bar(
        self,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        filled: np.ndarray,
        volume: np.ndarray | None = None,
    ) -> list[dict[str, Any]]:
        """Close the current bar (the one the last decision executed on); return risk events.
        ``volume``: the bar's, which calibrated cost models read (required with them)."""
        k = len(self.symbols)
        if self.config.costs:
            if volume is None:
                raise ConfigError("a calibrated cost model needs each closed bar's volume")
            c = np.array(close, dtype=np.float64).reshape(k)
            self._closes.append((c, np.array(volume, dtype=np.float64).reshape(k)))
        market = _one_bar(close, high, low, np.full(k, np.nan), filled)
        rules = self._rules(L.MODE_SIGNALS, L.TARGET_PERCENT)
        erec = record_table(close_bar_nb(self.S, self.A, rules, market))
        self.bar += 1
        return [
            {
                "rule": _rule_name(int(r[_E["rule"]])),
                "value": float(r[_E["value"]]),
                "limit": float(r[_E["limit"]]),
            }
            for r in erec
        ]

    def stop_exits(
        self,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        *,
        at_open: bool,
        volume: np.ndarray | None = None,
    ) -> list[PlannedOrder]:
        """Return the exits of the position stops one bar reaches (the book does not change).

        ``at_open``: the bar has just opened at ``open_`` (checked before the decision that
        executes at this open, as the kernel's open phase does); else the bar ``open_`` /
        ``high`` / ``low`` has closed (call before :meth:`close_bar`). The engine's rule decides
        (:func:`~grekko_research.engine._fills.stop_touch_nb`: gaps fill at the open, a range
        that reaches both levels takes ``stops.both_touch``), and its fill model prices the
        exit (slippage for stop-loss and trailing exits, bounded by ``high``/``low``). NaN
        opens (no market) are skipped.
        """
        k = len(self.symbols)
        o = np.asarray(open_, dtype=np.float64).reshape(k)
        vo = np.full(k, np.nan) if volume is None else volume
        market = self._costed(_one_bar(o, high, low, vo, np.isnan(o)), None)
        rules = self._rules(L.MODE_SIGNALS, L.TARGET_PERCENT)
        recs, levels = stops_nb(self.S, self.A, rules, market, self.bar, at_open)
        out = []
        for r in record_table(recs):
            p = self._planned(r)
            out.append(dataclasses.replace(p, trigger=float(levels[p.asset])))
        return out

    def stop_levels(self) -> list[StopLevels]:
        """The armed stops of every open position (what a restart re-arms from the log)."""
        out = []
        for j, symbol in enumerate(self.symbols):
            pos = float(self.S[j, S_POS])
            if pos == 0.0:
                continue
            d, peak = float(self.S[j, S_TRAIL_D]), float(self.S[j, S_TRAIL_PEAK])
            if d < 0.0:
                d = -d * peak
            trail = peak - d if pos > 0.0 else peak + d  # NaN when off
            sl, tp = float(self.S[j, S_SL]), float(self.S[j, S_TP])
            out.append(StopLevels(symbol, pos, sl, tp, trail))
        return out

    def consume_flatten(self) -> None:
        """Mark a pending risk flatten as planned (what :meth:`plan` does), on a restored book
        whose decision was already taken."""
        self.A[A_FLATTEN_DUE] = 0.0

    # -- persistence ------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The whole state as JSON data: floats round-trip exactly through ``repr``; NaN (a
        stop or price not set) is ``None``."""
        return {"S": _json_safe(self.S), "A": _json_safe(self.A), "bar": self.bar}

    def restore(self, snap: dict[str, Any]) -> None:
        """Load a :meth:`snapshot` (same symbols and configuration)."""
        S = np.array(snap["S"], dtype=np.float64)  # None → NaN
        A = np.array(snap["A"], dtype=np.float64)
        if S.ndim == 2 and S.shape[1] == S_SL_REST and S.shape[0] == self.S.shape[0]:
            # a snapshot from before the resting stop-limit column (its last): none rests
            S = np.hstack([S, np.full((S.shape[0], 1), np.nan)])
        if S.shape != self.S.shape or A.shape != self.A.shape:
            raise ConfigError(
                f"book snapshot has state shapes {S.shape}/{A.shape}, expected "
                f"{self.S.shape}/{self.A.shape} (different symbols or engine version)"
            )
        self.S, self.A, self.bar = S, A, int(snap["bar"])


_EMPTY_B = np.zeros((0, 0), dtype=np.bool_)
_EMPTY_F = np.zeros((0, 0))
_NO_DECISION: dict[str, Any] = {
    "entries": _EMPTY_B,
    "exits": _EMPTY_B,
    "short_entries": _EMPTY_B,
    "short_exits": _EMPTY_B,
    "target": _EMPTY_F,
    "ord_kind": np.zeros((0, 0), dtype=np.int8),
    "ord_size": _EMPTY_F,
    "ord_price": _EMPTY_F,
    "ord_stop": _EMPTY_F,
    "mode": L.MODE_SIGNALS,
    "target_kind": L.TARGET_PERCENT,
}


def decision_row(bars: Bars, signals: Signals | TargetPositions | Orders) -> dict[str, Any]:
    """Return the kernel inputs of the last row of ``signals`` (computed on ``bars``).

    Checks the signals exactly as :func:`~grekko_research.engine.backtest` does; refuses
    limit and stop orders (live runs send market orders only, for now).
    """
    inputs = _kernel_inputs(bars, signals)
    row: dict[str, Any] = {"mode": inputs["mode"], "target_kind": inputs["target_kind"]}
    for name in _NO_DECISION:
        if name in ("mode", "target_kind"):
            continue
        arr = inputs[name]
        row[name] = np.ascontiguousarray(arr[-1:]) if arr.shape[0] else arr
    if row["mode"] == L.MODE_ORDERS:
        kinds = row["ord_kind"]
        if np.any((kinds != 0) & (kinds != KIND_MARKET)):
            raise ConfigError("live runs support market orders only (no limit/stop orders yet)")
    return row


def target_row(target: np.ndarray, kind: str = "units") -> dict[str, Any]:
    """A decision row holding target positions (what :class:`TargetPositions` gives the kernel
    for one bar): ``target`` per asset, NaN keeps the position; ``kind`` as there."""
    kinds = {"percent": L.TARGET_PERCENT, "units": L.TARGET_UNITS, "notional": L.TARGET_NOTIONAL}
    if kind not in kinds:
        raise ConfigError(f"target kind must be one of {list(kinds)}, got {kind!r}")
    row = dict(_NO_DECISION)
    row["mode"] = L.MODE_TARGET
    row["target_kind"] = kinds[kind]
    row["target"] = np.ascontiguousarray(np.asarray(target, dtype=np.float64).reshape(1, -1))
    return row


def _json_safe(arr: np.ndarray) -> list[Any]:
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return list(out.tolist())


def _rule_name(code: int) -> str:
    return RULE_NAMES.get(code, str(code))
