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

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.analysis.book import BookReplay
from grekko_research.analysis.bots import _round_decimals
from grekko_research.analysis.captures import Trades
from grekko_research.analysis.detectors import (
    CapitulationParams,
    TrapParams,
    WyckoffParams,
    bull_traps,
    capitulations,
    wyckoff_phases,
)
from grekko_research.analysis.flow import TRADE_FIELDS, bvc_imbalance_nb, trade_bars_nb
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
    "BvcParams",
    "Feature",
    "SandwichParams",
    "Sources",
    "TradeFlowParams",
    "VolBreakoutParams",
    "VolRegimeParams",
    "bar_closes",
    "book_columns",
    "book_sources",
    "check_feature",
    "sandwich_sources",
    "trade_sources",
    "with_features",
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


BOOK_EVENT_FIELDS = (
    "bid_px",
    "bid_qty",
    "ask_px",
    "ask_qty",
    "bid_depth",
    "ask_depth",
    "bid_slope",
    "ask_slope",
    "ofi",
)


def book_columns(events: Any) -> dict[str, Any]:
    """The book features' columns from book event records — a replay's frame (columns out) or
    one live EVENT_DTYPE record (scalars out): anything indexed by ``BOOK_EVENT_FIELDS`` —
    ``imbalance`` of the top-k depth, ``microprice_bps`` and ``spread_bps`` from the mid, the
    depth slopes, the ``ofi``. One formula for the backtest's tables and the live feed's."""
    bid, ask, bq, aq = events["bid_px"], events["ask_px"], events["bid_qty"], events["ask_qty"]
    bd, ad = events["bid_depth"], events["ask_depth"]
    mid = 0.5 * (bid + ask)
    micro = (bid * aq + ask * bq) / (bq + aq)
    return {
        "imbalance": (bd - ad) / (bd + ad),
        "microprice_bps": (micro / mid - 1.0) * 1e4,
        "spread_bps": (ask - bid) / mid * 1e4,
        "bid_slope": events["bid_slope"],
        "ask_slope": events["ask_slope"],
        "ofi": events["ofi"],
    }


