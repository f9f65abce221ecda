"""The yield report: filters, risk adjustments and the capped allocation, on recorded payloads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grekko_research.alpha.connectors.base import ms
from grekko_research.alpha.connectors.defillama import parse_pool_chart, parse_pools
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.alpha.yields import YieldPolicy, impermanent_loss, rank_pools, yield_report
from grekko_research.errors import ConfigError, DataNotFoundError

PAYLOADS = Path(__file__).parents[2] / "alpha" / "payloads"
NOW = ms("2024-11-11T00:00:00Z")
UNI = "8f1c5f3b-0000-4000-8000-000000000001"


@pytest.fixture
def store(tmp_path: Path) -> AltStore:
    s = AltStore(tmp_path)
    s.write(
        AltKey("defillama", "pools"),
        parse_pools(json.loads((PAYLOADS / "defillama_pools.json").read_text()), ingested_ms=NOW),
    )
    chart = json.loads((PAYLOADS / "defillama_chart.json").read_text())
    s.write(AltKey("defillama", UNI), parse_pool_chart(chart, entity=UNI, ingested_ms=NOW))
    return s


def test_impermanent_loss_known_values() -> None:
    assert impermanent_loss(1.0) == 0.0
    assert impermanent_loss(2.0) == pytest.approx(0.05719, abs=1e-5)  # the textbook 5.7 % at 2x
    assert impermanent_loss(4.0) == pytest.approx(0.2)
    with pytest.raises(ConfigError):
        impermanent_loss(0.0)


def test_rank_and_allocate(store: AltStore) -> None:
    ranked = rank_pools(store, NOW + 86_400_000)
    assert ranked["project"].tolist() == ["uniswap-v3", "aave-v3", "lido"]  # the degen farm is out
    uni = ranked.iloc[0]
    assert uni["il"] == pytest.approx(impermanent_loss(1.5))
    assert uni["apy_vol"] == pytest.approx(np.std([21.3, 15.2, 18.5], ddof=1))
    assert uni["score"] == pytest.approx(
        (18.5 - 100 * impermanent_loss(1.5) - uni["apy_vol"]) / 100
    )
    assert ranked.iloc[1]["apy_vol"] == pytest.approx(0.6)  # no history: apy - base apy
    w = ranked["weight"].to_numpy()
    assert w.sum() == pytest.approx(1.0) and w.max() == pytest.approx(0.4)  # capped
    assert w[1] / w[2] == pytest.approx(ranked.iloc[1]["score"] / ranked.iloc[2]["score"])
    text = yield_report(ranked, capital=100_000)
    assert "| 1 | uniswap-v3 | Ethereum | USDC-WETH |" in text and "40,000" in text


def test_allowlists_and_point_in_time(store: AltStore) -> None:
    only = rank_pools(store, NOW, YieldPolicy(chains=("Arbitrum",)))
    # one eligible pool: capped at 40 %, the rest stays in cash
    assert only["project"].tolist() == ["aave-v3"] and only["weight"].tolist() == [0.4]
    assert rank_pools(store, NOW, YieldPolicy(protocols=("lido",), max_weight=1.0))[
        "weight"
    ].tolist() == [1.0]
    with pytest.raises(DataNotFoundError, match="no pools snapshot known"):
        rank_pools(store, NOW - 1)  # the snapshot was taken at NOW
    with pytest.raises(ConfigError):
        YieldPolicy(max_weight=0)
