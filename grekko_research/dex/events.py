"""Decode Uniswap V2/V3 pool events (and forks') from raw ``eth_getLogs`` rows.

One decoder for every caller (replay, store import, the sandwich detector). A log is
identified by its first topic (the keccak hash of the event signature, checked in the tests);
indexed arguments come from the other topics, the rest from the 32-byte data words. Forks
that keep Uniswap's signatures (SushiSwap, most V2 clones) decode as Uniswap; PancakeSwap V3's
Swap adds two words (the protocol fees of the swap) and has its own signature.

Raw rows come in the shared-data CSV layout (``block_number, block_timestamp,
transaction_hash, transaction_index, log_index, topics, data``; ``topics`` a list literal)
or as JSON-RPC log objects (hex quantities).
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grekko_research.errors import DataError

__all__ = [
    "HEX64",
    "TOPICS",
    "LogMeta",
    "PoolEvent",
    "V2Burn",
    "V2Mint",
    "V2Swap",
    "V2Sync",
    "V3Burn",
    "V3Collect",
    "V3Flash",
    "V3Initialize",
    "V3Mint",
    "V3Swap",
    "decode_log",
    "decode_rpc_log",
    "read_raw_logs",
    "v3_swap_columns",
]


@dataclass(frozen=True, slots=True)
class LogMeta:
    """Where a log sits on chain (its order key is ``(block, tx_index, log_index)``)."""

    block: int
    tx_index: int
    log_index: int
    tx_hash: str = ""
    timestamp: str = ""
    address: str = ""

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.block, self.tx_index, self.log_index)


@dataclass(frozen=True, slots=True)
class V3Swap:
    """A V3 swap; amounts are the pool's deltas (positive: paid into the pool)."""

    meta: LogMeta
    sender: str
    recipient: str
    amount0: int
    amount1: int
    sqrt_price_x96: int  # after the swap
    liquidity: int  # in range after the swap
    tick: int  # after the swap
    protocol_fees0: int = 0  # PancakeSwap V3 only
    protocol_fees1: int = 0
    fork: str = "uniswap_v3"


@dataclass(frozen=True, slots=True)
class V3Mint:
    meta: LogMeta
    sender: str
    owner: str
    tick_lower: int
    tick_upper: int
    amount: int  # liquidity added
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class V3Burn:
    meta: LogMeta
    owner: str
    tick_lower: int
    tick_upper: int
    amount: int  # liquidity removed (0: a fee poke)
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class V3Collect:
    meta: LogMeta
    owner: str
    recipient: str
    tick_lower: int
    tick_upper: int
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class V3Flash:
    meta: LogMeta
    sender: str
    recipient: str
    amount0: int
    amount1: int
    paid0: int
    paid1: int


@dataclass(frozen=True, slots=True)
class V3Initialize:
    meta: LogMeta
    sqrt_price_x96: int
    tick: int


@dataclass(frozen=True, slots=True)
class V2Swap:
    meta: LogMeta
    sender: str
    to: str
    amount0_in: int
    amount1_in: int
    amount0_out: int
    amount1_out: int


@dataclass(frozen=True, slots=True)
class V2Mint:
    meta: LogMeta
    sender: str
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class V2Burn:
    meta: LogMeta
    sender: str
    to: str
    amount0: int
    amount1: int


@dataclass(frozen=True, slots=True)
class V2Sync:
    """The pair's reserves after the transaction's transfer (emitted before Swap/Mint/Burn)."""

    meta: LogMeta
    reserve0: int
    reserve1: int


PoolEvent = (
    V3Swap
    | V3Mint
    | V3Burn
    | V3Collect
    | V3Flash
    | V3Initialize
    | V2Swap
    | V2Mint
    | V2Burn
    | V2Sync
)

