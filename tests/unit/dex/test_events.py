"""Pool-event decoding from raw eth_getLogs rows: real Uniswap V3 logs, PancakeSwap V3, V2."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from eth_utils import keccak

from grekko_research.dex.events import (
    TOPICS,
    LogMeta,
    PoolEvent,
    V2Burn,
    V2Mint,
    V2Swap,
    V2Sync,
    V3Swap,
    decode_log,
    decode_rpc_log,
    read_raw_logs,
)
from grekko_research.errors import DataError
from tests.unit.dex.conftest import DEC_005, DEC_030, RAW_005

META = LogMeta(1, 2, 3)


def _w(v: int) -> str:
    return format(v % (1 << 256), "064x")


def _topic(v: int) -> str:
    return "0x" + _w(v)


def test_topics_are_the_signature_hashes() -> None:
    for topic, sig in TOPICS.items():
        assert topic == "0x" + keccak(text=sig).hex(), sig


def test_a_day_of_v3_logs(events_005: list[PoolEvent]) -> None:
    kinds = Counter(type(e).__name__ for e in events_005)
    assert kinds == {"V3Swap": 6046, "V3Burn": 69, "V3Collect": 65, "V3Mint": 54}
    keys = [e.meta.key for e in events_005]
    assert keys == sorted(keys)


@pytest.mark.parametrize(("events", "decoded"), [("events_005", DEC_005), ("events_030", DEC_030)])
def test_swaps_equal_the_decoded_file(
    events: str, decoded: str, uniswap_dir: Path, request: pytest.FixtureRequest
) -> None:
    swaps = [e for e in request.getfixturevalue(events) if isinstance(e, V3Swap)]
    ref = pd.read_csv(uniswap_dir / decoded, dtype=str)
    assert len(swaps) == len(ref)
    got = [(e.meta.block, e.meta.log_index, e.amount0, e.amount1, e.sqrt_price_x96, e.liquidity,
            e.tick, e.sender, e.recipient) for e in swaps]  # fmt: skip
    want = [
        (int(r.block_number), int(r.log_index), int(r.amount0), int(r.amount1),
         int(r.sqrtPriceX96), int(r.liquidity), int(r.tick), r.sender.lower(), r.recipient.lower())
        for r in ref.itertuples()
    ]  # fmt: skip
    assert got == want


def test_pancakeswap_v3_swap_has_two_more_words(uniswap_dir: Path) -> None:
    log = json.loads((uniswap_dir / "pancakeswap_v3_swap_rpc.json").read_text())
    ev = decode_rpc_log(log)
    assert isinstance(ev, V3Swap) and ev.fork == "pancakeswap_v3"
    words = [int(log["data"][2 + 64 * i : 66 + 64 * i], 16) for i in range(7)]
    assert ev.amount0 == words[0] > 0
    assert ev.amount1 == words[1] - 2**256 < 0
    assert (ev.sqrt_price_x96, ev.liquidity) == (words[2], words[3])
    assert ev.tick == words[4] - 2**256
    assert (ev.protocol_fees0, ev.protocol_fees1) == (words[5], words[6])
    assert ev.meta.block == int(log["blockNumber"], 16)
    assert ev.meta.address == log["address"]
    # the Uniswap layout (5 words) under the Pancake topic is refused, naming the log
    bad = dict(log, data=log["data"][: 2 + 5 * 64])
    with pytest.raises(DataError, match=r"Swap\): data has 5 words, expected 7"):
        decode_rpc_log(bad)


def test_v2_events() -> None:
    t = {sig.split("(")[0] + str(sig.count(",")): h for h, sig in TOPICS.items()}
    who, to = _topic(0xAB), _topic(0xCD)
    swap = decode_log([t["Swap5"], who, to], "0x" + _w(0) + _w(7) + _w(5) + _w(0), META)
    assert swap == V2Swap(META, "0x" + "0" * 38 + "ab", "0x" + "0" * 38 + "cd", 0, 7, 5, 0)
    sync = decode_log([t["Sync1"]], "0x" + _w(10**20) + _w(3 * 10**9), META)
    assert sync == V2Sync(META, 10**20, 3 * 10**9)
    mint = decode_log([t["Mint2"], who], "0x" + _w(1) + _w(2), META)
    assert isinstance(mint, V2Mint) and (mint.amount0, mint.amount1) == (1, 2)
    burn = decode_log([t["Burn3"], who, to], "0x" + _w(3) + _w(4), META)
    assert isinstance(burn, V2Burn) and (burn.amount0, burn.amount1, burn.to[-2:]) == (3, 4, "cd")
    assert decode_log([_topic(1)], "0x", META) is None  # not a pool event: skipped
    with pytest.raises(DataError, match="1 indexed topics, expected 2"):
        decode_log([t["Swap5"], who], "0x" + _w(0) * 4, META)


def test_bad_rows_name_file_and_line(tmp_path: Path, uniswap_dir: Path) -> None:
    import gzip

    with gzip.open(uniswap_dir / RAW_005, "rt") as fh:
        lines = fh.read().splitlines()[:4]
    lines[3] = lines[3][:-10]  # cut the last row's data short
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"bad\.csv:4: .*data has .* words, expected 5"):
        read_raw_logs(bad)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not a raw log file"):
        read_raw_logs(tmp_path / "x.csv")
