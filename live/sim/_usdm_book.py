"""The simulated USD-M futures account: clock, candles, orders, positions, wallet and ledger.

No I/O here; ``usdm.py`` turns HTTP requests into calls on :class:`UsdmBook`, which raises
:class:`~live.sim._book.ApiError` where Binance's futures API answers ``{"code", "msg"}``.

Model (also in ``live/sim/usdm.py``):

- One-way mode, cross margin: one signed net position per symbol (``positionSide`` BOTH).
- The market clock sits on bar opens; the *mark price* is the current bar's **open**.
  MARKET orders fill at once at the mark price (taker); LIMIT orders fill at once at the mark
  price when marketable (taker), else rest and fill at their price (maker) on the first bar
  that trades *through* it (``low < price`` to buy, ``high > price`` to sell), once the clock
  passes that bar's close.
- Wallet (the margin asset, USDT): realised P&L and fees (``fee_rate`` of each fill's
  notional, maker and taker alike) settle into it at every fill; funding (a schedule per
  symbol, :mod:`live.sim._usdm_funding`) at each funding time the clock passes.
- Margin: a position holds ``|amount| × mark / leverage``; an order holds ``notional /
  leverage`` of the part that would grow the position (the reducing part is free) until it
  fills or is cancelled. Available = wallet + unrealised P&L − position margin − order margin;
  an order needing more than that is refused (-2019).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

import numpy as np
import pandas as pd

from live.sim._book import (
    ApiError,
    Fill,
    filter_trades,
    find_open_order,
    find_order,
    limits_through,
    listed,
    missing,
    number_param,
    open_price,
)
from live.sim._candles import candle_arrays
from live.sim._spot_types import limit_fills_at
from live.sim._usdm_algo import LIMIT_ALGO_TYPES, AlgoOrder, algo_terms, algo_trigger
from live.sim._usdm_funding import Income, schedules

__all__ = [
    "DEFAULT_SPECS",
    "Contract",
    "ContractSpec",
    "FuturesFill",
    "FuturesOrder",
    "Position",
    "UsdmBook",
]

_EIGHT = Decimal("0.00000001")
_ZERO = Decimal(0)
MARGIN_ASSETS = ("USDT", "USDC")
MAX_LEVERAGE = 125


@dataclass(frozen=True)
class ContractSpec:
    """Exchange filters of one contract: PRICE_FILTER tick, LOT_SIZE step, MIN_NOTIONAL."""

    tick: Decimal
    step: Decimal
    min_notional: Decimal
    max_qty: Decimal = Decimal(1000)


# Binance's own filters for these perpetuals (2024); other symbols get GENERIC_SPEC.
DEFAULT_SPECS: dict[str, ContractSpec] = {
    "BTCUSDT": ContractSpec(Decimal("0.10"), Decimal("0.001"), Decimal(100)),
    "ETHUSDT": ContractSpec(Decimal("0.01"), Decimal("0.001"), Decimal(20)),
    "BNBUSDT": ContractSpec(Decimal("0.010"), Decimal("0.01"), Decimal(5)),
    "SOLUSDT": ContractSpec(Decimal("0.0100"), Decimal(1), Decimal(5), Decimal(1_000_000)),
    "XRPUSDT": ContractSpec(Decimal("0.0001"), Decimal("0.1"), Decimal(5), Decimal(10_000_000)),
}
GENERIC_SPEC = ContractSpec(Decimal("0.0001"), Decimal("0.001"), Decimal(5))


@dataclass
class Contract:
    """One listed perpetual and its candles (``opens`` ms int64; ``ohlcv`` shape (n, 5))."""

    id: str
    base: str
    quote: str
    spec: ContractSpec
    opens: np.ndarray
    ohlcv: np.ndarray
    interval_ms: int
    leverage: int
    matched: int = 0  # first bar not yet matched against resting orders


@dataclass(frozen=True)
class FuturesFill(Fill):
    """One execution as ``/fapi/v1/userTrades`` reports it: the fields of a spot :class:`Fill`
    (commission in the margin asset) and the P&L the fill realised, also in the margin asset."""

    realized_pnl: Decimal


@dataclass
class FuturesOrder:
    """One order and its progress; ``status`` uses Binance's names."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY or SELL
    type: str  # MARKET or LIMIT
    qty: Decimal
    price: Decimal  # 0 for MARKET
    time_in_force: str
    reduce_only: bool
    time: int
    update_time: int
    status: str = "NEW"
    executed: Decimal = _ZERO
    cum_quote: Decimal = _ZERO
    margin: Decimal = _ZERO  # initial margin the order holds while it is open

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else _ZERO


