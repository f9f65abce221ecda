"""Sandwiches and circular flows on Uniswap V3 swap logs, with the evidence of each.

A sandwich is a front-run and a back-run by the same actor around one or more victims, in one
block and one pool: the front-run buys the token the victim buys (moving the price against the
victim), the back-run sells back what the front-run bought. Its gross profit is what the actor
ends with in both tokens, valued in token0 at the back-run's pool price; gas and builder tips are
not in the logs, so the profit is gross of them.

Who acts? ``eth_getLogs`` rows carry the Swap event's ``sender`` (the contract that called the
pool) and ``recipient`` (who received the output) but not the transaction's signer. Routers and
aggregators call pools on behalf of many users, so they are not actors: a swap's actor is its
``sender`` unless that is a known router (then its ``recipient``, unless that is a router too,
then the actor is unknown and the swap can only be a victim). MEV bots call pools from their own
contract, so this finds them; a sandwich whose both legs went through a router to the router
itself cannot be attributed from these logs.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numba as nb
import numpy as np
import pandas as pd

from grekko_research.errors import ConfigError, DataError

__all__ = [
    "ROUTERS",
    "SWAP_TOPIC",
    "Swaps",
    "circular_flows",
    "read_swaps",
    "sandwiches",
    "swap_actors",
]

SWAP_TOPIC = "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67"

# Ethereum mainnet routers and aggregators that call pools for their users (lower case).
ROUTERS: dict[str, str] = {
    "0x3fc91a3afd70395cd496c647d5a6cc9d4b2b7fad": "Uniswap UniversalRouter",
    "0xef1c6e67703c7bd7107eed8303fbe6ec2554bf6b": "Uniswap UniversalRouter (v1)",
    "0xe592427a0aece92de3edee1f18e0157c05861564": "Uniswap SwapRouter",
    "0x68b3465833fb72a70ecdf485e0e4c7bd8665fc45": "Uniswap SwapRouter02",
    "0xdef1c0ded9bec7f1a1670819833240f027b25eff": "0x Exchange Proxy",
    "0x1111111254fb6c44bac0bed2854e76f90643097d": "1inch v4",
    "0x1111111254eeb25477b68fb85ed929f73a960582": "1inch v5",
    "0x111111125421ca6dc452d289314280a0f8842a65": "1inch v6",
    "0xdef171fe48cf0115b1d80b88dc8eab59176fee57": "ParaSwap v5",
    "0x9008d19f58aabd9ed0d60971565aa8510560ab41": "CoW Protocol settlement",
    "0x6131b5fae19ea4f9d964eac0408e4408b66337b5": "KyberSwap MetaAggregationRouterV2",
    "0x881d40237659c251811cec9c364ef91dc08d300c": "MetaMask Swap Router",
    "0x00000000009726632680fb29d3f7a9734e3010e2": "Rainbow Router",
}

_COLUMNS = (
    "block_number",
    "block_timestamp",
    "transaction_hash",
    "transaction_index",
    "log_index",
    "amount0",
    "amount1",
    "sqrtPriceX96",
    "sender",
    "recipient",
)


@dataclass(frozen=True)
class Swaps:
    """One pool's swaps in chain order; amounts in token units, signed from the pool's side.

    ``amount0 > 0``: the pool received token0 (the trader sold token0, bought token1).
    ``price`` is token1's price in token0 after the swap.
    """

    pool: str
    frame: pd.DataFrame  # block, time, tx, tx_index, log_index, amount0, amount1, price, sender,
    # recipient

    def __len__(self) -> int:
        return len(self.frame)


def _decode_raw(raw: pd.DataFrame, source: Path) -> pd.DataFrame:
    """Decode raw ``eth_getLogs`` rows with the one pool-event decoder (``grekko_research.dex``):
    keep the V3 Swap events (Uniswap's and PancakeSwap's two-word-longer one)."""
    from grekko_research.dex.events import v3_swap_columns

    return v3_swap_columns(raw, source)


def read_swaps(
    path: str | Path, pool: str | None = None, decimals0: int = 6, decimals1: int = 18
) -> Swaps:
    """Read one pool's swaps: raw ``eth_getLogs`` rows (``topics,data``) or decoded Swap rows.

    ``pool`` defaults to the address (or its short form) in the file name. The defaults are
    the decimals of the USDC/WETH pools (token0 = USDC, token1 = WETH).
    """
    source = Path(path)
    if not source.is_file():
        raise DataError(f"no such swap file: {source}")
    opener = gzip.open if source.suffix == ".gz" else open
    with opener(source, "rt") as fh:
        raw = pd.read_csv(fh, dtype=str)
    if {"topics", "data"} <= set(raw.columns):
        raw = _decode_raw(raw, source)
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing}")
    try:
        a0 = raw["amount0"].map(int).to_numpy(object)
        a1 = raw["amount1"].map(int).to_numpy(object)
        sqrt_p = raw["sqrtPriceX96"].map(int).to_numpy(object)
    except ValueError as exc:
        raise DataError(f"{source}: amounts must be integers ({exc})") from None
    if (sqrt_p <= 0).any():
        raise DataError(f"{source}: sqrtPriceX96 must be positive")
    ratio = np.array([(s / 2**96) ** 2 for s in sqrt_p], dtype=np.float64)
    frame = pd.DataFrame(
        {
            "block": raw["block_number"].astype(np.int64).to_numpy(),
            "time": pd.to_datetime(raw["block_timestamp"], utc=True).to_numpy(),
            "tx": raw["transaction_hash"].str.lower().to_numpy(),
            "tx_index": raw["transaction_index"].astype(np.int64).to_numpy(),
            "log_index": raw["log_index"].astype(np.int64).to_numpy(),
            "amount0": np.array([int(x) / 10**decimals0 for x in a0]),
            "amount1": np.array([int(x) / 10**decimals1 for x in a1]),
            "price": 1.0 / (ratio * 10.0 ** (decimals0 - decimals1)),
            "sqrt_price": np.sqrt(ratio),  # sqrt(token1/token0) in raw units, after the swap
            "liquidity": raw["liquidity"].map(float).to_numpy()
            if "liquidity" in raw.columns
            else np.full(len(raw), np.nan),
            "sender": raw["sender"].str.lower().to_numpy(),
            "recipient": raw["recipient"].str.lower().to_numpy(),
        }
    )
    frame = frame.sort_values(["block", "tx_index", "log_index"], kind="stable")
    name = pool or (re.findall(r"0x[0-9a-fA-F]{8,40}", source.name) or [source.stem])[0]
    return Swaps(pool=name.lower(), frame=frame.reset_index(drop=True))


def swap_actors(frame: pd.DataFrame, routers: dict[str, str] | None = None) -> np.ndarray:
    """Each swap's actor (see the module doc): sender, else recipient, else ``""`` (unknown)."""
    known = set(ROUTERS if routers is None else routers)
    sender, recipient = frame["sender"].to_numpy(str), frame["recipient"].to_numpy(str)
    s_router = np.isin(sender, list(known))
    r_router = np.isin(recipient, list(known))
    return np.where(~s_router, sender, np.where(~r_router, recipient, ""))


