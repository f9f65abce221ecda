"""Training a PPO agent on the engine environment, and judging it out of sample only.

:func:`train_ppo` trains Stable-Baselines3's PPO on CPU over one window of bars and exports
the deterministic actor (:mod:`~grekko_research.ml.rl.policy`). :func:`walk_forward` slides a
train window and a test window over the history: each fold's agent is trained on its train
window only and judged on the following test window, against buy-and-hold and a rule baseline
(``sma_cross`` with its defaults), all three through the same engine backtest and costs.

Seeds come from the spec; torch runs on one thread, so a run is reproducible on one machine
(PPO's float reductions may differ between machines and torch builds).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.calendar import periods_per_year
from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import EngineConfig, Signals, TargetPositions, backtest
from grekko_research.errors import ConfigError
from grekko_research.ml.rl.env import TradingEnv, check_levels, default_levels
from grekko_research.ml.rl.features import ObservationSpec, observations
from grekko_research.ml.rl.policy import Policy, from_sb3
from grekko_research.strategy import get_strategy

__all__ = ["FoldResult", "TrainSpec", "WalkForward", "evaluate_oos", "train_ppo", "walk_forward"]


@dataclass(frozen=True)
class TrainSpec:
    """PPO's settings (Stable-Baselines3 names) and the environment's."""

    timesteps: int = 20_000
    episode_bars: int = 512
    reward: str = "log_return"
    reward_options: dict[str, float] = field(default_factory=dict)
    obs: ObservationSpec = field(default_factory=ObservationSpec)
    levels: tuple[float, ...] | None = None  # default: flat/long (+ short if allowed)
    seed: int = 0
    n_steps: int = 512
    batch_size: int = 64
    n_epochs: int = 5
    learning_rate: float = 3e-4
    gamma: float = 0.99
    ent_coef: float = 0.01
    net: tuple[int, ...] = (32, 32)

    def __post_init__(self) -> None:
        if self.timesteps < self.n_steps:
            raise ConfigError(f"timesteps ({self.timesteps}) must be >= n_steps ({self.n_steps})")
        if self.n_steps % self.batch_size:
            raise ConfigError(f"n_steps ({self.n_steps}) must be a multiple of batch_size")


def train_ppo(bars: Bars, config: EngineConfig, spec: TrainSpec | None = None) -> Policy:
    """Train PPO on ``bars`` (one symbol) through :class:`TradingEnv`; return its actor."""
    import torch
    from stable_baselines3 import PPO

    spec = spec or TrainSpec()
    levels = check_levels(spec.levels or default_levels(config), config)
    room = bars.n_bars - 2 - spec.obs.warmup() + 1
    env = TradingEnv(
        bars, config, obs=spec.obs, levels=levels, reward=spec.reward,
        reward_options=spec.reward_options, episode_bars=min(spec.episode_bars, room),
    )  # fmt: skip
    torch.set_num_threads(1)  # shared CPUs; and one thread keeps a run reproducible
    started = time.perf_counter()
    model = PPO(
        "MlpPolicy", env, n_steps=spec.n_steps, batch_size=spec.batch_size,
        n_epochs=spec.n_epochs, learning_rate=spec.learning_rate, gamma=spec.gamma,
        ent_coef=spec.ent_coef, seed=spec.seed, device="cpu", verbose=0,
        policy_kwargs={"net_arch": {"pi": list(spec.net), "vf": list(spec.net)}},
    )  # fmt: skip
    model.learn(total_timesteps=spec.timesteps)
    seconds = time.perf_counter() - started
    obs = observations(bars.close[:, 0], spec.obs)[spec.obs.warmup() :]
    if spec.obs.position:  # the export is checked holding each level in turn
        obs = np.vstack([np.column_stack([obs, np.full(len(obs), lv, np.float32)])
                         for lv in levels])  # fmt: skip
    meta = {
        "algorithm": "PPO (stable-baselines3)",
        "symbol": bars.symbols[0],
        "timeframe": bars.timeframe,
        "train_first_ms": int(bars.index[0]),
        "train_last_ms": int(bars.index[-1]),
        "timesteps": spec.timesteps,
        "reward": spec.reward,
        "reward_options": dict(spec.reward_options),
        "seed": spec.seed,
        "train_seconds": round(seconds, 3),
        "fees_taker": config.fees.taker,
        "versions": _versions(),
    }
    return from_sb3(model, spec.obs, levels, obs, meta)


def _versions() -> dict[str, str]:
    import gymnasium
    import stable_baselines3
    import torch

    return {
        "stable_baselines3": stable_baselines3.__version__,
        "gymnasium": gymnasium.__version__,
        "torch": torch.__version__,
    }


# -- out-of-sample evaluation --------------------------------------------------------------


def _stats(equity: np.ndarray, start: int, ppy: float, trades: int) -> dict[str, float]:
    """Total return, annualised Sharpe and max drawdown of ``equity[start-1:]``."""
    eq = equity[max(start - 1, 0) :]
    rets = np.diff(np.log(eq))
    sd = float(rets.std(ddof=1)) if rets.size > 1 else 0.0
    sharpe = float(rets.mean() / sd * math.sqrt(ppy)) if sd > 0 else 0.0
    peak = np.maximum.accumulate(eq)
    return {
        "return": float(eq[-1] / eq[0] - 1.0),
        "sharpe": sharpe,
        "max_drawdown": float(np.max(1.0 - eq / peak)),
        "trades": float(trades),
    }


def evaluate_oos(
    bars: Bars, config: EngineConfig, start: int, *, policy: Policy | None = None
) -> dict[str, dict[str, float]]:
    """Backtest the policy, buy-and-hold and ``sma_cross`` on ``bars`` from row ``start`` on.

    The rows before ``start`` only warm the features and indicators up: every method is flat
    until ``start``'s decision. Returns ``{method: {return, sharpe, max_drawdown, trades}}``.
    """
    n = bars.n_bars
    if not 0 < start < n - 1:
        raise ConfigError(f"evaluation start {start} is outside (0, {n - 1})")
    ppy = periods_per_year(bars.timeframe)
    out: dict[str, dict[str, float]] = {}
    hold = np.zeros((n, 1))
    hold[start:] = 1.0
    runs: dict[str, Any] = {"buy_and_hold": TargetPositions(hold, kind="percent")}
    rule = get_strategy("sma_cross")  # the reference rule, as users run it
    sig = rule.signals(bars, rule.params())
    if not isinstance(sig, Signals):
        raise ConfigError("the sma_cross baseline must decide with Signals")
    entries, exits = np.array(sig.entries, copy=True), np.array(sig.exits, copy=True)
    entries[:start], exits[:start] = False, False
    runs["sma_cross"] = Signals(entries, exits)
    if policy is not None:
        bar_ms = parse_timeframe(bars.timeframe).ms
        target = policy.targets(bars.close[:, 0], bars.index, bar_ms).reshape(n, 1)
        target[:start] = 0.0
        runs["ppo"] = TargetPositions(np.nan_to_num(target, nan=0.0), kind="percent")
    for name, form in runs.items():
        result = backtest(bars, form, config)
        out[name] = _stats(result.equity, start, ppy, result.n_trades)
    return out


@dataclass(frozen=True)
class FoldResult:
    fold: int
    train: tuple[int, int]  # ms of the first and last train bar
    test: tuple[int, int]
    stats: dict[str, dict[str, float]]
    train_seconds: float


@dataclass(frozen=True)
class WalkForward:
    """Every fold's out-of-sample results and their summary per method."""

    folds: list[FoldResult]

    def table(self) -> pd.DataFrame:
        rows = []
        for f in self.folds:
            for method, s in f.stats.items():
                rows.append({"fold": f.fold, "method": method,
                             "test_start": pd.Timestamp(f.test[0], unit="ms", tz="UTC"), **s})  # fmt: skip
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Per method: compounded OOS return, mean Sharpe, worst drawdown, folds beaten."""
        t = self.table()
        g = t.groupby("method")
        out = pd.DataFrame({
            "oos_return": g["return"].apply(lambda r: float(np.prod(1.0 + r) - 1.0)),
            "mean_sharpe": g["sharpe"].mean(),
            "worst_drawdown": g["max_drawdown"].max(),
            "trades": g["trades"].sum(),
        })  # fmt: skip
        if "ppo" in set(t["method"]):
            piv = t.pivot(index="fold", columns="method", values="return")
            out["ppo_beats_in_folds"] = {m: int((piv["ppo"] > piv[m]).sum()) for m in piv}
        return out


def walk_forward(
    bars: Bars,
    config: EngineConfig,
    spec: TrainSpec | None = None,
    *,
    train_bars: int = 2000,
    test_bars: int = 500,
    anchored: bool = False,
) -> WalkForward:
    """Train on each train window, evaluate on the next ``test_bars`` (sliding or anchored)."""
    spec = spec or TrainSpec()
    warm = spec.obs.warmup()
    if train_bars < warm + spec.episode_bars // 4 or test_bars < 2:
        raise ConfigError(f"train_bars {train_bars} / test_bars {test_bars} too short")
    if bars.n_bars < train_bars + test_bars:
        raise ConfigError(f"{bars.n_bars} bars cannot hold one fold of {train_bars}+{test_bars}")
    folds: list[FoldResult] = []
    lo, end = 0, train_bars
    while end + test_bars <= bars.n_bars:
        train = bars[lo:end]
        fold_spec = replace(spec, seed=spec.seed + len(folds))
        policy = train_ppo(train, config, fold_spec)
        # the test window plus the warm-up its first observation needs (bars before `end`)
        first = max(end - warm - 1, 0)
        test = bars[first : end + test_bars]
        stats = evaluate_oos(test, config, end - first, policy=policy)
        folds.append(
            FoldResult(
                len(folds),
                (int(train.index[0]), int(train.index[-1])),
                (int(bars.index[end]), int(bars.index[end + test_bars - 1])),
                stats,
                float(policy.meta["train_seconds"]),
            )
        )
        end += test_bars
        if not anchored:
            lo += test_bars
    return WalkForward(folds)
