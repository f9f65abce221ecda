"""A gymnasium environment whose market is the engine: same fills, fees, stops and risk rules.

One step is one bar. The agent's action, taken at bar *t*'s close, picks a target position
(a fraction of equity, one of ``levels``); it executes at bar *t+1*'s open exactly as a
backtest of ``TargetPositions`` or a ``grekko-live`` run executes it, because the account is
an :class:`~grekko_research.engine.book.EngineBook` — the kernel's own state advanced by the
kernel's own functions (the live runner's book):

1. the position stops that bar *t+1*'s open has passed fill at the open;
2. the decision is planned by the kernel's decision step (risk limits, buying power, lot,
   minimum notional, slippage) and its fills are booked with the engine's fee;
3. the stops the bar's range reaches fill inside it;
4. the bar closes: mark to market, drawdown and daily-loss rules.

There is no second fill model here: a step-by-step episode with a fixed action sequence books
the very fills and equity ``backtest`` gives for the same targets (``tests/ml_rl``).

The observation is :func:`~grekko_research.ml.rl.features.observations` at bar *t* (market
only: see that module for why). The reward is one of :mod:`grekko_research.ml.rl.rewards`,
computed from the book's equity, so it is net of every cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine._risk import risk_rules
from grekko_research.engine.book import STOP_KINDS, EngineBook, check_live_config, target_row
from grekko_research.engine.config import EngineConfig
from grekko_research.errors import ConfigError
from grekko_research.indicators.volatility import atr_nb
from grekko_research.ml.rl.features import CLIP, ObservationSpec, anchor_rows, observations
from grekko_research.ml.rl.rewards import Reward, make_reward

__all__ = ["TradingEnv", "default_levels"]


def default_levels(config: EngineConfig) -> tuple[float, ...]:
    """Flat or long (``0, 1``), plus short (``-1``) when the configuration allows shorting."""
    return (-1.0, 0.0, 1.0) if config.allow_short else (0.0, 1.0)


def check_levels(levels: Sequence[float], config: EngineConfig) -> tuple[float, ...]:
    """Refuse target levels the engine would refuse (shorts without ``allow_short``, over-leverage)."""
    out = tuple(float(x) for x in levels)
    if len(out) < 2:
        raise ConfigError(f"an agent needs at least two target levels, got {list(out)}")
    for x in out:
        if not np.isfinite(x) or abs(x) > config.leverage:
            raise ConfigError(f"target level {x} is outside [-leverage, leverage]")
        if x < 0 and not config.allow_short:
            raise ConfigError(f"target level {x} is short but engine.allow_short is off")
    return out


class TradingEnv(gym.Env[np.ndarray, np.int64]):
    """Trade one symbol's bars through the engine's book (see the module docstring).

    Parameters
    ----------
    bars
        One symbol's bars (the first ``obs.warmup()`` bars only feed the first observation).
    config
        The engine configuration (``execution="next_open"``, as a live run).
    obs
        The observation's features.
    levels
        Target positions (fractions of equity) the discrete actions stand for.
    reward, reward_options
        A reward name of :data:`~grekko_research.ml.rl.rewards.REWARDS` and its options.
    episode_bars
        Bars per episode, starting at a random bar drawn from the environment's seeded
        generator; ``None``: one episode over all bars.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 (gymnasium's own API)

    def __init__(
        self,
        bars: Bars,
        config: EngineConfig | None = None,
        *,
        obs: ObservationSpec | None = None,
        levels: Sequence[float] | None = None,
        reward: str = "log_return",
        reward_options: dict[str, float] | None = None,
        episode_bars: int | None = None,
    ) -> None:
        if bars.n_assets != 1:
            raise ConfigError(f"TradingEnv trades one symbol; got {list(bars.symbols)}")
        self.config = config or EngineConfig()
        check_live_config(self.config)
        if risk_rules(self.config.risk).on:
            # The book applies the engine's own rules (limits, drawdown flatten, orders per
            # day); the spec's checks and breakers run in the kernel and the live risk engine.
            raise ConfigError(
                "TradingEnv: the risk spec's order checks and breakers (daily loss, VaR, "
                "volatility, order limits, ...) are not evaluated by the engine book it steps; "
                "use engine limits (max_position, max_gross, drawdown flatten_at) or none"
            )
        self.bars = bars
        self.spec_obs = obs or ObservationSpec()
        self.levels = check_levels(levels or default_levels(self.config), self.config)
        self._reward_name, self._reward_options = reward, dict(reward_options or {})
        make_reward(reward, **self._reward_options)  # fail now, not at the first reset
        self._obs = observations(bars.close[:, 0], self.spec_obs)
        self._first = self.spec_obs.warmup()
        self._held = self._flat = int(np.argmin(np.abs(np.asarray(self.levels))))
        self._anchor = (
            anchor_rows(bars.index, parse_timeframe(bars.timeframe).ms, self.spec_obs.anchor)
            if self.spec_obs.position
            else np.zeros(bars.n_bars, dtype=bool)
        )
        if bars.n_bars < self._first + 2:
            raise ConfigError(
                f"TradingEnv needs at least {self._first + 2} bars (observation warm-up "
                f"{self._first} + a decision and its execution), got {bars.n_bars}"
            )
        last_start = bars.n_bars - 2
        if episode_bars is not None and not 1 <= episode_bars <= last_start - self._first + 1:
            raise ConfigError(
                f"episode_bars must be in [1, {last_start - self._first + 1}], got {episode_bars}"
            )
        self.episode_bars = episode_bars
        self.action_space = spaces.Discrete(len(self.levels))
        self.observation_space = spaces.Box(-CLIP, CLIP, (self.spec_obs.size,), np.float32)
        self.book: EngineBook | None = None
        self.fills: list[tuple[int, float, float, str]] = []  # (bar, signed size, price, kind)
        self._reward: Reward = make_reward(reward, **self._reward_options)
        self._t = self._end = self._start = 0
        self._atr: np.ndarray | None = None

    # -- gymnasium API --------------------------------------------------------------------

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start an episode; ``options={"start": bar}`` pins its first bar (evaluation)."""
        super().reset(seed=seed)
        last_start = self.bars.n_bars - 2
        if options and "start" in options:
            start = int(options["start"])
            if not self._first <= start <= last_start:
                raise ConfigError(f"start must be in [{self._first}, {last_start}], got {start}")
        elif self.episode_bars is None:
            start = self._first
        else:
            start = int(self.np_random.integers(self._first, last_start - self.episode_bars + 2))
        span = self.episode_bars if self.episode_bars is not None else last_start + 1 - start
        self._start, self._t = start, start
        self._end = min(start + span, self.bars.n_bars - 1)
        b = self.bars
        self.book = EngineBook(self.config, b.symbols, int(b.index[start]))
        # the first bar of the run: closed without a decision, as a live run's first bar
        self.book.start_bar(int(b.index[start]))
        self.book.close_bar(
            b.high[start], b.low[start], b.close[start], b.filled[start], b.volume[start]
        )
        if self.config.stops.needs_atr:  # the decision bar's ATR since the run's first bar
            self._atr = atr_nb(b.high[start:], b.low[start:], b.close[start:],
                               self.config.stops.atr_window)[:, 0]  # fmt: skip
        self.fills = []
        self._reward = make_reward(self._reward_name, **self._reward_options)
        self._reward.reset(self.book.equity)
        self._held = self._flat
        return self._observe(start), {"bar": start, "equity": self.book.equity}

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold ``levels[action]`` from the next bar's open; return that bar's outcome."""
        if self.book is None:
            raise RuntimeError("call reset() before step()")
        a = int(action)
        if not 0 <= a < len(self.levels):
            raise ConfigError(f"action {a} is outside [0, {len(self.levels) - 1}]")
        t, u = self._t, self._t + 1
        self._execute(target_row(np.array([self.levels[a]]), "percent"), t, u)
        equity = self.book.equity
        reward = float(self._reward.step(equity))
        self._t = u
        terminated = equity <= 0.0 or self.book.halted
        truncated = not terminated and u >= self._end
        info = {"bar": u, "equity": equity, "position": self.book.position(0)}
        self._held = a
        return self._observe(u), reward, bool(terminated), bool(truncated), info

    def _observe(self, t: int) -> np.ndarray:
        """Bar ``t``'s observation: the market's, then (``obs.position``) the held level, flat
        at an anchor row — as the strategy sees it (:meth:`Policy.targets`)."""
        if not self.spec_obs.position:
            return self._obs[t].copy()
        held = self._flat if self._anchor[t] else self._held
        return np.append(self._obs[t], np.float32(self.levels[held])).astype(np.float32)

    # -- one bar of the engine ------------------------------------------------------------

    def _execute(self, row: dict[str, Any], t: int, u: int) -> None:
        """Execute the decision ``row`` taken at bar ``t``'s close on bar ``u``, then close it."""
        book, b = self.book, self.bars
        assert book is not None
        book.start_bar(int(b.index[u]))
        opens = np.where(b.filled[u], np.nan, b.open[u])
        self._stops(opens, u, at_open=True)
        atr = float(self._atr[t - self._start]) if self._atr is not None else np.nan
        for po in book.plan(row, opens, high=b.high[u], low=b.low[u], volume=b.volume[u]):
            if po.status == "filled":
                book.fill(po.asset, po.size, po.price, kind=po.kind, atr=atr)
                self.fills.append((u, po.size, po.price, po.kind))
        self._stops(opens, u, at_open=False)
        book.close_bar(b.high[u], b.low[u], b.close[u], b.filled[u], b.volume[u])

    def _stops(self, opens: np.ndarray, u: int, *, at_open: bool) -> None:
        book, b = self.book, self.bars
        assert book is not None
        exits = book.stop_exits(opens, b.high[u], b.low[u], at_open=at_open, volume=b.volume[u])
        for po in exits:
            if po.status == "filled" and po.kind in STOP_KINDS:
                book.fill(po.asset, po.size, po.price, kind=po.kind)
                self.fills.append((u, po.size, po.price, po.kind))
