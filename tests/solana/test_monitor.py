"""The launch monitor: pure frame handling on the real mainnet frames, then the websocket loop
against the local peer (real solana client): launches, de-duplication, gaps, reconnects."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from live.sim.solana.peer import PeerThread
from live.solana.monitor import LaunchMonitor, MonitorConfig, MonitorEvent

MINT = "ER2N5eaDoC68kNhj7LyaScimzq7deaqxiw88rewvxaKp"


def _real(shared_data: Path, name: str) -> Any:
    return json.loads((shared_data / "solana" / name).read_text())


def _logs_value(tx: dict[str, Any]) -> dict[str, Any]:
    return {"signature": tx["transaction"]["signatures"][0], "err": tx["meta"]["err"],
            "logs": tx["meta"]["logMessages"]}  # fmt: skip


def test_logs_frame_of_the_real_launch(shared_data: Path) -> None:
    tx = _real(shared_data, "raw_create_tx_from_getTransaction.json")["result"]
    mon = LaunchMonitor(MonitorConfig("ws://127.0.0.1:1"))
    (event,) = mon.on_frame("logs", tx["slot"], _logs_value(tx), 1)
    assert event.kind == "launch" and event.launch is not None
    assert (
        event.launch.mint == MINT and event.launch.signature == tx["transaction"]["signatures"][0]
    )
    assert mon.creator_launches(event.launch.creator) == 1
    # the same frame again (a re-delivery after a reconnect): reported as a duplicate only
    (again,) = mon.on_frame("logs", tx["slot"], _logs_value(tx), 2)
    assert again.kind == "duplicate" and mon.creator_launches(event.launch.creator) == 1
    # a failed transaction launches nothing
    failed = {**_logs_value(tx), "err": {"InstructionError": [3, {"Custom": 6000}]}}
    assert LaunchMonitor(MonitorConfig("ws://127.0.0.1:1")).on_frame("logs", 1, failed, 0) == []


def test_block_frames_real_entry_and_gap(shared_data: Path) -> None:
    entry = _real(shared_data, "raw_create_tx_from_blockSubscribe.json")
    mon = LaunchMonitor(MonitorConfig("ws://127.0.0.1:1", mode="blocks"))
    block = {"slot": 100, "block": {"parentSlot": 99, "transactions": [entry]}, "err": None}
    assert mon.on_frame("block", 100, block, 0) == []  # a bot's buy: no launch
    later = {"slot": 105, "block": {"parentSlot": 103, "transactions": [entry]}, "err": None}
    (gap,) = mon.on_frame("block", 105, later, 0)
    assert gap.kind == "gap" and gap.detail == {"missed_from": 101, "missed_to": 103}


def test_malformed_frame_is_an_error_event_not_a_crash() -> None:
    mon = LaunchMonitor(MonitorConfig("ws://127.0.0.1:1"))
    (event,) = mon.on_frame("logs", 7, {"err": None, "logs": ["Program data: @@@"]}, 0)
    assert event.kind == "error" and "not base64" in event.detail["error"]
    assert mon.last_slot == 7


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ValueError, match=r"solana\.monitor\.mode"):
        MonitorConfig("ws://x", mode="slots")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ws_url"):
        MonitorConfig("http://x")


async def _collect(
    peer: PeerThread, mode: str, script: Any, want: int
) -> tuple[list[MonitorEvent], LaunchMonitor]:
    mon = LaunchMonitor(MonitorConfig(peer.ws_url, mode=mode, backoff_initial_s=0.05))  # type: ignore[arg-type]
    events: list[MonitorEvent] = []
    stop = asyncio.Event()
    ready = asyncio.Event()

    async def on_event(e: MonitorEvent) -> None:
        events.append(e)
        if len([x for x in events if x.kind in ("launch", "gap", "reconnect")]) >= want:
            stop.set()

    task = asyncio.create_task(mon.run(on_event, stop=stop, ready=ready.set))
    await asyncio.wait_for(ready.wait(), 30)
    await script(ready)
    await asyncio.wait_for(stop.wait(), 60)
    await asyncio.wait_for(task, 30)
    return events, mon


@pytest.mark.parametrize("mode", ["logs", "blocks"])
def test_launches_on_the_peer_are_detected(solana_peer: PeerThread, mode: str) -> None:
    tokens: list[Any] = []

    async def script(ready: asyncio.Event) -> None:
        for case in ("clean", "mint_authority"):
            tokens.append(await asyncio.to_thread(solana_peer.call, solana_peer.peer.launch, case))

    events, mon = asyncio.run(_collect(solana_peer, mode, script, 2))
    launches = [e.launch for e in events if e.kind == "launch"]
    assert [launch.mint for launch in launches if launch] == [str(t.mint) for t in tokens]
    assert all(
        launch and launch.slot == t.block.slot for launch, t in zip(launches, tokens, strict=True)
    )
    assert mon.creator_launches(str(tokens[0].creator.pubkey())) == 1


def test_reconnect_after_drop_and_gap_after_lost_blocks(solana_peer: PeerThread) -> None:
    peer = solana_peer.peer
    tokens: list[Any] = []

    async def script(ready: asyncio.Event) -> None:
        tokens.append(await asyncio.to_thread(solana_peer.call, peer.launch, "clean"))
        ready.clear()
        await asyncio.to_thread(solana_peer.run, peer.drop_connections())
        await asyncio.wait_for(ready.wait(), 30)  # resubscribed
        await asyncio.to_thread(solana_peer.call, peer.mute, 2)
        for _ in range(3):  # two lost on the way, the third arrives
            tokens.append(await asyncio.to_thread(solana_peer.call, peer.launch, "clean"))

    events, mon = asyncio.run(_collect(solana_peer, "blocks", script, 4))
    kinds = [e.kind for e in events]
    assert kinds == ["launch", "reconnect", "gap", "launch"], [e.to_json() for e in events]
    reconnect, gap = events[1], events[2]
    assert reconnect.detail["last_slot_before"] == tokens[0].block.slot
    assert gap.detail == {
        "missed_from": tokens[0].block.slot + 1,
        "missed_to": tokens[2].block.slot,
    }
    assert events[3].launch is not None and events[3].launch.mint == str(tokens[3].mint)
    assert mon.reconnects == 1


def test_replayed_recorded_frames_are_deduplicated(
    shared_data: Path, solana_peer: PeerThread
) -> None:
    tx = _real(shared_data, "raw_create_tx_from_getTransaction.json")["result"]
    frame = {"kind": "logs", "slot": tx["slot"], "value": _logs_value(tx)}

    async def script(ready: asyncio.Event) -> None:
        await asyncio.to_thread(solana_peer.run, solana_peer.peer.replay([frame, frame]))
        await asyncio.to_thread(solana_peer.call, solana_peer.peer.launch, "clean")

    events, _ = asyncio.run(_collect(solana_peer, "logs", script, 2))
    assert [e.kind for e in events] == ["launch", "duplicate", "launch"]
    assert events[0].launch is not None and events[0].launch.mint == MINT
