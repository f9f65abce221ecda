"""ccxt's unified order book as depth events for the book builder (venues other than Binance).

ccxt keeps a venue's book by that venue's own rules — Coinbase's and Kraken's sequence numbers
and checksums, Bybit's and OKX's snapshots and deltas — and resubscribes on a break; what it
hands out (``watch_order_book``) is the book after each update, with its ``nonce`` (the venue's
sequence, where it has one). :class:`UnifiedDepth` turns consecutive books into depth events the
:class:`~grekko_research.analysis.stream.StreamingBook` applies with the same kernels as
Binance's messages:

* the first book, and any book after a break, is a snapshot (sequence id ``seq``);
* each later book is one event: the levels whose quantity changed within the top ``limit``
  (a level gone or pushed out of the top: quantity 0), ``U = u = seq + 1`` — the sequencing is
  ccxt's, so ours never gaps on its own;
* a break is a ``nonce`` that goes back (ccxt rebuilt the book from a new snapshot), an error of
  the watch (``reset``), or a crossed book: the next book is a snapshot again.

The builder's book therefore equals ccxt's top ``limit`` levels after every update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DepthStep", "UnifiedDepth", "top_levels"]


def top_levels(rows: Sequence[Sequence[Any]], limit: int) -> dict[float, float]:
    """ccxt's ``[[price, amount, …], …]`` (best first) as ``{price: amount}``, top ``limit``."""
    out: dict[float, float] = {}
    for row in rows[:limit]:
        qty = float(row[1])
        if qty > 0:
            out[float(row[0])] = qty
    return out


def _changes(old: Mapping[float, float], new: Mapping[float, float]) -> np.ndarray:
    rows = [(p, q) for p, q in new.items() if old.get(p) != q]
    rows += [(p, 0.0) for p in old if p not in new]
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class DepthStep:
    """What one unified book means for the builder: a ``snapshot`` (load it, id ``first``), an
    event (apply ``first``..``last`` with the changed ``bids``/``asks``), or nothing."""

    kind: str  # "snapshot" | "event" | "none"
    first: int = 0
    last: int = 0
    bids: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))
    asks: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))
    resync: bool = False  # a snapshot after a break (not the first)


@dataclass
class UnifiedDepth:
    """One symbol's unified books → depth steps (see the module)."""

    limit: int = 100
    seq: int = 0
    nonce: int | None = None
    bids: dict[float, float] | None = None  # the last book's top levels (None: none yet)
    asks: dict[float, float] = field(default_factory=dict)

    def reset(self) -> None:
        """The stream broke (an error of the watch): the next book is a snapshot."""
        self.bids = None

    def step(self, book: Mapping[str, Any]) -> DepthStep:
        """The step of ccxt's book after an update (``bids``, ``asks``, ``nonce``)."""
        bids = top_levels(book.get("bids") or [], self.limit)
        asks = top_levels(book.get("asks") or [], self.limit)
        nonce = book.get("nonce")
        nonce = int(nonce) if nonce is not None else None
        crossed = bool(bids) and bool(asks) and max(bids) >= min(asks)
        went_back = nonce is not None and self.nonce is not None and nonce < self.nonce
        if crossed:  # never a book to trade on: wait for ccxt's next one, then snapshot
            self.bids = None
            return DepthStep("none")
        if self.bids is None or went_back:
            resync = self.seq > 0
            self.seq += 1
            self.bids, self.asks, self.nonce = bids, asks, nonce
            return DepthStep(
                "snapshot",
                self.seq,
                self.seq,
                np.array(sorted(bids.items(), reverse=True), dtype=np.float64).reshape(-1, 2),
                np.array(sorted(asks.items()), dtype=np.float64).reshape(-1, 2),
                resync=resync,
            )
        b, a = _changes(self.bids, bids), _changes(self.asks, asks)
        self.bids, self.asks, self.nonce = bids, asks, nonce
        if not len(b) and not len(a):
            return DepthStep("none")
        self.seq += 1
        return DepthStep("event", self.seq, self.seq, b, a)
