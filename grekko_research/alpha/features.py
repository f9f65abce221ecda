"""Alternative-data features for strategies, as ``Bars.extras`` like ``funding_rate``.

Each feature is a per-bar aggregate of the rows that *land* in the bar (knowable in
``(open, close]``, see :mod:`grekko_research.alpha.pit`), per symbol (the symbol's base asset
is the entity: ``BTC/USDT`` reads ``sentiment/BTC`` and ``onchain/BTC``). Per-bar values are
causal by construction and depend on the bar's own timestamp only, so a strategy that rolls
them over its own windows (its parameters) is as causal as one reading prices, and the live
runner's window gets the very values the backtest had.

======================== ====================================================================
name                     per bar
======================== ====================================================================
alpha.sentiment          sum of weight x score of the sentiment rows (see ``score_rows``)
alpha.sentiment_weight   sum of their weights (divide rolling sums for a weighted mean)
alpha.mentions           number of sentiment rows (mention volume)
alpha.authors            distinct authors among them (breadth of the community pulse)
alpha.exchange_netflow   token amount into labelled exchanges minus amount out of them
alpha.whale_volume       token amount moved in large transfers
alpha.tv_target          the last TradingView alert's signed target in the bar (NaN: none)
alpha.llm_vote           the LLM adviser's last signed vote in the bar (NaN: none or abstained)
======================== ====================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from grekko_research.alpha.pit import bar_distinct, bar_last, bar_sum, knowable_ms
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError, DataNotFoundError

__all__ = ["FEATURES", "AlphaLoader", "AlphaSpec", "alpha_extras", "alpha_names", "with_alpha"]


def _weighted(rows: pd.DataFrame) -> np.ndarray:
    return rows["score"].to_numpy(np.float64) * rows["weight"].to_numpy(np.float64)


def _netflow(rows: pd.DataFrame) -> np.ndarray:
    return rows["amount"].to_numpy(np.float64) * rows["direction"].to_numpy(np.float64)


def _whale(rows: pd.DataFrame) -> np.ndarray:
    return rows["amount"].to_numpy(np.float64) * rows["large"].to_numpy(np.float64)


def _ones(rows: pd.DataFrame) -> np.ndarray:
    return np.ones(len(rows))


def _tv_target(rows: pd.DataFrame) -> np.ndarray:
    return rows["target"].to_numpy(np.float64) * rows["size"].to_numpy(np.float64)


# name -> (source, values of the rows, per-bar aggregation: sum | distinct | last)
FEATURES: dict[str, tuple[str, Callable[[pd.DataFrame], np.ndarray], str]] = {
    "alpha.sentiment": ("sentiment", _weighted, "sum"),
    "alpha.sentiment_weight": ("sentiment", lambda r: r["weight"].to_numpy(np.float64), "sum"),
    "alpha.mentions": ("sentiment", _ones, "sum"),
    "alpha.authors": ("sentiment", _ones, "distinct"),
    "alpha.exchange_netflow": ("onchain", _netflow, "sum"),
    "alpha.whale_volume": ("onchain", _whale, "sum"),
    "alpha.tv_target": ("tradingview", _tv_target, "last"),
    # the LLM adviser's signed vote (grekko_research.ml.llm.record_vote); NaN: abstained
    "alpha.llm_vote": ("llm", lambda r: r["vote"].to_numpy(np.float64), "last"),
}


_HINTS = {
    "sentiment": "run 'grekko alpha score' after downloading news/social sources",
    "tradingview": "alerts arrive through the grekko-live API's TradingView webhook",
    "llm": "votes are stored by grekko_research.ml.llm.record_vote (docs/ml_rl.md)",
}


@dataclass(frozen=True)
class AlphaSpec:
    """How alternative rows are aligned: point-in-time mode, latency, entity overrides.

    ``entities`` maps ``(source, asset)`` to another entity, e.g. ``{"onchain:BTC": "WBTC"}``.
    """

    mode: str = "published"
    delay_ms: int = 0
    entities: Mapping[str, str] = field(default_factory=dict)

    def entity(self, source: str, symbol: str) -> str:
        asset = symbol.split("/", 1)[0]
        return self.entities.get(f"{source}:{asset}", asset)


def alpha_names(names: Sequence[str]) -> list[str]:
    """Return the alpha feature names among ``names`` (unknown ``alpha.*`` names raise)."""
    found = [n for n in names if n.startswith("alpha.")]
    unknown = [n for n in found if n not in FEATURES]
    if unknown:
        raise ConfigError(f"unknown alpha features {unknown} (known: {', '.join(FEATURES)})")
    return found


def alpha_extras(
    index: np.ndarray,
    symbols: Sequence[str],
    timeframe: str,
    names: Sequence[str],
    store: AltStore,
    spec: AlphaSpec | None = None,
    *,
    read: Callable[[AltKey], pd.DataFrame | None] | None = None,
) -> dict[str, np.ndarray]:
    """Return ``name -> (n_bars, n_symbols)`` arrays of the named features over ``index``.

    A symbol without a stored series gets zeros (nothing was said about it); a feature no
    symbol has data for raises :class:`DataNotFoundError` naming the series to download.
    """
    spec = spec or AlphaSpec()
    tf_ms = parse_timeframe(timeframe).ms
    index = np.asarray(index, np.int64)
    cache: dict[AltKey, pd.DataFrame | None] = {}
    out: dict[str, np.ndarray] = {}
    for name in alpha_names(names):
        source, values, how = FEATURES[name]
        arr = np.full((len(index), len(symbols)), np.nan if how == "last" else 0.0)
        found = False
        for j, symbol in enumerate(symbols):
            key = AltKey(source, spec.entity(source, symbol))
            if key not in cache:
                if read is not None:
                    cache[key] = read(key)
                else:
                    cache[key] = store.read(key) if store.exists(key) else None
            rows = cache[key]
            if rows is None:
                continue
            found = True
            known = knowable_ms(rows, mode=spec.mode, delay_ms=spec.delay_ms)
            if how == "distinct":
                arr[:, j] = bar_distinct(known, rows["author"].to_numpy(), index, tf_ms)
            elif how == "last":
                arr[:, j] = bar_last(known, values(rows), index, tf_ms)
            else:
                arr[:, j] = bar_sum(known, values(rows), index, tf_ms)
        if not found:
            wanted = ", ".join(f"{source}/{spec.entity(source, s)}" for s in symbols)
            raise DataNotFoundError(
                f"{name} needs alternative data {wanted} in {store.root}: "
                + _HINTS.get(source, f"run 'grekko alpha download {source} ...'")
            )
        out[name] = arr
    return out


def with_alpha(
    bars: Bars, names: Sequence[str], store: AltStore, spec: AlphaSpec | None = None
) -> Bars:
    """Return ``bars`` with the named alpha features added to their extras."""
    extras = alpha_extras(bars.index, bars.symbols, bars.timeframe, names, store, spec)
    return bars.with_extras(**extras)


class AlphaLoader:
    """``bars -> bars`` with the alpha features a set of strategies requires (the live runner's
    window hook: the same computation :func:`grekko_research.runs.load_run_bars` does)."""

    def __init__(self, store: AltStore, names: Sequence[str], spec: AlphaSpec | None = None):
        self.store, self.names, self.spec = store, list(names), spec or AlphaSpec()
        self._cache: dict[AltKey, tuple[tuple[int, int], pd.DataFrame]] = {}

    def _read(self, key: AltKey) -> pd.DataFrame | None:
        # A window per bar would re-read every series: keep the rows until the file changes
        # (a download running beside a live run replaces it atomically: new inode, new stat).
        path = self.store.path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            self._cache.pop(key, None)
            return None
        stamp = (st.st_ino, st.st_mtime_ns)
        hit = self._cache.get(key)
        if hit is None or hit[0] != stamp:
            hit = (stamp, self.store.read(key))
            self._cache[key] = hit
        return hit[1]

    def __call__(self, bars: Bars) -> Bars:
        extras = alpha_extras(
            bars.index, bars.symbols, bars.timeframe, self.names, self.store, self.spec,
            read=self._read,
        )  # fmt: skip
        return bars.with_extras(**extras)

    @classmethod
    def for_requires(
        cls, root: str | None, requires: Sequence[str], spec: AlphaSpec | None = None
    ) -> AlphaLoader | None:
        """Return a loader over the store at ``root`` (None: the default store), or None when
        ``requires`` names no alpha feature."""
        names = alpha_names(list(dict.fromkeys(requires)))
        return cls(AltStore(root), names, spec) if names else None
