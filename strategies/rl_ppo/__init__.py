"""RL PPO: hold what a PPO agent, trained on the engine's own fills and fees, decides."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grekko_research.ml.rl.strategy import PolicyStrategy
from grekko_research.strategy import param


@dataclass(frozen=True)
class RlPpoParams:
    policy: str = param("btc_1h", choices=("btc_1h",), doc="a shipped policy (policies/<name>)")
    scale: float = param(1.0, low=0.05, high=1.0, doc="fraction of the policy's target held")


class RlPpo(PolicyStrategy):
    name = "rl_ppo"
    Params = RlPpoParams
    summary = (
        "a PPO agent's target (flat or long), decided on 11 volatility-scaled features and the "
        "position it holds"
    )
    policy_root = Path(__file__).parent / "policies"
