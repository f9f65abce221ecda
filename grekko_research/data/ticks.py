"""Market microstructure in the Parquet store: public trades and L2 depth (snapshots + diffs).

Layout, beside the candle kinds of :mod:`~grekko_research.data.store` under the same root::

    <root>/trades/exchange=<exchange>/market=<market>/symbol=<BASE-QUOTE>/data.parquet
    <root>/depth/exchange=<exchange>/market=<market>/symbol=<BASE-QUOTE>/data.parquet

Columns (``timestamp`` is int64 ms UTC in both, so the store's time filters apply):

* ``trades``: ``timestamp`` (the exchange's trade time), ``local_ts`` (ns, when it was
  received), ``trade_id`` (-1 when the source has none), ``price``, ``qty``,
  ``buyer_maker`` (True: the aggressor sold). Rows are unique by ``trade_id`` (by every
  column when ids are missing).
* ``depth``: ``timestamp`` (local receive time, ms), ``local_ts`` (ns), ``first_update_id``,
  ``last_update_id``, ``prev_update_id`` (Binance's ``U``, ``u``, ``pu``; -1 where absent),
  ``side`` (0 bid, 1 ask), ``price``, ``qty`` and ``snapshot`` (1: a row of a REST snapshot
  whose ``lastUpdateId`` is ``last_update_id``; 0: a diff row). Rows are kept in arrival order
  (``local_ts``, then as received); a row is identified by every column but ``qty``.

Writes are atomic (temporary file, fsync, rename) and merge with what is stored: the same row
with another quantity (or price, for a trade id) is a conflict, refused with the first one
named, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grekko_research._atomic import atomic_path, folder_lock
from grekko_research.data.store import (
    MARKETS,
    default_data_dir,
    normalize_symbol,
    read_series_file,
)
from grekko_research.errors import ConfigError, DataError

__all__ = ["DEPTH_COLUMNS", "TICK_KINDS", "TRADE_COLUMNS", "TickKey", "TickStore"]

TRADE_COLUMNS = ("timestamp", "local_ts", "trade_id", "price", "qty", "buyer_maker")
DEPTH_COLUMNS = (
    "timestamp",
    "local_ts",
    "first_update_id",
    "last_update_id",
    "prev_update_id",
    "side",
    "price",
    "qty",
    "snapshot",
)
TICK_KINDS = ("trades", "depth")
_DTYPES = {
    "timestamp": np.int64,
    "local_ts": np.int64,
    "trade_id": np.int64,
    "first_update_id": np.int64,
    "last_update_id": np.int64,
    "prev_update_id": np.int64,
    "side": np.int8,
    "snapshot": np.int8,
    "price": np.float64,
    "qty": np.float64,
    "buyer_maker": np.bool_,
}


@dataclass(frozen=True, slots=True)
class TickKey:
    """One stored tick series: ``kind`` (``trades`` or ``depth``), exchange, market, symbol."""

    kind: str
    exchange: str
    market: str
    symbol: str

    @classmethod
    def make(cls, kind: str, exchange: str, symbol: str, market: str = "spot") -> TickKey:
        """Build a validated key (the symbol normalised to ``BASE/QUOTE``)."""
        if kind not in TICK_KINDS:
            raise ConfigError(f"invalid tick kind {kind!r}: expected one of {TICK_KINDS}")
        if market not in MARKETS:
            raise ConfigError(f"invalid market {market!r}: expected one of {', '.join(MARKETS)}")
        if not exchange.isalnum():
            raise ConfigError(f"invalid exchange {exchange!r}")
        return cls(kind, exchange.lower(), market, normalize_symbol(symbol))

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns of this kind."""
        return TRADE_COLUMNS if self.kind == "trades" else DEPTH_COLUMNS

    def relative_dir(self) -> Path:
        """The series folder relative to the store root."""
        sym = self.symbol.replace("/", "-")
        return Path(
            self.kind, f"exchange={self.exchange}", f"market={self.market}", f"symbol={sym}"
        )

    def label(self) -> str:
        """E.g. ``binance spot BTC/USDT depth``."""
        return f"{self.exchange} {self.market} {self.symbol} {self.kind}"


