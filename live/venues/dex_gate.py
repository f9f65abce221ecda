"""The DEX venue's pre-trade gate: an order becomes an exact-input swap plan, or a refusal.

Pure (no I/O): the pool snapshot, the fees, the gas estimate and the run's one
:class:`~grekko_research.risk.spec.RiskSpec` come in (its ``dex`` part,
:class:`~grekko_research.risk.spec.DexRisk`, holds the DEX limits), a :class:`SwapPlan` or a
:class:`GateRefusal` naming the rule comes out. The rules, in order:

``price_impact``   the library's AMM fill rule (:func:`~grekko_research.dex.fill.amm_fill`,
                   the backtest's rule, with the same ``risk.dex.max_price_impact``): the exact
                   quote's impact, LP fee included, must stay within it (live refuses rather
                   than shrinking the order)
``max_notional``   the run's :class:`~grekko_research.risk.spec.RiskSpec` ``order.max_notional``
                   checked on the exact quote's notional (the one risk spec; the runner checked
                   its reference price before)
``gas_to_notional`` the transaction's worst-case gas cost (limit x max fee) over the notional,
                   both in the quote token, at most ``risk.dex.max_gas_to_notional``
``pending_swaps``  our own swaps sent and not final, at most ``risk.dex.max_pending_swaps``
                   (the venue checks it: it holds the nonce log)
``pending_swap``   a pending swap of someone else on the same pool, seen by the mempool
                   monitor, moving its price more than ``risk.dex.pending_swap_impact``

``minOut`` is the exact quote less ``risk.dex.slippage_bps``; the deadline is the node's latest
block time plus ``risk.dex.deadline_s``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from grekko_research.dex.fill import AmmFillRule, amm_fill
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v2 import V2Pair, amount_in
from grekko_research.risk.checks import check_max_notional
from grekko_research.risk.spec import DexRisk, RiskSpec
from live.chain.dex_conf import DexMarket

__all__ = ["GateRefusal", "SwapPlan", "exact_out_input", "mid_price", "plan_swap"]


@dataclass(frozen=True)
class GateRefusal:
    """Why an order was not sent: the rule and its numbers."""

    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@dataclass(frozen=True)
class SwapPlan:
    """An exact-input swap through the executor, in raw token units."""

    symbol: str
    side: str
    token_in: str
    token_out: str
    amount_in: int
    quote_out: int  # exact quote on the snapshot
    min_out: int
    zero_for_one: bool
    price_impact: float
    deadline: int
    block: int
    base_qty: Decimal  # what the order trades, in base units (the quote for a buy)
    notional: Decimal  # in the quote token


def mid_price(market: DexMarket, state: V2Pair | PoolState) -> Decimal:
    """Quote token per base token (human units) at the pool's current price."""
    if isinstance(state, V2Pair):
        p1_per_0 = Decimal(state.reserve1) / Decimal(state.reserve0)
    else:
        p1_per_0 = (Decimal(state.sqrt_price_x96) / Decimal(2**96)) ** 2
    raw = p1_per_0 if market.base_is_token0 else 1 / p1_per_0
    return raw * Decimal(10) ** (market.base.decimals - market.quote.decimals)


def exact_out_input(state: V2Pair | PoolState, amount_out: int, zero_for_one: bool) -> int:
    """The input that buys exactly ``amount_out`` (the library's exact-output quote)."""
    if isinstance(state, V2Pair):
        r_in, r_out = (
            (state.reserve0, state.reserve1) if zero_for_one else (state.reserve1, state.reserve0)
        )
        return amount_in(amount_out, r_in, r_out, state.fee)
    return state.quote(amount_out, zero_for_one, exact_in=False).amount_in


def _units(amount: int, decimals: int) -> Decimal:
    return Decimal(amount).scaleb(-decimals)


def plan_swap(
    market: DexMarket,
    state: V2Pair | PoolState,
    *,
    side: str,
    qty: Decimal,
    block: int,
    block_time: int,
    risk: RiskSpec,
) -> SwapPlan | GateRefusal:
    """Turn "buy/sell ``qty`` base" into an exact-input swap on ``state``, or refuse it by the
    run's risk spec (``risk.dex`` and ``risk.order.max_notional``).

    A sell pays exactly ``qty`` base; a buy pays the exact-output quote's input for ``qty``
    base (then receives at least ``qty`` less slippage).
    """
    limits = risk.dex
    base, quote = market.base, market.quote
    base_raw = int((qty * Decimal(10) ** base.decimals).to_integral_value(rounding="ROUND_DOWN"))
    if base_raw <= 0:
        return GateRefusal("qty", f"{qty} {base.symbol} is below one raw unit")
    sell = side == "sell"
    # token0 -> token1 when paying token0: selling base that is token0, or buying with quote token0
    zero_for_one = market.base_is_token0 if sell else not market.base_is_token0
    try:
        paid = base_raw if sell else exact_out_input(state, base_raw, zero_for_one)
        fill = amm_fill(
            state, paid, zero_for_one, AmmFillRule(limits.max_price_impact, refuse=True)
        )
    except (ValueError, ArithmeticError) as e:  # drains the pool, or past the price range
        return GateRefusal("liquidity", f"{side} {qty} {base.symbol}: {e}")
    if fill.refused:
        impact = amm_fill(state, paid, zero_for_one, AmmFillRule(0.999999)).price_impact
        return GateRefusal(
            "price_impact",
            f"{impact:.4%} over risk.dex.max_price_impact {limits.max_price_impact:.4%}",
        )
    quote_raw = fill.amount_out if sell else paid
    notional = _units(quote_raw, quote.decimals)
    if risk.order.max_notional is not None:
        v = check_max_notional(float(qty), float(notional / qty), risk.order.max_notional)
        if not v.ok:
            return GateRefusal(
                "max_notional", f"{notional} {quote.symbol} over {risk.order.max_notional}"
            )
    min_out = fill.amount_out * (10_000 * 100 - round(limits.slippage_bps * 100)) // (10_000 * 100)
    if min_out <= 0:
        return GateRefusal("min_out", f"quote {fill.amount_out} leaves no minimum output")
    return SwapPlan(
        symbol=market.symbol, side=side,
        token_in=base.address if sell else quote.address,
        token_out=quote.address if sell else base.address,
        amount_in=paid, quote_out=fill.amount_out, min_out=min_out, zero_for_one=zero_for_one,
        price_impact=fill.price_impact, deadline=block_time + limits.deadline_s, block=block,
        base_qty=qty, notional=notional,
    )  # fmt: skip


def check_gas(
    plan: SwapPlan, gas_cost_quote: Decimal | None, limits: DexRisk
) -> GateRefusal | None:
    """The gas-to-notional rule; ``gas_cost_quote`` None: the cost could not be priced in the
    quote token (refused when the rule is on: fail closed)."""
    if limits.max_gas_to_notional is None:
        return None
    if gas_cost_quote is None:
        return GateRefusal("gas_to_notional", "gas cost cannot be priced in the quote token")
    ratio = gas_cost_quote / plan.notional if plan.notional > 0 else Decimal("Infinity")
    if ratio > Decimal(str(limits.max_gas_to_notional)):
        return GateRefusal(
            "gas_to_notional",
            f"gas {gas_cost_quote:.6g} is {ratio:.4%} of notional {plan.notional:.6g} "
            f"(risk.dex.max_gas_to_notional {limits.max_gas_to_notional:.4%})",
        )
    return None
