"""Reinforcement learning on the engine (docs/ml_rl.md).

* :mod:`~grekko_research.ml.rl.env` — ``TradingEnv``, a gymnasium environment stepping the
  engine's own book (needs the ``ml`` extra);
* :mod:`~grekko_research.ml.rl.features` — the causal, finite-window observation;
* :mod:`~grekko_research.ml.rl.rewards` — log return, differential Sharpe, drawdown-penalised;
* :mod:`~grekko_research.ml.rl.train` — PPO training and walk-forward evaluation;
* :mod:`~grekko_research.ml.rl.policy` — the exported numpy policy and its card;
* :mod:`~grekko_research.ml.rl.strategy` — a policy as a strategy.

Nothing is imported here: gymnasium and torch load only with the modules that need them.
"""
