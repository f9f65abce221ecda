"""The analysis features as a strategy's ``Bars.extras``: their names, and their tables from the
tick store.

A strategy asks for them in ``requires``, as it asks for ``funding_rate`` or ``alpha.*``:

* ``analysis.<feature>`` — a registered feature (:data:`~.features.FEATURES`) with its default
  parameters, e.g. ``analysis.vol_regime``;
* ``analysis.<feature>.<field>`` — for the features that pick a ``field``: ``book``
  (``analysis.book.imbalance``, ``analysis.book.ofi`` …) and ``trade_flow``
  (``analysis.trade_flow.imbalance``, ``analysis.trade_flow.trades`` …).

:func:`analysis_specs` turns the names into ``{name: (feature, params)}``; :func:`store_sources`
builds the ``book:``, ``spoofs:`` and ``trades:<symbol>`` tables those features read from the
store's ``depth`` and ``trades`` series (the book rebuilt with the replay kernels). A backtest
computes the extras on the whole history (:func:`with_analysis`, called by
``runs.load_run_bars``); the live runner computes them on each window from the market feed's
tables (``live.market_feed``), which are the same tables built one message at a time — and the
feed records the messages into a tick store, so a backtest of the run reads what it read.

    specs = analysis_specs(["analysis.trade_flow.imbalance", "analysis.book.imbalance"])
    bars = with_features(bars, specs, store_sources(TickStore(root), "binance", "spot",
                                                    bars.symbols, specs))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from grekko_research.analysis.book import rebuild_book, spoofing_candidates
from grekko_research.analysis.captures import Trades
from grekko_research.analysis.features import (
    FEATURES,
    Sources,
    SourceTable,
    book_sources,
    trade_sources,
    with_features,
)
from grekko_research.analysis.tickdata import capture_from_store
from grekko_research.data.bars import Bars
from grekko_research.data.ticks import TickKey, TickStore
from grekko_research.errors import ConfigError, DataNotFoundError

__all__ = [
    "ANALYSIS_PREFIX",
    "analysis_names",
    "analysis_specs",
    "store_sources",
    "with_analysis",
]

ANALYSIS_PREFIX = "analysis."
# The tick series each feature reads (the others read bars only); the book's spoofing
# candidates are filtered with the trades when they are stored.
_NEEDS = {"book": ("depth",), "trade_flow": ("trades",)}
_FROM_STORE = ("sandwiches",)  # read DEX pool logs, not the tick store: not a window extra


def analysis_names(requires: Iterable[str]) -> list[str]:
    """The ``analysis.*`` names among a strategy's ``requires``."""
    return [n for n in requires if n.startswith(ANALYSIS_PREFIX)]


def analysis_specs(requires: Iterable[str]) -> dict[str, tuple[str, Any]]:
    """``{name: (feature, params)}`` for the ``analysis.*`` names in ``requires``; raises
    ConfigError naming a name that is not a registered feature (or field)."""
    out: dict[str, tuple[str, Any]] = {}
    for name in analysis_names(requires):
        feature, _, field = name[len(ANALYSIS_PREFIX) :].partition(".")
        if feature not in FEATURES or feature in _FROM_STORE:
            have = sorted(f for f in FEATURES if f not in _FROM_STORE)
            raise ConfigError(f"requires {name!r}: no analysis feature {feature!r}; have {have}")
        Params = FEATURES[feature].Params
        fields = {f.name: f for f in dataclasses.fields(Params)}
        if not field:
            out[name] = (feature, Params())
            continue
        choices = fields["field"].metadata.get("choices", ()) if "field" in fields else ()
        if field not in choices:
            raise ConfigError(
                f"requires {name!r}: {feature} has "
                + (f"fields {list(choices)}" if choices else "no field: name it without one")
            )
        out[name] = (feature, Params(field=field))
    return out


def _kinds(specs: Mapping[str, tuple[str, Any]]) -> set[str]:
    return {k for feature, _ in specs.values() for k in _NEEDS.get(feature, ())}


def store_sources(
    store: TickStore,
    exchange: str,
    market: str,
    symbols: Sequence[str],
    specs: Mapping[str, tuple[str, Any]],
) -> Sources:
    """The tables ``specs`` read, for each symbol, from the store's ``trades``/``depth`` series
    of ``exchange``/``market`` (empty Sources when they read bars only).

    The book is rebuilt from the stored snapshots and diffs (:func:`~.book.rebuild_book`, at the
    tick recorded with the series when there is one), its spoofing candidates filtered with the
    stored trades. Raises DataNotFoundError naming the series a feature needs and the store lacks.
    """
    kinds = _kinds(specs)
    tables: dict[str, SourceTable] = {}
    for sym in symbols:
        if "depth" in kinds:
            try:
                cap = capture_from_store(store, exchange, sym, market)
            except DataNotFoundError as exc:
                raise DataNotFoundError(f"{exc} (for {sorted(specs)})") from None
            tick = store.metadata(TickKey.make("depth", exchange, sym, market)).get("tick_size")
            rep = rebuild_book(cap, tick_size=float(tick) if tick else None)
            spoofs = spoofing_candidates(rep, cap.trades)
            tables.update(book_sources({sym: rep}, {sym: spoofs}).tables)
        if "trades" in kinds:
            key = TickKey.make("trades", exchange, sym, market)
            try:
                t = store.read(key)
            except DataNotFoundError as exc:
                raise DataNotFoundError(f"{exc} (for {sorted(specs)})") from None
            trades = Trades(
                local_ts=t["local_ts"].to_numpy(np.int64),
                trade_ts=t["timestamp"].to_numpy(np.int64),
                price=t["price"].to_numpy(np.float64),
                qty=t["qty"].to_numpy(np.float64),
                buyer_maker=t["buyer_maker"].to_numpy(np.bool_),
            )
            tables.update(trade_sources({sym: trades}).tables)
    return Sources(tables)


def with_analysis(
    bars: Bars, requires: Iterable[str], store: TickStore, exchange: str, market: str
) -> Bars:
    """``bars`` with the ``analysis.*`` features of ``requires`` as extras, on the store's ticks."""
    specs = analysis_specs(requires)
    if not specs:
        return bars
    return with_features(bars, specs, store_sources(store, exchange, market, bars.symbols, specs))
