"""Causal, bar-aligned features of the market-analysis detectors, and the check that keeps them causal.

The contract (``docs/analysis.md``, the design note "Features"): a feature is a pure function
``compute(bars, params, sources) -> (n_bars, n_symbols) float64`` whose row ``t`` depends only
on what was known at the close of bar ``t``; its parameters are a frozen dataclass with bounds.
``sources`` gives point-in-time access to non-bar data (the rebuilt order book, its spoofing
candidates): ``sources.asof(key, close_ms)`` is the last row *received* at or before each close.

:func:`check_feature` runs the strategy conformance suite's causality test on a feature:
computed on ``bars[:t]`` (and on sources cut at bar ``t - 1``'s close) it must equal the full
run's first ``t`` rows, and it must not change when every price from row ``t`` on is
multiplied (or divided) by 3.

    from grekko_research.analysis.features import FEATURES, check_feature
    report = check_feature(FEATURES["bars_since_capitulation"], bars)
    report.raise_for_failures()
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.analysis.book import BookReplay
from grekko_research.analysis.detectors import (
    CapitulationParams,
    TrapParams,
    WyckoffParams,
    bull_traps,
    capitulations,
    wyckoff_phases,
)
from grekko_research.analysis.liquidity import amihud, vol_regime
from grekko_research.analysis.regimes import HmmParams, hmm_regimes
from grekko_research.analysis.scanners import vol_breakouts_nb
from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError, DataError
from grekko_research.strategy.conformance import Check, ConformanceReport, rewrite_future

__all__ = [
    "FEATURES",
    "AmihudParams",
    "BookFeatureParams",
    "Feature",
    "Sources",
    "VolBreakoutParams",
    "VolRegimeParams",
    "bar_closes",
    "book_sources",
    "check_feature",
]


@dataclass(frozen=True, eq=False)
class SourceTable:
    """Rows of one source, sorted by ``known_ms`` (when each became knowable to us)."""

    known_ms: np.ndarray
    columns: Mapping[str, np.ndarray]

    def until(self, ms: int) -> SourceTable:
        """The rows known at or before ``ms``."""
        n = int(np.searchsorted(self.known_ms, ms, side="right"))
        return SourceTable(self.known_ms[:n], {k: v[:n] for k, v in self.columns.items()})


@dataclass(frozen=True, eq=False)
class Sources:
    """Point-in-time non-bar data by key (e.g. ``"book:BTC/USDT"``)."""

    tables: Mapping[str, SourceTable] = field(default_factory=dict)

    def table(self, key: str) -> SourceTable:
        """The table ``key``; raises DataError naming the keys there are."""
        if key not in self.tables:
            raise DataError(f"no source {key!r}; have {sorted(self.tables)}")
        return self.tables[key]

    def asof(self, key: str, close_ms: np.ndarray) -> np.ndarray:
        """For each close, the index of the last row known at or before it (-1: none yet)."""
        return np.searchsorted(self.table(key).known_ms, close_ms, side="right") - 1

    def until(self, ms: int) -> Sources:
        """Every table cut to the rows known at or before ``ms``."""
        return Sources({k: t.until(ms) for k, t in self.tables.items()})


def bar_closes(bars: Bars) -> np.ndarray:
    """The close time (ms) of each bar: the next bar's open on the timeframe's grid."""
    return np.asarray(parse_timeframe(bars.timeframe).next_open(bars.index), dtype=np.int64)


@dataclass(frozen=True)
class Feature:
    """A named causal feature: ``compute(bars, params, sources) -> (n_bars, n_symbols)``."""

    name: str
    Params: type
    compute: Callable[[Bars, Any, Sources], np.ndarray]
    description: str = ""


def _per_symbol(bars: Bars, fn: Callable[[int], np.ndarray]) -> np.ndarray:
    out = np.full((bars.n_bars, bars.n_assets), np.nan)
    for j in range(bars.n_assets):
        out[:, j] = fn(j)
    return out


def _bars_since(n: int, confirmed: np.ndarray) -> np.ndarray:
    """Bars since the last event confirmed at or before each row (NaN before the first)."""
    out = np.full(n, np.nan)
    if len(confirmed):
        last = np.full(n, -1)
        last[np.asarray(confirmed, dtype=np.int64)] = np.asarray(confirmed, dtype=np.int64)
        last = np.maximum.accumulate(last)
        seen = last >= 0
        out[seen] = (np.arange(n) - last)[seen]
    return out


def _hmm(bars: Bars, p: HmmParams, _: Sources) -> np.ndarray:
    return _per_symbol(bars, lambda j: hmm_regimes(bars.close[:, j], p).label)


def _wyckoff(bars: Bars, p: WyckoffParams, _: Sources) -> np.ndarray:
    return _per_symbol(
        bars,
        lambda j: wyckoff_phases(
            bars.high[:, j], bars.low[:, j], bars.close[:, j], bars.volume[:, j], p
        )[0],
    )


def _traps(bars: Bars, p: TrapParams, _: Sources) -> np.ndarray:
    def one(j: int) -> np.ndarray:
        ev = bull_traps(bars.high[:, j], bars.close[:, j], bars.volume[:, j], p)
        return _bars_since(bars.n_bars, ev["confirmed"].to_numpy())

    return _per_symbol(bars, one)


def _capitulation(bars: Bars, p: CapitulationParams, _: Sources) -> np.ndarray:
    def one(j: int) -> np.ndarray:
        ev = capitulations(bars.close[:, j], bars.low[:, j], bars.volume[:, j], p)
        return _bars_since(bars.n_bars, ev["confirmed"].to_numpy())

    return _per_symbol(bars, one)


@dataclass(frozen=True)
class AmihudParams:
    """Amihud illiquidity window."""

    window: int = field(default=30, metadata={"bounds": (5, 1000)})


@dataclass(frozen=True)
class VolRegimeParams:
    """Volatility window and the history it is ranked in."""

    vol_window: int = field(default=20, metadata={"bounds": (5, 500)})
    lookback: int = field(default=500, metadata={"bounds": (20, 10_000)})


def _amihud(bars: Bars, p: AmihudParams, _: Sources) -> np.ndarray:
    return np.asarray(amihud(bars.close, bars.volume, p.window))


def _vol_regime(bars: Bars, p: VolRegimeParams, _: Sources) -> np.ndarray:
    return np.asarray(vol_regime(bars.close, p.vol_window, p.lookback))


@dataclass(frozen=True)
class VolBreakoutParams:
    """Volatility breakout (:mod:`~grekko_research.analysis.scanners`): channel/ATR bars, TR/ATR."""

    window: int = field(default=20, metadata={"bounds": (5, 500)})
    k: float = field(default=2.0, metadata={"bounds": (1.0, 10.0)})


def _vol_breakout(bars: Bars, p: VolBreakoutParams, _: Sources) -> np.ndarray:
    """Signed range expansion: TR / ATR of the previous bars, signed by the close's side of the
    previous bars' channel mid; a breakout is ``|x| >= k`` with the close outside the channel."""

    def one(j: int) -> np.ndarray:
        h, lo, c = (np.ascontiguousarray(x[:, j]) for x in (bars.high, bars.low, bars.close))
        ratio = vol_breakouts_nb(h, lo, c, p.window, float(p.k), 250)[:, 2]
        hi = pd.Series(h).rolling(p.window).max().shift(1).to_numpy()
        low = pd.Series(lo).rolling(p.window).min().shift(1).to_numpy()
        return ratio * np.sign(c - (hi + low) / 2)

    return _per_symbol(bars, one)


