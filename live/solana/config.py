"""The sniper's typed configuration: ``conf/solana/*.yaml`` into frozen dataclasses.

Every key is checked: an unknown key or a bad value is a :class:`ConfigError` naming
``solana.<section>.<key>`` and the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError
from grekko_research.risk.spec import (
    DailyLossBreaker,
    DrawdownBreaker,
    MarketRisk,
    OpsRisk,
    OrderRisk,
    PortfolioRisk,
    PriceMoveBreaker,
    RiskSpec,
    VarBreaker,
    VolatilityBreaker,
)
from live.solana.buyer import BuyerConfig
from live.solana.safety import SafetyConfig

__all__ = ["DEFAULT_CONF", "SniperConfig", "load_config"]

DEFAULT_CONF = Path(__file__).resolve().parents[2] / "conf" / "solana" / "default.yaml"


@dataclass(frozen=True)
class SniperConfig:
    buyer: BuyerConfig = field(default_factory=BuyerConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    risk: RiskSpec = field(default_factory=RiskSpec)
    monitor_mode: str = "logs"
    paper_balance_sol: float = 1.0


def _build(cls: Any, values: Any, where: str) -> Any:
    if values is None:
        return cls()
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {type(values).__name__}")
    known = {f.name for f in fields(cls)}
    for key in values:
        if key not in known:
            raise ConfigError(f"{where}.{key} is not a setting (known: {', '.join(sorted(known))})")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from e


_NESTED: dict[str, tuple[Any, dict[str, Any]]] = {
    "portfolio": (
        PortfolioRisk,
        {"drawdown": DrawdownBreaker, "daily_loss": DailyLossBreaker, "var": VarBreaker},
    ),
    "market": (MarketRisk, {"volatility": VolatilityBreaker, "price_move": PriceMoveBreaker}),
}


def _risk(tree: Any) -> RiskSpec:
    if tree is None:
        return RiskSpec()
    if not isinstance(tree, Mapping):
        raise ConfigError("solana.risk must be a mapping")
    parts: dict[str, Any] = {}
    for key, value in tree.items():
        if key == "order":
            parts[key] = _build(OrderRisk, value, "solana.risk.order")
        elif key == "ops":
            parts[key] = _build(OpsRisk, value, "solana.risk.ops")
        elif key in _NESTED:
            cls, subs = _NESTED[key]
            value = dict(value or {})
            for sub, sub_cls in subs.items():
                if sub in value:
                    value[sub] = _build(sub_cls, value[sub], f"solana.risk.{key}.{sub}")
            parts[key] = _build(cls, value, f"solana.risk.{key}")
        else:
            raise ConfigError(f"solana.risk.{key} is not a section (order, portfolio, market, ops)")
    return RiskSpec(**parts)


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> SniperConfig:
    """Read ``path`` (default ``conf/solana/default.yaml``); ``overrides`` maps
    ``section.key`` to a value (the CLI's options)."""
    import yaml  # type: ignore[import-untyped]

    file = Path(path) if path is not None else DEFAULT_CONF
    try:
        tree = yaml.safe_load(file.read_text()) or {}
    except OSError as e:
        raise ConfigError(f"cannot read the sniper config {file}: {e}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"{file} is not valid YAML: {e}") from e
    if not isinstance(tree, dict):
        raise ConfigError(f"{file}: the top level must be a mapping")
    for dotted, value in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        if key:
            tree.setdefault(section, {})[key] = value
        else:
            tree[section] = value
    known = {"buyer", "safety", "risk", "monitor", "paper_balance_sol"}
    for key in tree:
        if key not in known:
            raise ConfigError(
                f"{file}: solana.{key} is not a section (known: {', '.join(sorted(known))})"
            )
    if isinstance(tree.get("buyer"), Mapping) and "daily_budget_sol" in tree["buyer"]:
        raise ConfigError(
            f"{file}: solana.buyer.daily_budget_sol is now the risk spec's rule: set "
            "solana.risk.order.max_notional_per_day (SOL per UTC day) instead"
        )
    monitor = tree.get("monitor") or {}
    mode = monitor.get("mode", "logs")
    if mode not in ("logs", "blocks") or set(monitor) - {"mode"}:
        raise ConfigError(f"{file}: solana.monitor takes only mode: logs | blocks")
    balance = tree.get("paper_balance_sol", 1.0)
    if not isinstance(balance, int | float) or balance <= 0:
        raise ConfigError(f"{file}: solana.paper_balance_sol must be a positive number")
    conf = SniperConfig(
        buyer=_build(BuyerConfig, tree.get("buyer"), "solana.buyer"),
        safety=_build(SafetyConfig, tree.get("safety"), "solana.safety"),
        risk=_risk(tree.get("risk")),
        monitor_mode=mode,
        paper_balance_sol=float(balance),
    )
    if conf.buyer.mode == "live" and conf.risk.order.max_notional_per_day is None:
        raise ConfigError(
            f"{file}: a live sniper needs a daily SOL budget: set "
            "solana.risk.order.max_notional_per_day"
        )
    return conf
