"""Compose ``conf/`` with Hydra, validate it against the schema, freeze it, hash it.

``compose_config(["strategy=rsi_mean_reversion", "strategy.params.period=21"])``
returns a frozen :class:`~grekko_research.config.schema.GrekkoConfig`.
Errors — an unknown key, a value of the wrong type, an unknown config group
option, a parameter the strategy does not declare — are ConfigErrors that
name the key. :func:`config_id` is a stable hash of the resolved
configuration: equal configs give equal ids on any machine, and any change
of a value changes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from grekko_research.config._guard import check_config_tree, check_overrides, describe_error
from grekko_research.config._search import (
    conf_folders,
    register_strategy_options,
    searchpath_override,
    split_name_overrides,
)
from grekko_research.config.schema import GrekkoConfig
from grekko_research.engine import EngineConfig, Fees, Sizing, Slippage
from grekko_research.errors import ConfigError
from grekko_research.paths import register_resolvers

__all__ = ["compose_config", "config_dir", "config_id", "engine_config", "to_container"]

_SCHEMA_NAME = "grekko_schema"


def config_dir() -> Path:
    """Return the primary ``conf/`` folder: ``GREKKO_CONF_DIR``, else ``./conf``, else the checkout's.

    ``GREKKO_CONF_DIR`` may also name folders that only add options (no ``config.yaml``
    of their own); see :func:`grekko_research.config._search.conf_folders`.
    """
    return conf_folders()[0]


def _register_schema() -> None:
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    # The schema classes are frozen (what the library receives); Hydra must still merge
    # the YAML files and overrides into the node, so the stored node itself is writable.
    node = OmegaConf.structured(GrekkoConfig)
    _writable(node)
    ConfigStore.instance().store(name=_SCHEMA_NAME, node=node)


def _writable(node: Any) -> None:
    from omegaconf import DictConfig, OmegaConf

    OmegaConf.set_readonly(node, False)
    if isinstance(node, DictConfig):
        for key in node:
            child = node._get_node(key)
            if isinstance(child, DictConfig):
                _writable(child)
            elif child is not None:
                OmegaConf.set_readonly(child, False)


def compose_config(overrides: Sequence[str] = (), *, conf: Path | None = None) -> GrekkoConfig:
    """Compose ``conf/config.yaml`` with ``overrides`` into a frozen, validated config."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    check_overrides(overrides)  # a credential-like key: refused before Hydra repeats its value
    _register_schema()
    register_resolvers()  # ${grekko_path:runs} in conf/: the runs folder from any cwd
    folder, extra = conf_folders(conf)
    # strategy.name=X would run X with the selected option's parameters: checked below
    names, rest = split_name_overrides(list(overrides))  # a syntax error names its override
    rest = [_fixed_override(o) for o in rest]
    register_strategy_options(rest, [folder, *extra])
    if any(o.split("=", 1)[0].lstrip("+~") == "hydra.searchpath" for o in rest):
        extra = []  # the user's own search path replaces GREKKO_CONF_DIR's extra folders
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(folder), version_base=None):
            node = compose(config_name="config", overrides=[*rest, *searchpath_override(extra)])
        # Every mapping typed, no credential-like key or password URL (see config._guard).
        check_config_tree(OmegaConf.to_container(node, resolve=True))
        obj = OmegaConf.to_object(node)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        where = f" (key {key!r})" if key else ""
        message = describe_error(exc, overrides)
        raise ConfigError(f"bad configuration{where}: {message}") from None
    except Exception as exc:  # hydra's own errors: unknown group option, override syntax
        if type(exc).__module__.startswith(("hydra", "omegaconf", "dataclasses")):
            message = describe_error(exc, overrides)
            raise ConfigError(f"bad configuration: {message}") from None
        raise
    if not isinstance(obj, GrekkoConfig):
        raise ConfigError(f"conf/config.yaml must compose to the Grekko schema, got {type(obj)}")
    for name in names:
        if name != obj.strategy.name:
            raise ConfigError(
                f"strategy.name={name} would run {name} with the parameters of "
                f"{obj.strategy.name}; select a strategy with strategy={name} (it starts from "
                f"its own defaults), then set strategy.params.<name>=<value>"
            )
    _check_strategy_params(obj)
    return obj


def _fixed_override(override: str) -> str:
    """``optimize.fixed.<name>=v`` adds (or replaces) a key of the empty-by-default mapping."""
    if override.startswith("optimize.fixed.") and "=" in override:
        return "++" + override  # Hydra refuses new keys of a typed mapping without the ++
    return override


def _check_strategy_params(cfg: GrekkoConfig) -> None:
    from grekko_research.strategy import get_strategy

    strategy = get_strategy(cfg.strategy.name)
    try:
        strategy.params(dict(cfg.strategy.params))
    except ConfigError as exc:
        raise ConfigError(f"strategy.params: {exc}") from None


