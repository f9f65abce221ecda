"""Algorithmic activity: sandwiches and circular flows on Uniswap logs, bot footprints in trades.

Synthetic cases carry a known truth (including decoys each rule must reject); the real-data
tests check what the detectors find in the shared Uniswap logs and Binance trades against
figures read independently from the rows themselves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.bots import (
    mirror_prints,
    order_to_trade,
    recurring_clips,
    trade_footprint,
)
from grekko_research.analysis.captures import Trades, read_capture
from grekko_research.analysis.mev import (
    ROUTERS,
    Swaps,
    circular_flows,
    read_swaps,
    sandwiches,
    swap_actors,
)
from grekko_research.errors import ConfigError, DataError

ROUTER = "0xe592427a0aece92de3edee1f18e0157c05861564"
BOT, OTHER, USER = "0x" + "b0" * 20, "0x" + "0e" * 20, "0x" + "aa" * 20
RAW_005 = "ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"
RAW_030 = "ethereum-0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8-2024-01-05.raw.csv.gz"
DECODED_005 = "ethereum-uniswapv3_USDC-WETH-0.05pct_0x88e6a0c2_2024-01-05_swaps_decoded.csv"


def _swaps(rows: list[tuple[int, int, float, float, str, str]], pool: str = "0xpool") -> Swaps:
    """Rows of (block, tx_index, amount0 USDC, amount1 WETH, sender, recipient)."""
    f = pd.DataFrame(
        rows, columns=["block", "tx_index", "amount0", "amount1", "sender", "recipient"]
    )
    f["log_index"] = np.arange(len(f))
    f["tx"] = [f"0x{i:064x}" for i in range(len(f))]
    f["time"] = pd.Timestamp("2024-01-05", tz="UTC")
    f["price"] = 2000.0
    return Swaps(pool=pool, frame=f)


# block 1: BOT buys 10 WETH, a user (through a router) buys, BOT sells the 10 WETH back: a sandwich.
# block 2: BOT buys, user buys, OTHER sells: different actors, no sandwich.
# block 3: BOT buys, BOT sells with no victim between: a round trip, not a sandwich.
# block 4: the router trades for itself on both sides around a victim: actor unknown, no sandwich.
# block 5: BOT buys, a user SELLS, BOT sells: the middle trade is no victim.
SYNTH = [
    (1, 0, 20_000.0, -10.0, BOT, BOT),
    (1, 1, 50_000.0, -24.0, ROUTER, USER),
    (1, 2, -20_150.0, 10.0, BOT, BOT),
    (2, 0, 20_000.0, -10.0, BOT, BOT),
    (2, 1, 50_000.0, -24.0, ROUTER, USER),
    (2, 2, -20_150.0, 10.0, OTHER, OTHER),
    (3, 0, 20_000.0, -10.0, BOT, BOT),
    (3, 1, -19_990.0, 10.0, BOT, BOT),
    (4, 0, 20_000.0, -10.0, ROUTER, ROUTER),
    (4, 1, 50_000.0, -24.0, ROUTER, USER),
    (4, 2, -20_150.0, 10.0, ROUTER, ROUTER),
    (5, 0, 20_000.0, -10.0, BOT, BOT),
    (5, 1, -50_000.0, 24.0, ROUTER, USER),
    (5, 2, -20_150.0, 10.0, BOT, BOT),
]


def test_actor_is_sender_unless_a_router() -> None:
    f = _swaps(SYNTH).frame
    actors = swap_actors(f)
    assert list(actors[:3]) == [BOT, USER, BOT]
    assert actors[8] == ""  # router to router: unknown


def test_synthetic_sandwich_found_with_its_evidence() -> None:
    s = sandwiches(_swaps(SYNTH))
    assert list(s["block"]) == [1]
    row = s.iloc[0]
    assert row["actor"] == BOT and row["bought"] == "token1" and row["bought_amount"] == 10.0
    assert row["front_tx"] == f"0x{0:064x}" and row["back_tx"] == f"0x{2:064x}"
    assert row["victim_txs"] == f"0x{1:064x}" and row["victim_volume0"] == 50_000.0
    assert row["profit0"] == pytest.approx(150.0)  # paid 20,000, got 20,150, kept no WETH


def test_sandwich_back_run_must_match_the_front_run() -> None:
    rows = [(1, 0, 20_000.0, -10.0, BOT, BOT), (1, 1, 50_000.0, -24.0, ROUTER, USER)]
    half = sandwiches(_swaps([*rows, (1, 2, -10_070.0, 5.0, BOT, BOT)]))
    assert half.empty  # sold back half: a trade, not a sandwich (tol 5%)
    assert len(sandwiches(_swaps([*rows, (1, 2, -10_070.0, 5.0, BOT, BOT)]), tol=0.6)) == 1
    with pytest.raises(ConfigError, match="tol"):
        sandwiches(_swaps(rows), tol=1.5)


def test_circular_flow_synthetic_excludes_sandwiches() -> None:
    swaps = _swaps(SYNTH)
    flows = circular_flows(swaps, max_blocks=0, exclude=sandwiches(swaps))
    assert set(zip(flows["actor"], flows["first_block"], strict=True)) == {(BOT, 3), (BOT, 5)}
    three = flows[flows["first_block"] == 3].iloc[0]
    assert three["pnl0"] == pytest.approx(-10.0) and three["volume0"] == pytest.approx(39_990.0)


def test_read_swaps_raw_equals_decoded(shared: Path) -> None:
    raw = read_swaps(shared / "uniswap" / RAW_005)
    decoded = read_swaps(shared / "uniswap" / DECODED_005)
    assert len(raw) == len(decoded) == 6046  # README: 6,046 swaps in the 0.05% pool
    assert raw.pool == "0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640"
    for col in ("tx", "amount0", "amount1", "price", "sender", "recipient"):
        assert (raw.frame[col].to_numpy() == decoded.frame[col].to_numpy()).all(), col
    assert 2000 < raw.frame["price"].median() < 2400  # ETH in USDC on 2024-01-05


def test_read_swaps_names_bad_input(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such swap file"):
        read_swaps(tmp_path / "nope.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("block_number,amount0\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        read_swaps(bad)


@pytest.fixture(scope="module")
def pools(shared: Path) -> list[Swaps]:
    return [read_swaps(shared / "uniswap" / RAW_005), read_swaps(shared / "uniswap" / RAW_030)]


def test_real_sandwiches(pools: list[Swaps]) -> None:
    s = sandwiches(pools)
    assert len(s) >= 10
    assert not set(s["actor"]) & set(ROUTERS)
    f = pd.concat([p.frame for p in pools])
    first = f.drop_duplicates("tx").set_index("tx")  # a tx's first swap in the pool
    for row in s.itertuples():
        front, back = first.loc[row.front_tx], first.loc[row.back_tx]
        assert front["block"] == back["block"] == row.block
        for victim in row.victim_txs.split(","):
            v = first.loc[victim]
            assert front["tx_index"] < v["tx_index"] < back["tx_index"]
            assert (v["amount1"] < 0) == (front["amount1"] < 0)  # same direction as the front-run
    # Block 18938153, read off the rows: 0x05656db1… buys 310.644 WETH for 698,290.98 USDC in
    # tx 0, a victim buys in tx 1, the bot sells 310.644 WETH for 698,698.50 USDC in tx 2.
    row = s[s["block"] == 18938153].iloc[0]
    assert row["actor"] == "0x05656db19ec9ff8dfb437475b3d76ca9a29e968f"
    assert row["front_tx"].startswith("0x31e1e152") and row["back_tx"].startswith("0xc1f9b0e2")
    assert row["profit0"] == pytest.approx(698_698.496998 - 698_290.983248)
    assert (s["profit0"] > 0).all()


def test_real_circular_flows_lose_about_the_fee(pools: list[Swaps]) -> None:
    flows = circular_flows(pools, exclude=sandwiches(pools))
    assert len(flows) >= 1
    assert (flows["pnl0"] < 0).all()  # round trips pay two fees: no profit, only volume
    assert (-flows["pnl0"] / flows["volume0"] < 0.005).all()


def _poisson_trades(n: int, seed: int, extra: list[tuple[int, float, float, bool]] = ()) -> Trades:  # type: ignore[assignment]
    rng = np.random.default_rng(seed)
    ts = np.cumsum(rng.exponential(300.0, n)).astype(np.int64) + 1_700_000_000_000
    qty = np.round(rng.lognormal(-4.0, 1.5, n), 5) + 1e-5
    px = 60_000 + np.round(rng.normal(0, 5, n), 2)
    sell = rng.random(n) < 0.5
    if extra:
        e = np.array(extra, dtype=object)
        ts = np.concatenate([ts, e[:, 0].astype(np.int64)])
        qty, px = (
            np.concatenate([qty, e[:, 1].astype(float)]),
            np.concatenate([px, e[:, 2].astype(float)]),
        )
        sell = np.concatenate([sell, e[:, 3].astype(bool)])
    order = np.argsort(ts, kind="stable")
    return Trades(
        local_ts=ts[order] * 1_000_000,
        trade_ts=ts[order],
        price=px[order],
        qty=qty[order],
        buyer_maker=sell[order],
    )


def test_recurring_clips_find_a_slicer_in_poisson_flow() -> None:
    start = 1_700_000_000_000
    rng = np.random.default_rng(7)
    bot = [
        (start + 2_000 * i + int(rng.integers(-100, 100)), 0.01337, 60_000.0, False)
        for i in range(40)
    ]
    # Decoy: the same odd size 40 times on one side, but at Poisson times (mean gap 2 s).
    poisson = start + np.cumsum(rng.exponential(2_000.0, 40)).astype(np.int64)
    decoy = [(int(t), 0.02468, 60_000.0, True) for t in poisson]
    found = recurring_clips(_poisson_trades(5_000, 1, bot + decoy))
    assert len(found) == 1
    row = found.iloc[0]
    assert row["qty"] == 0.01337 and row["side"] == "buy" and row["clips"] == 40
    assert row["median_interval_s"] == pytest.approx(2.0, abs=0.2) and row["interval_cv"] < 0.2
    assert recurring_clips(_poisson_trades(5_000, 1, decoy)).empty


def test_trade_footprint_and_mirror_prints() -> None:
    trades = _poisson_trades(4_000, 2)
    fp = trade_footprint(trades)
    assert fp.trades == 4_000 and 0.8 < fp.interval_cv < 1.2  # Poisson arrivals
    base = mirror_prints(trades, window_ms=500, shuffles=5)
    assert base["excess"] < 2.0
    start = 1_700_000_000_000
    # Decoy: one side printing the same size twice (an order filling two makers) is no wash.
    same_side = [
        (start + 30_000 * i + d, 0.0421, 60_001.0, False) for i in range(60) for d in (0, 40)
    ]
    decoy = mirror_prints(_poisson_trades(4_000, 2, same_side), window_ms=500, shuffles=5)
    assert decoy["pairs"] == base["pairs"] and decoy["excess"] < 2.0
    washes = [(start + 30_000 * i + d, 0.0421, 60_001.0, d > 0) for i in range(60) for d in (0, 40)]
    washed = mirror_prints(_poisson_trades(4_000, 2, washes), window_ms=500, shuffles=5)
    assert washed["pairs"] >= base["pairs"] + 60 and washed["excess"] > 3.0


def test_real_trade_footprints(shared: Path) -> None:
    cap = read_capture(shared, "binance-spot_ETH-USDT_20240808T2354Z-20240809T0000Z__hftbacktest")
    assert cap.trades is not None
    fp = trade_footprint(cap.trades)
    assert fp.trades == 6106 and fp.interval_cv > 1.5  # bursty, far from Poisson
    clips = recurring_clips(cap.trades)
    # A slicer selling 0.5494 ETH every 0.5 s around 23:59:01-04 (read off the trade rows).
    row = clips[(clips["qty"] == 0.5494) & (clips["side"] == "sell")].iloc[0]
    assert row["clips"] >= 8 and row["median_interval_s"] == pytest.approx(0.5, abs=0.05)
    otr = order_to_trade(cap.diffs, cap.trades)
    assert otr["trades"] > 5_000 and 5 < otr["ratio"] < 100
