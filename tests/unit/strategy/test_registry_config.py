"""Strategy lookup, and the Hydra configuration: composition, errors, config_id."""

from __future__ import annotations

import pytest

from grekko_research.config import compose_config, config_id, engine_config
from grekko_research.errors import ConfigError
from grekko_research.strategy import get_strategy, register_strategy
from tests.conformance.test_strategies import Honest


def test_unknown_strategy_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match="no strategy named 'sma_crosss'; did you mean sma_cross"):
        get_strategy("sma_crosss")


def test_in_process_registration() -> None:
    register_strategy(Honest)
    assert isinstance(get_strategy("honest"), Honest)
    with pytest.raises(ConfigError, match="not a Strategy subclass"):
        register_strategy(int)  # type: ignore[arg-type]


def test_default_config_composes_to_frozen_typed_objects() -> None:
    cfg = compose_config()
    assert cfg.strategy.name == "sma_cross"
    assert cfg.data.symbol == "BTC/USDT" and cfg.data.timeframe == "1h"
    with pytest.raises(AttributeError):
        cfg.data.symbol = "ETH/USDT"  # type: ignore[misc]
    engine = engine_config(cfg)
    assert engine.fees.taker == cfg.engine.taker_fee == 0.001


def test_overrides_and_groups() -> None:
    cfg = compose_config(
        ["strategy=rsi_mean_reversion", "strategy.params.period=21", "data.symbol=ETH/USDT"]
    )
    assert cfg.strategy.params["period"] == 21
    assert cfg.data.symbol == "ETH/USDT"
    carry = compose_config(["strategy=funding_carry"])
    assert carry.data.market == "usdm" and carry.data.funding and carry.engine.allow_short
    momentum = compose_config(["strategy=xs_momentum"])
    assert len(momentum.data.symbols) == 5


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        (["data.symbl=ETH/USDT"], "symbl"),
        (["engine.init_cash=lots"], "init_cash"),
        (["strategy=nonexistent"], "nonexistent"),
        (["strategy.params.perod=3"], "perod"),
        (["strategy.params.fast=80", "strategy.params.slow=60"], "fast (80) must be below slow"),
        (["+exchange.api_key=abc"], "secret"),
    ],
)
def test_bad_configuration_names_the_key(overrides: list[str], words: str) -> None:
    with pytest.raises(ConfigError) as err:
        compose_config(overrides)
    assert words in str(err.value)


def test_config_id_is_stable_and_sensitive() -> None:
    a = config_id(compose_config(["strategy=rsi_mean_reversion"]))
    assert a == config_id(compose_config(["strategy=rsi_mean_reversion"]))
    # stating a default explicitly is the same configuration
    assert a == config_id(
        compose_config(["strategy=rsi_mean_reversion", "strategy.params.period=14"])
    )
    assert a != config_id(
        compose_config(["strategy=rsi_mean_reversion", "strategy.params.period=15"])
    )
    assert a != config_id(compose_config(["strategy=rsi_mean_reversion", "engine.taker_fee=0.002"]))
    assert a == config_id(
        compose_config(["strategy=rsi_mean_reversion", "experiment.output_dir=elsewhere"])
    )
    assert len(a) == 12 and int(a, 16) >= 0
