"""Driving a sniper run: the live loop (monitor + exit rounds) and the replay of recorded frames.

The command line (``grekko-live sniper``) is a thin shell over :func:`run_sniper`,
:func:`replay_frames` and :func:`analyze_mint`; tests and notebooks call them directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from live.events import EventStore
from live.solana.buyer import Wallet
from live.solana.monitor import LaunchMonitor, MonitorConfig, MonitorEvent
from live.solana.parse import Launch
from live.solana.safety import SafetyAnalyzer, SafetyConfig, Verdict
from live.solana.sniper import Sniper, SniperSpec

__all__ = ["RunSummary", "analyze_mint", "read_frames", "replay_frames", "rpc_client", "run_sniper"]


def rpc_client(url: str, timeout: float) -> Any:
    """The ``solana`` async JSON-RPC client of ``url`` (the one place the CLI gets it)."""
    from solana.rpc.async_api import AsyncClient

    return AsyncClient(url, timeout=timeout)


@dataclass
class RunSummary:
    launches: int = 0
    passed: int = 0
    rejected: int = 0
    buys: int = 0
    exits: int = 0
    gaps: int = 0
    reconnects: int = 0
    open_positions: list[str] = field(default_factory=list)
    realised_lamports: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _count(summary: RunSummary, kind: str, payload: dict[str, Any]) -> None:
    if kind == "sniper_launch":
        summary.launches += 1
    elif kind == "sniper_verdict" and not payload.get("recheck"):
        if payload["verdict"] == "PASS":
            summary.passed += 1
        else:
            summary.rejected += 1
    elif kind == "sniper_fill":
        if payload["side"] == "buy":
            summary.buys += 1
        else:
            summary.exits += 1
    elif kind == "sniper_gap":
        summary.gaps += 1
    elif kind == "sniper_reconnect":
        summary.reconnects += 1


def _seen_from_log(store: EventStore, monitor: LaunchMonitor) -> None:
    for e in store.read(kinds=["sniper_launch"]):
        p = {k: v for k, v in e.payload.items() if k != "slot"}
        monitor.remember(Launch(**p))


async def run_sniper(
    spec: SniperSpec,
    store: EventStore,
    client: Any,
    wallet: Wallet,
    *,
    monitor_mode: str = "logs",
    stop: asyncio.Event | None = None,
    max_launches: int | None = None,
    duration_s: float | None = None,
    exit_interval_s: float = 1.0,
    on_record: Callable[[str, dict[str, Any]], None] | None = None,
    ready: Callable[[], None] | None = None,
) -> RunSummary:
    """Listen for launches and trade them until ``stop``, ``duration_s``, or ``max_launches``
    analysed with every position closed."""
    summary = RunSummary()
    stop = stop or asyncio.Event()

    def record(kind: str, payload: dict[str, Any]) -> None:
        _count(summary, kind, payload)
        if on_record is not None:
            on_record(kind, payload)

    monitor = LaunchMonitor(MonitorConfig(spec.ws_url, mode=monitor_mode))  # type: ignore[arg-type]
    sniper = Sniper(spec, store, client, wallet, creator_launches=monitor.creator_launches,
                    on_record=record)  # fmt: skip
    sniper.start()
    _seen_from_log(store, monitor)
    if sniper.positions:
        await sniper.reconcile()

    handled = [0]  # launches whose analysis (and buy) finished: a launch in flight is not done

    def done() -> bool:
        enough = max_launches is not None and handled[0] >= max_launches
        return enough and not sniper.positions

    async def on_event(event: MonitorEvent) -> None:
        await sniper.on_monitor_event(event)
        if event.kind == "launch":
            handled[0] += 1
        if done():
            stop.set()

    async def exits() -> None:
        while not stop.is_set():
            await sniper.check_exits()
            if done():
                stop.set()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), exit_interval_s)

    tasks = [
        asyncio.create_task(monitor.run(on_event, stop=stop, ready=ready)),
        asyncio.create_task(exits()),
    ]
    try:
        await _wait(stop, tasks, duration_s)
    finally:
        stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    summary.open_positions = sorted(sniper.positions)
    summary.realised_lamports = sniper.realised_lamports
    return summary


async def _wait(
    stop: asyncio.Event, tasks: list[asyncio.Task[Any]], duration_s: float | None
) -> None:
    """Until ``stop`` or ``duration_s``; a task that failed (the monitor giving up) raises."""
    t_end = None if duration_s is None else time.monotonic() + duration_s
    while not stop.is_set():
        left = None if t_end is None else t_end - time.monotonic()
        if left is not None and left <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0 if left is None else min(left, 1.0))
        for t in tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]


def read_frames(path: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Recorded frames from a JSON-lines file (or one JSON document): each a
    ``{"kind", "slot", "value"}`` frame, a raw ``logsNotification`` / ``blockNotification``
    message, a ``getTransaction`` answer, or a ``blockSubscribe`` transaction entry."""
    text = path.read_text()
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError:
        docs = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    docs.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{path}:{n}: not JSON: {e}") from e
    for n, doc in enumerate(docs, 1):
        yield _frame(doc, f"{path} frame {n}")


