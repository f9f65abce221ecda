"""The router's slippage from calibrated cost models: the model's formula with the pair's bar
features, the fallback for pairs without them."""

from __future__ import annotations

import pytest

from grekko_research.engine.costs import CostModel
from live.routing._calibrated import CalibratedSlippage
from live.routing._decide import BookWalkSlippage, SlippageEstimate


def test_calibrated_slippage_prices_by_size_and_falls_back() -> None:
    model = CostModel("BTC/USDT", venue="binance", a=1.0, b=30.0, c=0.1)
    est = CalibratedSlippage(
        {("binance", "BTC/USDT"): model},
        {("binance", "BTC/USDT"): (400.0, 20.0)},
        BookWalkSlippage(fixed_bps={"kraken": 4.0, "binance": 9.0}),
    )
    assert isinstance(est, SlippageEstimate)
    got = est.expected_slippage_bps("binance", "BTC/USDT", "buy", 4.0, 30_000.0)
    assert got == pytest.approx(1.0 + 30.0 * (4.0 / 400.0) ** 0.5 + 0.1 * 20.0)
    bigger = est.expected_slippage_bps("binance", "BTC/USDT", "sell", 16.0, 30_000.0)
    assert bigger > got  # a larger share of the volume costs more
    assert est.expected_slippage_bps("kraken", "BTC/USDT", "buy", 4.0, 30_000.0) == 4.0
    assert est.expected_slippage_bps("binance", "ETH/USDT", "buy", 4.0, 2_000.0) == 9.0