def _concat(swaps: list[Swaps]) -> tuple[pd.DataFrame, np.ndarray]:
    if not swaps:
        raise ConfigError("no swaps given")
    frames = [s.frame.assign(pool=s.pool) for s in swaps]
    f = pd.concat(frames, ignore_index=True)
    f = f.sort_values(["block", "tx_index", "log_index"], kind="stable").reset_index(drop=True)
    return f, np.unique(f["pool"].to_numpy(str), return_inverse=True)[1].astype(np.int64)


@nb.njit(cache=True)
def sandwiches_nb(
    block: np.ndarray,
    tx_index: np.ndarray,
    pool: np.ndarray,
    actor: np.ndarray,
    amount0: np.ndarray,
    amount1: np.ndarray,
    tol: float,
) -> np.ndarray:
    """Return ``(front, back, n_victims)`` rows of the sandwiches in chain-ordered swaps.

    ``actor`` is an integer id (``-1`` unknown). The back-run must sell back the token the
    front-run bought, within relative tolerance ``tol`` of the amount, in a later transaction;
    victims are swaps strictly between them, same pool and direction, other actors.
    """
    n = len(block)
    out = np.empty((n, 3), dtype=np.int64)
    used = np.zeros(n, dtype=np.bool_)
    m = 0
    start = 0
    while start < n:
        end = start
        while end < n and block[end] == block[start]:
            end += 1
        for i in range(start, end):
            if actor[i] < 0 or used[i]:
                continue
            buys1 = amount1[i] < 0.0  # front-run received token1
            got = -amount1[i] if buys1 else -amount0[i]
            for k in range(i + 1, end):
                if used[k] or actor[k] != actor[i] or pool[k] != pool[i]:
                    continue
                if tx_index[k] <= tx_index[i]:
                    continue
                back = amount1[k] if buys1 else amount0[k]
                if back <= 0.0 or abs(back - got) > tol * got:
                    continue
                victims = 0
                for j in range(i + 1, k):
                    same_dir = (amount1[j] < 0.0) == buys1
                    between = tx_index[i] < tx_index[j] < tx_index[k]
                    if pool[j] == pool[i] and same_dir and between and actor[j] != actor[i]:
                        victims += 1
                if victims > 0:
                    out[m, 0], out[m, 1], out[m, 2] = i, k, victims
                    used[i] = True
                    used[k] = True
                    m += 1
                    break
        start = end
    return out[:m]


