"""The new-token scanner: accelerating young markets rank first, it never reads the future,
and on the shared Uniswap logs its numbers are the swaps' own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.mev import read_swaps, swap_actors
from grekko_research.analysis.newtokens import dex_swap_events, launch_events, scan_new_tokens
from grekko_research.errors import DataError

H = 3_600_000
POOLS = (
    "ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz",
    "ethereum-0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8-2024-01-05.raw.csv.gz",
)


def _events() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    # an old, busy market: steady volume from the same 20 traders for ten days
    for t in np.sort(rng.uniform(0, 240 * H, 5000)):
        rows.append((int(t), "OLD", f"o{rng.integers(20)}", 1000.0, True))
    # a launch at hour 236: a few buyers, then a rush of new ones in the last hour
    rows += [(236 * H + k * 60_000, "MEME", f"m{k}", 10.0, True) for k in range(5)]
    rows += [(239 * H + (k + 1) * 20_000, "MEME", f"n{k}", 50.0, True) for k in range(150)]
    # a launch after "now": must not show
    rows.append((241 * H, "LATER", "x", 1e9, True))
    return pd.DataFrame(rows, columns=["time_ms", "market", "trader", "volume", "buy"])


def test_an_accelerating_launch_ranks_first_and_the_future_is_unseen() -> None:
    ev = _events()
    now = 240 * H
    top = scan_new_tokens(ev, now, max_age_ms=None)
    assert top.market.tolist() == ["MEME", "OLD"]
    meme = top.iloc[0]
    assert meme.new_holders == 150 and meme.new_holders_before == 0 and meme.age_h == 4.0
    assert meme.volume == 150 * 50.0
    # a young-only scan drops the old market; a later "now" sees the later launch
    assert scan_new_tokens(ev, now).market.tolist() == ["MEME"]
    assert scan_new_tokens(ev, 241 * H + H // 2).market.tolist() == ["LATER"]
    # causal: the rows after now change nothing
    np.testing.assert_array_equal(
        scan_new_tokens(ev[ev.time_ms <= now], now, max_age_ms=None).accel, top.accel
    )


def test_launch_records_interface() -> None:
    ev = launch_events(
        [
            {"mint": "Mint1", "time_ms": 0, "kind": "create", "trader": "dev"},
            {"mint": "Mint1", "time_ms": 1000, "kind": "buy", "trader": "a", "sol": 1.5},
            {"mint": "Mint1", "time_ms": 2000, "kind": "sell", "trader": "a", "sol": -0.5},
        ]
    )
    assert ev.volume.tolist() == [0.0, 1.5, 0.5] and ev.buy.tolist() == [False, True, False]
    out = scan_new_tokens(ev, 3000)
    assert out.iloc[0].new_holders == 1 and out.iloc[0].events == 3
    with pytest.raises(DataError, match="launch record 0: kind 'mint'"):
        launch_events([{"mint": "M", "time_ms": 0, "kind": "mint"}])


def test_real_pools(shared: Path) -> None:
    paths = [shared / "uniswap" / p for p in POOLS]
    ev = dex_swap_events(paths)
    assert len(ev) == 6046 + 267
    end = int(ev.time_ms.max())
    out = scan_new_tokens(ev, end, max_age_ms=None)
    assert len(out) == 2
    # the numbers are the swaps' own: the 0.05 % pool's last-hour USDC volume and buyers
    sw = read_swaps(paths[0])
    f = sw.frame
    t = f["time"].to_numpy("datetime64[ms]").astype(np.int64)
    last = t > end - H
    row = out.set_index("market").loc[sw.pool]
    assert row.volume == pytest.approx(f.amount0[last].abs().sum())
    assert row.events == last.sum()
    actors = swap_actors(f)
    buys = (f.amount1 < 0).to_numpy() & (actors != "")
    seen_before = set(actors[buys & ~last])
    assert row.new_holders == len(set(actors[buys & last]) - seen_before)
