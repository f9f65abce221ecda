"""Typed, reproducible configuration: Hydra composes ``conf/`` into frozen objects."""

from grekko_research.config.compose import (
    compose_config,
    config_dir,
    config_id,
    engine_config,
    to_container,
)
from grekko_research.config.schema import (
    DataConfig,
    EngineSection,
    ExchangeConfig,
    ExperimentConfig,
    GrekkoConfig,
    LiveRiskSection,
    OptimizeConfig,
    PromoteConfig,
    RiskSection,
    StrategyConfig,
    TokenConfig,
    TokensConfig,
)

__all__ = [
    "DataConfig",
    "EngineSection",
    "ExchangeConfig",
    "ExperimentConfig",
    "GrekkoConfig",
    "LiveRiskSection",
    "OptimizeConfig",
    "PromoteConfig",
    "RiskSection",
    "StrategyConfig",
    "TokenConfig",
    "TokensConfig",
    "compose_config",
    "config_dir",
    "config_id",
    "engine_config",
    "to_container",
]
