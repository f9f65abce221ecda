"""Transaction fees: EIP-1559 from ``eth_feeHistory`` percentiles, legacy gas price elsewhere,
and the replacement rule (a replacement pays at least ``bump`` more on every fee field).

:func:`fees_from_history` is pure (the node's answer in, fees out); :func:`suggest_fees` asks
the node. The urgency picks the percentile of the priority fees the last blocks' transactions
paid: ``low`` the 10th, ``normal`` the median, ``high`` the 90th. ``maxFeePerGas`` leaves room
for the base fee to double (six full blocks of +12.5 %) before the transaction stops being
includable; only base fee + tip is paid.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grekko_research.errors import ConfigError

if TYPE_CHECKING:
    from web3 import AsyncWeb3

__all__ = [
    "LEGACY_MULTIPLIER",
    "MIN_REPLACEMENT_BUMP",
    "PERCENTILES",
    "Fees",
    "fees_from_history",
    "suggest_fees",
]

PERCENTILES: dict[str, float] = {"low": 10.0, "normal": 50.0, "high": 90.0}
LEGACY_MULTIPLIER: dict[str, tuple[int, int]] = {"low": (1, 1), "normal": (11, 10), "high": (5, 4)}
"""Legacy chains: the node's ``eth_gasPrice`` times this (numerator, denominator)."""
MIN_REPLACEMENT_BUMP = 0.10
"""geth and most nodes refuse a same-nonce replacement paying less than +10 %; anvil accepts
less, so we enforce it ourselves."""


