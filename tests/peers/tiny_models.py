"""Cheap model strategies for the sweep, promote and parity tests: the shipped strategies'
code with a search space pinned to tiny models (a handful of trees on 200 rows, refitted
every 48 bars), so a whole sweep of them takes seconds.

Registered in this process by :func:`register`; a ``grekko-live`` child process (the sweep's
parity check) registers them through :data:`LIVE_COMMAND` (``GREKKO_LIVE_COMMAND``).
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass

from grekko_research.ml.ensemble_strategy import EnsembleParams
from grekko_research.ml.strategy import ModelParams
from grekko_research.strategy import param, register_strategy
from strategies.ensemble_hedge import EnsembleHedge
from strategies.ml_lgbm import MlLgbm

__all__ = ["LIVE_COMMAND", "EnsembleHedgeTiny", "MlLgbmTiny", "TinyModelParams", "register"]


@dataclass(frozen=True)
class TinyModelParams(ModelParams):
    """ml_lgbm's parameters, every one pinned but the tree count and the entry threshold."""

    feature_set: str = param("price", choices=("price",))
    window: int = param(8, choices=(8,))
    lags: int = param(3, choices=(3,))
    use_extras: bool = param(False, choices=(False,))
    use_analysis: bool = param(False, choices=(False,))
    label: str = param("sign", choices=("sign",))
    horizon: int = param(4, choices=(4,))
    barrier_width: float = param(1.5, choices=(1.5,))
    model: str = param("lgbm", choices=("lgbm",))
    n_estimators: int = param(10, choices=(10, 20))
    num_leaves: int = param(4, choices=(4,))
    learning_rate: float = param(0.1, choices=(0.1,))
    min_child_samples: int = param(20, choices=(20,))
    regularization: float = param(5.0, choices=(5.0,))
    train: int = param(200, choices=(200,))
    step: int = param(48, choices=(48,))
    embargo: int = param(0, choices=(0,))
    entry: float = param(0.52, low=0.5, high=0.6)
    exit: float = param(0.5, choices=(0.5,))
    seed: int = param(0, choices=(0,))


class MlLgbmTiny(MlLgbm):
    name = "ml_lgbm_tiny"
    Params = TinyModelParams
    summary = "ml_lgbm with tiny pinned models (tests)"


@dataclass(frozen=True)
class TinyEnsembleParams(EnsembleParams):
    """ensemble_hedge's parameters with short look-backs: the Hedge rate, look-back and grid
    searched, the rest pinned (a warm-up of ~150 bars instead of up to ~2,000)."""

    mode: str = param("hedge", choices=("hedge",))
    window: int = param(48, choices=(24, 48))
    hold: int = param(48, choices=(48,))
    trend_window: int = param(96, choices=(96,))
    vol_window: int = param(24, choices=(24,))
    cost: float = param(0.001, choices=(0.001,))
    scale: float = param(1.0, choices=(1.0,))


class EnsembleHedgeTiny(EnsembleHedge):
    name = "ensemble_hedge_tiny"
    Params = TinyEnsembleParams
    summary = "ensemble_hedge with short pinned look-backs (tests)"


def register() -> None:
    """Register the tiny strategies in this process."""
    register_strategy(MlLgbmTiny)
    register_strategy(EnsembleHedgeTiny)


LIVE_COMMAND = shlex.join(
    [sys.executable, "-c",
     "import tests.peers.tiny_models as t; t.register(); from live.cli import main; main()"]
)  # fmt: skip
