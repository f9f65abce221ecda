"""The simulator's websockets: Binance's market streams and the user-data stream.

Paths (below ``ws://host:port``; ccxt's ``wss://stream.binance.com:9443/ws`` and
``wss://ws-api.binance.com:443/ws-api/v3`` rebased on the simulator land on them):

- ``/ws`` and ``/ws/<anything>``: raw streams. Subscribe with ``{"method": "SUBSCRIBE",
  "params": [...], "id": n}`` (answered ``{"result": null, "id": n}``), ``UNSUBSCRIBE``,
  ``LIST_SUBSCRIPTIONS``; ``/ws/<name>[/<name>...]`` subscribes from the start. A path whose
  tail is a live listenKey (``POST /api/v3/userDataStream``) carries the user-data events.
- ``/stream?streams=<name>/<name>``: combined streams, each event wrapped as
  ``{"stream": name, "data": event}``.
- ``/ws-api/v3``: the websocket API; ``userDataStream.subscribe.signature`` (what ccxt's
  spot ``watch_orders`` / ``watch_my_trades`` / ``watch_balance`` call) subscribes the
  connection to the user-data events, wrapped as ``{"subscriptionId": n, "event": event}``;
  also ``userDataStream.unsubscribe``, ``ping`` and ``time``.

A *silence* (the ``ws_silent_drop`` fault) keeps matching connections open but sends nothing
on them, pongs included: events and answers meanwhile are lost, as on a dead link.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from live.sim._book import ApiError
from live.sim._market import MarketFeed, StreamError

__all__ = ["USER", "WsHub"]

USER = "user"  # the pseudo stream name of the user-data events (see WsHub.subscribers)


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    path: str
    combined: bool
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    streams: dict[str, str] = field(default_factory=dict)  # subscribed name → topic key
    listen_key: str | None = None  # raw user-data connection
    subscription_id: int | None = None  # websocket-API user-data subscription

    def send(self, payload: Any) -> None:
        self.queue.put_nowait(json.dumps(payload, separators=(",", ":")))

    @property
    def user(self) -> bool:
        return self.listen_key is not None or self.subscription_id is not None


@dataclass
class _Silence:
    path: str | None
    until: float  # monotonic seconds; inf: until cleared

    def covers(self, path: str) -> bool:
        if self.path is None:
            return True
        prefix = self.path.rstrip("/")
        return path == prefix or path.startswith(prefix + "/")


class WsHub:
    """Every websocket of one simulator: routing, subscriptions, publication, silences.

    Parameters
    ----------
    feed
        Parses stream names and gives the first events of a subscription.
    verify
        Checks a websocket-API signed request's params (key, signature, timestamp); raises
        :class:`ApiError` as the REST API would.
    server_time
        The server clock in ms (``time`` method).
    """

    def __init__(
        self,
        feed: MarketFeed,
        *,
        verify: Callable[[Mapping[str, Any]], None],
        server_time: Callable[[], int],
    ) -> None:
        self.feed = feed
        self._verify, self._server_time = verify, server_time
        self._conns: set[_Conn] = set()
        self._silences: list[_Silence] = []
        self.listen_keys: set[str] = set()
        self._next_subscription = 0

    # -- state -------------------------------------------------------------------------------

    def topics(self) -> set[str]:
        """Topic keys with at least one subscriber."""
        return {t for c in self._conns for t in c.streams.values()}

    def subscribers(self, stream: str) -> int:
        """Connections subscribed to ``stream`` (a stream name or topic key, or ``USER``)."""
        if stream == USER:
            return sum(c.user for c in self._conns)
        return sum(stream in c.streams or stream in c.streams.values() for c in self._conns)

    def new_listen_key(self) -> str:
        key = secrets.token_urlsafe(45)[:60]
        self.listen_keys.add(key)
        return key

    def silence(self, path: str | None, seconds: float | None) -> None:
        """Send nothing on connections under ``path`` (all if ``None``) for ``seconds``."""
        until = math.inf if seconds is None else time.monotonic() + seconds
        self._silences.append(_Silence(path, until))

    def clear_silences(self) -> None:
        self._silences.clear()

    def _silent(self, conn: _Conn) -> bool:
        now = time.monotonic()
        self._silences = [s for s in self._silences if s.until > now]
        return any(s.covers(conn.path) for s in self._silences)

    # -- publication -------------------------------------------------------------------------

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        """Send a market event to every connection subscribed to ``topic``."""
        for conn in self._conns:
            for name, key in conn.streams.items():
                if key == topic:
                    conn.send({"stream": name, "data": payload} if conn.combined else payload)

    def publish_user(self, events: list[dict[str, Any]]) -> None:
        """Send user-data events to every user-data connection, in order."""
        for conn in self._conns:
            for event in events:
                if conn.listen_key is not None:
                    conn.send(event)
                elif conn.subscription_id is not None:
                    conn.send({"subscriptionId": conn.subscription_id, "event": event})

    # -- connections -------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one websocket (``/ws...``, ``/stream``, ``/ws-api/v3``)."""
        path = request.path
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20)
        await ws.prepare(request)
        conn = _Conn(ws, path, combined=path == "/stream")
        tail = path[len("/ws/") :] if path.startswith("/ws/") else ""
        if tail in self.listen_keys:
            conn.listen_key = tail
        elif path == "/stream" or (tail and "@" in tail):
            names = request.query.get("streams", "") if path == "/stream" else tail
            try:
                self._subscribe(conn, [n for n in names.split("/") if n])
            except StreamError as exc:
                await ws.close(code=1008, message=str(exc).encode()[:120])
                return ws
        self._conns.add(conn)
        for name in conn.streams:  # what a subscription gets at once (the forming kline)
            for event in self.feed.on_subscribe(self.feed.parse(name)):
                conn.send({"stream": name, "data": event} if conn.combined else event)
        writer = asyncio.create_task(self._write(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if not self._silent(conn):
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.TEXT:
                    self._on_text(conn, msg.data)
        finally:
            self._conns.discard(conn)
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _write(self, conn: _Conn) -> None:
        while (text := await conn.queue.get()) is not None:
            if self._silent(conn) or conn.ws.closed:
                continue
            try:
                await conn.ws.send_str(text)
            except ConnectionError:
                return

    async def close(self) -> None:
        """Close every connection (going away)."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"simulator closing")

    def _subscribe(self, conn: _Conn, names: list[str]) -> list[str]:
        topics = [self.feed.parse(n) for n in names]  # all or nothing
        for name, topic in zip(names, topics, strict=True):
            if name not in conn.streams:
                conn.streams[name] = topic.key
        return names

    def _on_text(self, conn: _Conn, text: str) -> None:
        try:
            request = json.loads(text)
        except ValueError:
            conn.send({"error": {"code": 3, "msg": "Invalid JSON"}, "id": None})
            return
        if not isinstance(request, dict):
            conn.send({"error": {"code": 2, "msg": "Invalid request"}, "id": None})
        elif conn.path.startswith("/ws-api/"):
            self._on_api(conn, request)
        else:
            self._on_stream_request(conn, request)

    def _on_stream_request(self, conn: _Conn, request: dict[str, Any]) -> None:
        rid, method, params = request.get("id"), request.get("method"), request.get("params")
        if method == "LIST_SUBSCRIPTIONS":
            conn.send({"result": list(conn.streams), "id": rid})
            return
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE") or not isinstance(params, list):
            conn.send(
                {"error": {"code": 2, "msg": f"Invalid request: method {method!r}"}, "id": rid}
            )
            return
        names = [str(p) for p in params]
        if method == "UNSUBSCRIBE":
            for name in names:
                conn.streams.pop(name, None)
            conn.send({"result": None, "id": rid})
            return
        try:
            new = [n for n in names if n not in conn.streams]
            self._subscribe(conn, names)
        except StreamError as exc:
            conn.send({"error": {"code": 2, "msg": str(exc)}, "id": rid})
            return
        conn.send({"result": None, "id": rid})
        for name in new:
            for event in self.feed.on_subscribe(self.feed.parse(name)):
                conn.send({"stream": name, "data": event} if conn.combined else event)

    def _on_api(self, conn: _Conn, request: dict[str, Any]) -> None:
        rid, method = request.get("id"), request.get("method")
        params = request.get("params") or {}
        result: dict[str, Any]
        try:
            if method == "userDataStream.subscribe.signature":
                self._verify(params)
                if conn.subscription_id is None:
                    conn.subscription_id = self._next_subscription
                    self._next_subscription += 1
                result = {"subscriptionId": conn.subscription_id}
            elif method == "userDataStream.unsubscribe":
                conn.subscription_id = None
                result = {}
            elif method == "ping":
                result = {}
            elif method == "time":
                result = {"serverTime": self._server_time()}
            else:
                raise ApiError(-1020, f"Unsupported websocket API method {method!r}.")
        except ApiError as exc:
            conn.send(
                {"id": rid, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
            )
            return
        conn.send({"id": rid, "status": 200, "result": result})
