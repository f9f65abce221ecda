"""The venue and jurisdiction policy: typed file, and the live runner refusing to start outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.compliance.policy import PolicyViolation, load_policy
from grekko_research.config import compose_config
from grekko_research.errors import ConfigError
from live.app import plan_run, run_plan
from live.compliance.policy import check_plan, check_run

SPOT_ONLY = """
jurisdiction: strict
jurisdictions:
  strict:
    venues: [coinbase, "dex:uniswap_*"]
    markets: [spot]
    chains: [ethereum]
  loose:
    venues: ["*"]
    markets: [spot, perp]
    chains: [ethereum, polygon]
"""


def _policy(tmp_path: Path, text: str = SPOT_ONLY) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def _plan(tmp_path: Path, *extra: str):  # type: ignore[no-untyped-def]
    cfg = compose_config(["strategy=sma_cross", "risk=conservative", "live.mode=live",
                          f"live.state_dir={tmp_path / 'runs'}", *extra])  # fmt: skip
    return plan_run(cfg)


def test_the_shipped_policy_loads_and_allows_what_grekko_implements() -> None:
    policy = load_policy(environ={})
    assert policy.jurisdiction == "unreviewed"
    check_run(venue="binanceusdm", symbols=["BTC/USDT:USDT"], chain=None, policy=policy)
    check_run(venue="dex:uniswap_polygon", symbols=["WETH/USDC"], chain="polygon", policy=policy)
    with pytest.raises(PolicyViolation, match="venue 'kraken'"):
        check_run(venue="kraken", symbols=["BTC/USD"], chain=None, policy=policy)


def test_the_live_runner_refuses_to_start_outside_the_jurisdiction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREKKO_COMPLIANCE_POLICY", str(_policy(tmp_path)))
    plan = _plan(tmp_path, "live=binanceusdm", "live.symbols=[BTC/USDT]")
    with pytest.raises(PolicyViolation) as info:
        run_plan(plan)
    msg = str(info.value)
    assert "jurisdiction 'strict'" in msg and "venue 'binanceusdm'" in msg and "perp market" in msg
    assert not Path(plan.events).exists()  # refused before the run's log was opened
    check_plan(_plan(tmp_path, "live=coinbase", "live.symbols=[BTC/USD]"))  # allowed: no error
    monkeypatch.setenv("GREKKO_JURISDICTION", "loose")  # the environment picks another entry
    check_plan(plan)
    monkeypatch.setenv("GREKKO_JURISDICTION", "atlantis")
    with pytest.raises(PolicyViolation, match="'atlantis' is not in"):
        check_plan(plan)
    # paper runs place no order anywhere: not checked
    check_plan(_plan(tmp_path, "live=binanceusdm", "live.mode=paper"))


def test_a_dex_venue_is_checked_by_its_chain(tmp_path: Path) -> None:
    policy = load_policy(_policy(tmp_path), environ={})
    check_run(venue="dex:uniswap_ethereum", symbols=["WETH/USDC"], chain="ethereum", policy=policy)
    with pytest.raises(PolicyViolation, match="chain 'polygon'"):
        check_run(
            venue="dex:uniswap_polygon", symbols=["WETH/USDC"], chain="polygon", policy=policy
        )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "jurisdiction: a\njurisdictions: {a: {venues: [x], markets: [swap], chains: []}}",
            "markets \\['swap'\\]",
        ),
        (
            "jurisdiction: a\njurisdictions: {a: {venues: x, markets: [spot], chains: []}}",
            "a.venues: a list",
        ),
        ("jurisdiction: a\njurisdictions: {a: {venue: [x]}}", "unknown keys \\['venue'\\]"),
        ("jurisdiction: null\njurisdictions: {}", None),
    ],
)
def test_policy_errors_name_the_key(tmp_path: Path, text: str, match: str | None) -> None:
    if match is None:  # no jurisdiction: a live run refuses
        with pytest.raises(PolicyViolation, match="no deployment jurisdiction"):
            load_policy(_policy(tmp_path, text), environ={}).active()
        return
    with pytest.raises(ConfigError, match=match):
        load_policy(_policy(tmp_path, text), environ={})
    with pytest.raises(PolicyViolation, match="no compliance policy"):
        load_policy(tmp_path / "missing.yaml", environ={})