def to_container(cfg: GrekkoConfig) -> dict[str, Any]:
    """Return the config as plain dicts and lists (JSON/YAML-ready)."""
    tree: dict[str, Any] = json.loads(json.dumps(asdict(cfg), sort_keys=True, default=str))
    tree["risk"]["live"] = cfg.risk.live.given()  # the deprecated block: only the keys given
    return tree


# DataConfig's keys that describe a DEX pool (unused by a candle run).
_POOL_KEYS = ("pool", "base", "decimals0", "decimals1", "fee_pips", "amm")


def config_id(cfg: GrekkoConfig) -> str:
    """Return a stable 12-hex-digit hash of the resolved config (strategy params with defaults).

    The strategy's parameters enter with their defaults filled in, so
    ``strategy.params.period=14`` and leaving the default 14 give the same
    id. Where results are written (``experiment.output_dir``), the tags and
    the sweep settings (``optimize``) do not enter: they do not change what
    a backtest computes; neither do the live settings (``live``, ``risk.live``,
    ``portfolio``).
    """
    from grekko_research.strategy import get_strategy, params_to_mapping

    tree = to_container(cfg)
    strategy = get_strategy(cfg.strategy.name)
    tree["strategy"]["params"] = params_to_mapping(strategy.params(dict(cfg.strategy.params)))
    tree["experiment"].pop("output_dir", None)
    tree["experiment"].pop("tags", None)
    tree["experiment"].pop("track", None)
    tree.pop("optimize", None)  # how parameters are searched is not what a run computes
    tree.pop("promote", None)
    tree.pop("live", None)  # how a run is traded live is not what its backtest computes
    # The whole risk spec (the backtest evaluates it as live does), under the keys hashed
    # before the spec existed plus every other key set away from its default.
    tree["risk"] = cfg.risk.spec.engine_identity()
    tree.pop("portfolio", None)  # nor which strategies share the live account
    if tree.get("execution", {}).get("algo") == "none":
        tree.pop("execution", None)  # orders at once: every run keeps the id it had before
    if tree.get("costs", {}).get("model") == "none":
        tree.pop("costs", None)  # the bar model's costs: every run keeps the id it had before
    if tree["data"].get("pool") is None:
        # A candle run: the DEX pool keys (docs/dex.md) do not enter, so every candle run
        # keeps the id it had before pools existed (the pinned baselines name them).
        for key in _POOL_KEYS:
            tree["data"].pop(key, None)
        # nor the DEX swap bounds (risk.dex): a candle backtest has no swap to bound
        tree["risk"] = {k: v for k, v in tree["risk"].items() if not k.startswith("dex.")}
    else:
        # The price-impact limit where it was hashed before risk.dex (a pool run keeps its id)
        tree["data"]["amm"]["max_price_impact"] = cfg.risk.spec.dex.max_price_impact
        tree["risk"].pop("dex.max_price_impact", None)
    canonical = json.dumps(tree, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def engine_config(cfg: GrekkoConfig) -> EngineConfig:
    """Build the engine configuration (before the strategy's own adjustments)."""
    e, r = cfg.engine, cfg.risk
    return EngineConfig(
        init_cash=e.init_cash,
        execution=e.execution,  # type: ignore[arg-type]
        fees=Fees(taker=e.taker_fee, maker=e.maker_fee, fixed=e.fixed_fee),
        slippage=Slippage(e.slippage, e.slippage_value),  # type: ignore[arg-type]
        sizing=Sizing(e.sizing, e.sizing_value),  # type: ignore[arg-type]
        allow_short=e.allow_short,
        leverage=e.leverage,
        risk=r.spec,  # one source: the run's RiskSpec
        costs=cost_models(cfg),
    )


def cost_models(cfg: GrekkoConfig) -> tuple[Any, ...]:
    """The calibrated cost models ``cfg.costs`` points at, for the run's symbols (read from
    MLflow; none for ``costs=none``). A fit with no model for any of the symbols is refused."""
    c = cfg.costs
    if c.model == "none":
        return ()
    from grekko_research.tracking._costs import load_cost_models

    models, run_id = load_cost_models(
        c.run_id or c.name, by="id" if c.run_id else "name", uri=c.tracking_uri or None
    )
    symbols = list(cfg.data.symbols) or [cfg.data.symbol]
    chosen = tuple(m for m in models if m.symbol in symbols)
    if not chosen:
        raise ConfigError(
            f"costs: the fit of run {run_id} has models for {[m.symbol for m in models]}, "
            f"none of the run's symbols {symbols}"
        )
    return chosen
