"""The calibrated cost models (``grekko_research.costs``, issue 27 item 3) as the router's
:class:`~live.routing._decide.SlippageEstimate`.

A model prices a taker order by its share of a bar's volume and the bar volatility
(``docs/execution.md``, "Calibrated cost models"); the router gives the size, so the caller
supplies, per venue and symbol, the last closed bar's volume and volatility (what the engine's
fill model reads for an order decided on that bar). A pair without a model or features falls
back to the given estimate (the book walk by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from grekko_research.engine.costs import CostModel
from live.routing._decide import BookWalkSlippage, SlippageEstimate

__all__ = ["CalibratedSlippage"]


@dataclass(frozen=True)
class CalibratedSlippage:
    """:class:`SlippageEstimate` from fitted cost models.

    ``models``: ``(venue, symbol)`` → model; ``features``: ``(venue, symbol)`` → ``(bar volume
    in base units, volatility in bps per bar)``; ``fallback``: for the other pairs.
    """

    models: Mapping[tuple[str, str], CostModel]
    features: Mapping[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    fallback: SlippageEstimate = field(default_factory=BookWalkSlippage)

    def expected_slippage_bps(
        self, venue: str, symbol: str, side: str, qty: float, price: float
    ) -> float:
        model = self.models.get((venue, symbol))
        feats = self.features.get((venue, symbol))
        if model is None or feats is None:
            return self.fallback.expected_slippage_bps(venue, symbol, side, qty, price)
        volume, sigma = feats
        share = abs(qty) / volume if volume > 0 else 1.0  # as the engine counts it
        return model.slippage_bps(share, sigma)
