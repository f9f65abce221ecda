"""DEX pool data in the local store: raw event logs and per-minute pool state per (chain, pool).

Layout, beside the candle series of ``grekko_research.data.store``::

    <root>/dex/chain=<chain>/pool=<0xaddress>/logs.parquet       raw eth_getLogs rows
    <root>/dex/chain=<chain>/pool=<0xaddress>/poolstate.parquet  per-minute pool state
    <root>/dex/chain=<chain>/pool=<0xaddress>/checkpoint.json    last block fully downloaded

Logs are kept raw (topics and data as hex) and decoded on read by ``events.py``: nothing is
lost, and a decoder fix applies to stored data. Rows are keyed by ``(block, transaction index,
log index)``; a merge refuses a row that contradicts a stored one. Large integers of the
pool-state file (amounts, liquidity) are stored as decimal strings: they exceed int64. Every
write goes to a temporary file renamed over the old one, under a per-pool file lock.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from grekko_research._atomic import atomic_path, atomic_write_text, folder_lock
from grekko_research.dex.events import HEX64, LogMeta, PoolEvent, decode_log
from grekko_research.errors import ConfigError, DataError, DataNotFoundError

__all__ = [
    "LOG_COLUMNS",
    "POOLSTATE_COLUMNS",
    "PoolKey",
    "PoolStore",
    "check_rows",
    "pool_file_kind",
    "read_poolstate_file",
]

LOG_COLUMNS = ("block_number", "block_timestamp", "transaction_hash", "transaction_index",
               "log_index", "topics", "data")  # fmt: skip
POOLSTATE_COLUMNS = ("timestamp", "netAmount0", "netAmount1", "closeTick", "openTick",
                     "lowestTick", "highestTick", "inAmount0", "inAmount1", "currentLiquidity")  # fmt: skip
_INT_COLUMNS = ("closeTick", "openTick", "lowestTick", "highestTick")
_BIG_COLUMNS = ("netAmount0", "netAmount1", "inAmount0", "inAmount1", "currentLiquidity")
_KEY = ["block_number", "transaction_index", "log_index"]
_ADDRESS = re.compile(r"0x[0-9a-f]{8,40}")
_CHAIN = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True, order=True)
class PoolKey:
    """One pool on one chain (``pool``: its address, lower case; a short prefix is allowed
    for files that only name one)."""

    chain: str
    pool: str

    def __post_init__(self) -> None:
        if not _CHAIN.fullmatch(self.chain):
            raise ConfigError(f"invalid chain name {self.chain!r}: lower-case letters, digits, _")
        if not _ADDRESS.fullmatch(self.pool):
            raise ConfigError(f"invalid pool address {self.pool!r}: expected 0x + hex")

    @classmethod
    def make(cls, chain: str, pool: str) -> PoolKey:
        return cls(chain.strip().lower(), pool.strip().lower())

    def label(self) -> str:
        return f"{self.chain} pool {self.pool}"


def pool_file_kind(path: Path) -> str | None:
    """``"logs"`` for a raw log file, ``"poolstate"`` for a per-minute pool-state file, else None
    (decided from the header row)."""
    name = path.name.lower()
    if not name.endswith((".csv", ".csv.gz")) or not path.is_file():
        return None
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rt") as fh:
            header = fh.readline().strip().split(",")
    except (OSError, UnicodeDecodeError):
        return None
    if {"topics", "data", "block_number", "log_index"} <= set(header):
        return "logs"
    if set(POOLSTATE_COLUMNS) <= set(header):
        return "poolstate"
    return None


def key_from_name(path: Path) -> PoolKey:
    """The (chain, pool) a file name gives: ``<chain>-…0x<address>…`` (the shared-data names)."""
    name = path.name.lower()
    chain = name.split("-", 1)[0]
    found = _ADDRESS.findall(name)
    if not found or not _CHAIN.fullmatch(chain):
        raise ConfigError(
            f"{path.name}: cannot tell chain and pool from the name (expected "
            "<chain>-…0x<address>…); rename the file"
        )
    return PoolKey(chain, found[0])


class PoolStore:
    """The ``dex/`` part of a store folder."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            from grekko_research.paths import data_dir

            root = data_dir()
        self.root = Path(root)

    def folder(self, key: PoolKey) -> Path:
        return self.root / "dex" / f"chain={key.chain}" / f"pool={key.pool}"

    def pools(self) -> list[PoolKey]:
        """Every pool with stored logs or pool state, sorted."""
        base = self.root / "dex"
        out = []
        for d in sorted(base.glob("chain=*/pool=*")):
            if (d / "logs.parquet").is_file() or (d / "poolstate.parquet").is_file():
                out.append(PoolKey(d.parent.name[6:], d.name[5:]))
        return out

    def find(self, pool: str) -> PoolKey:
        """The stored pool whose address is (or starts with) ``pool``; ``chain:0x…`` also works."""
        chain, _, addr = pool.lower().rpartition(":")
        hits = [k for k in self.pools() if (not chain or k.chain == chain)
                and (k.pool.startswith(addr) or addr.startswith(k.pool))]  # fmt: skip
        if len(hits) != 1:
            known = ", ".join(f"{k.chain}:{k.pool}" for k in self.pools()) or "none"
            what = "no" if not hits else "more than one"
            raise DataNotFoundError(f"{what} stored pool matches {pool!r} in {self.root} "
                                    f"(stored: {known})")  # fmt: skip
        return hits[0]

    @contextlib.contextmanager
    def _locked(self, key: PoolKey) -> Iterator[None]:
        with folder_lock(self.folder(key)):
            yield

    # -- logs --------------------------------------------------------------------------

    def write_logs(
        self, key: PoolKey, rows: pd.DataFrame, *, replace: bool = False
    ) -> tuple[int, int]:
        """Merge raw log rows into the pool's logs; return ``(rows added, rows stored)``."""
        new = _clean_logs(rows, key.label())
        with self._locked(key):
            path = self.folder(key) / "logs.parquet"
            if path.is_file() and not replace:
                old = pd.read_parquet(path)
                both = old.merge(new, on=_KEY, suffixes=("_old", "_new"))
                bad = both[
                    (both["topics_old"] != both["topics_new"])
                    | (both["data_old"] != both["data_new"])
                ]
                if len(bad):
                    r = bad.iloc[0]
                    raise DataError(
                        f"{key.label()}: log {r.block_number}/{r.transaction_index}/{r.log_index} "
                        "differs from the stored one (a reorg?); nothing was written (import "
                        "with --replace to overwrite)"
                    )
                seen = pd.MultiIndex.from_frame(old[_KEY])
                fresh = new[~pd.MultiIndex.from_frame(new[_KEY]).isin(seen)]
                merged = pd.concat([old, fresh], ignore_index=True)
            else:
                fresh, merged = new, new
            merged = merged.sort_values(_KEY, kind="stable").reset_index(drop=True)
            with atomic_path(path) as tmp:
                merged.to_parquet(tmp, index=False, compression="zstd")
            return len(fresh), len(merged)

    def read_log_frame(self, key: PoolKey) -> pd.DataFrame:
        path = self.folder(key) / "logs.parquet"
        if not path.is_file():
            raise DataNotFoundError(f"no logs for {key.label()} in {self.root}: run "
                                    "'grekko data import' or 'grekko data download --pool'")  # fmt: skip
        return pd.read_parquet(path)

    def read_events(self, key: PoolKey) -> list[PoolEvent]:
        """The pool's stored logs decoded, in chain order (unknown topics skipped)."""
        frame = self.read_log_frame(key)
        out: list[PoolEvent] = []
        cols = [frame[c].tolist() for c in LOG_COLUMNS]
        for blk, ts, tx, txi, lgi, topics, data in zip(*cols, strict=True):
            meta = LogMeta(int(blk), int(txi), int(lgi), str(tx), str(ts), key.pool)
            ev = decode_log(HEX64.findall(str(topics)), str(data), meta)
            if ev is not None:
                out.append(ev)
        return out

    def checkpoint(self, key: PoolKey) -> int | None:
        """The last block whose logs are all stored (a download resumes after it)."""
        path = self.folder(key) / "checkpoint.json"
        if not path.is_file():
            return None
        return int(json.loads(path.read_text())["last_block"])

    def set_checkpoint(self, key: PoolKey, block: int) -> None:
        atomic_write_text(self.folder(key) / "checkpoint.json", json.dumps({"last_block": block}))

    # -- pool state ----------------------------------------------------------------------

    def write_poolstate(
        self, key: PoolKey, rows: pd.DataFrame, *, replace: bool = False
    ) -> tuple[int, int]:
        """Merge per-minute pool-state rows; return ``(rows added, rows stored)``."""
        new = _clean_poolstate(rows, key.label())
        with self._locked(key):
            path = self.folder(key) / "poolstate.parquet"
            if path.is_file() and not replace:
                old = pd.read_parquet(path)
                both = old.merge(new, on="timestamp", suffixes=("_old", "_new"))
                for col in POOLSTATE_COLUMNS[1:]:
                    diff = both[both[f"{col}_old"] != both[f"{col}_new"]]
                    if len(diff):
                        ts = pd.Timestamp(int(diff["timestamp"].iloc[0]), unit="ms", tz="UTC")
                        raise DataError(f"{key.label()}: pool state at {ts} ({col}) differs from "
                                        "the stored one; nothing was written")  # fmt: skip
                fresh = new[~new["timestamp"].isin(old["timestamp"])]
                merged = pd.concat([old, fresh], ignore_index=True)
            else:
                fresh, merged = new, new
            merged = merged.sort_values("timestamp", kind="stable").reset_index(drop=True)
            with atomic_path(path) as tmp:
                merged.to_parquet(tmp, index=False, compression="zstd")
            return len(fresh), len(merged)

    def read_poolstate(self, key: PoolKey) -> pd.DataFrame:
        """Per-minute pool state; big-integer columns as Python ints (object dtype)."""
        path = self.folder(key) / "poolstate.parquet"
        if not path.is_file():
            raise DataNotFoundError(f"no pool state for {key.label()} in {self.root}")
        frame = pd.read_parquet(path)
        for col in _BIG_COLUMNS:
            frame[col] = frame[col].map(int).astype(object)
        return frame


