"""The user-data stream behind :meth:`CcxtVenue.reports <live.venues.ccxt_venue.CcxtVenue.reports>`.

Health: the stream is down from its first failure until it delivers again, that is until the
new connection, once resynced, has received any frame; each return counts one reconnection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import ccxt

from live.orders import (
    Ack,
    Cancelled,
    Expired,
    FillReport,
    OrderState,
    QueryResult,
    Rejected,
    Report,
)
from live.venues._ccxt_bars import FATAL_STREAM
from live.venues._ccxt_util import brief, dec, fill_report, venue_fill
from live.venues.errors import RetryLater

if TYPE_CHECKING:
    from live.venues.ccxt_venue import CcxtVenue

__all__ = ["UserStream"]

log = logging.getLogger("live.venues.ccxt_venue")

S = OrderState
_ENDED = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED})


class _Resynced:
    """Put on the user-data queue once a (re)connection is resynced and delivering: it is up."""


class _StreamDown(Exception):
    """A websocket watcher failed; carries the cause to the consuming loop."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class UserStream:
    """The user-data stream of one venue: its own client, and :meth:`CcxtVenue.reports`' loop.

    With a ``client_factory`` the stream runs on a client of its own, thrown away after a
    failure (ccxt can leave a failed subscription half-done) and on :meth:`close`; without one
    it shares the venue's client.
    """

    def __init__(self, venue: CcxtVenue, client_factory: Callable[[], Any] | None) -> None:
        self.venue = venue
        self.client_factory = client_factory
        self._client: Any = None  # the stream's own client, when there is a factory

    def client(self) -> Any:
        """The client to stream on (built, with the venue's markets, when first needed)."""
        if self.client_factory is None:
            return self.venue.client
        if self._client is None:
            self._client = self.client_factory()
            self._client.set_markets_from_exchange(self.venue.client)
        return self._client

    async def close(self) -> None:
        """Close and forget the stream's own client (the next connection builds a fresh one)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()

    # -- pushed updates as reports -------------------------------------------------------------

    def order_update_reports(self, order: Mapping[str, Any]) -> list[Report]:
        """Reports of a pushed order update (none for an order without a known client id)."""
        venue = self.venue
        cid = order.get("clientOrderId") or venue._cid_by_oid.get(str(order.get("id")))
        if not cid:
            return []
        state = venue._state_of(order)
        oid = None if order.get("id") in (None, "") else str(order["id"])
        venue._track(cid, order.get("symbol") or "", oid, done=state in _ENDED)
        if state is S.REJECTED:
            return [Rejected(cid, reason="rejected (stream)")]
        reports: list[Report] = [Ack(cid, oid)]
        if state in (S.PARTIALLY_FILLED, S.FILLED):
            # The cumulative quantity: fills not (yet) streamed are then fetched by the runner.
            reports.append(QueryResult(cid, state, dec(order.get("filled") or 0), oid))
        elif state is S.CANCELLED:
            reports.append(Cancelled(cid))
        elif state is S.EXPIRED:
            reports.append(Expired(cid))
        return reports

    def trade_update_reports(self, trade: Mapping[str, Any]) -> list[Report]:
        """The fill report of a pushed trade (none, logged, for a trade of an unknown order)."""
        venue = self.venue
        cid = venue._trade_client_id(trade) or venue._cid_by_oid.get(str(trade.get("order")))
        if not cid or trade.get("id") is None:
            log.warning(
                "%s: stream trade %s of an unknown order, skipped", venue.name, trade.get("id")
            )
            return []
        return [fill_report(venue_fill(trade, trade.get("symbol") or "", cid), cid, "ws")]

    # -- connection, resync, reconnection ------------------------------------------------------

    async def _watch(
        self,
        client: Any,
        method: str,
        convert: Callable[[Any], list[Report]],
        queue: asyncio.Queue[Any],
    ) -> None:
        try:
            while True:
                for item in await getattr(client, method)():
                    for report in convert(item):
                        await queue.put(report)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(_StreamDown(exc))

    async def _delivering(self, client: Any) -> None:
        """Wait until a websocket of ``client`` has received a frame (an answer, an update, a
        pong): the stream is back then, even on a quiet account. A subscription call returning
        is not enough: ccxt lets a second caller return before the venue has confirmed it."""
        while not any(
            getattr(ws, "last_message_at", None) is not None
            for ws in list((getattr(client, "clients", None) or {}).values())
        ):
            await asyncio.sleep(0.05)

    async def _order_fill_reports(self, symbol: str, client_id: str) -> list[FillReport]:
        """Every fill of one order, as REST fill reports (for a resync)."""
        tracked = self.venue._orders.get(client_id)
        if tracked is None or tracked.venue_order_id is None:
            return []
        fills = await self.venue.order_fills(symbol, client_id, tracked.venue_order_id)
        return [fill_report(f, client_id, "rest") for f in fills]

    async def _resync(self, client: Any, queue: asyncio.Queue[Any]) -> None:
        """Query every order not known to have ended, and fetch its fills, over REST."""
        venue = self.venue
        try:
            await venue._stream_ready(client)
            for cid, tracked in list(venue._orders.items()):
                if tracked.done or not tracked.symbol:
                    continue
                await queue.put(await venue.query(tracked.symbol, cid))
                for fill in await self._order_fill_reports(tracked.symbol, cid):
                    await queue.put(fill)
            await self._delivering(client)
            await queue.put(_Resynced())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(_StreamDown(exc))

    async def run(self) -> AsyncIterator[Report]:
        """:meth:`CcxtVenue.reports`: nothing without ``watch_orders``, else the stream's
        reports until closed (the stream then ends in the health log)."""
        venue = self.venue
        await venue.start()
        methods = venue._stream_methods()
        if "watch_orders" not in methods:
            return
        stream_name = venue._health.stream("user")
        try:
            async with contextlib.aclosing(self._loop(methods, stream_name)) as updates:
                async for report in updates:
                    yield report
        except (GeneratorExit, asyncio.CancelledError):
            venue._health.ended(stream_name)  # not read any more: neither up nor lost
            raise

    async def _loop(self, methods: list[str], stream_name: str) -> AsyncGenerator[Report, None]:
        """The connect / resync / reconnect loop, noting the stream's health."""
        venue = self.venue
        converters = {
            "watch_orders": self.order_update_reports,
            "watch_my_trades": self.trade_update_reports,
        }
        attempt = 0
        while True:
            queue: asyncio.Queue[Any] = asyncio.Queue()
            stream = self.client()
            tasks = [
                asyncio.create_task(self._watch(stream, m, converters[m], queue)) for m in methods
            ]
            tasks.append(asyncio.create_task(self._resync(stream, queue)))
            try:
                while True:
                    item = await queue.get()
                    if isinstance(item, _StreamDown):
                        raise item
                    venue._health.back(stream_name)  # delivering (or subscribed and resynced)
                    if isinstance(item, _Resynced):
                        continue
                    attempt = 0
                    yield item
            except _StreamDown as down:
                venue._health.lost(stream_name)
                with venue._calling("watch_orders"):
                    if isinstance(down.cause, FATAL_STREAM):
                        raise down.cause from None
                delays = venue.reconnect_delays_s
                delay = delays[min(attempt, len(delays) - 1)]
                log.warning(
                    "%s: user-data stream lost (%s); reconnecting in %g s",
                    venue.name,
                    brief(down.cause),
                    delay,
                )
                attempt += 1
                probe = attempt >= 2 and not isinstance(down.cause, ccxt.NetworkError)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            await self.close()  # a fresh client (and connection) next time
            if probe:
                # Failing again, and not for the network: a REST call tells a setup error
                # (credentials, permissions) that the stream may hide; GiveUp ends the stream.
                with contextlib.suppress(RetryLater):
                    await venue.balances()
            await asyncio.sleep(delay)
