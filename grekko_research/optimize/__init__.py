"""Parameter sweeps with Optuna: search spaces, walk-forward validation, overfitting statistics."""

from grekko_research.optimize.sweep import (
    Fold,
    SweepResult,
    evaluate_window,
    make_sampler,
    run_sweep,
    suggest_params,
    walk_forward_folds,
)

__all__ = [
    "Fold",
    "SweepResult",
    "evaluate_window",
    "make_sampler",
    "run_sweep",
    "suggest_params",
    "walk_forward_folds",
]