TOPICS: dict[str, str] = {
    # keccak256 of each signature (tests recompute them)
    "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67":
        "Swap(address,address,int256,int256,uint160,uint128,int24)",
    "0x19b47279256b2a23a1665c810c8d55a1758940ee09377d4f8d26497a3577dc83":
        "Swap(address,address,int256,int256,uint160,uint128,int24,uint128,uint128)",
    "0x7a53080ba414158be7ec69b987b5fb7d07dee101fe85488f0853ae16239d0bde":
        "Mint(address,address,int24,int24,uint128,uint256,uint256)",
    "0x0c396cd989a39f4459b5fa1aed6a9a8dcdbc45908acfd67e028cd568da98982c":
        "Burn(address,int24,int24,uint128,uint256,uint256)",
    "0x70935338e69775456a85ddef226c395fb668b63fa0115f5f20610b388e6ca9c0":
        "Collect(address,address,int24,int24,uint128,uint128)",
    "0xbdbdb71d7860376ba52b25a5028beea23581364a40522f6bcfb86bb1f2dca633":
        "Flash(address,address,uint256,uint256,uint256,uint256)",
    "0x98636036cb66a9c19a37435efc1e90142190214e8abeb821bdba3f2990dd4c95":
        "Initialize(uint160,int24)",
    "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822":
        "Swap(address,uint256,uint256,uint256,uint256,address)",
    "0x4c209b5fc8ad50758f13e2e1088ba56a560dff690a1c6fef26394f4c03821c4f":
        "Mint(address,uint256,uint256)",
    "0xdccd412f0b1252819cb1fd330b93224ca42612892bb3f4f789976e6d81936496":
        "Burn(address,uint256,uint256,address)",
    "0x1c411e9a96e071241c2f21f7726b17ae89e3cab4c78be50e062b03a9fffbbad1":
        "Sync(uint112,uint112)",
}  # fmt: skip
_T = {sig: t for t, sig in TOPICS.items()}
V3_SWAP = _T["Swap(address,address,int256,int256,uint160,uint128,int24)"]
PANCAKE_V3_SWAP = _T["Swap(address,address,int256,int256,uint160,uint128,int24,uint128,uint128)"]

HEX64 = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX64 = HEX64


def _signed(v: int) -> int:
    return v - (1 << 256) if v >= 1 << 255 else v


def _addr(word: int) -> str:
    return "0x" + format(word & ((1 << 160) - 1), "040x")


def _words(data: str, n: int, what: str) -> list[int]:
    body = data[2:] if data.startswith(("0x", "0X")) else data
    if len(body) != 64 * n:
        raise DataError(f"{what}: data has {len(body) / 64:g} words, expected {n}")
    try:
        return [int(body[i : i + 64], 16) for i in range(0, 64 * n, 64)]
    except ValueError:
        raise DataError(f"{what}: data is not hex") from None


def _v3_swap(idx: list[int], w: list[int], meta: LogMeta, pancake: bool) -> V3Swap:
    return V3Swap(
        meta, _addr(idx[0]), _addr(idx[1]), _signed(w[0]), _signed(w[1]), w[2], w[3],
        _signed(w[4]), w[5] if pancake else 0, w[6] if pancake else 0,
        "pancakeswap_v3" if pancake else "uniswap_v3",
    )  # fmt: skip


_Builder = Callable[[list[int], list[int], LogMeta], PoolEvent]

# topic signature -> (indexed topics, data words, builder(indexed, words, meta))
_LAYOUT: dict[str, tuple[int, int, _Builder]] = {
    "Swap(address,address,int256,int256,uint160,uint128,int24)":
        (2, 5, lambda i, w, m: _v3_swap(i, w, m, False)),
    "Swap(address,address,int256,int256,uint160,uint128,int24,uint128,uint128)":
        (2, 7, lambda i, w, m: _v3_swap(i, w, m, True)),
    "Mint(address,address,int24,int24,uint128,uint256,uint256)":
        (3, 4, lambda i, w, m: V3Mint(m, _addr(w[0]), _addr(i[0]), _signed(i[1]), _signed(i[2]),
                                      *w[1:])),
    "Burn(address,int24,int24,uint128,uint256,uint256)":
        (3, 3, lambda i, w, m: V3Burn(m, _addr(i[0]), _signed(i[1]), _signed(i[2]), *w)),
    "Collect(address,address,int24,int24,uint128,uint128)":
        (3, 3, lambda i, w, m: V3Collect(m, _addr(i[0]), _addr(w[0]), _signed(i[1]),
                                         _signed(i[2]), w[1], w[2])),
    "Flash(address,address,uint256,uint256,uint256,uint256)":
        (2, 4, lambda i, w, m: V3Flash(m, _addr(i[0]), _addr(i[1]), *w)),
    "Initialize(uint160,int24)": (0, 2, lambda i, w, m: V3Initialize(m, w[0], _signed(w[1]))),
    "Swap(address,uint256,uint256,uint256,uint256,address)":
        (2, 4, lambda i, w, m: V2Swap(m, _addr(i[0]), _addr(i[1]), *w)),
    "Mint(address,uint256,uint256)": (1, 2, lambda i, w, m: V2Mint(m, _addr(i[0]), *w)),
    "Burn(address,uint256,uint256,address)":
        (2, 2, lambda i, w, m: V2Burn(m, _addr(i[0]), _addr(i[1]), *w)),
    "Sync(uint112,uint112)": (0, 2, lambda i, w, m: V2Sync(m, w[0], w[1])),
}  # fmt: skip