@dataclass
class Position:
    """The net position of one symbol: signed ``amount`` (long > 0), average ``entry_price``."""

    symbol: str
    amount: Decimal = _ZERO
    entry_price: Decimal = _ZERO
    update_time: int = 0


def _contract(symbol_id: str, frame: pd.DataFrame, spec: ContractSpec, leverage: int) -> Contract:
    quote = next((q for q in MARGIN_ASSETS if symbol_id.endswith(q)), None)
    if quote is None or len(symbol_id) <= len(quote):
        raise ValueError(f"{symbol_id}: a USD-M symbol ends with one of {', '.join(MARGIN_ASSETS)}")
    opens, ohlcv, interval = candle_arrays(symbol_id, frame)
    return Contract(
        symbol_id, symbol_id[: -len(quote)], quote, spec, opens, ohlcv, interval, leverage
    )


class UsdmBook:
    """Orders, positions, wallet, ledger and market clock of one simulated USD-M account.

    Parameters
    ----------
    candles
        Binance symbol id (``"BTCUSDT"``) → frame with ``timestamp`` (bar open, ms), ``open,
        high, low, close`` and optionally ``volume`` columns.
    balances
        Starting wallet balances of the margin assets, e.g. ``{"USDT": "10000"}``.
    fee_rate
        Commission per fill as a fraction of its notional (maker and taker alike).
    leverage
        Initial leverage of every symbol (``POST /fapi/v1/leverage`` changes it per symbol).
    start_ms
        Initial market clock; the first bar open of any symbol by default.
    specs
        Filters per symbol; :data:`DEFAULT_SPECS`, then ``GENERIC_SPEC``, by default.
    duplicate_scope
        ``"all"`` refuses a ``newClientOrderId`` already used on the symbol (stricter than
        Binance, whose ids are unique among *open* orders only: ``"open"``).
    funding
        Symbol id → funding schedule (``timestamp`` ms, ``funding_rate``), settled as
        :mod:`live.sim._usdm_funding` says; none by default.
    """

    def __init__(
        self,
        candles: Mapping[str, pd.DataFrame],
        *,
        balances: Mapping[str, str | Decimal] | None = None,
        fee_rate: str | Decimal = "0.0005",
        leverage: int = 20,
        start_ms: int | None = None,
        specs: Mapping[str, ContractSpec] | None = None,
        duplicate_scope: Literal["all", "open"] = "all",
        funding: Mapping[str, pd.DataFrame] | None = None,
    ) -> None:
        if not candles:
            raise ValueError("candles: list at least one symbol")
        if not 1 <= leverage <= MAX_LEVERAGE:
            raise ValueError(f"leverage must be in 1..{MAX_LEVERAGE}, not {leverage}")
        chosen = {**DEFAULT_SPECS, **(specs or {})}
        self.contracts = {
            sid: _contract(sid, frame, chosen.get(sid, GENERIC_SPEC), leverage)
            for sid, frame in candles.items()
        }
        self.fee_rate = Decimal(fee_rate)
        self.duplicate_scope = duplicate_scope
        self.now = (
            min(int(c.opens[0]) for c in self.contracts.values()) if start_ms is None else start_ms
        )
        self.wallet: dict[str, Decimal] = {c.quote: _ZERO for c in self.contracts.values()}
        for asset, amount in ({"USDT": "10000"} if balances is None else balances).items():
            if asset not in MARGIN_ASSETS:
                raise ValueError(f"balances: {asset} is not a margin asset ({MARGIN_ASSETS})")
            self.wallet[asset] = Decimal(amount)
        self.wallet_time = self.now  # last change of any wallet (Binance's updateTime)
        self.positions = {sid: Position(sid) for sid in self.contracts}
        self.orders: list[FuturesOrder] = []
        self.ledger: list[FuturesFill] = []
        self._next_order_id, self._next_trade_id = 8_000_001, 9_000_001
        self.algo_orders: list[AlgoOrder] = []
        self._next_algo_id = 6_000_001
        self.funding = schedules(funding, self.contracts, self.now)
        self.income: list[Income] = []  # funding settled, oldest first
        self._next_tran_id = 7_000_001

    # -- clock and prices -------------------------------------------------------------------

    def contract(self, symbol_id: str | None) -> Contract:
        return listed(self.contracts, symbol_id)

    def mark(self, symbol_id: str) -> Decimal:
        """The mark price: the current bar's open."""
        return open_price(self.contract(symbol_id), self.now)

    def advance_to(self, ts_ms: int) -> list[FuturesFill]:
        """Move the clock forward to ``ts_ms``; match every bar that closed and settle every
        funding time passed, in time order; return new fills."""
        if ts_ms < self.now:
            raise ValueError(f"the clock only moves forward ({ts_ms} < {self.now})")
        self.now = ts_ms
        before = len(self.ledger)
        for c in self.contracts.values():
            schedule = self.funding.get(c.id)
            for ft, rate in schedule.due(ts_ms) if schedule is not None else []:
                self._match_until(c, ft)  # the bars closed before it: the position carried in
                self._settle_funding(c, ft, rate)
            self._match_until(c, ts_ms)
        return self.ledger[before:]

    def _match_until(self, c: Contract, ts_ms: int) -> None:
        while c.matched < len(c.opens) and c.opens[c.matched] + c.interval_ms <= ts_ms:
            self._match_bar(c, c.matched)
            c.matched += 1

    def _settle_funding(self, c: Contract, ft: int, rate: Decimal) -> None:
        """The position pays ``amount × mark × rate`` at funding time ``ft`` (the mark: the
        open of the bar containing it); nothing without a position or a bar there."""
        amount = self.positions[c.id].amount
        if not amount or not rate:
            return
        try:
            mark = open_price(c, ft)
        except ApiError:  # no bar at ft: no market to price it
            return
        income = (-amount * mark * rate).quantize(_EIGHT)
        self.wallet[c.quote] += income
        self.wallet_time = ft
        self.income.append(Income(self._next_tran_id, c.id, c.quote, income, ft, rate))
        self._next_tran_id += 1

    def _match_bar(self, c: Contract, i: int) -> None:
        t = int(c.opens[i]) + c.interval_ms - 1  # the bar's close time
        for order in limits_through(self.orders, c, i, t):
            if order.reduce_only and not self._reduces(order.symbol, order.side, order.qty):
                order.status, order.update_time = "EXPIRED", t
                continue
            self._fill(order, order.price, t, maker=True)
        bar = (float(c.ohlcv[i, 0]), float(c.ohlcv[i, 1]), float(c.ohlcv[i, 2]))
        for algo in [a for a in self.algo_orders if a.symbol == c.id and a.is_open]:
            if algo.time <= t and (at := algo_trigger(algo, bar, i, c.spec.tick)) is not None:
                self._trigger(algo, at, t)

    def _trigger(self, algo: AlgoOrder, price: Decimal, t: int) -> None:
        """An algo order triggered at ``price``: its MARKET order fills there; a STOP /
        TAKE_PROFIT's LIMIT order fills there when its limit allows, else rests."""
        amount = self.positions[algo.symbol].amount
        qty = abs(amount) if algo.close_position else algo.qty
        reduce_only = algo.reduce_only or algo.close_position
        limit = algo.type in LIMIT_ALGO_TYPES
        order = FuturesOrder(
            self._next_order_id, algo.client_algo_id, algo.symbol, algo.side,
            "LIMIT" if limit else "MARKET", qty, algo.price if limit else _ZERO, "GTC",
            reduce_only, t, t,
        )  # fmt: skip
        self._next_order_id += 1
        self.orders.append(order)
        algo.actual_order_id, algo.update_time = order.order_id, t
        if qty <= 0 or (reduce_only and not self._reduces(algo.symbol, algo.side, qty)):
            order.status = algo.status = "EXPIRED"
            return
        algo.status = "FINISHED"
        if not limit or limit_fills_at(algo.side, algo.price, price):
            self._fill(order, price, t, maker=False)
            return
        # Rests from the next bar on (limits_through checks orders placed by a bar's close).
        c = self.contracts[algo.symbol]
        order.margin = self._growing_qty(c.id, algo.side, qty) * algo.price / c.leverage

    def new_algo(self, p: Mapping[str, str]) -> AlgoOrder:
        """Book a conditional order from ``POST /fapi/v1/algoOrder`` params (see
        :mod:`live.sim._usdm_algo`); it rests until its trigger."""
        c = self.contract(p.get("symbol"))
        terms = algo_terms(p, self.mark(c.id), c.spec.tick)
        qty = terms["qty"]
        assert isinstance(qty, Decimal)
        if qty % c.spec.step:
            raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
        cid = p.get("clientAlgoId") or f"algo{self._next_algo_id}"
        if any(a.symbol == c.id and a.client_algo_id == cid for a in self.algo_orders):
            raise ApiError(-4116, "ClientOrderId is duplicated.")
        algo = AlgoOrder(
            self._next_algo_id, cid, c.id, time=self.now, update_time=self.now,
            placed_bar=max(c.opens.searchsorted(self.now, "right") - 1, 0), **terms,  # type: ignore[arg-type]
        )  # fmt: skip
        self._next_algo_id += 1
        self.algo_orders.append(algo)
        return algo

    def find_algo(self, p: Mapping[str, str]) -> AlgoOrder:
        """The algo order named by ``algoId`` or ``clientAlgoId``; -2013 if none."""
        aid, cid = p.get("algoId"), p.get("clientAlgoId")
        if not aid and not cid:
            raise ApiError(
                -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"
            )
        for a in reversed(self.algo_orders):
            if (aid and str(a.algo_id) == aid) or (not aid and a.client_algo_id == cid):
                return a
        raise ApiError(-2013, "Order does not exist.")

    def cancel_algo(self, p: Mapping[str, str]) -> AlgoOrder:
        """Cancel an open algo order; -2011 if it is unknown or no longer open."""
        try:
            algo = self.find_algo(p)
        except ApiError as exc:
            if exc.code == -2013:
                raise ApiError(-2011, "Unknown order sent.") from None
            raise
        if not algo.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        algo.status, algo.update_time = "CANCELED", self.now
        return algo

    # -- margin -------------------------------------------------------------------------------

    def unrealized(self, symbol_id: str) -> Decimal:
        pos = self.positions[symbol_id]
        return pos.amount * (self.mark(symbol_id) - pos.entry_price) if pos.amount else _ZERO

    def position_margin(self, symbol_id: str) -> Decimal:
        pos = self.positions[symbol_id]
        if not pos.amount:
            return _ZERO
        return abs(pos.amount) * self.mark(symbol_id) / self.contracts[symbol_id].leverage

    def order_margin(self, symbol_id: str) -> Decimal:
        return sum((o.margin for o in self.orders if o.symbol == symbol_id and o.is_open), _ZERO)

    def _symbols_of(self, asset: str) -> list[str]:
        return [sid for sid, c in self.contracts.items() if c.quote == asset]

    def totals(self, asset: str) -> dict[str, Decimal]:
        """Wallet, unrealised P&L, position and order margin, margin and available balance."""
        sids = self._symbols_of(asset)
        upnl = sum((self.unrealized(s) for s in sids), _ZERO)
        pos_im = sum((self.position_margin(s) for s in sids), _ZERO)
        ord_im = sum((self.order_margin(s) for s in sids), _ZERO)
        wallet = self.wallet.get(asset, _ZERO)
        return {
            "wallet": wallet,
            "unrealized": upnl,
            "position_margin": pos_im,
            "order_margin": ord_im,
            "margin_balance": wallet + upnl,
            "available": wallet + upnl - pos_im - ord_im,
        }

    def _growing_qty(self, symbol_id: str, side: str, qty: Decimal) -> Decimal:
        """The part of an order of ``qty`` on ``side`` that would grow the position."""
        amount = self.positions[symbol_id].amount
        opposite = (amount > 0 and side == "SELL") or (amount < 0 and side == "BUY")
        return max(_ZERO, qty - abs(amount)) if opposite else qty

    def _reduces(self, symbol_id: str, side: str, qty: Decimal) -> bool:
        amount = self.positions[symbol_id].amount
        opposite = (amount > 0 and side == "SELL") or (amount < 0 and side == "BUY")
        return opposite and qty <= abs(amount)

    def set_leverage(self, p: Mapping[str, str]) -> Contract:
        """``POST /fapi/v1/leverage``: change one symbol's leverage (1 to 125)."""
        c = self.contract(p.get("symbol"))
        raw = p.get("leverage", "")
        if not raw:
            raise missing("leverage")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_LEVERAGE:
            raise ApiError(-4028, f"Leverage {raw} is not valid")
        c.leverage = int(raw)
        return c

    # -- orders -------------------------------------------------------------------------------

    def new_order(self, p: Mapping[str, str]) -> FuturesOrder:
        """Book an order from ``POST /fapi/v1/order`` params; fill what is marketable now."""
        c = self.contract(p.get("symbol"))
        side, kind, qty, price, tif = _order_terms(c, p)
        client_id = p.get("newClientOrderId") or f"sim{self._next_order_id}"
        for o in self.orders:
            same = o.symbol == c.id and o.client_order_id == client_id
            if same and (self.duplicate_scope == "all" or o.is_open):
                raise ApiError(-4116, "ClientOrderId is duplicated.")
        reduce_only = p.get("reduceOnly", "false").lower() == "true"
        if reduce_only and not self._reduces(c.id, side, qty):
            raise ApiError(-2022, "ReduceOnly Order is rejected.")
        mark = self.mark(c.id)
        notional = qty * (price or mark)
        if not reduce_only and notional < c.spec.min_notional:
            raise ApiError(
                -4164,
                f"Order's notional must be no smaller than {c.spec.min_notional:f} "
                "(unless you choose reduce only).",
            )
        margin = self._growing_qty(c.id, side, qty) * (price or mark) / c.leverage
        if margin > self.totals(c.quote)["available"]:
            raise ApiError(-2019, "Margin is insufficient.")
        order = FuturesOrder(
            self._next_order_id, client_id, c.id, side, kind, qty, price, tif, reduce_only,
            self.now, self.now, margin=margin,
        )  # fmt: skip
        marketable = kind == "MARKET" or (price >= mark if side == "BUY" else price <= mark)
        if marketable and tif == "GTX":
            raise ApiError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected. The order will not be recorded in the order history",
            )
        self._next_order_id += 1
        self.orders.append(order)
        if marketable:
            self._fill(order, mark, self.now, maker=False)
        elif tif in ("IOC", "FOK"):
            order.status, order.margin = "EXPIRED", _ZERO
        return order

    def _fill(self, order: FuturesOrder, price: Decimal, t: int, *, maker: bool) -> None:
        c = self.contracts[order.symbol]
        qty = order.qty - order.executed
        fee = (qty * price * self.fee_rate).quantize(_EIGHT)
        pnl = self._apply(c.id, qty if order.side == "BUY" else -qty, price, t)
        self.wallet[c.quote] += pnl - fee
        self.wallet_time = t
        fill = FuturesFill(
            self._next_trade_id, order.order_id, order.client_order_id, c.id, order.side,
            price, qty, fee, c.quote, t, maker, pnl,
        )  # fmt: skip
        self._next_trade_id += 1
        self.ledger.append(fill)
        order.executed += qty
        order.cum_quote += qty * price
        order.update_time = t
        order.status = "FILLED"

    def _apply(self, symbol_id: str, delta: Decimal, price: Decimal, t: int) -> Decimal:
        """Add ``delta`` (signed) to the position at ``price``; return the realised P&L."""
        pos = self.positions[symbol_id]
        pos.update_time = t
        old = pos.amount
        if old == 0 or (old > 0) == (delta > 0):  # open or grow: a new average entry
            pos.entry_price = (old * pos.entry_price + delta * price) / (old + delta)
            pos.amount = old + delta
            return _ZERO
        closed = min(abs(delta), abs(old))
        pnl = closed * (price - pos.entry_price) * (1 if old > 0 else -1)
        pos.amount = old + delta
        if pos.amount == 0:
            pos.entry_price = _ZERO
        elif (pos.amount > 0) != (old > 0):  # flipped: the rest opens at the fill price
            pos.entry_price = price
        return pnl

    def find(self, p: Mapping[str, str]) -> FuturesOrder:
        """The order named by ``orderId`` or ``origClientOrderId`` (the latest of that id)."""
        return find_order(self.orders, self.contract(p.get("symbol")).id, p)

    def cancel(self, p: Mapping[str, str]) -> FuturesOrder:
        """Cancel an open order (its margin is free again); -2011 if it is not open."""
        order = find_open_order(self.orders, self.contract(p.get("symbol")).id, p)
        order.status, order.update_time = "CANCELED", self.now
        return order

    def open_orders(self, symbol_id: str | None) -> list[FuturesOrder]:
        wanted = self.contract(symbol_id).id if symbol_id else None
        return [o for o in self.orders if o.is_open and wanted in (None, o.symbol)]

    def trades(self, p: Mapping[str, str]) -> list[FuturesFill]:
        """``userTrades`` rows: by symbol, optional ``orderId``/``startTime``/``endTime``/``fromId``."""
        c = self.contract(p.get("symbol"))
        rows = filter_trades([f for f in self.ledger if f.symbol == c.id], p)
        limit = min(int(p.get("limit") or 500), 1000)
        return rows[-limit:] if not (p.get("startTime") or p.get("fromId")) else rows[:limit]

    def open_positions(self) -> dict[str, Position]:
        """Copies of the non-flat positions, by symbol."""
        return {s: replace(pos) for s, pos in self.positions.items() if pos.amount}


