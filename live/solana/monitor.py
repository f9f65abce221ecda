"""The launch monitor: new bonding-curve launches from ``logsSubscribe`` or ``blockSubscribe``.

:class:`LaunchMonitor` holds what a stream teaches — launches seen (de-duplicated by mint: a
launch re-delivered after a reconnect, or seen in both streams, is reported once), creators'
launch counts, the last slot — and turns each notification value into
:class:`MonitorEvent` s with :meth:`LaunchMonitor.on_frame` (pure: no I/O, no clock; the
caller passes the receive time).

:meth:`LaunchMonitor.run` connects with the real ``solana`` websocket client, subscribes
(``logsSubscribe`` mentioning the program, or ``blockSubscribe`` mentioning it with base64
transactions), and reconnects with exponential backoff when the connection drops.

Gap check: in block mode a block whose ``parentSlot`` is past the last block seen means blocks
in between were not delivered; the monitor reports the missed slot range (``gap``). A
reconnect reports the slots between the last frame before it and the first after it
(``reconnect``): launches meanwhile may have been missed in either mode.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from live.solana.parse import (
    PUMP_PROGRAM,
    Launch,
    ParseError,
    launches_from_block,
    launches_from_logs,
)

__all__ = ["LaunchMonitor", "MonitorConfig", "MonitorEvent"]

log = logging.getLogger(__name__)

Mode = Literal["logs", "blocks"]


@dataclass(frozen=True)
class MonitorConfig:
    """Where and how to listen."""

    ws_url: str
    mode: Mode = "logs"
    program: str = PUMP_PROGRAM
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 30.0
    max_reconnects: int | None = None  # None: forever
    dedup_size: int = 50_000
    request_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.mode not in ("logs", "blocks"):
            raise ValueError(f"solana.monitor.mode must be 'logs' or 'blocks', got {self.mode!r}")
        if not self.ws_url.startswith(("ws://", "wss://")):
            raise ValueError(f"solana.monitor.ws_url must be ws:// or wss://, got {self.ws_url!r}")
        if not 0 < self.backoff_initial_s <= self.backoff_max_s:
            raise ValueError("solana.monitor backoff: need 0 < backoff_initial_s <= backoff_max_s")


@dataclass(frozen=True)
class MonitorEvent:
    """What the monitor reports: a ``launch``, a ``gap``, a ``reconnect`` or a frame ``error``."""

    kind: Literal["launch", "gap", "reconnect", "error", "duplicate"]
    slot: int | None
    received_ns: int
    launch: Launch | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "slot": self.slot, **self.detail}
        if self.launch is not None:
            out["launch"] = self.launch.to_json()
        return out


class LaunchMonitor:
    """De-duplicating, gap-checking launch detection over one websocket."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self._seen: OrderedDict[str, None] = OrderedDict()
        self.creators: Counter[str] = Counter()
        self.last_slot: int | None = None  # of the last frame
        self.reconnects = 0
        self.frames = 0

    def creator_launches(self, creator: str) -> int:
        """Launches of ``creator`` seen so far (the analyzer's creator-history fact)."""
        return self.creators[creator]

    def remember(self, launch: Launch) -> None:
        """Mark ``launch`` as seen (on restart, from the event store)."""
        if launch.mint not in self._seen:
            self._seen[launch.mint] = None
            self.creators[launch.creator] += 1

    # -- pure frame handling -----------------------------------------------------------

    def on_frame(
        self, kind: str, slot: int, value: Mapping[str, Any], received_ns: int
    ) -> list[MonitorEvent]:
        """Events of one notification (``kind`` ``logs`` or ``block``; its context slot and
        value as the node sent them)."""
        self.frames += 1
        events: list[MonitorEvent] = []
        try:
            if kind == "logs":
                if value.get("err") is not None:
                    launches: list[Launch] = []
                else:
                    launches = launches_from_logs(
                        value.get("logs") or [], signature=value.get("signature"), slot=slot
                    )
            elif kind == "block":
                parent = (value.get("block") or {}).get("parentSlot")
                if (
                    self.last_slot is not None
                    and isinstance(parent, int)
                    and parent > self.last_slot
                ):
                    events.append(
                        MonitorEvent(
                            "gap", slot, received_ns,
                            detail={"missed_from": self.last_slot + 1, "missed_to": parent},
                        )
                    )  # fmt: skip
                launches = launches_from_block(value, program=self.config.program)
            else:
                raise ParseError(f"unknown notification kind {kind!r}")
        except ParseError as e:
            self._advance(slot)
            return [*events, MonitorEvent("error", slot, received_ns, detail={"error": str(e)})]
        self._advance(slot)
        for launch in launches:
            if launch.mint in self._seen:
                events.append(MonitorEvent("duplicate", slot, received_ns, launch))
                continue
            self._seen[launch.mint] = None
            if len(self._seen) > self.config.dedup_size:
                self._seen.popitem(last=False)
            self.creators[launch.creator] += 1
            events.append(MonitorEvent("launch", slot, received_ns, launch))
        return events

    def _advance(self, slot: int) -> None:
        if self.last_slot is None or slot > self.last_slot:
            self.last_slot = slot

    # -- the websocket loop ------------------------------------------------------------

    async def run(
        self,
        on_event: Callable[[MonitorEvent], Awaitable[None]],
        *,
        stop: asyncio.Event | None = None,
        ready: Callable[[], None] | None = None,
    ) -> None:
        """Listen until ``stop`` is set (or ``max_reconnects`` is exhausted: then raise
        ``ConnectionError``); hand every event to ``on_event``. ``ready`` is called after each
        successful subscription."""
        stop = stop or asyncio.Event()
        delay = self.config.backoff_initial_s
        down_since: int | None = None
        slot_before: int | None = None
        while not stop.is_set():
            try:
                async for kind, slot, value, received in self._frames(ready):
                    if down_since is not None:
                        await on_event(
                            MonitorEvent(
                                "reconnect", slot, received,
                                detail={"down_ns": received - down_since, "last_slot_before": slot_before,
                                        "first_slot_after": slot, "attempt": self.reconnects},
                            )
                        )  # fmt: skip
                        down_since = None
                    delay = self.config.backoff_initial_s
                    for event in self.on_frame(kind, slot, value, received):
                        await on_event(event)
                    if stop.is_set():
                        return
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a dropped socket, a refused connection, a bad frame
                log.warning("solana monitor: connection lost (%s: %s)", type(e).__name__, e)
            if stop.is_set():
                return
            if down_since is None:
                down_since, slot_before = time.perf_counter_ns(), self.last_slot
            self.reconnects += 1
            if (
                self.config.max_reconnects is not None
                and self.reconnects > self.config.max_reconnects
            ):
                raise ConnectionError(
                    f"solana monitor: gave up after {self.config.max_reconnects} reconnects"
                )
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
            delay = min(delay * 2, self.config.backoff_max_s)

    async def _frames(self, ready: Callable[[], None] | None) -> Any:
        """Yield ``(kind, slot, value, received_ns)`` from one connection until it closes."""
        from solana.rpc.websocket_api import SolanaWsClient
        from solders.pubkey import Pubkey
        from solders.rpc.config import (
            RpcBlockSubscribeFilterMentions,
            RpcTransactionLogsFilterMentions,
        )

        program = Pubkey.from_string(self.config.program)
        async with SolanaWsClient(
            self.config.ws_url, request_timeout=self.config.request_timeout_s
        ) as ws:
            if self.config.mode == "logs":
                await ws.logs_subscribe(filter_=RpcTransactionLogsFilterMentions(program))
            else:
                await ws.block_subscribe(
                    filter_=RpcBlockSubscribeFilterMentions(program),
                    encoding="base64",
                    max_supported_transaction_version=0,
                )
            if ready is not None:
                ready()
            while True:
                note = await ws.recv()
                received = time.perf_counter_ns()
                result = json.loads(note.to_json())["result"]
                kind = "logs" if self.config.mode == "logs" else "block"
                yield kind, int(result["context"]["slot"]), result["value"], received
