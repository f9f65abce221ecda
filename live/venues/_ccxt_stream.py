"""The user-data stream behind :meth:`CcxtVenue.reports <live.venues.ccxt_venue.CcxtVenue.reports>`.

Health: the stream is down from its first failure until it delivers again, that is until the
new connection, once resynced, has received any frame; each return counts one reconnection.

It uses its adapter only through :class:`StreamHost`: the public members listed there, never
the adapter's private state (a test scans this module for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any, Protocol

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
from live.venues._ccxt_orders import ENDED, OrderTracker, order_state
from live.venues._ccxt_util import HealthLog, brief, dec, fill_report, venue_fill
from live.venues.base import VenueCapabilities, VenueFill
from live.venues.errors import RetryLater

__all__ = ["StreamHost", "UserStream"]

log = logging.getLogger("live.venues.ccxt_venue")

S = OrderState


class StreamHost(Protocol):
    """What :class:`UserStream` uses of its adapter (:class:`~live.venues.ccxt_venue.CcxtVenue`).

    ``client`` is the adapter's ccxt client (the stream's own is built like it);
    ``tracker`` the client ids it sent (read to map pushed updates, updated with what they
    say); ``health_log`` notes the stream lost and back; ``calling`` translates an error into
    the venue error tree; ``capabilities`` says whether order updates (``stream_orders``) and
    the account's trades (``stream_trades``) are streamed. ``stream_ready`` and
    ``trade_client_id`` are per-venue hooks (when a subscription is in place, the client id a
    pushed trade carries); ``query``, ``order_fills`` and ``balances`` are the
    :class:`~live.venues.base.Venue` calls a resync and a failure probe make.
    """

    name: str
    client: Any
    reconnect_delays_s: tuple[float, ...]
    health_log: HealthLog
    tracker: OrderTracker
    capabilities: VenueCapabilities

    async def start(self) -> None: ...

    def calling(self, operation: str) -> AbstractContextManager[None]: ...

    async def stream_ready(self, client: Any) -> None: ...

    def trade_client_id(self, trade: Mapping[str, Any]) -> str | None: ...

    async def query(self, symbol: str, client_id: str) -> Report: ...

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]: ...

    async def balances(self) -> dict[str, Decimal]: ...


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

    def __init__(self, venue: StreamHost, client_factory: Callable[[], Any] | None) -> None:
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
        cid = order.get("clientOrderId") or venue.tracker.client_id(order.get("id"))
        if not cid:
            return []
        state = order_state(order)
        oid = None if order.get("id") in (None, "") else str(order["id"])
        venue.tracker.track(cid, order.get("symbol") or "", oid, done=state in ENDED)
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
        cid = venue.trade_client_id(trade) or venue.tracker.client_id(trade.get("order"))
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
        oid = self.venue.tracker.venue_order_id(client_id)
        if oid is None:
            return []
        fills = await self.venue.order_fills(symbol, client_id, oid)
        return [fill_report(f, client_id, "rest") for f in fills]

    async def _resync(self, client: Any, queue: asyncio.Queue[Any]) -> None:
        """Query every order not known to have ended, and fetch its fills, over REST."""
        venue = self.venue
        try:
            await venue.stream_ready(client)
            for cid, symbol in venue.tracker.unfinished():
                await queue.put(await venue.query(symbol, cid))
                for fill in await self._order_fill_reports(symbol, cid):
                    await queue.put(fill)
            await self._delivering(client)
            await queue.put(_Resynced())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await queue.put(_StreamDown(exc))

    async def run(self) -> AsyncIterator[Report]:
        """:meth:`CcxtVenue.reports`: nothing without ``capabilities.stream_orders``, else the
        stream's reports until closed (the stream then ends in the health log)."""
        venue = self.venue
        await venue.start()
        caps = venue.capabilities
        if not caps.stream_orders:
            return
        methods = ["watch_orders", "watch_my_trades"] if caps.stream_trades else ["watch_orders"]
        stream_name = venue.health_log.stream("user")
        try:
            async with contextlib.aclosing(self._loop(methods, stream_name)) as updates:
                async for report in updates:
                    yield report
        except (GeneratorExit, asyncio.CancelledError):
            venue.health_log.ended(stream_name)  # not read any more: neither up nor lost
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
                    venue.health_log.back(stream_name)  # delivering (or subscribed and resynced)
                    if isinstance(item, _Resynced):
                        continue
                    attempt = 0
                    yield item
            except _StreamDown as down:
                venue.health_log.lost(stream_name)
                with venue.calling("watch_orders"):
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
