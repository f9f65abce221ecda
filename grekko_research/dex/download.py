"""Download a pool's event logs through web3 ``eth_getLogs``: block ranges, retries, checkpoints.

The only module of the research library that talks to a node. Logs are fetched in block
ranges (halved when the node refuses a range as too large), each range retried with backoff
on transient failures, and written to the store with a checkpoint (the last block fully
fetched) after every range: an interrupted download resumes after the checkpoint, like the
candle downloads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pandas as pd

from grekko_research.dex.store import LOG_COLUMNS, PoolKey, PoolStore
from grekko_research.errors import ConfigError, DataError, RetryableError

__all__ = ["LogDownload", "connect", "download_pool_logs", "snapshot_ticks"]


@dataclass(frozen=True)
class LogDownload:
    """What a download did."""

    key: PoolKey
    first_block: int
    last_block: int
    fetched: int  # log rows fetched
    added: int  # rows new to the store
    stored: int  # rows stored for the pool
    requests: int
    retries: int
    up_to_date: bool


def connect(rpc_url: str, timeout_s: float = 60.0) -> Any:
    """A ``web3.Web3`` on a node's HTTP JSON-RPC URL (the URL may carry a key: never logged)."""
    from web3 import Web3  # the heavy client, imported where it is used

    return Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout_s}))


def _hex(v: Any) -> str:
    return v if isinstance(v, str) else "0x" + bytes(v).hex()


def _rows(logs: list[Any], stamps: dict[int, str]) -> pd.DataFrame:
    rows = [
        {
            "block_number": int(lg["blockNumber"]),
            "block_timestamp": stamps.get(int(lg["blockNumber"]), ""),
            "transaction_hash": _hex(lg["transactionHash"]),
            "transaction_index": int(lg["transactionIndex"]),
            "log_index": int(lg["logIndex"]),
            "topics": str([_hex(t) for t in lg["topics"]]),
            "data": _hex(lg["data"]),
        }
        for lg in logs
        if not lg.get("removed", False)
    ]
    return pd.DataFrame(rows, columns=list(LOG_COLUMNS))


def _too_large(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("too many", "limit exceeded", "response size", "range"))


def download_pool_logs(
    w3: Any,
    store: PoolStore,
    key: PoolKey,
    *,
    from_block: int | None = None,
    to_block: int | None = None,
    step: int = 2_000,
    max_retries: int = 5,
    backoff_s: float = 0.5,
    timestamps: bool = True,
    on_progress: Callable[[int, int, int], None] | None = None,
) -> LogDownload:
    """Fetch ``key``'s logs from ``from_block`` (default: after the checkpoint) to ``to_block``
    (default: the latest block) into ``store``.

    ``w3`` is a connected ``web3.Web3``. ``on_progress(done_block, first, last)`` is called
    after each range. Raises :class:`RetryableError` when a range still fails after
    ``max_retries`` (the checkpoint keeps what was stored).
    """
    if step <= 0:
        raise ConfigError(f"step must be positive, got {step}")
    address = w3.to_checksum_address(key.pool)
    if len(key.pool) != 42:
        raise ConfigError(f"{key.pool}: a download needs the pool's full 20-byte address")
    done = store.checkpoint(key)
    start = from_block if from_block is not None else (done + 1 if done is not None else None)
    if start is None:
        raise ConfigError(f"{key.label()}: nothing stored yet; give the first block (--from-block)")
    retry = (max_retries, backoff_s)
    last = to_block if to_block is not None else _retrying(key, "eth_blockNumber", retry,
                                                           lambda: int(w3.eth.block_number))  # fmt: skip
    if start > last:
        stored = len(store.read_log_frame(key)) if done is not None else 0
        return LogDownload(key, start, last, 0, 0, stored, 0, 0, True)
    fetched = added = stored = requests = retries = 0
    a, size = start, step
    while a <= last:
        logs, b, size, n_req, n_retry = _fetch(w3, address, key, store, a, min(a + size - 1, last),
                                               max_retries, backoff_s)  # fmt: skip
        requests, retries = requests + n_req, retries + n_retry
        stamps = _stamps(w3, key, logs, retry) if timestamps else {}
        requests += len(stamps)
        frame = _rows(logs, stamps)
        fetched += len(frame)
        if len(frame):
            new, stored = store.write_logs(key, frame)
            added += new
        store.set_checkpoint(key, b)
        if on_progress is not None:
            on_progress(b, start, last)
        a = b + 1
        size = min(step, size * 2)  # grow back after a refused range
    if not stored:
        try:
            stored = len(store.read_log_frame(key))
        except DataError:
            stored = 0
    return LogDownload(key, start, last, fetched, added, stored, requests, retries, False)


