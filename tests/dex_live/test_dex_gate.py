"""The pre-trade gate without a node: the AMM fill rule on a V2 pair, plans and refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from grekko_research.dex.fill import AmmFillRule, amm_fill
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v2 import FORKS, V2Pair, amount_in, amount_out
from grekko_research.dex.v3.ticks import TickMap
from grekko_research.risk.spec import DexRisk, OrderRisk, RiskSpec
from live.chain.dex_conf import DexMarket, Token
from live.venues.dex_gate import GateRefusal, SwapPlan, mid_price, plan_swap

E18 = 10**18
USDC = Token("USDC", "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 6)  # token0 (lower address)
WETH = Token("WETH", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", 18)  # token1
PAIR = V2Pair(3_000_000 * 10**6, 1_000 * E18, FORKS["uniswap_v2"])  # 3,000 USDC per WETH
V2M = DexMarket("WETH/USDC", WETH, USDC, "0x" + "11" * 20, "v2", 997000)


@pytest.mark.parametrize("zero_for_one", [True, False])
def test_v2_impact_is_measured_as_v3s(zero_for_one: bool) -> None:
    """A tiny V2 trade's impact is the LP fee, counted as a V3 pool's quote counts it; a V3
    pool with the same price and full-range liquidity agrees on a large trade's impact."""
    amount = 10**6 if zero_for_one else 10**15
    fill = amm_fill(PAIR, amount, zero_for_one, AmmFillRule(0.5))
    # token0 in: 1 - exec/mid; token1 in: the price of token0 paid over mid, - 1 (V3's terms)
    fee_only = 0.003 if zero_for_one else 1 / 0.997 - 1
    assert fill.price_impact == pytest.approx(fee_only, abs=2e-6)
    r_in, r_out = (PAIR.reserve0, PAIR.reserve1) if zero_for_one else (PAIR.reserve1, PAIR.reserve0)
    assert fill.amount_out == amount_out(amount, r_in, r_out)
    # The same curve as a V3 full-range position (L = sqrt(r0 r1), fee 0.3 %)
    liq = int((PAIR.reserve0 * PAIR.reserve1) ** 0.5)
    sqrt_p = int((PAIR.reserve1 / PAIR.reserve0) ** 0.5 * 2**96)
    lo = -(887272 // 60) * 60
    v3 = PoolState(3000, 60, sqrt_p, 0, liq, TickMap.from_nets(60, {lo: liq, -lo: -liq}))
    from grekko_research.dex.v3.tick_math import tick_at_sqrt_ratio

    v3.tick = tick_at_sqrt_ratio(sqrt_p)
    big = amount * 10**4
    assert amm_fill(PAIR, big, zero_for_one, AmmFillRule(0.5)).price_impact == pytest.approx(
        amm_fill(v3, big, zero_for_one, AmmFillRule(0.5)).price_impact, rel=1e-4
    )


def test_v2_shrink_and_refuse_follow_the_rule() -> None:
    shrunk = amm_fill(PAIR, 100 * E18, False, AmmFillRule(0.01))
    assert shrunk.shrunk and shrunk.price_impact <= 0.01
    over = amm_fill(PAIR, shrunk.amount_in * 101 // 100, False, AmmFillRule(0.5)).price_impact
    assert over > 0.01
    assert amm_fill(PAIR, 100 * E18, False, AmmFillRule(0.01, refuse=True)).refused


def test_plans_for_buys_and_sells() -> None:
    risk = RiskSpec(dex=DexRisk(slippage_bps=30, deadline_s=60))
    assert mid_price(V2M, PAIR) == Decimal(3000)
    sell = plan_swap(V2M, PAIR, side="sell", qty=Decimal("2"), block=7, block_time=1000, risk=risk)
    assert isinstance(sell, SwapPlan)
    assert sell.token_in == WETH.address and not sell.zero_for_one and sell.amount_in == 2 * E18
    assert sell.quote_out == amount_out(2 * E18, PAIR.reserve1, PAIR.reserve0)
    assert sell.min_out == sell.quote_out * 9970 // 10000 and sell.deadline == 1060
    buy = plan_swap(V2M, PAIR, side="buy", qty=Decimal("2"), block=7, block_time=1000, risk=risk)
    assert isinstance(buy, SwapPlan)
    assert buy.token_in == USDC.address and buy.zero_for_one
    assert buy.amount_in == amount_in(2 * E18, PAIR.reserve0, PAIR.reserve1)
    assert buy.quote_out >= 2 * E18  # exactly-out's input buys at least qty
    assert buy.notional == Decimal(buy.amount_in).scaleb(-6)


@pytest.mark.parametrize(("kw", "rule"), [
    ({"qty": Decimal("1e-30")}, "qty"),
    ({"qty": Decimal(5000)}, "liquidity"),  # more WETH than the pair holds
    ({"qty": Decimal(100), "risk": RiskSpec(dex=DexRisk(max_price_impact=0.01))}, "price_impact"),
    ({"qty": Decimal(2), "risk": RiskSpec(order=OrderRisk(max_notional=5000.0))}, "max_notional"),
])  # fmt: skip
def test_refusals_name_the_rule(kw: dict[str, object], rule: str) -> None:
    args: dict[str, object] = {
        "side": "buy",
        "block": 1,
        "block_time": 0,
        "risk": RiskSpec(),
        **kw,
    }
    out = plan_swap(V2M, PAIR, **args)  # type: ignore[arg-type]
    assert isinstance(out, GateRefusal) and out.rule == rule, out