# -- order-book features ----------------------------------------------------------------------

BOOK_FIELDS = (
    "imbalance",
    "microprice_bps",
    "spread_bps",
    "bid_slope",
    "ask_slope",
    "ofi",
    "spoofs",
)


@dataclass(frozen=True)
class BookFeatureParams:
    """Which book feature: a state at the bar's close, or a flow summed over the bar."""

    field: str = field(default="imbalance", metadata={"choices": BOOK_FIELDS})


def book_sources(
    replays: Mapping[str, BookReplay], spoofs: Mapping[str, pd.DataFrame] | None = None
) -> Sources:
    """Sources ``book:<symbol>`` (valid events, known at local receive time) and ``spoofs:<symbol>``
    (spoofing candidates, known when pulled) from rebuilt books, one per symbol."""
    tables: dict[str, SourceTable] = {}
    for sym, rep in replays.items():
        ev = rep.valid
        known = (ev["local_ts"].to_numpy(np.int64) // 1_000_000).astype(np.int64)
        mid = ev["mid"].to_numpy()
        cols = {
            "imbalance": ev["imbalance"].to_numpy(),
            "microprice_bps": (ev["microprice"].to_numpy() / mid - 1.0) * 1e4,
            "spread_bps": ev["spread"].to_numpy() / mid * 1e4,
            "bid_slope": ev["bid_slope"].to_numpy(),
            "ask_slope": ev["ask_slope"].to_numpy(),
            "ofi_cum": np.nancumsum(ev["ofi"].to_numpy()),
        }
        tables[f"book:{sym}"] = SourceTable(known, cols)
        sp = (spoofs or {}).get(sym)
        pulled = (
            np.sort(sp["pull_ts"].to_numpy(np.int64) // 1_000_000)
            if sp is not None
            else np.zeros(0, np.int64)
        )
        tables[f"spoofs:{sym}"] = SourceTable(
            pulled, {"count_cum": np.arange(1, len(pulled) + 1, dtype=float)}
        )
    return Sources(tables)


def _book(bars: Bars, p: BookFeatureParams, sources: Sources) -> np.ndarray:
    if p.field not in BOOK_FIELDS:
        raise ConfigError(f"book feature: field must be one of {BOOK_FIELDS}, got {p.field!r}")
    closes = bar_closes(bars)
    opens = np.asarray(bars.index, dtype=np.int64)

    def one(j: int) -> np.ndarray:
        sym = bars.symbols[j]
        if p.field in ("ofi", "spoofs"):  # a flow: the change of a running sum over the bar
            key, col = (
                (f"book:{sym}", "ofi_cum") if p.field == "ofi" else (f"spoofs:{sym}", "count_cum")
            )
            cum = np.r_[0.0, sources.table(key).columns[col]]
            at_close = cum[sources.asof(key, closes) + 1]
            at_open = cum[sources.asof(key, opens) + 1]
            out = at_close - at_open
            first = sources.table(f"book:{sym}").known_ms
            out[(closes <= first[0]) if len(first) else slice(None)] = np.nan  # before the book
            return out
        key = f"book:{sym}"
        i = sources.asof(key, closes)
        vals = np.r_[np.nan, sources.table(key).columns[p.field]]
        return vals[i + 1]

    return _per_symbol(bars, one)


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature(
            "hmm_regime", HmmParams, _hmm, "walk-forward Gaussian HMM state, 0 = lowest mean return"
        ),
        Feature(
            "wyckoff_phase", WyckoffParams, _wyckoff, "rule-based Wyckoff phase code (PHASE_NAMES)"
        ),
        Feature(
            "bars_since_bull_trap", TrapParams, _traps, "bars since the last confirmed bull trap"
        ),
        Feature(
            "bars_since_capitulation",
            CapitulationParams,
            _capitulation,
            "bars since the last confirmed capitulation",
        ),
        Feature("amihud", AmihudParams, _amihud, "Amihud illiquidity per million of quote volume"),
        Feature(
            "vol_regime", VolRegimeParams, _vol_regime, "percentile of volatility in its history"
        ),
        Feature(
            "vol_breakout",
            VolBreakoutParams,
            _vol_breakout,
            "TR / ATR signed by the close's side of the channel (a breakout: |x| >= k outside it)",
        ),
        Feature(
            "book",
            BookFeatureParams,
            _book,
            "an order-book state at the close or flow over the bar",
        ),
    )
}