def _fetch(
    w3: Any,
    address: str,
    key: PoolKey,
    store: PoolStore,
    a: int,
    b: int,
    max_retries: int,
    backoff_s: float,
) -> tuple[list[Any], int, int, int, int]:
    """Logs of blocks ``a..b`` (``b`` lowered while the node calls the range too large):
    ``(logs, b, range size, requests, retries)``."""
    requests = retries = 0
    attempt = 0
    while True:
        requests += 1
        try:
            logs = w3.eth.get_logs({"address": address, "fromBlock": a, "toBlock": b})
            return list(logs), b, b - a + 1, requests, retries
        except Exception as exc:  # the node's and the transport's errors: classified by text
            if _too_large(exc) and b > a:
                b = a + (b - a + 1) // 2 - 1
                continue
            if attempt == max_retries:
                raise RetryableError(
                    f"{key.label()}: eth_getLogs {a}-{b} failed {attempt + 1} times: {exc}; "
                    f"blocks up to {store.checkpoint(key)} are stored, run again to resume"
                ) from exc
            retries += 1
            time.sleep(backoff_s * 2**attempt)
            attempt += 1


def _retrying(key: PoolKey, what: str, retry: tuple[int, float], fn: Callable[[], Any]) -> Any:
    """``fn()`` retried with backoff on any failure; :class:`RetryableError` at the end."""
    max_retries, backoff_s = retry
    for attempt in range(max_retries + 1):
        try:
            return fn()
        except Exception as exc:  # the node's and the transport's errors alike
            if attempt == max_retries:
                raise RetryableError(
                    f"{key.label()}: {what} failed {attempt + 1} times: {exc}"
                ) from exc
            time.sleep(backoff_s * 2**attempt)
    raise AssertionError("unreachable")


def _stamps(w3: Any, key: PoolKey, logs: list[Any], retry: tuple[int, float]) -> dict[int, str]:
    """Block time of each block with a log (the raw-log layout's ``block_timestamp``)."""
    out = {}
    for blk in sorted({int(lg["blockNumber"]) for lg in logs}):
        block = _retrying(key, f"eth_getBlockByNumber {blk}", retry, partial(w3.eth.get_block, blk))
        ts = int(block["timestamp"])
        out[blk] = pd.Timestamp(ts, unit="s", tz="UTC").strftime("%Y-%m-%d %H:%M:%S")
    return out


def _selector(signature: str) -> str:
    from eth_utils import keccak

    return "0x" + keccak(text=signature)[:4].hex()


def _word(v: int) -> str:
    return format(v % (1 << 256), "064x")


def snapshot_ticks(
    w3: Any,
    pool: str,
    *,
    block: int | str = "latest",
    max_retries: int = 5,
    backoff_s: float = 0.5,
) -> dict[str, Any]:
    """Read a V3 pool's whole tick map at ``block`` (``eth_call``: tickBitmap words, then
    ``ticks(t)`` of every set bit) and its price, tick and in-range liquidity: ``{"pool",
    "block", "tick_spacing", "sqrt_price_x96", "tick", "liquidity", "ticks": {t: {"net",
    "gross"}}}``, the ``--snapshot`` input of ``grekko dex replay``."""
    key = PoolKey.make("snapshot", pool)
    retry = (max_retries, backoff_s)
    address = w3.to_checksum_address(key.pool)
    if block == "latest":
        block = _retrying(key, "eth_blockNumber", retry, lambda: int(w3.eth.block_number))

    def call(data: str) -> str:
        out = _retrying(key, "eth_call", retry,
                        lambda: w3.eth.call({"to": address, "data": data}, block))  # fmt: skip
        return bytes(out).hex()

    spacing = int(call(_selector("tickSpacing()"))[:64], 16)
    slot0 = call(_selector("slot0()"))
    tick_now = int(slot0[64:128], 16)
    start = {
        "sqrt_price_x96": int(slot0[:64], 16),
        "tick": tick_now - (1 << 256) if tick_now >= 1 << 255 else tick_now,
        "liquidity": int(call(_selector("liquidity()"))[:64], 16),
    }
    bitmap, ticks_sel = _selector("tickBitmap(int16)"), _selector("ticks(int24)")
    lo_word = (-887272 // spacing) >> 8
    hi_word = (887272 // spacing) >> 8
    found: dict[str, dict[str, int]] = {}
    for word in range(lo_word, hi_word + 1):
        bits = int(call(bitmap + _word(word)), 16)
        while bits:
            bit = (bits & -bits).bit_length() - 1
            bits &= bits - 1
            tick = ((word << 8) + bit) * spacing
            out = call(ticks_sel + _word(tick))
            gross = int(out[:64], 16)
            net = int(out[64:128], 16)
            found[str(tick)] = {"net": net - (1 << 256) if net >= 1 << 255 else net, "gross": gross}
    return {"pool": key.pool, "block": int(block), "tick_spacing": spacing, **start,
            "ticks": found}  # fmt: skip
