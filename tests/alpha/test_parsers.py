"""Every connector's pure parser on a recorded payload (provenance: payloads/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.alpha.connectors.base import ms
from grekko_research.alpha.connectors.defillama import parse_pool_chart, parse_pools
from grekko_research.alpha.connectors.github import parse_github
from grekko_research.alpha.connectors.news import parse_cryptopanic
from grekko_research.alpha.connectors.onchain import FlowRules, parse_transfers
from grekko_research.alpha.connectors.reddit import parse_reddit
from grekko_research.alpha.connectors.telegram import parse_telegram
from grekko_research.alpha.connectors.trends import parse_trends
from grekko_research.alpha.connectors.x import parse_x
from grekko_research.alpha.store import AltKey, validate_rows
from grekko_research.errors import DataError

PAYLOADS = Path(__file__).parent / "payloads"
NOW = ms("2024-11-12T00:00:00Z")


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def valid(rows: pd.DataFrame, source: str, entity: str) -> pd.DataFrame:
    """Rows a store accepts, all ingested at NOW and knowable no later."""
    out = validate_rows(rows, AltKey(source, entity))
    assert (out["ingested_ms"] == NOW).all()
    assert (out["published_ms"] <= NOW).all()
    return out


def test_cryptopanic() -> None:
    rows = valid(
        parse_cryptopanic(payload("cryptopanic_posts_p1.json"), entity="BTC", ingested_ms=NOW),
        "news",
        "BTC",
    )
    assert list(rows["id"]) == ["cp:20112233", "cp:20112201"]
    first = rows.iloc[0]
    assert first["event_ms"] == ms("2024-11-11T14:05:00Z")
    assert first["published_ms"] == ms("2024-11-11T14:07:31Z")  # indexed 2.5 min later
    assert first["assets"] == "BTC" and rows.iloc[1]["assets"] == "BTC,ETH"
    assert (first["votes_positive"], rows.iloc[1]["votes_negative"]) == (24.0, 15.0)
    with pytest.raises(DataError, match="cryptopanic BTC: result 0 is malformed"):
        parse_cryptopanic({"results": [{"title": "no id"}]}, entity="BTC", ingested_ms=NOW)
    with pytest.raises(DataError, match="no 'results' list"):
        parse_cryptopanic({"detail": "Token invalid"}, entity="BTC", ingested_ms=NOW)


def test_reddit() -> None:
    rows = valid(
        parse_reddit(payload("reddit_new.json"), entity="CryptoCurrency", ingested_ms=NOW),
        "reddit",
        "CryptoCurrency",
    )
    assert list(rows["id"]) == ["t3_1gos0aa", "t3_1gos0ab", "t3_1gorx5c"]
    assert rows.iloc[0]["published_ms"] == 1_731_335_400_000
    assert rows.iloc[0]["text"].startswith("BTC breaking out\n$BTC to the moon")
    assert list(rows["author"]) == ["hodl_hannah", "bear_bob", "AutoModerator"]
    assert rows.iloc[1]["upvote_ratio"] == pytest.approx(0.62)


def test_telegram_skips_service_messages() -> None:
    rows = valid(
        parse_telegram(payload("telegram_messages.json"), entity="whale_alert", ingested_ms=NOW),
        "telegram",
        "whale_alert",
    )
    assert list(rows["id"]) == ["whale_alert:5123", "whale_alert:5121"]
    assert list(rows["message_id"]) == [5123, 5121]
    assert rows.iloc[0]["views"] == 15400 and rows.iloc[0]["replies"] == 33
    # edited at 12:20, but the row is knowable from its first publication at 12:15:30
    assert rows.iloc[1]["published_ms"] == ms("2024-11-11T12:15:30Z")
    assert list(rows["author"]) == ["whale_alert", "Anna"]


def test_x_joins_authors_for_influencer_weights() -> None:
    rows = valid(
        parse_x(payload("x_search_recent.json"), entity="BTC", ingested_ms=NOW), "x", "BTC"
    )
    assert list(rows["author"]) == ["big_influencer", "small_acc"]
    assert list(rows["followers"]) == [2_500_000.0, 120.0]
    assert rows.iloc[0]["likes"] == 61000 and rows.iloc[0]["published_ms"] == ms(
        "2024-11-11T14:20:00Z"
    )
    assert parse_x({"meta": {"result_count": 0}}, entity="BTC", ingested_ms=NOW).empty


def test_github_commits_and_releases() -> None:
    both = {"commits": payload("github_commits.json"), "releases": payload("github_releases.json")}
    rows = valid(
        parse_github(both, entity="bitcoin@bitcoin", ingested_ms=NOW), "github", "bitcoin@bitcoin"
    )
    assert list(rows["kind"]) == ["commit", "commit", "release"]  # the draft is not public
    rebased = rows.iloc[0]
    assert rebased["event_ms"] == ms("2024-11-08T09:00:00Z")  # authored
    assert rebased["published_ms"] == ms("2024-11-10T16:30:00Z")  # committed: knowable then
    assert (
        rebased["author"] == "alicedev" and rebased["message"] == "net: reduce peer eviction churn"
    )
    assert rows.iloc[1]["author"] == "Carol"  # no GitHub account: the git name
    release = rows.iloc[2]
    assert (release["message"], release["published_ms"]) == ("v28.1", ms("2024-11-06T08:00:00Z"))


def test_trends_knowable_at_period_end_and_partial_dropped() -> None:
    rows = valid(
        parse_trends(
            payload("trends_interest.json"), entity="bitcoin", ingested_ms=NOW, window="today_3-m"
        ),
        "trends",
        "bitcoin",
    )
    assert list(rows["interest"]) == [41.0, 48.0, 63.0]  # the running week is dropped
    week = 7 * 86_400_000
    assert (rows["published_ms"] - rows["event_ms"] == week).all()
    assert rows.iloc[0]["id"] == f"today_3-m:{ms('2024-10-20')}"


def test_defillama_pools_snapshot_and_history() -> None:
    pools = valid(
        parse_pools(payload("defillama_pools.json"), ingested_ms=NOW), "defillama", "pools"
    )
    assert len(pools) == 4 and (pools["published_ms"] == NOW).all()
    lido = pools.iloc[0]
    assert (lido["project"], lido["tvl_usd"], lido["il_risk"]) == ("lido", 24.5e9, "no")
    assert np.isnan(lido["apy_reward"])
    chart = valid(
        parse_pool_chart(payload("defillama_chart.json"), entity="8f1c", ingested_ms=NOW),
        "defillama",
        "8f1c",
    )
    assert list(chart["apy"]) == [21.3, 15.2, 18.5]
    assert chart.iloc[0]["published_ms"] == ms("2024-11-08T23:01:22.437Z")


def test_onchain_flows_label_exchanges_and_keep_large_transfers() -> None:
    rules = FlowRules(
        labels={"0xEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE": "binance"}, min_amount=500_000
    )
    rows = valid(
        parse_transfers(
            payload("onchain_logs.json"), entity="USDT", ingested_ms=NOW, decimals=6, rules=rules
        ),
        "onchain",
        "USDT",
    )
    assert list(rows["amount"]) == [
        1_000_000.0,
        10_000.0,
        10_000_000.0,
    ]  # the 100 USDT one is dropped
    assert list(rows["direction"]) == [1.0, -1.0, 0.0]  # deposit, withdrawal, wallet to wallet
    assert list(rows["exchange"]) == ["binance", "binance", ""]
    assert list(rows["large"]) == [1.0, 0.0, 1.0]
    assert rows.iloc[0]["published_ms"] == 1_731_332_411_000
    assert rows.iloc[0]["id"].endswith(":5")
    with pytest.raises(DataError, match="onchain USDT: log 0 is malformed"):
        parse_transfers({"logs": [{"topics": []}]}, entity="USDT", ingested_ms=NOW)