def _actor_ids(actors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    names, ids = np.unique(actors, return_inverse=True)
    ids = ids.astype(np.int64)
    if len(names) and names[0] == "":
        ids = ids - 1  # "" sorts first: unknown -> -1
        names = names[1:]
    return names, ids


def sandwiches(
    swaps: Swaps | list[Swaps], routers: dict[str, str] | None = None, tol: float = 0.05
) -> pd.DataFrame:
    """List the sandwiches in one or more pools' swaps, one row each with its evidence.

    Columns: block, time, pool, actor, front/back tx hashes, victim tx hashes, the token the
    front-run bought and its amount, what was paid and got back in the other token, the victims'
    volume in token0, and ``profit0`` (gross profit in token0 at the back-run price).
    """
    if not 0.0 <= tol < 1.0:
        raise ConfigError(f"sandwiches: tol must be in [0, 1), got {tol}")
    f, pool_ids = _concat(swaps if isinstance(swaps, list) else [swaps])
    names, ids = _actor_ids(swap_actors(f, routers))
    a0, a1 = f["amount0"].to_numpy(float), f["amount1"].to_numpy(float)
    block, txi = f["block"].to_numpy(np.int64), f["tx_index"].to_numpy(np.int64)
    tx, price = f["tx"].to_numpy(str), f["price"].to_numpy(float)
    rows = sandwiches_nb(block, txi, pool_ids, ids, a0, a1, tol)
    out = []
    for i, k, _ in rows:
        buys1 = a1[i] < 0
        victims = [
            j
            for j in range(i + 1, k)
            if pool_ids[j] == pool_ids[i]
            and (a1[j] < 0) == buys1
            and ids[j] != ids[i]
            and txi[i] < txi[j] < txi[k]
        ]
        net0, net1 = -(a0[i] + a0[k]), -(a1[i] + a1[k])  # what the actor kept
        out.append(
            {
                "block": int(block[i]),
                "time": f["time"].iat[i],
                "pool": f["pool"].iat[i],
                "actor": names[ids[i]],
                "front_tx": tx[i],
                "victim_txs": ",".join(tx[victims]),
                "back_tx": tx[k],
                "bought": "token1" if buys1 else "token0",
                "bought_amount": float(-a1[i] if buys1 else -a0[i]),
                "front_paid": float(a0[i] if buys1 else a1[i]),
                "back_got": float(-a0[k] if buys1 else -a1[k]),
                "victim_volume0": float(np.abs(a0[victims]).sum()),
                "net0": float(net0),
                "net1": float(net1),
                "profit0": float(net0 + net1 * price[k]),
            }
        )
    return pd.DataFrame(out, columns=_SANDWICH_COLUMNS)


_SANDWICH_COLUMNS = [
    "block",
    "time",
    "pool",
    "actor",
    "front_tx",
    "victim_txs",
    "back_tx",
    "bought",
    "bought_amount",
    "front_paid",
    "back_got",
    "victim_volume0",
    "net0",
    "net1",
    "profit0",
]


def circular_flows(
    swaps: Swaps | list[Swaps],
    routers: dict[str, str] | None = None,
    max_blocks: int = 5,
    tol: float = 0.01,
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Round trips by one actor in one pool: a swap undone by an opposite swap of the same size.

    A wash-trading heuristic: an actor that buys and sells back the same amount (within ``tol``)
    within ``max_blocks`` blocks, with no victim in between (rows of ``exclude``, the sandwiches,
    are left out), moved volume without keeping a position. Columns: actor, pool, the two tx
    hashes, blocks, amount, volume in token0 and ``pnl0`` (token0, at the second leg's price):
    a loss of about the pool fee on the volume is pure volume making.
    """
    if max_blocks < 0 or not 0.0 <= tol < 1.0:
        raise ConfigError(
            f"circular_flows: need max_blocks >= 0 and tol in [0, 1), got {max_blocks}, {tol}"
        )
    f, _ = _concat(swaps if isinstance(swaps, list) else [swaps])
    actors = swap_actors(f, routers)
    skip = (
        set()
        if exclude is None or exclude.empty
        else set(exclude["front_tx"]) | set(exclude["back_tx"])
    )
    out = []
    for (actor, pool), g in f[actors != ""].groupby([actors[actors != ""], "pool"]):
        rows = [r for r in g.itertuples(index=False) if r.tx not in skip]
        used: set[int] = set()
        for a, r in enumerate(rows):
            if a in used:
                continue
            for b in range(a + 1, len(rows)):
                s = rows[b]
                if s.block - r.block > max_blocks:
                    break
                opposite = (r.amount1 < 0) != (s.amount1 < 0)
                if (
                    b in used
                    or not opposite
                    or abs(abs(s.amount1) - abs(r.amount1)) > tol * abs(r.amount1)
                ):
                    continue
                used.update((a, b))
                net0, net1 = -(r.amount0 + s.amount0), -(r.amount1 + s.amount1)
                out.append(
                    {
                        "actor": actor,
                        "pool": pool,
                        "first_tx": r.tx,
                        "second_tx": s.tx,
                        "first_block": int(r.block),
                        "second_block": int(s.block),
                        "amount1": float(abs(r.amount1)),
                        "volume0": float(abs(r.amount0) + abs(s.amount0)),
                        "pnl0": float(net0 + net1 * s.price),
                    }
                )
                break
    cols = [
        "actor",
        "pool",
        "first_tx",
        "second_tx",
        "first_block",
        "second_block",
        "amount1",
        "volume0",
        "pnl0",
    ]
    return pd.DataFrame(out, columns=cols)
