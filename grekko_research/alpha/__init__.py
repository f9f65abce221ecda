"""Alternative data: connectors (fetch | pure parse), the point-in-time store, sentiment,
features for strategies and the DeFi yield report. See ``docs/alpha.md``.

The names below load on first use: the connectors' clients and VADER are heavy and optional.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grekko_research._lazy import lazy_exports

if TYPE_CHECKING:
    from grekko_research.alpha.features import AlphaLoader, AlphaSpec, alpha_extras, with_alpha
    from grekko_research.alpha.pit import check_alt_feature, knowable_ms
    from grekko_research.alpha.sentiment import LexiconSentiment, TransformerSentiment, Weights
    from grekko_research.alpha.store import AltKey, AltStore
    from grekko_research.alpha.yields import YieldPolicy, rank_pools

_WHERE = {
    "AlphaLoader": "features",
    "AlphaSpec": "features",
    "AltKey": "store",
    "AltStore": "store",
    "LexiconSentiment": "sentiment",
    "TransformerSentiment": "sentiment",
    "Weights": "sentiment",
    "YieldPolicy": "yields",
    "alpha_extras": "features",
    "check_alt_feature": "pit",
    "knowable_ms": "pit",
    "rank_pools": "yields",
    "with_alpha": "features",
}

__all__ = [
    "AlphaLoader",
    "AlphaSpec",
    "AltKey",
    "AltStore",
    "LexiconSentiment",
    "TransformerSentiment",
    "Weights",
    "YieldPolicy",
    "alpha_extras",
    "check_alt_feature",
    "knowable_ms",
    "rank_pools",
    "with_alpha",
]

__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())
