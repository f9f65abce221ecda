"""A local exchange simulator: Binance's spot REST API and websockets over a simulated account.

Run the real ccxt client against it (rebase ``exchange.urls["api"]`` on :attr:`Simulator.url`;
the websocket URLs inside it, rebased too, reach the streams) to exercise order placement,
streams, reconciliation and failure handling without a real venue::

    sim = await start_simulator(candles={"BTCUSDT": frame}, api_key="k", api_secret="s")
    sim.advance_to(frame.timestamp[10])         # the market clock, on a bar open
    sim.run_clock(speed=3600)                   # ... or moving: one hour of market a second
    sim.set_fault("timeout_after_accept", seconds=2)
    ...
    await sim.close()

From the command line's side, :func:`live.sim.cli.run_sim` serves candles of the shared data
folder with a moving clock until interrupted.

Matching: market orders fill at once at the current bar's **open** (the bar whose open is the
latest at or before the market clock); limit orders fill at once (at that open) when
marketable, else at their price on the first bar that trades *through* it (``low < price`` to
buy, ``high > price`` to sell), once the clock passes that bar's close. Fees: ``fee_rate``
(0.1 %) of each fill's quote amount, charged in the quote asset. ``/api/v3/klines`` serves only
bars that have closed by the market clock. Request timestamps are checked against the server
clock (wall time by default), not the market clock.

Websockets (``ws://host:port``, see :mod:`live.sim._ws`): market streams on ``/ws``,
``/ws/<n>`` and ``/stream?streams=`` — ``<symbol>@kline_<interval>`` (a multiple of the
candles' interval; a forming update when a candle becomes current, one final ``"x": true``
message when a window closes, never anything the clock has not reached), ``<symbol>@trade`` /
``@aggTrade`` (real prints from ``trades`` as the clock passes them, and the account's fills),
``<symbol>@depth`` / ``@depth@100ms`` (diff depth of a synthetic book around the price plus
the account's resting orders, in sequence with ``GET /api/v3/depth``'s ``lastUpdateId``). User
data (``executionReport`` with ``NEW`` / ``TRADE`` / ``CANCELED``, ``outboundAccountPosition``)
on ``/ws-api/v3`` after ``userDataStream.subscribe.signature`` (what ccxt's spot
``watch_orders`` / ``watch_my_trades`` / ``watch_balance`` use) and on ``/ws/<listenKey>``
(``POST|PUT|DELETE /api/v3/userDataStream``). Event times are market-clock times.

Faults (:meth:`Simulator.set_fault`, or ``faults={kind: params}`` at start):

- ``latency`` (``seconds``): delay matching requests.
- ``timeout_after_accept`` (``seconds``): book the order, answer only after ``seconds``.
- ``error_after_accept`` (``status=503``): book the order, answer with that HTTP status.
- ``rate_limit`` (``retry_after``): answer 429 + ``Retry-After``, then 418 while banned.
- ``partial_fill`` (``fraction``): the next new order fills only that fraction at first.
- ``duplicate_trades``: the next fill is listed twice by ``myTrades``.
- ``ws_silent_drop`` (``seconds=None``, ``path=None``): websockets stay open but send nothing
  (no events, no answers, no pongs) until cleared, or for ``seconds``; ``path`` limits it to
  ``/ws-api`` (user data), ``/ws`` or ``/stream``. What was not sent meanwhile is lost.
- ``late_fill`` (``seconds=1.0``, ``times``): the next fill is booked at once — the order
  query shows it filled, balances move — but its user-data events and its ``myTrades`` row
  appear only ``seconds`` later, and the order's creation answer lists no ``fills`` for it
  (the public trade stream prints it at once).

``clear_faults()`` removes pending faults and silences; late fills already in flight arrive.
"""

from live.sim._book import ApiError, Book, Fill, Order, OrderEvent
from live.sim.cli import run_sim
from live.sim.server import FAULT_KINDS, Request, Simulator, serve_forever, start_simulator

__all__ = [
    "FAULT_KINDS",
    "ApiError",
    "Book",
    "Fill",
    "Order",
    "OrderEvent",
    "Request",
    "Simulator",
    "run_sim",
    "serve_forever",
    "start_simulator",
]
