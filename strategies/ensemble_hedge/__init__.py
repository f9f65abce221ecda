"""Ensemble Hedge: three trend and breakout rules, weighted by their recent net gains."""

from __future__ import annotations

from grekko_research.ml.ensemble_strategy import EnsembleStrategy


class EnsembleHedge(EnsembleStrategy):
    name = "ensemble_hedge"
    summary = "Hedge-weighted mix of sma_cross, bollinger_breakout and donchian_trend exposures"
    members = (
        ("sma_cross", {"fast": 10, "slow": 50}),
        ("bollinger_breakout", {}),
        ("donchian_trend", {}),
    )
