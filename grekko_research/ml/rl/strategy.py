"""A trained policy as a strategy: its decisions are ``TargetPositions`` of equity fractions.

:class:`PolicyStrategy` reads a policy folder (``policy.npz`` + ``policy.json``, see
:mod:`~grekko_research.ml.rl.policy`) chosen by its ``policy`` parameter among the folders
under its class's ``policy_root``. Each symbol gets the policy's decision on its own
observation, and 1/k of the equity (k symbols). The decisions are a pure function of the last
``warmup`` bars, so the conformance checks, ``grekko backtest`` and the ``grekko-live``
replay parity apply as to any rule-based strategy.

:func:`policy_strategy` makes a registrable strategy of a folder you trained yourself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import EngineConfig, TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.ml.rl.policy import Policy, load_policy
from grekko_research.strategy import Strategy, param

__all__ = ["PolicyStrategy", "policy_strategy"]


@functools.lru_cache(maxsize=16)
def _load(folder: str, mtime_ns: int) -> Policy:  # mtime: a retrained folder is reloaded
    return load_policy(folder)


class PolicyStrategy(Strategy):
    """Base class: a subclass sets ``name``, ``Params`` (a ``policy`` choice and ``scale``)
    and ``policy_root`` (the folder holding one sub-folder per policy choice)."""

    policy_root: ClassVar[Path] = Path()
    summary = "a trained reinforcement-learning policy's target position"

    def policy(self, params: Any) -> Policy:
        folder = self.policy_root / str(params.policy)
        card = folder / "policy.json"
        if not card.is_file():
            raise ConfigError(f"{self.name}: no trained policy at {folder} (policy.json missing)")
        return _load(str(folder), card.stat().st_mtime_ns)

    def warmup(self, params: Any) -> int:
        return self.policy(params).warmup()

    def signals(self, bars: Bars, params: Any) -> TargetPositions:
        policy = self.policy(params)
        k = bars.n_assets
        bar_ms = parse_timeframe(bars.timeframe).ms
        target = np.column_stack(
            [policy.targets(bars.close[:, j], bars.index, bar_ms) for j in range(k)]
        )
        return TargetPositions(np.ascontiguousarray(target * (params.scale / k)), kind="percent")

    def configure(self, config: EngineConfig, params: Any) -> EngineConfig:
        if min(self.policy(params).levels) < 0:
            return replace(config, allow_short=True)  # the policy was trained to go short
        return config


def policy_strategy(name: str, folder: str | Path) -> type[PolicyStrategy]:
    """Return a strategy class (register it with ``register_strategy``) trading ``folder``."""
    path = Path(folder).resolve()
    load_policy(path)  # refuse a missing or damaged policy now

    @dataclass(frozen=True)
    class Params:
        policy: str = param(path.name, choices=(path.name,), doc="the trained policy folder")
        scale: float = param(1.0, low=0.05, high=1.0, doc="fraction of the policy's target held")

    return type(name, (PolicyStrategy,), {"name": name, "Params": Params,
                                          "policy_root": path.parent})  # fmt: skip