def book_sources(
    replays: Mapping[str, BookReplay], spoofs: Mapping[str, pd.DataFrame] | None = None
) -> Sources:
    """Sources ``book:<symbol>`` (valid events, known at local receive time) and ``spoofs:<symbol>``
    (spoofing candidates, known when pulled) from rebuilt books, one per symbol."""
    tables: dict[str, SourceTable] = {}
    for sym, rep in replays.items():
        ev = rep.valid
        known = (ev["local_ts"].to_numpy(np.int64) // 1_000_000).astype(np.int64)
        cols = {k: np.asarray(v, dtype=np.float64) for k, v in book_columns(ev).items()}
        cols["ofi_cum"] = np.nancumsum(cols.pop("ofi"))
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


# -- order flow from bars, trades and the chain -----------------------------------------------


@dataclass(frozen=True)
class BvcParams:
    """Bulk volume classification (:mod:`~grekko_research.analysis.flow`): the window that
    scales price changes and the window the imbalance is summed over."""

    sigma_window: int = field(default=50, metadata={"bounds": (5, 1000)})
    flow_window: int = field(default=10, metadata={"bounds": (1, 500)})


def _bvc(bars: Bars, p: BvcParams, _: Sources) -> np.ndarray:
    return np.asarray(bvc_imbalance_nb(bars.close, bars.volume, p.sigma_window, p.flow_window))


def _bar_of(bars: Bars, known_ms: np.ndarray) -> np.ndarray:
    """The bar in which each row became known (open < known <= close); -1 outside every bar."""
    closes = bar_closes(bars)
    b = np.searchsorted(closes, known_ms, side="left")
    inside = b < bars.n_bars
    inside[inside] &= known_ms[inside] > np.asarray(bars.index, np.int64)[b[inside]]
    return np.where(inside, b, -1).astype(np.int64)


@dataclass(frozen=True)
class TradeFlowParams:
    """Which per-bar trade statistic (:data:`~grekko_research.analysis.flow.TRADE_FIELDS`):
    taker ``imbalance``, ``trades``, and the bot footprints ``interval_cv``,
    ``same_ms_share`` and ``round_share``."""

    field: str = field(default="imbalance", metadata={"choices": TRADE_FIELDS})
    # sizes printed with at most this many decimals are round (3: 0.001 BTC; Binance's BTC
    # lot is 0.00001, so 3 is the footprint's "two fewer than the lot")
    round_decimals: int = dataclasses.field(default=3, metadata={"bounds": (0, 8)})


def trade_sources(trades: Mapping[str, Trades]) -> Sources:
    """Sources ``trades:<symbol>`` from trade streams: each trade known at its local receive
    time, with its exchange time, quantity and aggressor side."""
    tables: dict[str, SourceTable] = {}
    for sym, t in trades.items():
        known = np.asarray(t.local_ts, np.int64) // 1_000_000
        order = np.argsort(known, kind="stable")
        cols = {
            "trade_ms": np.asarray(t.trade_ts, np.int64)[order],
            "qty": np.asarray(t.qty, float)[order],
            "buyer_maker": np.asarray(t.buyer_maker, bool)[order],
        }
        tables[f"trades:{sym}"] = SourceTable(known[order], cols)
    return Sources(tables)


def _trade_flow(bars: Bars, p: TradeFlowParams, sources: Sources) -> np.ndarray:
    if p.field not in TRADE_FIELDS:
        raise ConfigError(f"trade_flow: field must be one of {TRADE_FIELDS}, got {p.field!r}")
    col = TRADE_FIELDS.index(p.field)

    def one(j: int) -> np.ndarray:
        tab = sources.table(f"trades:{bars.symbols[j]}")
        c = tab.columns
        stats = trade_bars_nb(
            _bar_of(bars, tab.known_ms),
            c["trade_ms"],
            c["qty"],
            c["buyer_maker"],
            _round_decimals(c["qty"]) <= p.round_decimals,
            bars.n_bars,
        )
        out = stats[:, col]
        if len(tab.known_ms):  # before the stream began nothing is known, not "no trades"
            out[bar_closes(bars) <= tab.known_ms[0]] = np.nan
        return out

    return _per_symbol(bars, one)


@dataclass(frozen=True)
class SandwichParams:
    """Sandwiches confirmed in the last ``window`` bars: their ``count`` or gross ``profit0``."""

    window: int = field(default=12, metadata={"bounds": (1, 10_000)})
    field: str = field(default="count", metadata={"choices": ("count", "profit0")})


def sandwich_sources(found: Mapping[str, pd.DataFrame]) -> Sources:
    """Sources ``sandwiches:<symbol>`` from :func:`~grekko_research.analysis.mev.sandwiches`
    rows (one frame per bar symbol, e.g. the pool's ``WETH/USDC``), each known at its block's
    time: the block that holds all three legs is when the sandwich became visible."""
    tables = {}
    for sym, f in found.items():
        known = pd.to_datetime(f["time"], utc=True).to_numpy("datetime64[ms]").astype(np.int64)
        order = np.argsort(known, kind="stable")
        profit = f["profit0"].to_numpy(float)[order]
        tables[f"sandwiches:{sym}"] = SourceTable(
            known[order],
            {
                "count_cum": np.arange(1, len(known) + 1, dtype=float),
                "profit0_cum": np.cumsum(profit),
            },
        )
    return Sources(tables)


def _sandwiches(bars: Bars, p: SandwichParams, sources: Sources) -> np.ndarray:
    if p.field not in ("count", "profit0"):
        raise ConfigError(f"sandwiches: field must be count or profit0, got {p.field!r}")
    closes = bar_closes(bars)
    starts = closes - p.window * parse_timeframe(bars.timeframe).ms

    def one(j: int) -> np.ndarray:
        key = f"sandwiches:{bars.symbols[j]}"
        cum = np.r_[0.0, sources.table(key).columns[f"{p.field}_cum"]]
        # the window's sum: the running sum at the close minus its value window bars before
        return cum[sources.asof(key, closes) + 1] - cum[sources.asof(key, starts) + 1]

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
        Feature(
            "bvc_flow",
            BvcParams,
            _bvc,
            "bulk-volume order-flow imbalance over the last bars, from bars alone, in [-1, 1]",
        ),
        Feature(
            "trade_flow",
            TradeFlowParams,
            _trade_flow,
            "taker imbalance, trade count or a bot footprint of the trades received in the bar",
        ),
        Feature(
            "sandwiches",
            SandwichParams,
            _sandwiches,
            "sandwiches (or their gross profit) confirmed in the last window bars",
        ),
    )
}


def with_features(
    bars: Bars, specs: Mapping[str, tuple[str, Any]], sources: Sources | None = None
) -> Bars:
    """``bars`` with features added as ``Bars.extras`` (``{extra name: (feature, params)}``),
    computed by the registered features on ``sources`` — the backtest on the store's tables,
    a live runner on its window and the feed's tables (:class:`live.market_feed.MarketAnalysisFeed`):
    one computation, so the strategy reads the same numbers in both."""
    src = sources or Sources()
    extras = {}
    for name, (feature, params) in specs.items():
        if feature not in FEATURES:
            raise ConfigError(f"extra {name!r}: no feature {feature!r}; have {sorted(FEATURES)}")
        extras[name] = np.asarray(FEATURES[feature].compute(bars, params, src), dtype=np.float64)
    return bars.with_extras(**extras)


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
