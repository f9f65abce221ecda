"""The DEX paper venue: swaps quoted and filled against replayed pool state, by the AMM backtest's code.

A :class:`~live.venues.paper.PaperVenue` whose pool assets fill as the research engine's
``FILL_AMM`` model fills them: every market order (and every marketable limit, and an emulated
stop's exit) is a swap through the pool *as of the execution bar's open* — the same
:class:`~grekko_research.dex.series.PoolSeries` row (in-range liquidity, LP fee, gas per fill,
window of initialised ticks) and the same function, :func:`grekko_research.engine._fills.amm_fill_price_nb`
(the float quote of :mod:`grekko_research.dex._nb`, the price-impact limit that shrinks or
refuses, the MEV haircut, gas paid in the price). So the runner on this venue and
``grekko backtest engine=dex`` on the same pool rows agree fill for fill, to the last bit.

A swap fills what the pool gives: a buy of ``qty`` base units spends ``qty × open`` of the quote
token and receives less base (price impact, LP fee); an order over the price-impact limit is
shrunk. The rest of the order is cancelled in the same reply (a swap is immediate-or-cancel),
so the runner books exactly what was filled. A refused swap (no liquidity, impact over the
limit with ``refuse``, gas above the sale's proceeds) is a rejection naming why.

The pool rows come from a per-minute pool-state file (:func:`~grekko_research.dex.series.poolstate_bars`,
``data=polygon_weth_usdc_dex``) or from a pool's logs folded by ``PoolState``
(:func:`~grekko_research.dex.series.replayed_bars`): :func:`dex_paper_source` builds both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.dex.series import PoolSeries
from grekko_research.engine._fills import amm_fill_price_nb
from grekko_research.engine.book import fill_fee
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.layout import POOL_GAS
from grekko_research.errors import ConfigError
from live.orders import Ack, Cancelled, FillReport, OrderState, Rejected, Report
from live.venues.base import OrderRequest
from live.venues.errors import GiveUp
from live.venues.paper import PaperVenue, ReplayFeed

__all__ = ["DexPaperVenue"]


class DexPaperVenue(PaperVenue):
    """A paper account trading DEX pools on replayed pool state (see the module docstring).

    Parameters
    ----------
    engine
        The engine configuration of the run (starting cash, fees: ``engine=dex`` has none
        besides the pool's).
    symbols
        The symbols traded; those in ``pools`` fill through their pool, any other by the
        paper venue's bar model.
    feed
        The replayed bars (one row per pool row).
    pools
        ``{symbol: PoolSeries}`` as the backtest takes them (``backtest(..., pools=)``).
    state_path
        Where the account is kept between runs (``None``: memory).
    """

    name = "dex-paper"

    def __init__(
        self,
        engine: EngineConfig,
        symbols: Sequence[str],
        feed: ReplayFeed,
        pools: Mapping[str, PoolSeries],
        *,
        state_path: str | Path | None = None,
    ) -> None:
        if not isinstance(feed, ReplayFeed):
            raise ConfigError("DEX paper venue: replayed pool state only (feed must be a replay)")
        super().__init__(engine, symbols, feed, state_path=state_path)
        unknown = [s for s in pools if s not in self.symbols]
        if unknown:
            raise ConfigError(f"DEX paper venue: pools {unknown} are not traded {list(symbols)}")
        n = feed.bars.n_bars
        for symbol, series in pools.items():
            if series.rows.shape[0] != n:
                raise ConfigError(
                    f"DEX paper venue: pool of {symbol} has {series.rows.shape[0]} rows, "
                    f"the replayed bars {n}"
                )
        if engine.sizing.kind == "all":
            raise ConfigError(
                "DEX paper venue: sizing 'all' cannot trade a pool (a swap's price depends on "
                "its size); use sizing percent (engine=dex)"
            )
        self.pools = dict(pools)
        self._state = {s: p.fill_state() for s, p in self.pools.items()}

    @classmethod
    def from_replay(
        cls,
        engine: EngineConfig,
        bars: Bars,
        pools: Mapping[str, PoolSeries],
        *,
        state_path: str | Path | None = None,
    ) -> DexPaperVenue:
        """The venue replaying ``bars`` with the pool rows ``pools`` (both from one source)."""
        return cls(engine, bars.symbols, ReplayFeed(bars), pools, state_path=state_path)

    async def submit(self, request: OrderRequest) -> list[Report]:
        if request.symbol not in self.pools:
            return await super().submit(request)
        cid = request.client_id
        acct = self.account
        if cid in acct.orders:
            raise _refused(f"DEX paper venue: duplicate client order id {cid}")
        if request.order_type not in ("market", "limit"):
            raise _refused("DEX paper venue: market and (marketable) limit orders only")
        order: dict[str, Any] = {
            "cid": cid, "id": str(len(acct.orders) + 1), "symbol": request.symbol,
            "side": request.side, "qty": str(request.qty), "filled": "0",
            "status": OrderState.ACKNOWLEDGED.value,
        }  # fmt: skip
        acct.orders[cid] = order
        t, ref, ts = self._execution(request)
        size = float(request.qty) if request.side == "buy" else -float(request.qty)
        if t is None or ref.is_nan():
            return self._reject(order, "DEX paper venue: no pool state for this bar")
        if request.order_type == "limit":
            limit = request.limit_price
            if limit is None or (ref > limit if size > 0 else ref < limit):
                return self._reject(
                    order, f"DEX paper venue: limit {limit} not marketable at {ref}"
                )
        row = self.pools[request.symbol].rows[t]
        # THE backtest's AMM fill: same pool row, same reference price, same size
        price, signed = amm_fill_price_nb(self._state[request.symbol], row, size, float(ref))
        if not (np.isfinite(price) and signed != 0.0):
            return self._reject(
                order,
                "DEX paper venue: the pool refused the swap (no liquidity, price impact over "
                "the limit, or gas above the proceeds)",
            )
        if signed > 0:  # the engine cuts an entry to its buying power at the fill's price
            signed = min(signed, self._buying_power(request.symbol, t, price))
            if not signed > 0.0:
                return self._reject(order, "DEX paper venue: insufficient balance")
        # units back from raw token amounts can round one ulp above the order (a sale of
        # the whole position): never more than ordered, as the engine never sells more than held
        signed = float(np.copysign(min(abs(signed), float(request.qty)), signed))
        qty = Decimal(repr(abs(signed)))
        fee = fill_fee(self.engine, signed, price)  # the engine's fee on top of the pool's
        notional = Decimal(repr(price)) * qty
        new_cash = acct.cash - (notional if signed > 0 else -notional) - Decimal(repr(fee))
        pos = acct.positions.get(request.symbol, Decimal(0))
        new_pos = pos + (qty if signed > 0 else -qty)
        if self._refused(new_cash, new_pos, request.symbol, price):
            return self._reject(order, "DEX paper venue: insufficient balance")
        trade_id = f"dex-paper-{len(acct.fills) + 1}"
        acct.cash = new_cash
        acct.positions[request.symbol] = new_pos
        rest = request.qty - qty
        order.update(
            filled=str(qty),
            status=(OrderState.FILLED if rest <= 0 else OrderState.CANCELLED).value,
        )
        acct.fills.append(
            {
                "cid": cid, "id": order["id"], "trade_id": trade_id, "symbol": request.symbol,
                "side": request.side, "qty": str(qty), "price": repr(price), "fee": repr(fee),
                "ts": ts, "gas": repr(float(row[POOL_GAS])), "ordered": str(request.qty),
            }
        )  # fmt: skip
        self._save()
        out: list[Report] = [
            Ack(cid, order["id"]),
            FillReport(cid, trade_id, qty, repr(price), source="rest", fee=repr(fee),
                       fee_asset=self.quote),
        ]  # fmt: skip
        if rest > 0:  # a swap is immediate-or-cancel: what the pool did not give is not owed
            out.append(Cancelled(cid, f"the pool filled {qty} of {request.qty}"))
        return out

    def _execution(self, request: OrderRequest) -> tuple[int | None, Decimal, int]:
        """(bar index, reference price, fill time) of an order sent now: the next bar's open,
        or an emulated stop's trigger on its own bar (the engine's exit)."""
        assert isinstance(self.feed, ReplayFeed)
        bars = self.feed.bars
        j = bars.symbols.index(request.symbol)
        if request.trigger_price is not None:
            bar = self._bar_at(request.symbol, request.trigger_ts_ms)
            if bar is None:
                return None, Decimal("NaN"), self.now_ms()
            t = int(np.searchsorted(bars.index, bar.ts_ms))
            return t, Decimal(request.trigger_price), bar.ts_ms
        t = self.feed.next_index
        if t >= bars.n_bars or bars.filled[t, j]:
            return None, Decimal("NaN"), self.now_ms()
        return t, Decimal(repr(float(bars.open[t, j]))), self.now_ms()

    def _cash_f(self) -> float:
        """The cash as the engine's float book holds it: the fills applied in order, as the
        kernel applies them (``cash -= size * price + fee``)."""
        cash = float(self.engine.init_cash)
        for f in self.account.fills:
            size = float(f["qty"]) if f["side"] == "buy" else -float(f["qty"])
            cash -= size * float(f["price"]) + float(f["fee"])
        return cash

    def _buying_power(self, symbol: str, t: int, price: float) -> float:
        """The most units a buy may add (``engine._orders._buying_power`` on this account):
        positions valued at the bar's open, fees reserved at the taker rate, float for float."""
        e = self.engine
        assert isinstance(self.feed, ReplayFeed)
        bars = self.feed.bars
        equity, gross = self._cash_f(), 0.0
        for s, held in self.account.positions.items():
            pos = float(held)
            if pos != 0.0:
                px = float(bars.open[t, bars.symbols.index(s)])
                equity += pos * px
                gross += abs(pos * px)
        pos = float(self.account.positions.get(symbol, Decimal(0)))
        value = abs(pos * price)
        room = e.leverage * (equity - e.fees.fixed) - (gross - value) - value
        if room <= 0.0:
            return 0.0
        return float(room / (price * (1.0 + e.leverage * e.fees.taker)))

    def _reject(self, order: dict[str, Any], reason: str) -> list[Report]:
        order["status"] = OrderState.REJECTED.value
        self._save()
        return [Rejected(order["cid"], reason)]


def _refused(detail: str) -> GiveUp:
    return GiveUp(
        detail, venue="dex-paper", operation="create_order", state_changing=True, source="paper"
    )
