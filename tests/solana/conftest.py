"""The local Solana peer (LiteSVM behind JSON-RPC + PubSub), started once per test session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from live.sim.solana.peer import PeerThread


@pytest.fixture(scope="session")
def solana_peer_thread() -> Iterator[PeerThread]:
    thread = PeerThread()
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture
def solana_peer(solana_peer_thread: PeerThread) -> Iterator[PeerThread]:
    """The session's peer, with no faults left over from another test."""
    solana_peer_thread.call(solana_peer_thread.peer.clear_faults)
    yield solana_peer_thread
    solana_peer_thread.call(solana_peer_thread.peer.clear_faults)
