"""``analysis.*`` extras: the names a strategy requires, and the tables a backtest reads from the
tick store (``runs.load_run_bars``) — equal to the research tables built from the capture files,
so a backtest on stored ticks reads what the features' own tests check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grekko_research.analysis.book import BookReplay, spoofing_candidates
from grekko_research.analysis.captures import OrderBookCapture
from grekko_research.analysis.extras import analysis_specs, store_sources, with_analysis
from grekko_research.analysis.features import (
    BookFeatureParams,
    Sources,
    TradeFlowParams,
    VolRegimeParams,
    book_sources,
    trade_sources,
    with_features,
)
from grekko_research.analysis.tickdata import import_capture_files
from grekko_research.data.ticks import TickStore
from grekko_research.errors import ConfigError, DataNotFoundError
from tests.unit.analysis.conftest import BTC_SPOT
from tests.unit.analysis.test_features import trade_bars
from tests.unit.analysis.test_tickdata import files

NAMES = [
    "analysis.trade_flow.imbalance",
    "analysis.trade_flow.interval_cv",
    "analysis.book.imbalance",
    "analysis.book.ofi",
    "analysis.book.spoofs",
    "analysis.vol_regime",
]


def test_names_become_features_and_params() -> None:
    specs = analysis_specs(["funding_rate", *NAMES])
    assert specs["analysis.trade_flow.imbalance"] == ("trade_flow", TradeFlowParams("imbalance"))
    assert specs["analysis.book.ofi"] == ("book", BookFeatureParams("ofi"))
    assert specs["analysis.vol_regime"] == ("vol_regime", VolRegimeParams())
    assert "funding_rate" not in specs
    with pytest.raises(ConfigError, match="no analysis feature 'bok'"):
        analysis_specs(["analysis.bok.imbalance"])
    with pytest.raises(ConfigError, match=r"book has fields \['imbalance'"):
        analysis_specs(["analysis.book.depth"])
    with pytest.raises(ConfigError, match="vol_regime has no field"):
        analysis_specs(["analysis.vol_regime.fast"])
    with pytest.raises(ConfigError, match="no analysis feature 'sandwiches'"):
        analysis_specs(["analysis.sandwiches.count"])  # pool logs, not the tick store


def test_stored_ticks_give_the_research_features(
    shared: Path,
    tmp_path: Path,
    captures: dict[str, OrderBookCapture],
    replays: dict[str, BookReplay],
) -> None:
    store = TickStore(tmp_path)
    import_capture_files(files(shared, BTC_SPOT), store)
    cap, rep = captures[BTC_SPOT], replays[BTC_SPOT]
    bars = trade_bars(cap)
    specs = analysis_specs(NAMES)
    research = book_sources({"BTC/USDT": rep}, {"BTC/USDT": spoofing_candidates(rep, cap.trades)})
    research = Sources({**research.tables, **trade_sources({"BTC/USDT": cap.trades}).tables})
    expected = with_features(bars, specs, research)
    got = with_analysis(bars, NAMES, store, "binance", "spot")
    for name in NAMES:
        np.testing.assert_array_equal(got.extras[name], expected.extras[name], err_msg=name)
    assert np.isfinite(got.extras["analysis.trade_flow.imbalance"][1:]).all()
    assert np.isfinite(got.extras["analysis.book.imbalance"][1:]).all()
    # only what the features read is loaded
    assert set(
        store_sources(store, "binance", "spot", ["BTC/USDT"], analysis_specs(NAMES[:1])).tables
    ) == {"trades:BTC/USDT"}
    with pytest.raises(DataNotFoundError, match="ETH/USDT depth"):
        store_sources(store, "binance", "spot", ["ETH/USDT"], specs)
