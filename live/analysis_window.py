"""The analysis features in the runner's window: the market feed's tables while trading, the
tick store's on a replay.

A strategy that requires ``analysis.*`` extras (``analysis.trade_flow.imbalance``,
``analysis.book.imbalance`` …, see :mod:`grekko_research.analysis.extras`) gets them on every
window as ``Bars.extras``, computed by the very feature code the backtest runs:

* trading (``grekko-live run``, a ccxt venue): :func:`feeding` starts a
  :class:`~live.market_feed.MarketAnalysisFeed` on the venue's client before the runner and
  attaches it to the run's :class:`AnalysisWindow`; each window's features come from the feed's
  tables; at the end the feed's recording is merged into ``<state dir>/ticks`` (a tick store:
  ``grekko_research.runs.load_run_bars(cfg, strategy, ticks=TickStore(that))`` backtests on
  exactly what the run read);
* replaying stored history: the features come from the data store's ``trades``/``depth``
  series, as ``grekko backtest`` reads them.

A window asked for before either is chosen raises: a run never trades on features it lacks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grekko_research.data.ticks import TickStore
from grekko_research.errors import ConfigError

if TYPE_CHECKING:  # the analysis modules load with the first run that needs them
    from grekko_research.analysis.features import Sources
    from grekko_research.data.bars import Bars
    from live.app import LivePlan
    from live.market_feed import MarketAnalysisFeed
    from live.venues.base import Venue

__all__ = ["RECORDING_DIR", "AnalysisWindow", "analysis_window", "feeding"]

log = logging.getLogger("live.analysis_window")

RECORDING_DIR = "ticks"
"""The run's recording of the feed, a tick store under its state folder."""


class AnalysisWindow:
    """The runner's window hook (``RunnerSpec.extras``) adding ``specs`` to each window.

    Parameters
    ----------
    specs
        ``{extra name: (feature, params)}`` (:func:`~grekko_research.analysis.extras.analysis_specs`).
    stored
        Builds the store's tables for a replay (called once, when the replay starts).
    inner
        Another window hook applied first (the alternative-data features).
    """

    def __init__(
        self,
        specs: dict[str, tuple[str, Any]],
        stored: Callable[[], Sources],
        inner: Callable[[Bars], Bars] | None = None,
    ) -> None:
        self.specs = specs
        self.inner = inner
        self._stored = stored
        self.feed: MarketAnalysisFeed | None = None
        self.sources: Sources | None = None

    def attach(self, feed: MarketAnalysisFeed) -> None:
        """Read the live feed's tables (trading)."""
        self.feed, self.sources = feed, None

    def use_store(self) -> None:
        """Read the store's tables (a replay of stored history)."""
        self.feed, self.sources = None, self._stored()

    def __call__(self, bars: Bars) -> Bars:
        if self.inner is not None:
            bars = self.inner(bars)
        if self.feed is not None:
            return self.feed.extras(bars, self.specs)
        if self.sources is None:
            raise ConfigError(
                f"analysis features {sorted(self.specs)}: no market feed attached and no stored "
                "ticks chosen (run through live.app.run_plan)"
            )
        from grekko_research.analysis.features import with_features

        return with_features(bars, self.specs, self.sources)


def analysis_window(
    requires: Sequence[str],
    symbols: Sequence[str],
    store_root: str,
    exchange: str,
    market: str,
    inner: Callable[[Bars], Bars] | None = None,
) -> Callable[[Bars], Bars] | None:
    """The window hook for strategies that ``require`` analysis features (``inner`` alone, or
    None, when they require none)."""
    from grekko_research.analysis.extras import analysis_specs, store_sources

    specs = analysis_specs(requires)
    if not specs:
        return inner
    syms = tuple(symbols)
    return AnalysisWindow(
        specs,
        lambda: store_sources(TickStore(store_root), exchange, market, syms, specs),
        inner,
    )


@contextlib.asynccontextmanager
async def feeding(plan: LivePlan, venue: Venue) -> AsyncIterator[MarketAnalysisFeed | None]:
    """Around a run: give its :class:`AnalysisWindow` (if any) its tables — the store's on a
    replay, else a market feed on the venue's ccxt client, stopped and its recording merged
    into ``<state dir>/ticks`` at the end. Yields the feed (None without one)."""
    window = plan.spec.extras
    if not isinstance(window, AnalysisWindow):
        yield None
        return
    if plan.feed == "replay":
        window.use_store()
        yield None
        return
    from live.market_feed import MarketAnalysisFeed
    from live.venues.ccxt_venue import CcxtVenue

    if not isinstance(venue, CcxtVenue):
        raise ConfigError(
            f"analysis features {sorted(window.specs)} read the venue's order-book and trade "
            f"streams: {venue.name} is not a ccxt venue (paper on a public feed is not supported)"
        )
    await venue.start()
    # stamped by the venue's event times: the clock its bars close on
    feed = MarketAnalysisFeed(venue.client, plan.spec.symbols, stamp="event", record=True)
    await feed.start()
    window.attach(feed)
    try:
        yield feed
    finally:
        await feed.stop()
        # under the data's exchange and market, where load_run_bars of this config looks
        store = TickStore(Path(plan.state_dir) / RECORDING_DIR)
        d = plan.cfg.data
        added = feed.write_recording(store, d.exchange, d.market)
        log.info("market feed recording: %s", added)