class TickStore:
    """Trades and depth series in the Parquet store folder (``root``; default the store's)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_data_dir()

    def path(self, key: TickKey) -> Path:
        """The Parquet file of a series (it may not exist)."""
        return self.root / key.relative_dir() / "data.parquet"

    def series(self) -> list[TickKey]:
        """Every tick series in the store."""
        out = []
        for kind in TICK_KINDS:
            for path in sorted((self.root / kind).rglob("data.parquet")):
                parts = dict(p.split("=", 1) for p in path.parent.parts if "=" in p)
                try:
                    out.append(
                        TickKey.make(kind, parts["exchange"], parts["symbol"], parts["market"])
                    )
                except (KeyError, ConfigError):
                    continue  # a foreign file
        return out

    def read(
        self, key: TickKey, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> pd.DataFrame:
        """The rows with ``start_ms <= timestamp < end_ms``, in stored (arrival) order."""
        return read_series_file(
            self.path(key),
            key.columns,
            start_ms=start_ms,
            end_ms=end_ms,
            missing=f"no {key.label()} in {self.root}",
            hint="import it with 'grekko data import' first",
        )

    def write(
        self,
        key: TickKey,
        frame: pd.DataFrame,
        *,
        replace: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> int:
        """Merge ``frame`` into the series (or replace it) atomically; return the rows added.
        ``metadata`` (e.g. ``{"tick_size": "0.01"}``) goes into the file's footer as
        ``grekko.<key>`` (see :meth:`metadata`)."""
        with folder_lock(self.path(key).parent):  # a live recorder and an import, say
            merged, added = self.plan(key, frame, replace=replace)
            if merged is not None:
                self.commit(key, merged, metadata)
        return added

    def metadata(self, key: TickKey) -> dict[str, str]:
        """The ``grekko.*`` footer fields of a stored series (empty when there is none)."""
        path = self.path(key)
        if not path.is_file():
            return {}
        meta = pq.read_schema(path).metadata or {}
        return {
            k.decode()[len("grekko.") :]: v.decode()
            for k, v in meta.items()
            if k.startswith(b"grekko.")
        }

    def plan(
        self, key: TickKey, frame: pd.DataFrame, *, replace: bool = False
    ) -> tuple[pd.DataFrame | None, int]:
        """The series after merging ``frame`` (None: nothing new) and the rows it adds; raises
        DataError on a bad row or a conflict. Writes nothing (see :meth:`commit`)."""
        new = _coerce(key, frame)
        old = self.read(key) if self.path(key).is_file() and not replace else None
        if old is None:
            return new, len(new)
        merged, added = _merge(key, old, new)
        return (merged if added else None), added

    def commit(
        self, key: TickKey, merged: pd.DataFrame, metadata: Mapping[str, str] | None = None
    ) -> None:
        """Write a planned series atomically (temporary file, fsync, rename), keeping the
        footer fields of the stored file that ``metadata`` does not set."""
        table = pa.Table.from_pandas(merged, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        fields = {**self.metadata(key), **(metadata or {}), "kind": key.kind, "symbol": key.symbol}
        meta.update({f"grekko.{k}".encode(): str(v).encode() for k, v in fields.items()})
        with atomic_path(self.path(key)) as tmp:
            pq.write_table(table.replace_schema_metadata(meta), tmp, compression="zstd")


def _coerce(key: TickKey, frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in key.columns if c not in frame.columns]
    if missing:
        raise DataError(f"{key.label()}: rows to write lack columns {missing}")
    out = pd.DataFrame({c: frame[c].to_numpy(dtype=_DTYPES[c]) for c in key.columns})
    bad = ~np.isfinite(out["price"].to_numpy()) | (out["price"].to_numpy() <= 0)
    bad |= ~np.isfinite(out["qty"].to_numpy()) | (out["qty"].to_numpy() < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"{key.label()}: row {i}: non-positive price or negative quantity")
    order = np.argsort(out["local_ts"].to_numpy(), kind="stable")  # arrival order
    return out.iloc[order].reset_index(drop=True)


def _identity(key: TickKey, frame: pd.DataFrame) -> list[str]:
    if key.kind == "trades":
        return ["trade_id"] if (frame["trade_id"] >= 0).all() else list(TRADE_COLUMNS)
    return [c for c in DEPTH_COLUMNS if c != "qty"]


def _merge(key: TickKey, old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    ids = _identity(key, pd.concat([old, new]))
    both = old.merge(new, on=ids, how="inner", suffixes=("_old", "_new"))
    for col in (c for c in key.columns if c not in ids):
        a, b = both[f"{col}_old"].to_numpy(), both[f"{col}_new"].to_numpy()
        differs = a != b
        if differs.any():
            i = int(np.argmax(differs))
            row = {c: both[c].iloc[i] for c in ids[:4]}
            raise DataError(
                f"{key.label()}: conflicting {col} for {row}: store has {a[i]!r}, new data "
                f"{b[i]!r}; nothing was written (import with --replace to overwrite)"
            )
    fresh = new.merge(old[ids], on=ids, how="left", indicator=True)
    fresh = fresh[fresh["_merge"] == "left_only"].drop(columns="_merge")
    merged = pd.concat([old, fresh[list(key.columns)]], ignore_index=True)
    order = np.argsort(merged["local_ts"].to_numpy(), kind="stable")
    return merged.iloc[order].reset_index(drop=True), len(fresh)