def decode_log(topics: Sequence[str], data: str, meta: LogMeta) -> PoolEvent | None:
    """Decode one log; ``None`` for a topic that is not a pool event known here.

    Raises :class:`DataError` naming the log when a known event's topics or data are malformed.
    """
    sig = TOPICS.get(topics[0].lower()) if topics else None
    if sig is None:
        return None
    what = f"log {meta.block}/{meta.tx_index}/{meta.log_index} ({sig.split('(')[0]})"
    n_indexed, n_words, build = _LAYOUT[sig]
    try:
        idx = [int(t, 16) for t in topics[1:]]
    except ValueError:
        raise DataError(f"{what}: a topic is not hex") from None
    if len(idx) != n_indexed:
        raise DataError(f"{what}: {len(idx)} indexed topics, expected {n_indexed}")
    return build(idx, _words(data, n_words, what), meta)


def _quantity(v: Any) -> int:
    return int(v, 16) if isinstance(v, str) and v.startswith("0x") else int(v)


def decode_rpc_log(log: Mapping[str, Any]) -> PoolEvent | None:
    """Decode a JSON-RPC log object (``eth_getLogs`` / web3's ``AttributeDict``)."""
    topics = [t if isinstance(t, str) else "0x" + bytes(t).hex() for t in log["topics"]]
    data = log["data"] if isinstance(log["data"], str) else "0x" + bytes(log["data"]).hex()
    tx = log.get("transactionHash", "")
    meta = LogMeta(
        _quantity(log["blockNumber"]), _quantity(log["transactionIndex"]),
        _quantity(log["logIndex"]), tx if isinstance(tx, str) else "0x" + bytes(tx).hex(),
        "", str(log.get("address", "")).lower(),
    )  # fmt: skip
    return decode_log(topics, data, meta)


_RAW_COLUMNS = ("block_number", "transaction_index", "log_index", "topics", "data")


def iter_raw_rows(path: str | Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(line_number, row)`` of a raw log CSV (gzip or plain)."""
    import csv

    source = Path(path)
    if not source.is_file():
        raise DataError(f"no such log file: {source}")
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _RAW_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{source}: not a raw log file, missing column(s) {missing}")
        yield from enumerate(reader, start=2)


def read_raw_logs(path: str | Path, address: str = "") -> list[PoolEvent]:
    """Decode every pool event of a raw log file, in chain order (other topics skipped)."""
    source = Path(path)
    out: list[PoolEvent] = []
    for line, row in iter_raw_rows(source):
        try:
            meta = LogMeta(int(row["block_number"]), int(row["transaction_index"]),
                           int(row["log_index"]), row.get("transaction_hash", ""),
                           row.get("block_timestamp", ""), address)  # fmt: skip
        except ValueError:
            raise DataError(
                f"{source}:{line}: block/transaction/log index is not an integer"
            ) from None
        try:
            ev = decode_log(_HEX64.findall(row["topics"]), row["data"], meta)
        except DataError as e:
            raise DataError(f"{source}:{line}: {e}") from None
        if ev is not None:
            out.append(ev)
    out.sort(key=lambda e: e.meta.key)
    return out


def v3_swap_columns(raw: Any, source: str | Path = "<frame>") -> Any:
    """Keep the V3 Swap rows (Uniswap and PancakeSwap) of a raw-log DataFrame, decoded.

    Adds ``amount0, amount1, sqrtPriceX96, liquidity, tick, sender, recipient`` (Python ints
    and lower-case addresses) to the kept rows; other columns pass through.
    """
    rows: list[int] = []
    decoded: list[V3Swap] = []
    pairs = zip(raw["topics"].astype(str), raw["data"].astype(str), strict=True)
    for pos, (topics, data) in enumerate(pairs):
        found = _HEX64.findall(topics)
        if not found or found[0].lower() not in (V3_SWAP, PANCAKE_V3_SWAP):
            continue
        try:
            ev = decode_log(found, data, LogMeta(0, 0, pos))
        except DataError as e:
            raise DataError(f"{source}: data row {pos + 1}: {e}") from None
        assert isinstance(ev, V3Swap)
        rows.append(pos)
        decoded.append(ev)
    out = raw.iloc[rows].copy()
    out["amount0"] = [e.amount0 for e in decoded]
    out["amount1"] = [e.amount1 for e in decoded]
    out["sqrtPriceX96"] = [e.sqrt_price_x96 for e in decoded]
    out["liquidity"] = [e.liquidity for e in decoded]
    out["tick"] = [e.tick for e in decoded]
    out["sender"] = [e.sender for e in decoded]
    out["recipient"] = [e.recipient for e in decoded]
    return out