def _differs(full: np.ndarray, part: np.ndarray, t: int) -> int | None:
    a, b = full[:t], part[:t]
    same = (a == b) | (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=1e-9, atol=0.0)
    bad = np.argwhere(~same)
    return None if len(bad) == 0 else int(bad[0][0])


def check_feature(
    feature: Feature,
    bars: Bars,
    params: Any = None,
    sources: Sources | None = None,
    *,
    cuts: int = 6,
    seed: int = 0,
) -> ConformanceReport:
    """Run the causality checks (truncation and future rewriting) on ``feature``; never raises.

    ``shape`` checks the output is ``(n_bars, n_symbols)`` float; ``deterministic`` two runs;
    ``causal`` the conformance suite's cut points (sources are cut at the close of bar
    ``t - 1`` along with the bars).
    """
    params = feature.Params() if params is None else params
    src = sources or Sources()
    report = ConformanceReport(strategy=f"feature {feature.name}")
    add = report.checks.append
    try:
        full = np.asarray(feature.compute(bars, params, src), dtype=np.float64)
    except Exception as exc:
        add(Check("runs", False, f"{type(exc).__name__}: {exc}"))
        return report
    ok = full.shape == (bars.n_bars, bars.n_assets)
    add(
        Check(
            "shape",
            ok,
            f"{full.shape}" + ("" if ok else f", expected {(bars.n_bars, bars.n_assets)}"),
        )
    )
    if not ok:
        return report
    again = np.asarray(feature.compute(bars, params, src), dtype=np.float64)
    row = _differs(full, again, bars.n_bars)
    add(
        Check(
            "deterministic",
            row is None,
            "two runs agree" if row is None else f"runs differ at row {row}",
        )
    )
    closes = bar_closes(bars)
    rng = np.random.default_rng(seed)
    points = sorted(set(rng.integers(2, bars.n_bars, size=cuts).tolist()))
    problem = None
    for i, t in enumerate(points):
        part = np.asarray(
            feature.compute(bars[:t], params, src.until(int(closes[t - 1]))), dtype=np.float64
        )
        row = _differs(full, part, t)
        if row is not None:
            problem = f"row {row} differs when computed on bars[:{t}]: the feature looks ahead"
            break
        factor = 3.0 if i % 2 == 0 else 1.0 / 3.0
        moved = np.asarray(
            feature.compute(rewrite_future(bars, t, factor), params, src), dtype=np.float64
        )
        row = _differs(full, moved, t)
        if row is not None:
            problem = f"row {row} changes when prices from row {t} on are multiplied by {factor:.3g}: the feature looks ahead"
            break
    add(Check("causal", problem is None, problem or f"{len(points)} cut points agree"))
    return report