def read_poolstate_file(path: Path) -> pd.DataFrame:
    """A per-minute pool-state file (CSV/CSV.gz) checked and typed like the stored one
    (``PoolStore.read_poolstate``: big-integer columns as Python ints)."""
    frame = _clean_poolstate(read_csv_rows(Path(path)), str(path))
    for col in _BIG_COLUMNS:
        frame[col] = frame[col].map(int).astype(object)
    return frame


def check_rows(kind: str, rows: pd.DataFrame, what: str) -> None:
    """Check a file's rows (``kind``: logs or poolstate) without writing; DataError names the row."""
    (_clean_logs if kind == "logs" else _clean_poolstate)(rows, what)


def read_csv_rows(path: Path) -> pd.DataFrame:
    """A CSV/CSV.gz file as strings (no float parsing of big integers)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DataError(f"cannot read {path}: {e}") from None


def _clean_logs(rows: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in LOG_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(f"{what}: log rows lack column(s) {missing}")
    out = rows.loc[:, list(LOG_COLUMNS)].copy()
    for col in _KEY:
        try:
            out[col] = out[col].astype("int64")
        except (ValueError, TypeError):
            bad = next(r for r, v in enumerate(rows[col]) if not str(v).strip().isdigit())
            raise DataError(f"{what}: row {bad + 2}: {col} {rows[col].iloc[bad]!r} is not an "
                            "integer") from None  # fmt: skip
    for col in ("block_timestamp", "transaction_hash", "topics", "data"):
        out[col] = out[col].astype(str)
    cols = zip(out["topics"], out["data"], out["block_number"], out["transaction_index"],
               out["log_index"], strict=True)  # fmt: skip
    for n, (topics, data, blk, txi, lgi) in enumerate(cols):  # every known event must decode
        try:
            decode_log(HEX64.findall(topics), data, LogMeta(int(blk), int(txi), int(lgi)))
        except DataError as e:
            raise DataError(f"{what}: row {n + 2}: {e}") from None
    dup = out.duplicated(_KEY, keep=False)
    if dup.any():
        blk, txi, lgi = out.loc[dup, _KEY].iloc[0].tolist()
        raise DataError(f"{what}: log {blk}/{txi}/{lgi} twice")
    return out


def _clean_poolstate(rows: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in POOLSTATE_COLUMNS if c not in rows.columns]
    if missing:
        raise DataError(f"{what}: pool-state rows lack column(s) {missing}")
    out = pd.DataFrame()
    for col in POOLSTATE_COLUMNS:
        vals = rows[col].astype(str)
        try:
            ints = [int(v) for v in vals]
        except ValueError:
            bad = next(r for r, v in enumerate(vals) if not v.lstrip("-").isdigit())
            raise DataError(
                f"{what}: row {bad + 2}: {col} {vals.iloc[bad]!r} is not an integer"
            ) from None
        out[col] = [str(v) for v in ints] if col in _BIG_COLUMNS else pd.array(ints, dtype="int64")
    dup = out["timestamp"].duplicated()
    if dup.any():
        raise DataError(f"{what}: timestamp {int(out['timestamp'][dup].iloc[0])} twice")
    return out
