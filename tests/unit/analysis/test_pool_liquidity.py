"""The DEX side of the liquidity scanner: depth from a V3 pool's active liquidity, checked
against the pool's own swaps, and the ranking of the shared pools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grekko_research.analysis.liquidity import pool_depth, pool_liquidity_scan
from grekko_research.analysis.mev import read_swaps
from grekko_research.errors import ConfigError

RAW = "ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"
RAW_030 = "ethereum-0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8-2024-01-05.raw.csv.gz"


def test_depth_formula_matches_the_pools_own_swaps(shared: Path) -> None:
    """A swap that stays in range moves √P exactly as Δx = L (1/√P' − 1/√P) says: the token0
    paid in (less the 0.05 % fee) equals the depth to the price it left."""
    f = read_swaps(shared / "uniswap" / RAW).frame
    L, s, a0 = f["liquidity"].to_numpy(), f["sqrt_price"].to_numpy(), f["amount0"].to_numpy()
    same = (L[1:] == L[:-1]) & (a0[1:] > 1000) & (s[1:] < s[:-1])  # in range, token0 in
    idx = np.flatnonzero(same) + 1
    assert len(idx) > 500
    # the depth that takes √P from s[i-1] down to s[i]: pct = 1 − (s[i]/s[i-1])²
    pct = 1.0 - (s[idx] / s[idx - 1]) ** 2
    d0 = np.array(
        [pool_depth(L[i], s[i - 1], p, (6, 18))[0] for i, p in zip(idx, pct, strict=True)]
    )
    paid = a0[idx] * (1 - 0.0005)
    close = np.abs(d0 / paid - 1) < 2e-4
    # all but a swap or two that crossed initialised ticks and ended at the same L
    assert close.mean() > 0.998, np.flatnonzero(~close)


def test_real_pools_ranked_by_depth(shared: Path) -> None:
    pools = [read_swaps(shared / "uniswap" / p) for p in (RAW_030, RAW)]
    out = pool_liquidity_scan(pools, pct=0.02)
    assert out.pool.tolist() == [pools[1].pool, pools[0].pool]  # the 0.05 % pool is deeper
    top = out.iloc[0]
    assert 1e6 < top.depth0 < 1e8 and top.price == pytest.approx(2269.37, abs=0.01)
    # both sides of the book valued in USDC are about equal in a symmetric range
    assert top.depth1 * top.price == pytest.approx(top.depth0, rel=0.1)
    with pytest.raises(ConfigError, match="pct"):
        pool_depth(np.ones(1), np.ones(1), 1.5, (6, 18))
