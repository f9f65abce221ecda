"""A local Solana RPC + PubSub peer on 127.0.0.1, backed by LiteSVM.

The real ``solana`` client (``AsyncClient`` for JSON-RPC over HTTP, ``connect`` for the
websocket) talks to it as to a node: one URL serves both, ``http://host:port`` for requests and
``ws://host:port`` for subscriptions. Methods: ``getAccountInfo``, ``getMultipleAccounts``,
``getTokenLargestAccounts``, ``getTokenSupply``, ``getBalance``, ``getLatestBlockhash``,
``getSlot``, ``getHealth``, ``getVersion``, ``simulateTransaction``, ``sendTransaction``,
``getSignatureStatuses``, ``requestAirdrop``; subscriptions ``logsSubscribe`` (``all`` or
``{"mentions": [key]}``), ``blockSubscribe`` (``all`` or ``{"mentionsAccountOrProgram": key}``),
``slotSubscribe`` and their ``*Unsubscribe``.

Every transaction that lands (:meth:`SolanaPeer.send`, the RPC's ``sendTransaction``, or a
launch made by :func:`live.sim.solana._tokens.make_launch` through :meth:`SolanaPeer.launch`)
is its own block in the next slot and is notified to the matching subscribers.
:meth:`SolanaPeer.replay` sends recorded notification values (e.g. a mainnet ``blockSubscribe``
entry) as they were captured; :meth:`SolanaPeer.skip` leaves slots empty.

Faults (:meth:`SolanaPeer.set_fault`, per RPC method): ``error`` (a JSON-RPC error answer),
``delay`` (answer after ``seconds``: the caller's timeout), ``malformed`` (a result of the wrong
shape), ``value`` (a well-formed result whose value is ``data``: e.g. a simulation whose logs
are not the program's), ``http_500``; ``times`` limits how often. :meth:`SolanaPeer.drop_connections` closes
every websocket (the subscriber must reconnect).

Usage::

    async with await start_solana_peer() as peer:
        client = AsyncClient(peer.url)
        token = peer.launch("clean")
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction

from live.sim._http import HttpPeer, dumps
from live.sim.solana._chain import Block, Chain, RpcFault
from live.sim.solana._tokens import LaunchCase, LaunchedToken, make_launch

__all__ = ["FAULTS", "PeerThread", "SolanaPeer", "start_solana_peer"]

FAULTS = ("error", "delay", "malformed", "value", "http_500")
_NOTIFY = {"logs": "logsNotification", "block": "blockNotification", "slot": "slotNotification"}


@dataclass
class _Fault:
    kind: str
    seconds: float = 0.0
    times: int | None = None
    code: int = -32005
    message: str = "Node is behind by 42 slots"
    data: Any = None


@dataclass
class _Sub:
    id: int
    kind: str  # logs | block | slot
    mentions: str | None
    details: str
    ws: web.WebSocketResponse


class SolanaPeer(HttpPeer):
    """The RPC + PubSub server over a :class:`~live.sim.solana._chain.Chain`."""

    def __init__(self) -> None:
        super().__init__()
        self.chain = Chain()
        self._faults: dict[str, _Fault] = {}
        self._subs: dict[int, _Sub] = {}
        self._ids = itertools.count(1)
        self._sockets: set[web.WebSocketResponse] = set()
        self.calls: list[str] = []  # RPC methods answered, in order
        self._muted = 0  # blocks produced but not notified (a lossy link)
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    # -- control ---------------------------------------------------------------------

    def set_fault(
        self,
        method: str,
        kind: str,
        *,
        seconds: float = 0.0,
        times: int | None = None,
        code: int = -32005,
        message: str = "Node is behind by 42 slots",
        data: Any = {"numSlotsBehind": 42},  # noqa: B006 - never mutated
    ) -> None:
        """Make ``method`` fail as ``kind`` (``error`` answers ``code``/``message``/``data``;
        ``data=None`` sends none; ``value`` answers ``data`` as the result's value)."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULTS)}")
        self._faults[method] = _Fault(kind, seconds, times, code, message, data)

    def clear_faults(self) -> None:
        self._faults.clear()

    def launch(self, case: LaunchCase | str, **kwargs: Any) -> LaunchedToken:
        """Launch a token of ``case`` (see :mod:`live.sim.solana._tokens`) and notify it."""
        token = make_launch(self.chain, case, **kwargs)
        if token.block is not None:
            self._schedule(self._publish_block(token.block))
        return token

    def send(self, tx: Transaction | VersionedTransaction) -> str:
        """Execute ``tx`` (raises :class:`RpcFault` if it fails) and notify its block."""
        sig, block = self.chain.send(tx)
        if block is not None:
            self._schedule(self._publish_block(block))
        return sig

    def mute(self, blocks: int) -> None:
        """Produce the next ``blocks`` blocks without notifying them (lost on the way): the
        block after them has a parent a subscriber never saw."""
        self._muted += blocks

    def skip(self, slots: int) -> None:
        """Leave ``slots`` empty slots (the next block's parent is older than the last one)."""
        self.chain.skip(slots)

    async def replay(self, frames: Iterable[Mapping[str, Any]]) -> int:
        """Send recorded notification values: each frame is ``{"kind": "logs"|"block",
        "slot": n, "value": {...}}``; returns how many messages went out."""
        sent = 0
        for frame in frames:
            kind, slot, value = frame["kind"], int(frame["slot"]), frame["value"]
            keys = _mentioned_keys(kind, value)
            sent += await self._notify(kind, slot, value, keys)
        return sent

    async def drop_connections(self) -> None:
        """Close every websocket (subscriptions are lost, as on a node restart)."""
        for ws in list(self._sockets):
            await ws.close()
        self._subs.clear()

    async def settle(self) -> None:
        """Wait until notifications scheduled so far went out."""
        await asyncio.sleep(0)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- serving ---------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> SolanaPeer:
        app = web.Application()
        app.router.add_route("*", "/", self._handle)
        await self._serve(app, host, port)
        return self

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        await super().close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        if request.method != "POST":
            return web.Response(status=405, text="POST JSON-RPC, or upgrade to a websocket")
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return web.json_response(_error(None, -32700, "Parse error"), dumps=dumps)
        if isinstance(body, list):
            answers = [await self._answer(item) for item in body]
            if any(a is None for a in answers):
                return web.Response(status=500, text="Internal Server Error")
            return web.json_response(answers, dumps=dumps)
        answer = await self._answer(body)
        if answer is None:
            return web.Response(status=500, text="Internal Server Error")
        return web.json_response(answer, dumps=dumps)

    async def _answer(self, req: Any) -> dict[str, Any] | None:
        if not isinstance(req, dict) or "method" not in req:
            return _error(None, -32600, "Invalid request")
        rid, method, params = req.get("id"), req["method"], req.get("params") or []
        fault = self._take_fault(method)
        if fault is not None:
            if fault.kind == "delay":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "error":
                return _error(rid, fault.code, fault.message, fault.data)
            elif fault.kind == "http_500":
                return None
            elif fault.kind == "value":
                return {"jsonrpc": "2.0", "result": self._ctx(fault.data), "id": rid}
            elif fault.kind == "malformed":
                return {
                    "jsonrpc": "2.0",
                    "result": {"context": self.chain.context(), "value": 42},
                    "id": rid,
                }
        handler = getattr(self, "_rpc_" + method, None)
        if handler is None:
            return _error(rid, -32601, "Method not found")
        self.calls.append(method)
        try:
            return {"jsonrpc": "2.0", "result": handler(*params), "id": rid}
        except RpcFault as e:
            return _error(rid, e.code, e.message)
        except (TypeError, ValueError) as e:
            return _error(rid, -32602, f"Invalid params: {e}")

    def _take_fault(self, method: str) -> _Fault | None:
        fault = self._faults.get(method)
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[method]
        return fault

    # -- JSON-RPC methods ------------------------------------------------------------

    def _ctx(self, value: Any) -> dict[str, Any]:
        return {"context": self.chain.context(), "value": value}

    def _rpc_getAccountInfo(self, key: str, config: dict[str, Any] | None = None) -> Any:
        encoding = (config or {}).get("encoding", "base64")
        return self._ctx(self.chain.account_json(Pubkey.from_string(key), encoding))

    def _rpc_getMultipleAccounts(
        self, keys: list[str], config: dict[str, Any] | None = None
    ) -> Any:
        encoding = (config or {}).get("encoding", "base64")
        return self._ctx([self.chain.account_json(Pubkey.from_string(k), encoding) for k in keys])

    def _rpc_getTokenLargestAccounts(self, mint: str, config: Any = None) -> Any:
        return self._ctx(self.chain.largest_accounts(Pubkey.from_string(mint)))

    def _rpc_getTokenSupply(self, mint: str, config: Any = None) -> Any:
        acc = self.chain.svm.get_account(Pubkey.from_string(mint))
        if acc is None:
            raise RpcFault(-32602, "Invalid param: could not find account")
        data = bytes(acc.data)
        supply, decimals = int.from_bytes(data[36:44], "little"), data[44]
        return self._ctx(
            {"amount": str(supply), "decimals": decimals, "uiAmount": supply / 10**decimals,
             "uiAmountString": str(supply / 10**decimals)}
        )  # fmt: skip

    def _rpc_getBalance(self, key: str, config: Any = None) -> Any:
        return self._ctx(self.chain.svm.get_balance(Pubkey.from_string(key)) or 0)

    def _rpc_getLatestBlockhash(self, config: Any = None) -> Any:
        blockhash = str(self.chain.svm.latest_blockhash())
        return self._ctx({"blockhash": blockhash, "lastValidBlockHeight": self.chain.slot + 150})

    def _rpc_getSlot(self, config: Any = None) -> int:
        return self.chain.slot

    def _rpc_getHealth(self) -> str:
        return "ok"

    def _rpc_getVersion(self) -> dict[str, Any]:
        return {"solana-core": "2.1.0", "feature-set": 0}

    def _rpc_requestAirdrop(self, key: str, lamports: int, config: Any = None) -> str:
        self.chain.svm.airdrop(Pubkey.from_string(key), lamports)
        return "1" * 64

    def _rpc_simulateTransaction(self, b64: str, config: dict[str, Any] | None = None) -> Any:
        config = config or {}
        if config.get("encoding", "base58") != "base64":
            raise RpcFault(-32602, "Invalid params: only base64 transactions are served")
        tx = self.chain.decode_tx(b64)
        value = self.chain.simulate(
            tx,
            replace_blockhash=bool(config.get("replaceRecentBlockhash")),
            sig_verify=bool(config.get("sigVerify")),
        )
        return self._ctx(value)

    def _rpc_sendTransaction(self, b64: str, config: dict[str, Any] | None = None) -> str:
        config = config or {}
        if config.get("encoding", "base58") != "base64":
            raise RpcFault(-32602, "Invalid params: only base64 transactions are served")
        return self.send(self.chain.decode_tx(b64))

    def _rpc_getSignatureStatuses(self, sigs: list[str], config: Any = None) -> Any:
        return self._ctx([self.chain.status_json(s) for s in sigs])

    # -- PubSub ----------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                except json.JSONDecodeError:
                    await ws.send_str(dumps(_error(None, -32700, "Parse error")))
                    continue
                await ws.send_str(dumps(self._ws_request(req, ws)))
        finally:
            self._sockets.discard(ws)
            for sid in [s.id for s in self._subs.values() if s.ws is ws]:
                del self._subs[sid]
        return ws

    def _ws_request(self, req: Any, ws: web.WebSocketResponse) -> dict[str, Any]:
        if not isinstance(req, dict):
            return _error(None, -32600, "Invalid request")
        rid, method, params = req.get("id"), req.get("method", ""), req.get("params") or []
        if method.endswith("Unsubscribe"):
            found = self._subs.pop(int(params[0]), None) if params else None
            return {"jsonrpc": "2.0", "result": found is not None, "id": rid}
        kind = {"logsSubscribe": "logs", "blockSubscribe": "block", "slotSubscribe": "slot"}.get(
            method
        )
        if kind is None:
            return _error(rid, -32601, "Method not found")
        mentions, details = None, "full"
        flt = params[0] if params else "all"
        if isinstance(flt, dict):
            found_keys = flt.get("mentions") or [flt.get("mentionsAccountOrProgram")]
            mentions = found_keys[0] if found_keys else None
        elif kind != "slot" and flt not in ("all", "allWithVotes"):
            return _error(rid, -32602, f"Invalid params: filter {flt!r}")
        if kind == "block" and len(params) > 1 and isinstance(params[1], dict):
            details = params[1].get("transactionDetails") or "full"
            if params[1].get("encoding", "json") != "base64" and details == "full":
                return _error(rid, -32602, "Invalid params: only encoding=base64 is served")
        sid = next(self._ids)
        self._subs[sid] = _Sub(sid, kind, mentions, details, ws)
        return {"jsonrpc": "2.0", "result": sid, "id": rid}

    def _schedule(self, coro: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            coro.close()  # no loop (a synchronous caller): nobody can be subscribed
            return
        task = loop.create_task(coro, name=f"solana-peer-{next(self._ids)}")
        self._tasks.add(task)  # a reference until done (the loop keeps only weak ones)
        task.add_done_callback(self._tasks.discard)

    async def _publish_block(self, block: Block) -> None:
        if self._muted > 0:
            self._muted -= 1
            return
        keys: set[str] = set().union(*block.keys) if block.keys else set()
        keys |= _log_programs(block)
        await self._notify(
            "slot",
            block.slot,
            {"slot": block.slot, "parent": block.parent_slot, "root": block.parent_slot},
            keys,
        )
        for sub in list(self._subs.values()):
            if sub.kind == "block" and (sub.mentions is None or sub.mentions in keys):
                await self._send(sub, block.slot, self.chain.block_value(block, sub.details))
        for entry, entry_keys in zip(block.entries, block.keys, strict=True):
            value = _logs_value(entry)
            ekeys = entry_keys | _programs_in(entry["meta"]["logMessages"])
            for sub in list(self._subs.values()):
                if sub.kind == "logs" and (sub.mentions is None or sub.mentions in ekeys):
                    await self._send(sub, block.slot, value)

    async def _notify(self, kind: str, slot: int, value: Any, keys: set[str]) -> int:
        sent = 0
        for sub in list(self._subs.values()):
            if sub.kind == kind and (sub.mentions is None or sub.mentions in keys):
                sent += await self._send(sub, slot, value)
        return sent

    async def _send(self, sub: _Sub, slot: int, value: Any) -> int:
        if sub.kind == "slot":
            result: Any = value
        else:
            result = {"context": {"slot": slot}, "value": value}
        msg = {
            "jsonrpc": "2.0",
            "method": _NOTIFY[sub.kind],
            "params": {"result": result, "subscription": sub.id},
        }
        with contextlib.suppress(ConnectionError, RuntimeError):
            await sub.ws.send_str(dumps(msg))
            return 1
        return 0


def _error(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": rid}


def _programs_in(logs: Iterable[str]) -> set[str]:
    return {line.split()[1] for line in logs if line.startswith("Program ") and " invoke [" in line}


def _log_programs(block: Block) -> set[str]:
    out: set[str] = set()
    for entry in block.entries:
        out |= _programs_in(entry["meta"]["logMessages"])
    return out


def _logs_value(entry: Mapping[str, Any]) -> dict[str, Any]:
    import base64

    tx = VersionedTransaction.from_bytes(base64.b64decode(entry["transaction"][0]))
    meta = entry["meta"]
    return {"signature": str(tx.signatures[0]), "err": meta["err"], "logs": meta["logMessages"]}


def _mentioned_keys(kind: str, value: Mapping[str, Any]) -> set[str]:
    """The keys a recorded frame mentions (its invoked programs; a block entry's accounts)."""
    import base64

    if kind == "logs":
        return _programs_in(value.get("logs") or [])
    keys: set[str] = set()
    block = value.get("block") or {}
    for entry in block.get("transactions") or []:
        keys |= _programs_in((entry.get("meta") or {}).get("logMessages") or [])
        raw = entry.get("transaction")
        if isinstance(raw, list) and raw and raw[-1] == "base64":
            with contextlib.suppress(Exception):
                tx = VersionedTransaction.from_bytes(base64.b64decode(raw[0]))
                keys |= {str(k) for k in tx.message.account_keys}
    return keys


async def start_solana_peer(host: str = "127.0.0.1", port: int = 0) -> SolanaPeer:
    """Start a :class:`SolanaPeer` on ``host:port`` (0: a free port) in this event loop."""
    return await SolanaPeer().start(host, port)


class PeerThread:
    """A :class:`SolanaPeer` serving from its own event loop in a daemon thread, so that
    synchronous code (a test session, a CLI) can start it once and drive it.

    :meth:`call` runs a function on the peer's loop (``launch``, ``set_fault`` …) and returns
    its result; :meth:`run` does the same for a coroutine.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="solana-peer", daemon=True
        )
        self._thread.start()
        self.peer: SolanaPeer = self.run(start_solana_peer(host, port))

    @property
    def url(self) -> str:
        return self.peer.url

    @property
    def ws_url(self) -> str:
        return self.peer.ws_url

    def run(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def _in_loop() -> Any:
            out = fn(*args, **kwargs)
            await self.peer.settle()  # notifications it scheduled went out
            return out

        return self.run(_in_loop())

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.run(self.peer.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()