def _order_terms(c: Contract, p: Mapping[str, str]) -> tuple[str, str, Decimal, Decimal, str]:
    """``(side, kind, qty, price, timeInForce)`` of an order's params, checked in Binance's order
    (the first wrong parameter is the one its error names)."""
    side, kind = p.get("side", ""), p.get("type", "")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.") if side else missing("side")
    if kind not in ("MARKET", "LIMIT"):
        raise ApiError(-1116, "Invalid orderType.")
    if p.get("positionSide", "BOTH") != "BOTH":
        raise ApiError(-4061, "Order's position side does not match user's setting.")
    qty = number_param(p, "quantity")
    if qty <= 0:
        raise ApiError(-4003, "Quantity less than or equal to zero.")
    price, tif = _ZERO, "GTC"
    if kind == "LIMIT":
        price, tif = number_param(p, "price"), p.get("timeInForce", "")
        if not tif:
            raise missing("timeInForce")
        if tif not in ("GTC", "IOC", "FOK", "GTX"):
            raise ApiError(-1115, "Invalid timeInForce.")
        if price <= 0 or price % c.spec.tick:
            raise ApiError(-4014, "Price not increased by tick size.")
    if qty % c.spec.step:
        raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
    if qty > c.spec.max_qty:
        raise ApiError(-4005, "Quantity greater than max quantity.")
    return side, kind, qty, price, tif
