"""A venue simulator driven in lock-step with the bars a runner closes.

:class:`LockStep` wraps the real adapter of a simulator on 127.0.0.1 (``binanceusdm`` through
the real ccxt client by default) and feeds the runner the bars of a candle file; before the
runner sees a bar, the simulator's market clock passes that bar's close. So the venue triggers
that bar's algo orders, settles the funding at the next open on the position carried into it,
and a decision at the close fills at the next open — the backtest's order of things, the same
under any load. A restart's feed starts over from the first bar and the clock never moves back.
The simulators have no user-data stream: the runner polls its orders and native stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from grekko_research.data.bars import Bars
from live.venues.base import Bar, FundingPayment
from live.venues.credentials import Credentials
from live.venues.errors import RetryLater
from live.venues.registry import make_venue

__all__ = ["LockStep", "income_asks"]


class LockStep:
    """The simulator ``sim`` behind its real adapter, fed ``bars`` in lock-step.

    ``bar_ms``: the bars' length. ``funding_down``: the first ``funding_payments`` calls fail (a venue that does not
    answer). ``funding_late_ms``: a settlement is listed only once the clock is that far past
    its time (a venue that lists it late).
    """

    name = "binanceusdm"

    def __init__(
        self,
        sim: Any,
        bars: Bars,
        credentials: Credentials,
        *,
        bar_ms: int = 3_600_000,
        funding_down: int = 0,
        funding_late_ms: int = 0,
        **options: Any,
    ) -> None:
        self.sim, self.replayed, self.bar_ms = sim, bars, bar_ms
        self.funding_down, self.funding_late_ms = funding_down, funding_late_ms
        self.exchange = make_venue(
            self.name, urls=sim.url, credentials=credentials, rate_limit=False, **options
        )
        self.capabilities = replace(
            self.exchange.capabilities, stream_orders=False, stream_trades=False
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.exchange, name)

    async def health(self) -> Any:
        return replace(await self.exchange.health(), realtime=False)

    async def reports(self) -> AsyncIterator[Any]:
        return
        yield  # an async generator without updates: no stream

    async def history(self, symbols: Any, timeframe: str, count: int) -> list[Bar]:
        return []  # the run starts cold at its first bar, as the backtest

    async def funding_payments(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        if self.funding_down > 0:
            self.funding_down -= 1
            raise RetryLater("down", venue=self.name, operation="fetch_funding_history",
                             state_changing=False, source="NetworkError")  # fmt: skip
        paid = await self.exchange.funding_payments(symbol, since_ms)
        listed = self.sim.book.now - self.funding_late_ms
        return [f for f in paid if f.ts_ms <= listed]

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        b = self.replayed
        for t in range(b.n_bars):
            close = int(b.index[t]) + self.bar_ms
            if close > self.sim.book.now:
                self.sim.advance_to(close)
            yield Bar(b.symbols[0], int(b.index[t]), float(b.open[t, 0]), float(b.high[t, 0]),
                      float(b.low[t, 0]), float(b.close[t, 0]), float(b.volume[t, 0]))  # fmt: skip


def income_asks(sim: Any) -> int:
    """The ``GET /fapi/v1/income`` requests the USD-M simulator answered."""
    return sum(1 for r in sim.requests if r.path.endswith("/v1/income"))
