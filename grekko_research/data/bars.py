"""``Bars``: aligned OHLCV arrays for one or several symbols, ready for numba kernels."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError, DataError

if TYPE_CHECKING:  # pandas loads when a frame is asked for (the engine never needs it)
    import pandas as pd

__all__ = ["FIELDS", "RANGE_BLOCK", "Bars"]

FIELDS = ("open", "high", "low", "close", "volume")

RANGE_BLOCK = 8
"""Bars per block of :attr:`Bars.block_range` (one 64-byte cache line of float64 prices)."""


def _frozen(values: np.ndarray, dtype: type, name: str, shape: tuple[int, ...]) -> np.ndarray:
    arr: np.ndarray = np.ascontiguousarray(values, dtype=dtype)
    if arr.shape != shape:
        raise DataError(f"Bars.{name} has shape {arr.shape}, expected {shape}")
    if arr is values:
        arr = arr.view()  # share the memory, but never freeze the caller's array
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Bars:
    """Candles of one or more symbols on one shared time index.

    Every price/volume array has shape ``(n_bars, n_assets)``, dtype float64,
    C-contiguous and read-only, so kernels can take them as they are and no
    strategy can modify the data it was given. Arrays that already have that
    dtype and layout are not copied: ``Bars`` holds read-only views of them
    (a million bars of OHLCV is 40 MB per copy), so whoever built it must not
    write to the originals afterwards.

    Attributes
    ----------
    index
        Bar open times, int64 milliseconds since the epoch (UTC), strictly increasing.
    symbols
        One canonical ``BASE/QUOTE`` symbol per column.
    timeframe
        Bar length, e.g. ``"1h"``.
    open, high, low, close, volume
        ``(n_bars, n_assets)`` float64 arrays.
    filled
        ``(n_bars, n_assets)`` bool: True where the bar did not trade but was
        synthesised (a filled gap, or a missing bar when aligning symbols):
        OHLC equal the previous close and volume is zero. Engines must not
        fill orders on such bars.
    exchange, market
        Where the data came from (informational).
    extras
        Further per-bar series aligned with the candles, ``name → (n_bars,
        n_assets)`` float64 (read-only like the prices), e.g.
        ``"funding_rate"``: the funding rate paid at a funding time inside
        the bar, 0 elsewhere. Slicing the bars slices them too, so a strategy
        that reads them stays as causal as one that reads the prices.
    """

    index: np.ndarray
    symbols: tuple[str, ...]
    timeframe: str
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    filled: np.ndarray = field(default=None)  # type: ignore[arg-type]  # None: all False
    exchange: str = ""
    market: str = ""
    extras: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        index = np.ascontiguousarray(self.index, dtype=np.int64)
        if index.ndim != 1:
            raise DataError(f"Bars.index must be 1-D, got shape {index.shape}")
        if len(index) > 1 and not np.all(np.diff(index) > 0):
            raise DataError("Bars.index must be strictly increasing")
        if index is self.index:
            index = index.view()
        index.setflags(write=False)
        symbols = tuple(self.symbols)
        if not symbols:
            raise DataError("Bars needs at least one symbol")
        if len(set(symbols)) != len(symbols):
            raise DataError(f"Bars.symbols has duplicates: {symbols}")
        parse_timeframe(self.timeframe)
        shape = (len(index), len(symbols))
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "symbols", symbols)
        for name in FIELDS:
            object.__setattr__(self, name, _frozen(getattr(self, name), np.float64, name, shape))
        filled = np.zeros(shape, dtype=bool) if self.filled is None else self.filled
        object.__setattr__(self, "filled", _frozen(filled, np.bool_, "filled", shape))
        extras = {}
        for name, values in dict(self.extras).items():
            extras[str(name)] = _frozen(values, np.float64, f"extras[{name!r}]", shape)
        object.__setattr__(self, "extras", MappingProxyType(extras))
        # Engines skip filled bars without looking at prices: a bar that did not
        # trade (NaN prices) must say so.
        priced = np.isfinite(self.open) & np.isfinite(self.high)
        priced &= np.isfinite(self.low) & np.isfinite(self.close)
        unmarked = ~priced & ~self.filled
        if unmarked.any():
            t, j = np.argwhere(unmarked)[0]
            raise DataError(
                f"Bars: {self.symbols[j]} has NaN prices at row {t} but is not flagged filled"
            )

    @cached_property
    def has_filled(self) -> bool:
        """True when some bar of some symbol is synthesised (see ``filled``)."""
        return bool(self.filled.any())

    @cached_property
    def block_range(self) -> tuple[np.ndarray, np.ndarray]:
        """Per block of :data:`RANGE_BLOCK` bars: ``(lowest, highest)`` price, ``(n_blocks, k)``.

        The lowest of the opens and lows and the highest of the opens and
        highs of each block (the last one may be short); a block holding a NaN
        price gets ``-inf`` / ``+inf``, so it never looks quiet. Computed on
        first use and kept (the prices are read-only): the engine's one-asset
        stop scan checks a block at a time, so a position held for hundreds
        of bars reads an eighth of the prices (see ``engine/_lean_one``).
        """
        n, k = self.open.shape
        pad = -n % RANGE_BLOCK
        lowest = np.minimum(self.open, self.low)
        highest = np.maximum(self.open, self.high)
        if pad:
            lowest = np.concatenate([lowest, np.repeat(lowest[-1:], pad, axis=0)])
            highest = np.concatenate([highest, np.repeat(highest[-1:], pad, axis=0)])
        lo = lowest.reshape(-1, RANGE_BLOCK, k).min(axis=1)  # NaN propagates
        hi = highest.reshape(-1, RANGE_BLOCK, k).max(axis=1)
        lo[np.isnan(lo)] = -np.inf
        hi[np.isnan(hi)] = np.inf
        lo.setflags(write=False)
        hi.setflags(write=False)
        return lo, hi

    @cached_property
    def ohlc_rows(self) -> np.ndarray:
        """Each symbol's bars with their four prices side by side: ``(k, n, 4)``, read-only.

        ``ohlc_rows[j, t]`` = (open, high, low, close) of symbol ``j`` at bar
        ``t``: one 64-byte cache line holds two bars. Computed on first use and
        kept (32 bytes a bar a symbol). The engine's one-asset kernel reads it
        when position stops are set: it reads prices only on the bars that
        trade, and a stop check there wants the open, high and low of the same
        bar, three cache misses in separate arrays but one here (W4 of
        ``benchmarks/engine.py``, 1M bars: 2.9 -> 1.7 ms a backtest).
        """
        rows = np.empty((self.n_assets, self.n_bars, 4))  # C order: a bar's prices adjacent
        for i, prices in enumerate((self.open, self.high, self.low, self.close)):
            rows[:, :, i] = prices.T
        rows.setflags(write=False)
        return rows

    # -- shape -----------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.index)

    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return len(self.index)

    @property
    def n_assets(self) -> int:
        """Number of symbols."""
        return len(self.symbols)

    def __getitem__(self, item: slice) -> Bars:
        """Return the bars of a positional slice (``bars[:t]`` is what was known at ``t``)."""
        if not isinstance(item, slice):
            raise TypeError("Bars supports positional slices only, e.g. bars[:100]")
        if item.step not in (None, 1):
            raise ConfigError("Bars slices cannot have a step")
        return self._take(item, list(range(self.n_assets)))

    def asset(self, symbol: str) -> Bars:
        """Return the single-symbol ``Bars`` of one column."""
        try:
            j = self.symbols.index(symbol)
        except ValueError:
            raise ConfigError(
                f"symbol {symbol!r} not in Bars ({', '.join(self.symbols)})"
            ) from None
        return self._take(slice(None), [j])

    def select(self, symbols: Sequence[str]) -> Bars:
        """Return the columns of ``symbols``, in that order."""
        missing = [s for s in symbols if s not in self.symbols]
        if missing:
            raise ConfigError(f"symbols {missing} not in Bars ({', '.join(self.symbols)})")
        return self._take(slice(None), [self.symbols.index(s) for s in symbols])

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Bars:
        """Return bars with ``start_ms <= index < end_ms``."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.index, start_ms, "left"))
        hi = self.n_bars if end_ms is None else int(np.searchsorted(self.index, end_ms, "left"))
        return self[lo:hi]

    def _take(self, rows: slice, cols: list[int]) -> Bars:
        return Bars(
            index=self.index[rows],
            symbols=tuple(self.symbols[j] for j in cols),
            timeframe=self.timeframe,
            exchange=self.exchange,
            market=self.market,
            filled=self.filled[rows][:, cols],
            extras={name: v[rows][:, cols] for name, v in self.extras.items()},
            **{name: getattr(self, name)[rows][:, cols] for name in FIELDS},
        )

    def with_extras(self, **series: np.ndarray) -> Bars:
        """Return these bars with further aligned series added (see ``extras``)."""
        return dataclasses.replace(self, extras={**self.extras, **series})

    # -- pandas ----------------------------------------------------------------------

    @property
    def datetime_index(self) -> pd.DatetimeIndex:
        """Return the index as a UTC ``DatetimeIndex`` named ``time``."""
        import pandas as pd

        return pd.DatetimeIndex(pd.to_datetime(self.index, unit="ms", utc=True), name="time")

    def to_pandas(self, symbol: str | None = None) -> pd.DataFrame:
        """Return a DataFrame indexed by time.

        With one symbol (or ``symbol`` given) the columns are
        ``open high low close volume filled``; otherwise they are a
        ``(field, symbol)`` MultiIndex.
        """
        if symbol is not None:
            return self.asset(symbol).to_pandas()
        import pandas as pd

        names = (*FIELDS, "filled")
        if self.n_assets == 1:
            data = {name: getattr(self, name)[:, 0] for name in names}
            return pd.DataFrame(data, index=self.datetime_index)
        columns = pd.MultiIndex.from_product([names, self.symbols], names=["field", "symbol"])
        stacked = np.concatenate([getattr(self, n).astype(np.float64) for n in names], axis=1)
        frame = pd.DataFrame(stacked, index=self.datetime_index, columns=columns)
        return frame.astype({(("filled", s)): bool for s in self.symbols})

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        symbol: str,
        timeframe: str,
        *,
        exchange: str = "",
        market: str = "",
    ) -> Bars:
        """Build single-symbol ``Bars`` from a frame with a ``timestamp`` column.

        An optional boolean ``filled`` column marks synthesised bars.
        """
        if "timestamp" not in frame.columns:
            raise DataError("frame needs a 'timestamp' column (int64 ms, bar open)")
        missing = [c for c in FIELDS if c not in frame.columns]
        if missing:
            raise DataError(f"frame lacks columns {missing}")
        filled = (
            frame["filled"].to_numpy(bool)
            if "filled" in frame.columns
            else np.zeros(len(frame), dtype=bool)
        )
        return cls(
            index=frame["timestamp"].to_numpy(np.int64),
            symbols=(symbol,),
            timeframe=timeframe,
            exchange=exchange,
            market=market,
            filled=filled[:, None],
            open=frame["open"].to_numpy(np.float64)[:, None],
            high=frame["high"].to_numpy(np.float64)[:, None],
            low=frame["low"].to_numpy(np.float64)[:, None],
            close=frame["close"].to_numpy(np.float64)[:, None],
            volume=frame["volume"].to_numpy(np.float64)[:, None],
        )

    @classmethod
    def stack(cls, parts: Sequence[Bars]) -> Bars:
        """Join single- or multi-symbol ``Bars`` with identical indexes column-wise."""
        if not parts:
            raise ConfigError("nothing to stack")
        first = parts[0]
        for other in parts[1:]:
            if other.timeframe != first.timeframe or not np.array_equal(other.index, first.index):
                raise DataError("Bars.stack needs identical indexes and timeframes; align first")
        return cls(
            index=first.index,
            symbols=tuple(s for p in parts for s in p.symbols),
            timeframe=first.timeframe,
            exchange=first.exchange,
            market=first.market,
            filled=np.concatenate([p.filled for p in parts], axis=1),
            extras={
                name: np.concatenate(
                    [p.extras.get(name, np.zeros((p.n_bars, p.n_assets))) for p in parts], axis=1
                )
                for name in dict.fromkeys(n for p in parts for n in p.extras)
            },
            **{n: np.concatenate([getattr(p, n) for p in parts], axis=1) for n in FIELDS},
        )

    def __repr__(self) -> str:
        span = ""
        if self.n_bars:
            dt = self.datetime_index
            span = f", {dt[0]:%Y-%m-%d %H:%M} → {dt[-1]:%Y-%m-%d %H:%M}"
        return (
            f"Bars({self.n_bars} × {', '.join(self.symbols)} {self.timeframe}{span}, "
            f"filled={int(self.filled.sum())})"
        )
