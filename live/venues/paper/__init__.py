"""The paper venue: a simulated account that fills with the backtest engine's own model.

Market orders fill at once, at the price a market order sent now would get from the engine:
the reference price (the next bar's open when replaying, else the feed's last price) moved by
the configured slippage (:func:`~grekko_research.engine.book.fill_price`; a calibrated cost
model's where the config has one, from the volume and volatility of the bars before the fill,
as in the backtest), with the engine's taker fee. A limit order fills at once when the reference price reaches its limit (a
marketable limit: at the reference price, no slippage, taker fee) and is rejected otherwise
(the paper venue keeps no resting book). The exit of a stop the runner emulates carries the
price that fired it (``trigger_price``): when replaying, the venue's clock is already past the
trigger, so it fills there, on the trigger's bar — the engine's exit price. Bars come either from stored history (:class:`ReplayFeed`, as fast as the runner
takes them) or from another venue's public feed (paper trading on live data).

The account (cash in the quote asset, positions, orders, fills) is written atomically to
``state_path`` after every change when one is given, so that a restarted runner finds the
same "venue" it left, as it would with an exchange.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from grekko_research._atomic import atomic_write_text
from grekko_research.data.bars import Bars
from grekko_research.engine.book import fill_fee, fill_price
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.costs import cost_features
from grekko_research.errors import ConfigError
from live.orders import (
    Ack,
    Cancelled,
    FillReport,
    NotFound,
    OrderState,
    QueryResult,
    Rejected,
    Report,
)
from live.venues.base import (
    Bar,
    MarketInfo,
    OrderRequest,
    Venue,
    VenueCapabilities,
    VenueFill,
    VenueHealth,
    VenueOrder,
    no_reports,
)
from live.venues.errors import GiveUp

__all__ = ["PaperVenue", "ReplayFeed"]


class ReplayFeed:
    """Stored bars replayed in order; the market clock sits at the open of the bar after the
    last one given out (when bar ``t`` has closed, it is bar ``t + 1``'s open)."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars
        self.t = -1  # last bar given out

    @property
    def next_index(self) -> int:
        return self.t + 1

    def now_ms(self) -> int:
        tf = int(self.bars.index[1] - self.bars.index[0]) if self.bars.n_bars > 1 else 0
        if self.t < 0:
            return int(self.bars.index[0]) if self.bars.n_bars else 0
        if self.t + 1 < self.bars.n_bars:
            return int(self.bars.index[self.t + 1])
        return int(self.bars.index[self.t]) + tf

    def replay(self, symbols: Sequence[str], timeframe: str, since_ms: int | None) -> Iterator[Bar]:
        """The stored bars of ``symbols`` from ``since_ms`` in time order, moving the market
        clock bar by bar (every venue replaying stored bars: paper, DEX)."""
        b = self.bars
        if b.timeframe != timeframe:
            raise ConfigError(f"replay bars are {b.timeframe}, the run asks for {timeframe}")
        cols = [b.symbols.index(s) for s in symbols]
        start = 0 if since_ms is None else int(np.searchsorted(b.index, since_ms, "left"))
        for t in range(start, b.n_bars):
            self.t = t
            for s, j in zip(symbols, cols, strict=True):
                yield Bar(
                    s, int(b.index[t]), float(b.open[t, j]), float(b.high[t, j]),
                    float(b.low[t, j]), float(b.close[t, j]), float(b.volume[t, j]),
                    bool(b.filled[t, j]),
                )  # fmt: skip


@dataclass
class _Account:
    cash: Decimal
    positions: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "cash": str(self.cash),
                "positions": {k: str(v) for k, v in self.positions.items()},
                "orders": self.orders,
                "fills": self.fills,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> _Account:
        d = json.loads(text)
        return cls(
            Decimal(d["cash"]),
            {k: Decimal(v) for k, v in d["positions"].items()},
            d["orders"],
            d["fills"],
        )


class PaperVenue(Venue):
    """A paper account (see the module docstring).

    Parameters
    ----------
    engine
        Fees, slippage, market rules and starting cash (``init_cash``, in the quote asset).
    symbols
        The symbols traded (``BASE/QUOTE``; all with the same quote asset).
    feed
        A :class:`ReplayFeed`, or a venue whose public ``bars`` and ``reference_price`` drive
        the account (paper trading on live data).
    state_path
        Where the account is kept between runs (JSON, written atomically); ``None``: memory.
    """

    name = "paper"

    def __init__(
        self,
        engine: EngineConfig,
        symbols: Sequence[str],
        feed: ReplayFeed | Venue,
        *,
        state_path: str | Path | None = None,
    ) -> None:
        self.engine = engine
        self.symbols = tuple(symbols)
        self.feed = feed
        quotes = {s.split("/")[1].split(":")[0] for s in self.symbols}
        if len(quotes) != 1:
            raise ConfigError(f"a paper account needs one quote asset, got {sorted(quotes)}")
        self.quote = quotes.pop()
        self.state_path = None if state_path is None else Path(state_path)
        if self.state_path is not None and self.state_path.exists():
            self.account = _Account.from_json(self.state_path.read_text())
        else:
            self.account = _Account(Decimal(repr(float(engine.init_cash))))
        self._lot, self._tick, self._min_notional = engine.market.arrays(len(self.symbols))
        self._last: dict[str, float] = {}
        # Closed bars' (close, volume) per symbol, for calibrated cost models (a feed's only).
        self._keep = max((c.vol_window for c in engine.costs), default=0) + 1
        self._seen: dict[str, deque[tuple[float, float]]] = {}
        self.capabilities = self._capabilities()

    def _capabilities(self) -> VenueCapabilities:
        """The paper account's own (market orders, filled at once; every order and fill kept),
        with the market data of its feed: a replay knows the execution bar, a venue's feed
        brings its streams, ticker and clock."""
        own = VenueCapabilities(
            fetch_ohlcv=True,
            market_orders=True,
            query_orders=True,
            cancel_orders=True,
            fetch_balance=True,
            fetch_fills=True,
            execution_bar=isinstance(self.feed, ReplayFeed),
        )
        if isinstance(self.feed, ReplayFeed):
            return own
        data = self.feed.capabilities
        if not data.fetch_ohlcv:
            raise ConfigError(f"paper venue: feed {self.feed.name!r} has no bars (fetch_ohlcv)")
        return dataclasses.replace(
            own, stream_bars=data.stream_bars, ticker=data.ticker, server_time=data.server_time
        )

    # -- lifecycle and clock ----------------------------------------------------------------

    async def start(self) -> None:
        if not isinstance(self.feed, ReplayFeed):
            await self.feed.start()

    async def close(self) -> None:
        if not isinstance(self.feed, ReplayFeed):
            await self.feed.close()

    def now_ms(self) -> int:
        return self.feed.now_ms()

    async def health(self) -> VenueHealth:
        """A replay's: not realtime, no stream, no error. On a venue's feed: that venue's."""
        if isinstance(self.feed, ReplayFeed):
            return VenueHealth(realtime=False)
        return await self.feed.health()

    def _save(self) -> None:
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.state_path, self.account.to_json())

    # -- market data ----------------------------------------------------------------------

    def _j(self, symbol: str) -> int:
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise _refused(
                f"paper venue does not trade {symbol!r} ({', '.join(self.symbols)})", "market"
            ) from None

    async def market(self, symbol: str) -> MarketInfo:
        j = self._j(symbol)
        base, quote = symbol.split("/")[0], self.quote
        return MarketInfo(
            symbol,
            base,
            quote,
            lot=Decimal(repr(float(self._lot[j]))),
            tick=Decimal(repr(float(self._tick[j]))),
            min_notional=Decimal(repr(float(self._min_notional[j]))),
        )

    def execution_bar(self, symbol: str) -> Bar | None:
        """The bar a market order sent now executes on, when replaying (else ``None``;
        ``capabilities.execution_bar`` says which)."""
        if not isinstance(self.feed, ReplayFeed):
            return None
        t = self.feed.next_index
        bars = self.feed.bars
        if t >= bars.n_bars:
            return None
        j = self._j(symbol)
        if bars.filled[t, j]:
            return None
        return Bar(
            symbol, int(bars.index[t]), float(bars.open[t, j]), float(bars.high[t, j]),
            float(bars.low[t, j]), float(bars.close[t, j]), float(bars.volume[t, j]),
        )  # fmt: skip

    def _bar_at(self, symbol: str, ts_ms: int | None) -> Bar | None:
        """The replayed bar of ``symbol`` opening at ``ts_ms`` (``None``: unknown)."""
        assert isinstance(self.feed, ReplayFeed)
        bars = self.feed.bars
        t = int(np.searchsorted(bars.index, ts_ms)) if ts_ms is not None else bars.n_bars
        if t >= bars.n_bars or int(bars.index[t]) != ts_ms:
            return None
        j = bars.symbols.index(symbol)
        return Bar(
            symbol, int(bars.index[t]), float(bars.open[t, j]), float(bars.high[t, j]),
            float(bars.low[t, j]), float(bars.close[t, j]), float(bars.volume[t, j]),
        )  # fmt: skip

    async def reference_price(self, symbol: str) -> Decimal:
        if isinstance(self.feed, ReplayFeed):
            bar = self.execution_bar(symbol)
            return Decimal("NaN") if bar is None else Decimal(repr(bar.open))
        return await self.feed.reference_price(symbol)

    async def history(self, symbols: Sequence[str], timeframe: str, count: int) -> list[Bar]:
        if isinstance(self.feed, ReplayFeed):
            return []  # a replay starts cold, as the backtest does
        bars = await self.feed.history(symbols, timeframe, count)
        for bar in bars:
            self._see(bar)
        return bars

    async def bars(
        self, symbols: Sequence[str], timeframe: str, since_ms: int | None
    ) -> AsyncIterator[Bar]:
        if not isinstance(self.feed, ReplayFeed):
            async for bar in self.feed.bars(symbols, timeframe, since_ms):
                self._see(bar)
                yield bar
            return
        for bar in self.feed.replay(symbols, timeframe, since_ms):
            yield bar

    def reports(self) -> AsyncIterator[Report]:
        return no_reports()

    # -- orders ---------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> list[Report]:
        cid = request.client_id
        acct = self.account
        if cid in acct.orders:
            raise _refused(f"paper venue: duplicate client order id {cid}", "create_order")
        if request.order_type not in ("market", "limit"):
            raise _refused("paper venue: market and limit orders only", "create_order")
        j = self._j(request.symbol)
        bar = self.execution_bar(request.symbol)
        ts = self.now_ms()
        if request.trigger_price is not None and isinstance(self.feed, ReplayFeed):
            ref = request.trigger_price  # an emulated stop's exit, at its trigger (see above)
            bar = self._bar_at(request.symbol, request.trigger_ts_ms)
            ts = bar.ts_ms if bar is not None else ts
        else:
            ref = await self.reference_price(request.symbol)
        size = float(request.qty) if request.side == "buy" else -float(request.qty)
        order: dict[str, Any] = {
            "cid": cid,
            "id": str(len(acct.orders) + 1),
            "symbol": request.symbol,
            "side": request.side,
            "qty": str(request.qty),
            "filled": "0",
            "status": OrderState.ACKNOWLEDGED.value,
        }
        acct.orders[cid] = order
        if ref.is_nan():
            order["status"] = OrderState.REJECTED.value
            self._save()
            return [Rejected(cid, "paper venue: no market for this symbol now")]
        if request.order_type == "limit":
            limit = request.limit_price
            if limit is None or (ref > limit if size > 0 else ref < limit):
                order["status"] = OrderState.REJECTED.value
                self._save()
                return [Rejected(cid, f"paper venue: limit {limit} not marketable at {ref}")]
            price = float(ref)  # a marketable limit fills at the market, not beyond its limit
        else:
            price = fill_price(
                self.engine,
                float(ref),
                size,
                high=bar.high if bar else math.inf,
                low=bar.low if bar else -math.inf,
                volume=bar.volume if bar else math.nan,
                tick=float(self._tick[j]),
                symbol=request.symbol,
                costs=self._cost_row(request.symbol, bar.ts_ms if bar else None),
            )
        fee = fill_fee(self.engine, size, price)  # the engine's fee function, not a copy
        notional = Decimal(repr(price)) * request.qty
        new_cash = acct.cash - (notional if size > 0 else -notional) - Decimal(repr(fee))
        pos = acct.positions.get(request.symbol, Decimal(0))
        new_pos = pos + (request.qty if size > 0 else -request.qty)
        if self._refused(new_cash, new_pos, request.symbol, price):
            order["status"] = OrderState.REJECTED.value
            self._save()
            return [Rejected(cid, "paper venue: insufficient balance")]
        trade_id = f"paper-{len(acct.fills) + 1}"
        acct.cash = new_cash
        acct.positions[request.symbol] = new_pos
        order.update(filled=str(request.qty), status=OrderState.FILLED.value)
        acct.fills.append(
            {
                "cid": cid, "id": order["id"], "trade_id": trade_id, "symbol": request.symbol,
                "side": request.side, "qty": str(request.qty), "price": repr(price),
                "fee": repr(fee), "ts": ts,
            }
        )  # fmt: skip
        self._save()
        return [
            Ack(cid, order["id"]),
            FillReport(
                cid, trade_id, request.qty, repr(price), source="rest", fee=repr(fee),
                fee_asset=self.quote,
            ),
        ]  # fmt: skip

    def _cost_row(self, symbol: str, ts_ms: int | None) -> np.ndarray | None:
        """A calibrated cost model's features for a fill of ``symbol`` on the bar opening at
        ``ts_ms`` (the execution bar; ``None``: the next one): the volume and volatility of the
        bars before it (``None`` without a model for it)."""
        if not any(c.symbol == symbol for c in self.engine.costs):
            return None
        if isinstance(self.feed, ReplayFeed):
            b = self.feed.bars
            t = self.feed.next_index if ts_ms is None else int(np.searchsorted(b.index, ts_ms))
            j = b.symbols.index(symbol)
            lo = max(0, t - self._keep)  # the bars the model's volatility reads, not all before
            close, volume = b.close[lo:t, j : j + 1], b.volume[lo:t, j : j + 1]
        else:
            seen = list(self._seen.get(symbol, ()))
            close = np.array([c for c, _ in seen], dtype=np.float64).reshape(-1, 1)
            volume = np.array([v for _, v in seen], dtype=np.float64).reshape(-1, 1)
        row: np.ndarray = cost_features(self.engine, [symbol], close, volume)[0, 0]
        return row

    def _see(self, bar: Bar) -> None:
        self._last[bar.symbol] = bar.close
        if self.engine.costs:
            self._seen.setdefault(bar.symbol, deque(maxlen=self._keep)).append(
                (bar.close, bar.volume)
            )

    def _refused(self, cash: Decimal, new_pos: Decimal, symbol: str, price: float) -> bool:
        """Spot without leverage or shorts: cash and positions may not go below zero."""
        e = self.engine
        if e.allow_short or e.leverage > 1:
            return False
        slack = Decimal("1e-9") * max(Decimal(1), abs(cash))
        return cash < -slack or new_pos < -Decimal("1e-12")

    async def query(self, symbol: str, client_id: str) -> Report:
        order = self.account.orders.get(client_id)
        if order is None:
            return NotFound(client_id)
        return QueryResult(
            client_id, OrderState(order["status"]), Decimal(order["filled"]), order["id"]
        )

    async def cancel(self, symbol: str, client_id: str) -> list[Report]:
        order = self.account.orders.get(client_id)
        if order is None:
            return [NotFound(client_id)]
        if order["status"] == OrderState.ACKNOWLEDGED.value:
            order["status"] = OrderState.CANCELLED.value
            self._save()
            return [Cancelled(client_id)]
        return [await self.query(symbol, client_id)]

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        return [
            VenueOrder(
                o["symbol"],
                o["cid"],
                o["id"],
                o["side"],
                OrderState(o["status"]),
                Decimal(o["qty"]),
                Decimal(o["filled"]),
            )
            for o in self.account.orders.values()
            if o["symbol"] in symbols and o["status"] == OrderState.ACKNOWLEDGED.value
        ]

    async def fills(self, symbol: str, since_ms: int | None = None) -> list[VenueFill]:
        return [
            VenueFill(
                f["symbol"],
                f["cid"],
                f["id"],
                f["trade_id"],
                f["side"],
                Decimal(f["qty"]),
                Decimal(f["price"]),
                Decimal(f["fee"]),
                self.quote,
                int(f["ts"]),
            )
            for f in self.account.fills
            if f["symbol"] == symbol and (since_ms is None or f["ts"] >= since_ms)
        ]

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        return [f for f in await self.fills(symbol) if f.client_id == client_id]

    async def balances(self) -> dict[str, Decimal]:
        out = {self.quote: self.account.cash}
        for symbol, qty in self.account.positions.items():
            out[symbol.split("/")[0]] = qty
        return out

    async def positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        return {s: self.account.positions.get(s, Decimal(0)) for s in symbols}


def _refused(detail: str, operation: str) -> GiveUp:
    return GiveUp(
        detail,
        venue="paper",
        operation=operation,
        state_changing=operation == "create_order",
        source="paper",
    )
