"""Depth and trade captures into the store's ``depth``/``trades`` series, and back as a capture.

File names like the shared data folder's::

    binance-spot_BTC-USDT_20240808T2354Z-20240809T0005Z__hftbacktest_trades.csv
    binance-spot_BTC-USDT_20240808T2354Z-20240809T0005Z__hftbacktest_depth_snapshot.csv
    binance-usdm_BTC-USDT-PERP_…__hftbacktest_depth_diffs.csv.gz

name the series (exchange, market, symbol). The snapshot and the diffs of a capture go to one
``depth`` series (``snapshot`` = 1 on the snapshot's rows). :func:`capture_from_store` reads
them back as an :class:`~.captures.OrderBookCapture` that :func:`~.book.rebuild_book` replays.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from grekko_research.analysis.captures import (
    DepthDiffs,
    DepthSnapshots,
    OrderBookCapture,
    Trades,
    read_depth_diffs,
    read_depth_snapshots,
    read_trades,
)
from grekko_research.data.ticks import TickKey, TickStore
from grekko_research.errors import ConfigError, DataError

__all__ = ["capture_file_key", "capture_from_store", "import_capture_files"]

_NAME = re.compile(
    r"^(?P<exchange>[a-z0-9]+)-(?P<market>[a-z]+)_(?P<symbol>[A-Za-z0-9]+-[A-Za-z0-9]+)(?:-PERP)?_"
    r"[^_]+(?:_[^_]+)*?__[^.]*?_(?P<what>trades|depth_snapshot|depth_diffs)\.csv(?:\.gz)?$"
)


def capture_file_key(path: str | Path) -> tuple[TickKey, str] | None:
    """The series a capture file's name describes and what it holds (``trades``,
    ``depth_snapshot``, ``depth_diffs``); None for other names."""
    m = _NAME.match(Path(path).name)
    if m is None:
        return None
    kind = "trades" if m.group("what") == "trades" else "depth"
    try:
        key = TickKey.make(kind, m.group("exchange"), m.group("symbol"), m.group("market"))
    except ConfigError:
        return None
    return key, m.group("what")


def _trades_frame(path: Path) -> pd.DataFrame:
    t = read_trades(path)  # checks the layout, naming file and row
    ids = pd.read_csv(path, usecols=lambda c: c == "trade_id")
    trade_id = ids["trade_id"].to_numpy(np.int64) if "trade_id" in ids else np.full(len(t), -1)
    return pd.DataFrame(
        {
            "timestamp": t.trade_ts,
            "local_ts": t.local_ts,
            "trade_id": trade_id,
            "price": t.price,
            "qty": t.qty,
            "buyer_maker": t.buyer_maker,
        }
    )


def _snapshot_frame(path: Path) -> pd.DataFrame:
    s = read_depth_snapshots(path)
    counts = np.diff(s.start)
    local = np.repeat(s.local_ts, counts)
    ids = np.repeat(s.last_update_id, counts)
    return pd.DataFrame(
        {
            "timestamp": local // 1_000_000,
            "local_ts": local,
            "first_update_id": ids,
            "last_update_id": ids,
            "prev_update_id": -1,
            "side": s.side,
            "price": s.price,
            "qty": s.qty,
            "snapshot": 1,
        }
    )


def _diffs_frame(path: Path) -> pd.DataFrame:
    d = read_depth_diffs(path)
    return pd.DataFrame(
        {
            "timestamp": d.local_ts // 1_000_000,
            "local_ts": d.local_ts,
            "first_update_id": d.first_update_id,
            "last_update_id": d.last_update_id,
            "prev_update_id": d.prev_last_update_id,
            "side": d.side,
            "price": d.price,
            "qty": d.qty,
            "snapshot": 0,
        }
    )


def import_capture_files(
    paths: list[str | Path], store: TickStore, *, replace: bool = False
) -> list[tuple[Path, TickKey, int]]:
    """Import capture files, all or nothing: every file is read and checked, and every series
    merged (conflicts found), before any is written. Returns (file, series, rows added) per
    file; a capture's snapshot and diffs, which share a series, are merged together."""
    frames: dict[TickKey, list[tuple[Path, pd.DataFrame]]] = {}
    for path in map(Path, paths):
        found = capture_file_key(path)
        if found is None:
            raise DataError(f"{path.name}: not a trades or depth capture name")
        key, what = found
        read = {"trades": _trades_frame, "depth_snapshot": _snapshot_frame}.get(what, _diffs_frame)
        frames.setdefault(key, []).append((path, read(path)))
    plans = {
        key: store.plan(key, pd.concat([f for _, f in parts], ignore_index=True), replace=replace)
        for key, parts in frames.items()
    }
    for key, (merged, _) in plans.items():
        if merged is not None:
            store.commit(key, merged)
    out = []
    for key, parts in frames.items():
        added = plans[key][1]
        for i, (path, _) in enumerate(parts):  # the series' new rows, told on its last file
            out.append((path, key, added if i == len(parts) - 1 else 0))
    return out


def capture_from_store(
    store: TickStore,
    exchange: str,
    symbol: str,
    market: str = "spot",
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> OrderBookCapture:
    """The stored depth (and trades, when stored) of a symbol as a capture."""
    depth = store.read(
        TickKey.make("depth", exchange, symbol, market), start_ms=start_ms, end_ms=end_ms
    )
    snap = depth[depth["snapshot"] == 1].sort_values("last_update_id", kind="stable")
    diffs = depth[depth["snapshot"] == 0]
    if snap.empty or diffs.empty:
        raise DataError(
            f"{exchange} {market} {symbol}: the stored depth needs a snapshot and diffs"
        )
    sid = snap["last_update_id"].to_numpy(np.int64)
    first = np.flatnonzero(np.r_[True, sid[1:] != sid[:-1]])
    snapshots = DepthSnapshots(
        local_ts=snap["local_ts"].to_numpy(np.int64)[first],
        last_update_id=sid[first],
        start=np.r_[first, len(sid)].astype(np.int64),
        side=snap["side"].to_numpy(np.int8),
        price=snap["price"].to_numpy(np.float64),
        qty=snap["qty"].to_numpy(np.float64),
    )
    dd = DepthDiffs(
        local_ts=diffs["local_ts"].to_numpy(np.int64),
        event_ts=diffs["timestamp"].to_numpy(np.int64),
        first_update_id=diffs["first_update_id"].to_numpy(np.int64),
        last_update_id=diffs["last_update_id"].to_numpy(np.int64),
        prev_last_update_id=diffs["prev_update_id"].to_numpy(np.int64),
        side=diffs["side"].to_numpy(np.int8),
        price=diffs["price"].to_numpy(np.float64),
        qty=diffs["qty"].to_numpy(np.float64),
    )
    trades = None
    tkey = TickKey.make("trades", exchange, symbol, market)
    if store.path(tkey).is_file():
        t = store.read(tkey, start_ms=start_ms, end_ms=end_ms)
        trades = Trades(
            local_ts=t["local_ts"].to_numpy(np.int64),
            trade_ts=t["timestamp"].to_numpy(np.int64),
            price=t["price"].to_numpy(np.float64),
            qty=t["qty"].to_numpy(np.float64),
            buyer_maker=t["buyer_maker"].to_numpy(np.bool_),
        )
    name = f"{exchange}-{market}_{symbol.replace('/', '-')} (store)"
    return OrderBookCapture(name=name, snapshots=snapshots, diffs=dd, bbo=None, trades=trades)
