"""The meme / new-token scanner: rank young markets by how fast their volume and holders grow.

Input: *market events*, one row per trade in a pool or on a launch curve, as a frame with

========== ======================================================================
time_ms    int64, when the event was on chain (block time), ms UTC
market     str, the pool address or the token mint (what is ranked)
trader     str, who bought or sold (a swap's actor, a buyer's wallet); "" unknown
volume     float, the trade's size in the quote currency (USDC, SOL …), >= 0
buy        bool, True when the trader bought the market's token
========== ======================================================================

Two sources feed it: :func:`dex_swap_events` (Uniswap V3 swap logs, read for now by
:func:`~grekko_research.analysis.mev.read_swaps`; this one function switches to the DEX
package's event decoder when it lands) and :func:`launch_events` (the Solana monitor's launch,
buy and sell records, when present).

:func:`scan_new_tokens` at time ``now`` (only events at or before it: causal) measures for each
market its age (since its first event), its volume and its *new holders* (traders who bought it
for the first time) in the last ``window`` and in the window before, and ranks by
``accel = log((vol_now + 1) / (vol_before + 1)) + log((new_now + 1) / (new_before + 1))``
(plus one smooths a market with nothing before), among markets younger than ``max_age``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.analysis.mev import read_swaps, swap_actors
from grekko_research.errors import ConfigError, DataError

__all__ = ["EVENT_COLUMNS", "dex_swap_events", "launch_events", "scan_new_tokens"]

EVENT_COLUMNS = ("time_ms", "market", "trader", "volume", "buy")


def dex_swap_events(paths: Iterable[str | Path], quote: str = "token0") -> pd.DataFrame:
    """Market events of DEX pools from swap logs (raw ``eth_getLogs`` or decoded CSVs).

    ``quote`` is the pool side the volume is counted in (``token0``: USDC in the USDC/WETH
    pools); a trader *buys* the market's token when the pool pays it out of the other side.
    """
    if quote not in ("token0", "token1"):
        raise ConfigError(f"dex_swap_events: quote must be token0 or token1, got {quote!r}")
    frames = []
    for path in paths:
        sw = read_swaps(path)  # the one reader to switch to grekko_research.dex.events
        f = sw.frame
        q, base = ("amount0", "amount1") if quote == "token0" else ("amount1", "amount0")
        frames.append(
            pd.DataFrame(
                {
                    "time_ms": f["time"].to_numpy("datetime64[ms]").astype(np.int64),
                    "market": sw.pool,
                    "trader": swap_actors(f),
                    "volume": f[q].abs().to_numpy(float),
                    "buy": (f[base] < 0).to_numpy(),  # the pool paid the token out
                }
            )
        )
    if not frames:
        raise DataError("dex_swap_events: no swap files given")
    return pd.concat(frames, ignore_index=True)


def launch_events(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Market events from a launch monitor's records (the Solana monitor's interface).

    Each record: ``mint`` (the token), ``time_ms``, ``kind`` (``create``, ``buy`` or ``sell``),
    ``trader`` (the wallet) and ``sol`` (the SOL paid or received; 0 for ``create``). A
    ``create`` starts the token's age; buys and sells are its trades.
    """
    rows = []
    for i, r in enumerate(records):
        try:
            kind = str(r["kind"])
            if kind not in ("create", "buy", "sell"):
                raise ValueError(f"kind {kind!r} is not create, buy or sell")
            rows.append(
                (
                    int(r["time_ms"]),
                    str(r["mint"]),
                    str(r.get("trader", "")),
                    abs(float(r.get("sol", 0.0))),
                    kind == "buy",
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"launch record {i}: {exc}") from None
    return pd.DataFrame(rows, columns=list(EVENT_COLUMNS))


def _window_sums(
    m_id: np.ndarray, slot: np.ndarray, values: np.ndarray, n: int, which: int
) -> np.ndarray:
    return np.bincount(m_id[slot == which], weights=values[slot == which], minlength=n)


def scan_new_tokens(
    events: pd.DataFrame,
    now_ms: int,
    *,
    window_ms: int = 3_600_000,
    max_age_ms: int | None = 7 * 86_400_000,
    min_events: int = 1,
) -> pd.DataFrame:
    """Rank the markets younger than ``max_age_ms`` (None: all) at ``now_ms`` (see the module).

    Columns: market, age_h, volume (last window), volume_before, new_holders,
    new_holders_before, events, accel; strongest first.
    """
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise DataError(f"scan_new_tokens: events lack columns {missing}")
    if window_ms <= 0:
        raise ConfigError(f"scan_new_tokens: window_ms must be > 0, got {window_ms}")
    f = events.sort_values("time_ms", kind="stable")
    markets, m_id = np.unique(f["market"].astype(str).to_numpy(), return_inverse=True)
    traders = f["trader"].astype(str).to_numpy()
    known = traders != ""
    t_id = np.full(len(f), -1, dtype=np.int64)
    if known.any():
        t_id[known] = np.unique(traders[known], return_inverse=True)[1]
    time_ms = f["time_ms"].to_numpy(np.int64)
    now = int(now_ms)
    upto = time_ms <= now  # causal: nothing after now
    m_id, t_id, time_ms = m_id[upto].astype(np.int64), t_id[upto], time_ms[upto]
    volume, buy = f["volume"].to_numpy(np.float64)[upto], f["buy"].to_numpy(np.bool_)[upto]
    # 0: the last window, 1: the one before, -1: earlier
    slot = np.where(time_ms > now - window_ms, 0, np.where(time_ms > now - 2 * window_ms, 1, -1))
    # a new holder: a trader's first buy of that market (events are in time order)
    first_buy = np.zeros(len(m_id), dtype=bool)
    buyers = np.flatnonzero(buy & (t_id >= 0))
    pair = m_id[buyers] * (int(t_id.max()) + 1 if len(t_id) else 1) + t_id[buyers]
    first_buy[buyers[np.unique(pair, return_index=True)[1]]] = True
    n = len(markets)
    first_seen = np.full(n, np.inf)
    np.minimum.at(first_seen, m_id, time_ms.astype(float))
    ones = np.ones(len(m_id))
    out = pd.DataFrame(
        {
            "market": markets,
            "age_h": (now - first_seen) / 3_600_000,
            "volume": _window_sums(m_id, slot, volume, n, 0),
            "volume_before": _window_sums(m_id, slot, volume, n, 1),
            "new_holders": _window_sums(m_id, slot, first_buy * 1.0, n, 0).astype(np.int64),
            "new_holders_before": _window_sums(m_id, slot, first_buy * 1.0, n, 1).astype(np.int64),
            "events": _window_sums(m_id, slot, ones, n, 0).astype(np.int64),
        }
    )
    out["accel"] = np.log((out.volume + 1) / (out.volume_before + 1)) + np.log(
        (out.new_holders + 1) / (out.new_holders_before + 1)
    )
    keep = np.isfinite(out.age_h) & (out.events >= min_events)
    if max_age_ms is not None:
        keep &= out.age_h <= max_age_ms / 3_600_000
    return out[keep].sort_values("accel", ascending=False, kind="stable").reset_index(drop=True)
