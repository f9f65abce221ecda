"""Typed market-microstructure data: L2 depth snapshots and diffs, best bid/ask, trades.

The bar store holds candles; order-book and trade captures are event streams with two
clocks (the exchange's event time and our local receive time) and, for depth, Binance's
update ids. These types hold them as aligned numpy columns, ready for the numba kernels,
and read the capture layout of ``../shared/data/orderbook`` and ``../shared/data/trades``
(see that folder's README). Sides are ``0`` = bid, ``1`` = ask. Times are int64: local
receive time in ns (``local_ts``, what a live process knows and when), exchange event
time in ms (``event_ts``, ``-1`` when the stream has none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from grekko_research.errors import DataError

__all__ = [
    "ASK",
    "BID",
    "BestBidAsk",
    "DepthDiffs",
    "DepthSnapshots",
    "OrderBookCapture",
    "Trades",
    "find_captures",
    "read_bbo",
    "read_capture",
    "read_depth_diffs",
    "read_depth_snapshots",
    "read_trades",
    "tick_size_of",
]

BID = 0
ASK = 1
_SIDES = {"bid": BID, "ask": ASK}


def _frozen(a: object, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.ascontiguousarray(a, dtype=dtype)
    arr.setflags(write=False)
    return arr


def _sides(source: Path, col: pd.Series) -> np.ndarray:
    codes = col.map(_SIDES)
    bad = codes.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"{source}: row {row + 2}: side must be 'bid' or 'ask', got {col.iloc[row]!r}"
        )
    return _frozen(codes.to_numpy(), np.int8)


def _read(source: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(source)
    except (OSError, ValueError) as e:
        raise DataError(f"{source}: cannot read: {e}") from e
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}; has {list(frame.columns)}")
    nan = frame[list(columns)].isna().any(axis=1).to_numpy()
    if nan.any():
        raise DataError(f"{source}: row {int(np.flatnonzero(nan)[0]) + 2} has an empty field")
    return frame


@dataclass(frozen=True, eq=False)
class DepthSnapshots:
    """One or more REST depth snapshots, concatenated; snapshot ``s`` is rows ``start[s]:start[s+1]``."""

    local_ts: np.ndarray  # (m,) int64 ns: when the snapshot arrived
    last_update_id: np.ndarray  # (m,) int64
    start: np.ndarray  # (m + 1,) int64 row offsets
    side: np.ndarray  # (r,) int8
    price: np.ndarray  # (r,) float64
    qty: np.ndarray  # (r,) float64

    @property
    def count(self) -> int:
        """Number of snapshots."""
        return len(self.local_ts)


@dataclass(frozen=True, eq=False)
class DepthDiffs:
    """Depth-diff rows (one price level each); rows of one event share ``last_update_id``."""

    local_ts: np.ndarray  # (n,) int64 ns
    event_ts: np.ndarray  # (n,) int64 ms
    first_update_id: np.ndarray  # (n,) int64: the event's U
    last_update_id: np.ndarray  # (n,) int64: the event's u
    prev_last_update_id: np.ndarray  # (n,) int64: the event's pu (-1 on spot: no pu)
    side: np.ndarray  # (n,) int8
    price: np.ndarray  # (n,) float64
    qty: np.ndarray  # (n,) float64: absolute quantity at the level; 0 deletes it

    def __len__(self) -> int:
        return len(self.local_ts)


@dataclass(frozen=True, eq=False)
class BestBidAsk:
    """A best bid/ask (bookTicker) stream; ``update_id`` is the book update id it reflects."""

    local_ts: np.ndarray
    update_id: np.ndarray
    bid_price: np.ndarray
    bid_qty: np.ndarray
    ask_price: np.ndarray
    ask_qty: np.ndarray

    def __len__(self) -> int:
        return len(self.local_ts)


@dataclass(frozen=True, eq=False)
class Trades:
    """Trades in arrival order; ``buyer_maker`` True means the aggressor sold."""

    local_ts: np.ndarray  # (n,) int64 ns (event time * 1e6 where the capture has no local time)
    trade_ts: np.ndarray  # (n,) int64 ms
    price: np.ndarray
    qty: np.ndarray
    buyer_maker: np.ndarray  # (n,) bool

    def __len__(self) -> int:
        return len(self.local_ts)


@dataclass(frozen=True, eq=False)
class OrderBookCapture:
    """One capture: snapshots + diffs (+ the recorded best bid/ask and trades when present)."""

    name: str
    snapshots: DepthSnapshots
    diffs: DepthDiffs
    bbo: BestBidAsk | None
    trades: Trades | None


def read_depth_snapshots(path: str | Path) -> DepthSnapshots:
    """Read ``*_depth_snapshot.csv`` (``local_ts_ns,last_update_id,side,price,qty``).

    Rows with the same ``last_update_id`` form one snapshot; snapshots are ordered by it.
    """
    source = Path(path)
    f = _read(source, ("local_ts_ns", "last_update_id", "side", "price", "qty"))
    f = f.sort_values(["last_update_id"], kind="stable")
    ids = f["last_update_id"].to_numpy(np.int64)
    first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    return DepthSnapshots(
        local_ts=_frozen(f["local_ts_ns"].to_numpy()[first], np.int64),
        last_update_id=_frozen(ids[first], np.int64),
        start=_frozen(np.r_[first, len(ids)], np.int64),
        side=_sides(source, f["side"]),
        price=_frozen(f["price"].to_numpy(), np.float64),
        qty=_frozen(f["qty"].to_numpy(), np.float64),
    )


def read_depth_diffs(path: str | Path) -> DepthDiffs:
    """Read ``*_depth_diffs.csv[.gz]`` in file (arrival) order."""
    source = Path(path)
    cols = (
        "local_ts_ns",
        "event_ts_ms",
        "first_update_id",
        "last_update_id",
        "prev_last_update_id",
        "side",
        "price",
        "qty",
    )
    f = _read(source, cols)
    if (f["qty"] < 0).any() or (f["price"] <= 0).any():
        bad = int(np.flatnonzero(((f["qty"] < 0) | (f["price"] <= 0)).to_numpy())[0])
        raise DataError(f"{source}: row {bad + 2}: negative quantity or non-positive price")
    return DepthDiffs(
        local_ts=_frozen(f["local_ts_ns"], np.int64),
        event_ts=_frozen(f["event_ts_ms"], np.int64),
        first_update_id=_frozen(f["first_update_id"], np.int64),
        last_update_id=_frozen(f["last_update_id"], np.int64),
        prev_last_update_id=_frozen(f["prev_last_update_id"], np.int64),
        side=_sides(source, f["side"]),
        price=_frozen(f["price"], np.float64),
        qty=_frozen(f["qty"], np.float64),
    )


def read_bbo(path: str | Path) -> BestBidAsk:
    """Read ``*_bbo.csv[.gz]`` (``local_ts_ns,event_ts_ms,update_id,bid_px,bid_qty,ask_px,ask_qty``)."""
    source = Path(path)
    f = _read(source, ("local_ts_ns", "update_id", "bid_px", "bid_qty", "ask_px", "ask_qty"))
    return BestBidAsk(
        local_ts=_frozen(f["local_ts_ns"], np.int64),
        update_id=_frozen(f["update_id"], np.int64),
        bid_price=_frozen(f["bid_px"], np.float64),
        bid_qty=_frozen(f["bid_qty"], np.float64),
        ask_price=_frozen(f["ask_px"], np.float64),
        ask_qty=_frozen(f["ask_qty"], np.float64),
    )


def read_trades(path: str | Path) -> Trades:
    """Read a trades capture: the hftbacktest layout (``local_ts_ns,…,is_buyer_maker``)."""
    source = Path(path)
    f = _read(source, ("local_ts_ns", "trade_ts_ms", "price", "qty", "is_buyer_maker"))
    maker = f["is_buyer_maker"].astype(str).str.lower().map({"true": True, "false": False})
    if maker.isna().any():
        raise DataError(f"{source}: is_buyer_maker must be true/false")
    return Trades(
        local_ts=_frozen(f["local_ts_ns"], np.int64),
        trade_ts=_frozen(f["trade_ts_ms"], np.int64),
        price=_frozen(f["price"], np.float64),
        qty=_frozen(f["qty"], np.float64),
        buyer_maker=_frozen(maker.to_numpy(), np.bool_),
    )


def find_captures(shared_data: str | Path) -> list[str]:
    """Return the names of the depth captures (snapshot + diffs) in ``<shared_data>/orderbook``."""
    folder = Path(shared_data) / "orderbook"
    suffix = "_depth_snapshot.csv"
    return sorted(
        p.name[: -len(suffix)]
        for p in folder.glob(f"*{suffix}")
        if (folder / f"{p.name[: -len(suffix)]}_depth_diffs.csv.gz").exists()
    )


def read_capture(shared_data: str | Path, name: str) -> OrderBookCapture:
    """Read capture ``name`` (e.g. ``binance-spot_BTC-USDT_…__hftbacktest``) and its trades."""
    root = Path(shared_data)
    book = root / "orderbook"
    have = find_captures(root)
    if name not in have:  # a name, never a path: "../x" or "a/b" reads nothing outside
        raise DataError(f"no depth capture {name!r} in {book} (have {have})")
    snap = book / f"{name}_depth_snapshot.csv"
    bbo = book / f"{name}_bbo.csv.gz"
    trades = root / "trades" / f"{name}_trades.csv"
    return OrderBookCapture(
        name=name,
        snapshots=read_depth_snapshots(snap),
        diffs=read_depth_diffs(book / f"{name}_depth_diffs.csv.gz"),
        bbo=read_bbo(bbo) if bbo.exists() else None,
        trades=read_trades(trades) if trades.exists() else None,
    )


def tick_size_of(*prices: np.ndarray, max_decimals: int = 8) -> float:
    """Return the price grid step: ``10**-d`` for the fewest decimals ``d`` that print every price.

    Raises
    ------
    DataError
        If some price needs more than ``max_decimals`` decimals.
    """
    allp = np.unique(np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in prices]))
    for d in range(max_decimals + 1):
        scaled = allp * 10.0**d
        if np.all(np.abs(scaled - np.round(scaled)) < 1e-6):
            return float(10.0**-d)
    raise DataError(f"prices need more than {max_decimals} decimals; pass tick_size explicitly")
