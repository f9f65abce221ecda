"""Alternative data made here for strategy tests: seeded sentiment and exchange-flow rows.

There is no real alternative-data history in ``shared/data``; these rows have the shapes the
connectors and ``score_store`` write (three times per row, ids), a slowly drifting crowd mood
with noisy posts, and exchange flows whose direction follows their own regime. They are
generated from a seed only, never from prices, so they cannot leak the future.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from grekko_research.alpha.store import AltKey, AltStore

H = 3_600_000


def sentiment_rows(start_ms: int, end_ms: int, *, seed: int, per_hour: float = 6.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    hours = int((end_ms - start_ms) // H)
    mood = np.zeros(hours)  # a mean-reverting crowd mood, one value per hour
    shocks = rng.normal(0.0, 0.15, size=hours)
    for h in range(1, hours):
        mood[h] = 0.97 * mood[h - 1] + shocks[h]
    counts = rng.poisson(per_hour, size=hours)
    hour = np.repeat(np.arange(hours), counts)
    event = start_ms + hour * H + rng.integers(0, H, size=len(hour))
    published = event + rng.integers(0, 120_000, size=len(hour))  # indexing lag up to 2 min
    score = np.tanh(mood[hour] + rng.normal(0.0, 0.8, size=len(hour)))
    authors = rng.integers(0, 400, size=len(hour))
    return pd.DataFrame(
        {
            "id": [f"s{seed}-{i}" for i in range(len(hour))],
            "event_ms": event,
            "published_ms": published,
            "ingested_ms": published + 30_000,
            "score": score,
            "weight": 1.0 + rng.lognormal(0.0, 1.0, size=len(hour)),
            "author": [f"x:user{a}" for a in authors],
            "origin": "x",
            "model": "synthetic",
        }
    )


def flow_rows(start_ms: int, end_ms: int, *, seed: int, per_hour: float = 2.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed + 1000)
    hours = int((end_ms - start_ms) // H)
    regime = np.sign(np.sin(np.arange(hours) / 37.0 + rng.normal(0, 0.3, size=hours)))
    counts = rng.poisson(per_hour, size=hours)
    hour = np.repeat(np.arange(hours), counts)
    t = start_ms + hour * H + rng.integers(0, H, size=len(hour))
    direction = np.where(rng.random(len(hour)) < 0.7, regime[hour], -regime[hour])
    amount = rng.lognormal(3.0, 1.2, size=len(hour))
    return pd.DataFrame(
        {
            "id": [f"0x{seed:04x}{i:08x}:0" for i in range(len(hour))],
            "event_ms": t,
            "published_ms": t,
            "ingested_ms": t + 60_000,
            "from": "0x" + "1" * 40,
            "to": "0x" + "2" * 40,
            "amount": amount,
            "block": 1.0e7 + hour,
            "exchange": "binance-hot",
            "direction": direction.astype(float),
            "large": (amount > 200).astype(float),
        }
    )


def alert_rows(start_ms: int, end_ms: int, *, seed: int, every_h: float = 30.0) -> pd.DataFrame:
    """TradingView alerts as the webhook stores them: a random side and size every ~``every_h``."""
    rng = np.random.default_rng(seed + 2000)
    n = max(1, int((end_ms - start_ms) / H / every_h))
    t = np.sort(rng.integers(start_ms, end_ms, size=n))
    return pd.DataFrame(
        {
            "id": [f"tv{seed}-{i}" for i in range(n)],
            "event_ms": t - 2_000,
            "published_ms": t,
            "ingested_ms": t,
            "target": rng.choice([-1.0, 0.0, 1.0], size=n),
            "size": rng.uniform(0.3, 1.0, size=n).round(2),
            "price": np.nan,
            "ticker": "BINANCE:BTCUSDT",
            "action": "synthetic",
        }
    )


def seed_alpha_store(
    root: object,
    asset: str = "BTC",
    *,
    start: str = "2020-12-01",
    end: str = "2021-03-01",
    seed: int = 7,
) -> AltStore:
    """Write ``sentiment/<asset>``, ``onchain/<asset>`` and ``tradingview/<asset>`` for
    ``[start, end)`` into ``root`` (idempotent: the same ids again add nothing)."""
    store = AltStore(root)  # type: ignore[arg-type]
    lo, hi = (int(pd.Timestamp(x, tz="UTC").value // 1_000_000) for x in (start, end))
    store.write(AltKey("sentiment", asset), sentiment_rows(lo, hi, seed=seed))
    store.write(AltKey("onchain", asset), flow_rows(lo, hi, seed=seed))
    store.write(AltKey("tradingview", asset), alert_rows(lo, hi, seed=seed))
    return store
