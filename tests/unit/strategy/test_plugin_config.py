"""Plugin strategies in the configuration: selectable without YAML, never with another's params.

Also: user conf folders (GREKKO_CONF_DIR) and overrides that do not parse.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from grekko_research.config import compose_config, config_id
from grekko_research.data.bars import Bars
from grekko_research.engine import Signals
from grekko_research.errors import ConfigError
from grekko_research.indicators import sma
from grekko_research.strategy import Strategy, param, register_strategy
from grekko_research.strategy.crossings import crossed_above, crossed_below


@dataclass(frozen=True)
class TwinParams:
    # the same parameter names as sma_cross, other defaults: a silent mix-up would pass
    fast: int = param(7, low=2, high=50)
    slow: int = param(31, low=5, high=200)


@register_strategy
class PluggedTwin(Strategy):
    name = "plugged_twin"
    Params = TwinParams
    summary = "a plugin without a YAML file in conf/"

    def warmup(self, params: TwinParams) -> int:
        return params.slow

    def signals(self, bars: Bars, params: TwinParams) -> Signals:
        fast, slow = sma(bars.close, params.fast), sma(bars.close, params.slow)
        return Signals(crossed_above(fast, slow), crossed_below(fast, slow))


def test_plugin_without_yaml_is_selected_with_its_declared_defaults() -> None:
    cfg = compose_config(["strategy=plugged_twin"])
    assert cfg.strategy.name == "plugged_twin"
    assert dict(cfg.strategy.params) == {"fast": 7, "slow": 31}
    tuned = compose_config(["strategy=plugged_twin", "strategy.params.fast=9"])
    assert dict(tuned.strategy.params) == {"fast": 9, "slow": 31}
    assert config_id(tuned) != config_id(cfg)
    with pytest.raises(ConfigError, match=r"TwinParams\.fast"):
        compose_config(["strategy=plugged_twin", "strategy.params.fast=99"])
    with pytest.raises(ConfigError, match="unknown parameter"):
        compose_config(["strategy=plugged_twin", "+strategy.params.period=3"])


def test_an_unknown_strategy_suggests_names_instead_of_a_hydra_path() -> None:
    with pytest.raises(ConfigError) as err:
        compose_config(["strategy=plugged_twn"])
    assert "no strategy named 'plugged_twn'; did you mean plugged_twin" in str(err.value)
    assert "strategy/plugged_twn" not in str(err.value)


def test_a_strategy_yaml_still_wins_over_declared_defaults() -> None:
    cfg = compose_config(["strategy=rsi_mean_reversion"])
    assert cfg.strategy.params["upper"] == 55  # conf/strategy/rsi_mean_reversion.yaml


def test_strategy_name_override_never_keeps_another_strategys_params() -> None:
    # Before: this ran plugged_twin with sma_cross's fast=10, slow=50 and said nothing.
    with pytest.raises(ConfigError) as err:
        compose_config(["strategy.name=plugged_twin"])
    message = str(err.value)
    assert "strategy=plugged_twin" in message and "sma_cross" in message
    # naming the strategy the group already selected is harmless
    same = compose_config(["strategy=plugged_twin", "strategy.name=plugged_twin"])
    assert dict(same.strategy.params) == {"fast": 7, "slow": 31}


@pytest.mark.parametrize(
    "override",
    ["strategy.params.fast=[1,", "data.symbol={a:", "data.symbol='ETH", "engine.taker_fee=0.1)"],
)
def test_an_override_that_does_not_parse_is_named(override: str) -> None:
    with pytest.raises(ConfigError) as err:
        compose_config(["data.symbol=ETH/USDT", override])
    message = str(err.value)
    assert f"override {override!r} does not parse" in message
    assert "Traceback" not in message and "hydra.cc" not in message


def test_user_conf_folder_adds_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = tmp_path / "my_conf"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "my_eth.yaml").write_text("symbol: ETH/USDT\ntimeframe: 4h\n")
    (mine / "strategy").mkdir()
    (mine / "strategy" / "plugged_twin.yaml").write_text("name: plugged_twin\nparams:\n  fast: 5\n")
    monkeypatch.setenv("GREKKO_CONF_DIR", str(mine))
    cfg = compose_config(["data=my_eth", "strategy=plugged_twin"])
    assert (cfg.data.symbol, cfg.data.timeframe) == ("ETH/USDT", "4h")
    assert cfg.strategy.params["fast"] == 5  # the user's YAML, over the declared default
    assert compose_config().data.symbol == "BTC/USDT"  # the framework's options remain


def test_user_conf_folder_cannot_silently_shadow_a_framework_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = tmp_path / "my_conf"
    (mine / "strategy").mkdir(parents=True)
    (mine / "strategy" / "sma_cross.yaml").write_text("name: sma_cross\nparams:\n  fast: 3\n")
    monkeypatch.setenv("GREKKO_CONF_DIR", str(mine))
    with pytest.raises(ConfigError, match=r"would be ignored.*my_sma_cross"):
        compose_config()
    monkeypatch.setenv("GREKKO_CONF_DIR", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="not a folder"):
        compose_config()
