"""A local exchange simulator: Binance's spot REST API over a simulated account.

Run the real ccxt client against it (rebase ``exchange.urls["api"]`` on :attr:`Simulator.url`)
to exercise order placement, reconciliation and failure handling without a real venue::

    sim = await start_simulator(candles={"BTCUSDT": frame}, api_key="k", api_secret="s")
    sim.advance_to(frame.timestamp[10])         # the market clock, on a bar open
    sim.set_fault("timeout_after_accept", seconds=2)
    ...
    await sim.close()

Matching: market orders fill at once at the current bar's **open** (the bar whose open is the
latest at or before the market clock); limit orders fill at once (at that open) when
marketable, else at their price on the first bar that trades *through* it (``low < price`` to
buy, ``high > price`` to sell), once the clock passes that bar's close. Fees: ``fee_rate``
(0.1 %) of each fill's quote amount, charged in the quote asset. ``/api/v3/klines`` serves only
bars that have closed by the market clock. Request timestamps are checked against the server
clock (wall time by default), not the market clock.

Faults (:meth:`Simulator.set_fault`): ``latency``, ``timeout_after_accept``,
``error_after_accept`` (booked, then 5xx), ``rate_limit`` (429 + ``Retry-After``, then 418
while banned), ``partial_fill``, ``duplicate_trades``.
"""

from live.sim._book import ApiError, Book, Fill, Order
from live.sim.server import FAULT_KINDS, Request, Simulator, serve_forever, start_simulator

__all__ = [
    "FAULT_KINDS",
    "ApiError",
    "Book",
    "Fill",
    "Order",
    "Request",
    "Simulator",
    "serve_forever",
    "start_simulator",
]
