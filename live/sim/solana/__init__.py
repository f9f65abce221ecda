"""The local Solana peer: LiteSVM behind JSON-RPC + PubSub on 127.0.0.1 (see :mod:`.peer`)."""

from live.sim.solana._tokens import CASES, LaunchCase, LaunchedToken
from live.sim.solana.peer import FAULTS, PeerThread, SolanaPeer, start_solana_peer

__all__ = [
    "CASES",
    "FAULTS",
    "LaunchCase",
    "LaunchedToken",
    "PeerThread",
    "SolanaPeer",
    "start_solana_peer",
]
