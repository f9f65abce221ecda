"""A DeFi yield report: rank pools by risk-adjusted yield and propose an allocation.

A report, not an auto-trader. Inputs are the stored DefiLlama series: the ``pools`` snapshot
(the latest one knowable at ``as_of``) and, where downloaded, each pool's APY history. For
each pool that passes the filters:

* ``apy_vol``: the standard deviation of its daily APY over the history window (percentage
  points); without history, the spread between the current and base APY stands in;
* ``il``: the impermanent-loss estimate of a two-asset 50/50 pool for a price move of
  ``price_move`` (default ±50 %): ``1 - 2 sqrt(r) / (1 + r)`` with ``r = 1 + move``, taken as a
  yearly drag, for pools DefiLlama marks ``ilRisk: yes`` (single-asset and stable pools: 0);
* ``score`` = ``(apy - il * 100 - apy_vol) / 100``, a yearly return net of the two risks.

Filters: protocol and chain allowlists, a minimum TVL, DefiLlama's outlier flag, a maximum APY
(absurd yields are usually emissions that vanish). The allocation gives each of the best
``top`` pools a weight proportional to its score, capped at ``max_weight`` (the excess goes to
the next ones), and never to a pool scoring at or below zero; what no pool can take stays in cash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError, DataNotFoundError

__all__ = ["YieldPolicy", "impermanent_loss", "rank_pools", "yield_report"]


def impermanent_loss(price_ratio: float | np.ndarray) -> float | np.ndarray:
    """Return the loss of a 50/50 constant-product position vs holding, for a price ratio."""
    r = np.asarray(price_ratio, dtype=np.float64)
    if np.any(r <= 0):
        raise ConfigError("price ratio must be positive")
    out = 1.0 - 2.0 * np.sqrt(r) / (1.0 + r)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True)
class YieldPolicy:
    """Filters and allocation rules of :func:`rank_pools`."""

    protocols: tuple[str, ...] = ()  # allowlist; empty: any
    chains: tuple[str, ...] = ()  # allowlist; empty: any
    min_tvl_usd: float = 10_000_000.0
    max_apy: float = 200.0
    price_move: float = 0.5
    history_days: int = 30
    top: int = 5
    max_weight: float = 0.4

    def __post_init__(self) -> None:
        if not 0 < self.max_weight <= 1 or self.top < 1:
            raise ConfigError("max_weight must be in (0, 1] and top >= 1")
        if not self.price_move > -1:
            raise ConfigError("price_move must be above -100 %")


def _history_vol(store: AltStore, pool: str, as_of_ms: int, days: int) -> float:
    key = AltKey("defillama", pool)
    if not store.exists(key):
        return float("nan")
    rows = store.read(key)
    rows = rows[
        (rows["published_ms"] <= as_of_ms) & (rows["published_ms"] > as_of_ms - days * 86_400_000)
    ]
    apy = rows["apy"].to_numpy(np.float64)
    apy = apy[np.isfinite(apy)]
    return float(np.std(apy, ddof=1)) if len(apy) >= 3 else float("nan")


def rank_pools(store: AltStore, as_of_ms: int, policy: YieldPolicy | None = None) -> pd.DataFrame:
    """Return the eligible pools known at ``as_of_ms``, best score first, with ``weight``."""
    policy = policy or YieldPolicy()
    key = AltKey("defillama", "pools")
    if not store.exists(key):
        raise DataNotFoundError(
            "no DefiLlama pools snapshot: run 'grekko alpha download defillama pools'"
        )
    rows = store.read(key)
    rows = rows[rows["published_ms"] <= as_of_ms]
    if rows.empty:
        raise DataNotFoundError(
            f"no pools snapshot known at {pd.Timestamp(as_of_ms, unit='ms', tz='UTC')}"
        )
    latest = rows.sort_values("published_ms").groupby("pool", as_index=False).last()
    keep = (latest["tvl_usd"] >= policy.min_tvl_usd) & (latest["apy"] <= policy.max_apy)
    keep &= latest["apy"].notna()
    if policy.protocols:
        keep &= latest["project"].isin(policy.protocols)
    if policy.chains:
        keep &= latest["chain"].isin(policy.chains)
    pools = latest[keep].copy()
    vol = [_history_vol(store, p, as_of_ms, policy.history_days) for p in pools["pool"]]
    fallback = (pools["apy"] - pools["apy_base"].fillna(pools["apy"])).abs()
    pools["apy_vol"] = np.where(np.isfinite(vol), vol, fallback)
    il = float(impermanent_loss(1.0 + policy.price_move))
    pools["il"] = np.where(pools["il_risk"] == "yes", il, 0.0)
    pools["score"] = (pools["apy"] - 100.0 * pools["il"] - pools["apy_vol"]) / 100.0
    pools = pools.sort_values("score", ascending=False).reset_index(drop=True)
    pools["weight"] = _allocate(pools["score"].to_numpy(np.float64), policy.top, policy.max_weight)
    cols = [
        "pool",
        "project",
        "chain",
        "symbol",
        "tvl_usd",
        "apy",
        "apy_vol",
        "il",
        "score",
        "weight",
    ]
    return pools[cols]


def _allocate(scores: np.ndarray, top: int, cap: float) -> np.ndarray:
    weights = np.zeros(len(scores))
    chosen = [i for i in range(min(top, len(scores))) if scores[i] > 0]
    left = 1.0
    free = list(chosen)
    while free and left > 1e-12:
        total = float(sum(scores[i] for i in free))
        capped = [i for i in free if left * scores[i] / total >= cap - weights[i]]
        if not capped:
            for i in free:
                weights[i] += left * scores[i] / total
            break
        for i in capped:
            left -= cap - weights[i]
            weights[i] = cap
            free.remove(i)
    return weights


def yield_report(ranked: pd.DataFrame, *, capital: float = 0.0) -> str:
    """Return the ranking as a Markdown table (with amounts when ``capital`` is given)."""
    lines = [
        "| # | project | chain | pool | TVL (USD m) | APY % | APY vol | IL est. | score | weight"
        + (" | amount |" if capital else " |"),
        "|---|---|---|---|---|---|---|---|---|---" + ("|---|" if capital else "|"),
    ]
    for i, (_, r) in enumerate(ranked.iterrows()):
        amount = f" | {capital * r['weight']:,.0f} |" if capital else " |"
        lines.append(
            f"| {i + 1} | {r['project']} | {r['chain']} | {r['symbol']} | {r['tvl_usd'] / 1e6:,.1f} "
            f"| {r['apy']:.2f} | {r['apy_vol']:.2f} | {r['il']:.1%} | {r['score']:.3f} "
            f"| {r['weight']:.0%}{amount}"
        )
    return "\n".join(lines)


def parse_list(values: Sequence[str] | None) -> tuple[str, ...]:
    """Return comma-separated CLI values as a tuple (``["a,b", "c"]`` -> ``("a", "b", "c")``)."""
    return tuple(v.strip() for raw in values or () for v in raw.split(",") if v.strip())