def _frame(doc: Any, where: str) -> tuple[str, int, dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ValueError(f"{where}: not a JSON object")
    if "kind" in doc and "value" in doc:
        return str(doc["kind"]), int(doc.get("slot") or 0), doc["value"]
    if doc.get("method") in ("logsNotification", "blockNotification"):
        result = doc["params"]["result"]
        kind = "logs" if doc["method"] == "logsNotification" else "block"
        return kind, int(result["context"]["slot"]), result["value"]
    result = doc.get("result", doc)
    if isinstance(result, dict) and "meta" in result and "transaction" in result:
        if isinstance(result["transaction"], list):  # a blockSubscribe entry
            return (
                "block",
                int(result.get("slot") or 0),
                {"slot": 0, "block": {"transactions": [result]}},
            )
        sig = result["transaction"]["signatures"][0]
        logs = {
            "signature": sig,
            "err": result["meta"]["err"],
            "logs": result["meta"]["logMessages"],
        }
        return "logs", int(result.get("slot") or 0), logs
    raise ValueError(f"{where}: not a recognised frame (kind/value, a notification, a transaction)")


async def replay_frames(
    frames: list[tuple[str, int, dict[str, Any]]],
    spec: SniperSpec,
    store: EventStore,
    client: Any,
    wallet: Wallet,
    *,
    on_record: Callable[[str, dict[str, Any]], None] | None = None,
) -> RunSummary:
    """Run recorded frames through the monitor and the sniper (analysis and dry-run buys
    against ``client``'s RPC), then one exit round."""
    summary = RunSummary()

    def record(kind: str, payload: dict[str, Any]) -> None:
        _count(summary, kind, payload)
        if on_record is not None:
            on_record(kind, payload)

    monitor = LaunchMonitor(MonitorConfig(spec.ws_url))
    sniper = Sniper(spec, store, client, wallet, creator_launches=monitor.creator_launches,
                    on_record=record)  # fmt: skip
    sniper.start()
    for kind, slot, value in frames:
        for event in monitor.on_frame(kind, slot, value, time.perf_counter_ns()):
            await sniper.on_monitor_event(event)
    await sniper.check_exits()
    summary.open_positions = sorted(sniper.positions)
    summary.realised_lamports = sniper.realised_lamports
    return summary


async def analyze_mint(
    client: Any,
    mint: str,
    config: SafetyConfig,
    *,
    creator: str | None,
    creator_launches: int | None,
) -> Verdict:
    """One verdict on ``mint`` (``creator_launches``: launches of the creator known, this one
    included; ``None``: unknown, which rejects)."""
    counts = None if creator_launches is None else (lambda c: creator_launches)
    analyzer = SafetyAnalyzer(client, config, creator_launches=counts)
    return await analyzer.analyze(mint, creator=creator)
