"""grekko-live's options become Hydra overrides: which key each option sets, in which order
(Hydra applies the last value of a key, so the user's own overrides come last and win)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.errors import ConfigError
from live.cli._resolve import to_overrides


def test_no_options_pass_the_overrides_through() -> None:
    assert to_overrides(None) == []
    assert to_overrides(["risk=conservative"]) == ["risk=conservative"]


def test_every_option_maps_to_its_key_in_a_fixed_order() -> None:
    got = to_overrides(
        ["live.fee=0.001"],
        strategy="sma_cross",
        params=["fast=5", "slow=20"],
        venue="binance",
        symbols=" BTC/USDT, ETH/USDT ,",
        timeframe="4h",
        mode="live",
        venue_url="http://127.0.0.1:8765",
        state_dir=Path("/tmp/state"),
        max_bars=0,
        run_id="r1",
        portfolio="two",
    )
    assert got == [
        "portfolio=two",
        "live=binance",
        "strategy=sma_cross",
        "strategy.params.fast=5",
        "strategy.params.slow=20",
        "live.symbols=[BTC/USDT,ETH/USDT]",
        "data.symbols=[BTC/USDT,ETH/USDT]",
        "live.timeframe=4h",
        "data.timeframe=4h",
        "live.mode=live",
        "live.venue_url=http://127.0.0.1:8765",
        "live.state_dir=/tmp/state",
        "live.max_bars=0",  # zero is a value, not "unset"
        "live.run_id=r1",
        "live.fee=0.001",
    ]


@pytest.mark.parametrize("venue", ["paper", "binance", "binanceusdm", "coinbase"])
def test_a_configured_venue_selects_its_live_group(venue: str) -> None:
    assert to_overrides(None, venue=venue) == [f"live={venue}"]


def test_any_other_venue_is_a_ccxt_id_for_both_orders_and_bars() -> None:
    assert to_overrides(None, venue="kraken") == ["live.venue=kraken", "live.feed=kraken"]


def test_an_mlflow_model_uri_is_a_model_strategy() -> None:
    assert to_overrides(None, strategy="models:/sma/3") == ["live.model=models:/sma/3"]


def test_a_param_without_a_value_names_itself() -> None:
    with pytest.raises(ConfigError, match=r"--params takes NAME=VALUE, got 'fast'"):
        to_overrides(None, params=["slow=20", "fast"])