def _ceil_mul(value: int, factor: float) -> int:
    # integer ceiling of value * (1 + factor), exact for the factors configs use
    num = round((1 + factor) * 1_000_000)
    return -(-value * num // 1_000_000)


@dataclass(frozen=True)
class Fees:
    """Either EIP-1559 (``max_fee`` and ``priority_fee``) or legacy (``gas_price``), in wei.

    ``base_fee`` is the next block's base fee the suggestion was made against (0 on legacy):
    what :meth:`expected_price` pays per gas.
    """

    max_fee: int | None = None
    priority_fee: int | None = None
    gas_price: int | None = None
    base_fee: int = 0

    def __post_init__(self) -> None:
        eip1559 = self.max_fee is not None or self.priority_fee is not None
        if eip1559 == (self.gas_price is not None):
            raise ConfigError(
                "fees: give max_fee and priority_fee (EIP-1559) or gas_price (legacy)"
            )
        if eip1559 and (
            self.max_fee is None or self.priority_fee is None or self.max_fee < self.priority_fee
        ):
            raise ConfigError(
                f"fees: max_fee {self.max_fee} below priority_fee {self.priority_fee}"
            )

    @property
    def eip1559(self) -> bool:
        return self.gas_price is None

    def tx_fields(self) -> dict[str, int]:
        """The transaction's fee fields (``type`` 2 or legacy)."""
        if self.gas_price is not None:
            return {"gasPrice": self.gas_price}
        assert self.max_fee is not None
        assert self.priority_fee is not None
        return {"maxFeePerGas": self.max_fee, "maxPriorityFeePerGas": self.priority_fee}

    def expected_price(self) -> int:
        """Wei per gas this transaction should pay if mined in the next block."""
        if self.gas_price is not None:
            return self.gas_price
        assert self.max_fee is not None
        assert self.priority_fee is not None
        return min(self.max_fee, self.base_fee + self.priority_fee)

    def max_price(self) -> int:
        """Wei per gas at most (the budget a risk check must assume)."""
        return self.gas_price if self.gas_price is not None else int(self.max_fee or 0)

    def bumped(self, bump: float) -> Fees:
        """Every fee field raised by ``bump`` (rounded up), the least a replacement may pay."""
        if bump < MIN_REPLACEMENT_BUMP:
            raise ConfigError(
                f"replacement bump {bump}: nodes refuse less than {MIN_REPLACEMENT_BUMP}"
            )
        if self.gas_price is not None:
            return Fees(gas_price=_ceil_mul(self.gas_price, bump), base_fee=self.base_fee)
        assert self.max_fee is not None
        assert self.priority_fee is not None
        return Fees(
            max_fee=_ceil_mul(self.max_fee, bump),
            priority_fee=_ceil_mul(self.priority_fee, bump),
            base_fee=self.base_fee,
        )

    def replaces(self, old: Fees, bump: float = MIN_REPLACEMENT_BUMP) -> bool:
        """Whether these fees may replace ``old`` at the same nonce (every field >= bumped)."""
        need = old.bumped(bump)
        if self.eip1559 != old.eip1559:
            return False
        if self.gas_price is not None:
            return self.gas_price >= int(need.gas_price or 0)
        return int(self.max_fee or 0) >= int(need.max_fee or 0) and int(
            self.priority_fee or 0
        ) >= int(need.priority_fee or 0)

    def at_least(self, other: Fees) -> Fees:
        """Field by field the larger of the two (a replacement never pays less than today's)."""
        if self.gas_price is not None:
            return Fees(gas_price=max(self.gas_price, other.gas_price or 0), base_fee=self.base_fee)
        return Fees(
            max_fee=max(int(self.max_fee or 0), int(other.max_fee or 0)),
            priority_fee=max(int(self.priority_fee or 0), int(other.priority_fee or 0)),
            base_fee=max(self.base_fee, other.base_fee),
        )

    def to_json(self) -> dict[str, int | None]:
        return {
            "max_fee": self.max_fee,
            "priority_fee": self.priority_fee,
            "gas_price": self.gas_price,
            "base_fee": self.base_fee,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fees:
        return cls(data.get("max_fee"), data.get("priority_fee"), data.get("gas_price"),
                   int(data.get("base_fee") or 0))  # fmt: skip


def _percentile_index(percentiles: list[float], urgency: str) -> int:
    if urgency not in PERCENTILES:
        raise ConfigError(f"urgency {urgency!r}: expected one of {sorted(PERCENTILES)}")
    want = PERCENTILES[urgency]
    if want not in percentiles:
        raise ConfigError(f"fee history has no {want}th percentile (asked: {percentiles})")
    return percentiles.index(want)


def _int(v: Any) -> int:
    return int(v, 16) if isinstance(v, str) else int(v)


def fees_from_history(
    history: dict[str, Any],
    urgency: str = "normal",
    *,
    percentiles: list[float] | None = None,
    min_priority_fee: int = 0,
) -> Fees:
    """EIP-1559 fees from an ``eth_feeHistory`` answer (``baseFeePerGas`` has one entry more
    than the blocks: the next block's base fee, which is what the transaction will meet).

    The tip is the median over the blocks of the urgency's percentile (empty blocks, whose
    rewards are all 0, are left out unless every block is empty), at least ``min_priority_fee``.
    """
    pct = percentiles if percentiles is not None else sorted(PERCENTILES.values())
    idx = _percentile_index(pct, urgency)
    bases = [_int(b) for b in history.get("baseFeePerGas") or []]
    if not bases:
        raise ConfigError("fee history without baseFeePerGas: the chain has no EIP-1559")
    rewards = [[_int(x) for x in r] for r in history.get("reward") or []]
    ratios = history.get("gasUsedRatio") or [1.0] * len(rewards)
    busy = [r[idx] for r, used in zip(rewards, ratios, strict=False) if used > 0 and len(r) > idx]
    tips = sorted(busy or [r[idx] for r in rewards if len(r) > idx] or [0])
    tip = max(tips[len(tips) // 2], min_priority_fee)
    base = bases[-1]
    return Fees(max_fee=2 * base + tip, priority_fee=tip, base_fee=base)


async def suggest_fees(
    w3: AsyncWeb3[Any],
    *,
    eip1559: bool,
    urgency: str = "normal",
    blocks: int = 20,
    min_priority_fee: int = 0,
) -> Fees:
    """Ask the node: ``eth_feeHistory`` (EIP-1559 chains) or ``eth_gasPrice`` (legacy)."""
    if not eip1559:
        if urgency not in LEGACY_MULTIPLIER:
            raise ConfigError(f"urgency {urgency!r}: expected one of {sorted(LEGACY_MULTIPLIER)}")
        num, den = LEGACY_MULTIPLIER[urgency]
        price = int(await w3.eth.gas_price)
        return Fees(gas_price=-(-price * num // den))
    pct = sorted(PERCENTILES.values())
    history = await w3.eth.fee_history(blocks, "latest", pct)
    return fees_from_history(dict(history), urgency, percentiles=pct,
                             min_priority_fee=min_priority_fee)  # fmt: skip
