"""The guarded buyer: exact bonding-curve orders, through the live risk engine, dry-run first.

One door for every transaction (docs/solana.md): the risk engine's verdict (the run's one
:class:`~grekko_research.risk.spec.RiskSpec`: per-token notional, position and exposure limits,
the daily SOL budget ``order.max_notional_per_day``, drawdown and daily-loss breakers, manual
halts and the kill switch), then — live only — a ``simulateTransaction`` of the signed
transaction, the intent (signature known before sending) in the event store, and only then
``sendTransaction``.

Orders are exact: :class:`~live.solana.curve.CurveState` gives the tokens a budget buys and the
lamports they cost (fee included); ``max_sol_cost`` bounds what the program may take
(``slippage_bps`` above the quote), ``min_sol_output`` what a sell must return. Compute budget
instructions set the unit limit and the priority fee.

Keys: :func:`load_keypair` reads the wallet from ``$GREKKO_SOLANA_KEY`` or the keyring
(service ``grekko``, user ``solana``), registers it with the secret masker at once, and its
``repr`` shows only the public key. Dry-run without a key signs with a throwaway key (the same
code path, nothing is sent).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from grekko_research.errors import ConfigError
from live.compliance.screen import Screener, default_screener
from live.solana.accounts import ATA_PROGRAM, PUMP_PROGRAM_KEY, associated_token_address
from live.solana.curve import DEFAULT_FEE_BPS, CurveState, fee
from live.solana.parse import BUY_IX, SELL_IX, TOKEN_PROGRAM, Launch

__all__ = [
    "BuyerConfig",
    "ExitRule",
    "OrderPlan",
    "Position",
    "Wallet",
    "build_buy",
    "build_sell",
    "buy_instruction",
    "exit_reason",
    "load_keypair",
    "plan_buy",
    "plan_sell",
    "sell_instruction",
]

LAMPORTS = 1_000_000_000
KEY_ENV = "GREKKO_SOLANA_KEY"
KEYRING_USER = "solana"
GLOBAL = Pubkey.from_string("4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf")
FEE_RECIPIENT = Pubkey.from_string("CebN5WGQ4jvEPvsVU4EoHEpgzq1VV7AbicfhtW4xC9iM")
EVENT_AUTHORITY = Pubkey.from_string("Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1")
SYSTEM = Pubkey.from_string("11111111111111111111111111111111")
RENT = Pubkey.from_string("SysvarRent111111111111111111111111111111111")
TOKEN = Pubkey.from_string(TOKEN_PROGRAM)


@dataclass(frozen=True)
class BuyerConfig:
    """What one buy spends and when a position exits (``conf/solana/``)."""

    mode: Literal["dry-run", "live"] = "dry-run"
    buy_sol: float = 0.05  # per launch, before the risk engine shrinks it
    slippage_bps: int = 500  # max_sol_cost above the quote; min_sol_output below it
    compute_units: int = 120_000
    priority_fee_micro_lamports: int = 200_000  # per compute unit
    fee_bps: int = DEFAULT_FEE_BPS
    take_profit: float = 0.5  # +50 % on the SOL a sell would return
    stop_loss: float = 0.25  # -25 %
    max_hold_s: float = 900.0
    recheck_s: float = 30.0  # safety re-analysis of open positions (a downgrade exits)

    def __post_init__(self) -> None:
        if self.mode not in ("dry-run", "live"):
            raise ConfigError(f"solana.buyer.mode must be 'dry-run' or 'live', got {self.mode!r}")
        for name in (
            "buy_sol",
            "take_profit",
            "stop_loss",
            "max_hold_s",
            "recheck_s",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"solana.buyer.{name} must be a positive number, got {value!r}")
        if not 0 <= self.slippage_bps <= 5_000:
            raise ConfigError(
                f"solana.buyer.slippage_bps must be in [0, 5000], got {self.slippage_bps}"
            )
        if self.stop_loss >= 1:
            raise ConfigError(f"solana.buyer.stop_loss must be < 1, got {self.stop_loss}")

    @property
    def buy_lamports(self) -> int:
        return round(self.buy_sol * LAMPORTS)


# -- keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wallet:
    """A signing key whose ``repr`` and ``str`` show only the public key."""

    pubkey: Pubkey
    _keypair: Keypair
    throwaway: bool = False
    screener: Screener | None = None  # None: the environment's (live/compliance/screen.py)

    def __repr__(self) -> str:
        return f"Wallet({self.pubkey}{', throwaway' if self.throwaway else ''})"

    __str__ = __repr__

    def sign(self, message: Message) -> VersionedTransaction:
        # Sanctions screening of every account the message touches, before the signature
        (self.screener or default_screener()).before_signing_solana(map(str, message.account_keys))
        return VersionedTransaction(message, [self._keypair])


def load_keypair(*, environ: Mapping[str, str] | None = None, required: bool = False) -> Wallet:
    """The wallet of ``$GREKKO_SOLANA_KEY`` (base58 secret key or a JSON byte array) or the
    keyring (service ``grekko``, user ``solana``); else a throwaway key (dry-run) or, with
    ``required``, a :class:`ConfigError` naming where it looked — never the key."""
    from live.secrets import keyring_secret, register_secrets

    env = os.environ if environ is None else environ
    raw, where = env.get(KEY_ENV), f"environment variable {KEY_ENV}"
    if not raw:
        raw, where = keyring_secret("grekko", KEYRING_USER), "keyring grekko/solana"
    if not raw:
        if required:
            raise ConfigError(
                f"no Solana key: set {KEY_ENV} or store it in the keyring (service grekko, user "
                f"{KEYRING_USER}); live mode needs one"
            )
        kp = Keypair()
        return Wallet(kp.pubkey(), kp, throwaway=True)
    register_secrets(raw.strip())
    try:
        text = raw.strip()
        kp = (
            Keypair.from_bytes(bytes(_json_bytes(text)))
            if text.startswith("[")
            else Keypair.from_base58_string(text)
        )
    except Exception:
        raise ConfigError(
            f"the Solana key in {where} is malformed (not base58 or a 64-byte array)"
        ) from None
    register_secrets(str(kp))
    return Wallet(kp.pubkey(), kp)


def _json_bytes(text: str) -> list[int]:
    import json

    values = json.loads(text)
    if not (
        isinstance(values, list) and len(values) == 64 and all(isinstance(v, int) for v in values)
    ):
        raise ValueError("not a 64-byte array")
    return values


# -- instructions ------------------------------------------------------------------------


def buy_instruction(launch: Launch, user: Pubkey, amount: int, max_sol_cost: int) -> Instruction:
    """The launch program's ``buy`` (accounts in the program's order)."""
    mint, curve = Pubkey.from_string(launch.mint), Pubkey.from_string(launch.bonding_curve)
    return Instruction(
        PUMP_PROGRAM_KEY,
        BUY_IX + struct.pack("<QQ", amount, max_sol_cost),
        [
            AccountMeta(GLOBAL, False, False),
            AccountMeta(FEE_RECIPIENT, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(curve, False, True),
            AccountMeta(associated_token_address(curve, mint, TOKEN), False, True),
            AccountMeta(associated_token_address(user, mint, TOKEN), False, True),
            AccountMeta(user, True, True),
            AccountMeta(SYSTEM, False, False),
            AccountMeta(TOKEN, False, False),
            AccountMeta(RENT, False, False),
            AccountMeta(EVENT_AUTHORITY, False, False),
            AccountMeta(PUMP_PROGRAM_KEY, False, False),
        ],
    )


def sell_instruction(
    launch: Launch,
    user: Pubkey,
    amount: int,
    min_sol_output: int,
    *,
    token_program: Pubkey = TOKEN,
) -> Instruction:
    """The launch program's ``sell`` (accounts in the program's order; ``token_program`` the
    mint's, SPL Token for the program's own launches)."""
    mint, curve = Pubkey.from_string(launch.mint), Pubkey.from_string(launch.bonding_curve)
    return Instruction(
        PUMP_PROGRAM_KEY,
        SELL_IX + struct.pack("<QQ", amount, min_sol_output),
        [
            AccountMeta(GLOBAL, False, False),
            AccountMeta(FEE_RECIPIENT, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(curve, False, True),
            AccountMeta(associated_token_address(curve, mint, token_program), False, True),
            AccountMeta(associated_token_address(user, mint, token_program), False, True),
            AccountMeta(user, True, True),
            AccountMeta(SYSTEM, False, False),
            AccountMeta(ATA_PROGRAM, False, False),
            AccountMeta(token_program, False, False),
            AccountMeta(EVENT_AUTHORITY, False, False),
            AccountMeta(PUMP_PROGRAM_KEY, False, False),
        ],
    )


def _create_ata(payer: Pubkey, mint: Pubkey) -> Instruction:
    return Instruction(
        ATA_PROGRAM,
        bytes([1]),  # CreateIdempotent
        [
            AccountMeta(payer, True, True),
            AccountMeta(associated_token_address(payer, mint, TOKEN), False, True),
            AccountMeta(payer, False, False),
            AccountMeta(mint, False, False),
            AccountMeta(SYSTEM, False, False),
            AccountMeta(TOKEN, False, False),
        ],
    )


# -- plans -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderPlan:
    """An exact order: tokens, the quoted lamports (fee included) and the bound."""

    side: Literal["buy", "sell"]
    mint: str
    tokens: int
    lamports: int  # buy: cost + fee; sell: proceeds - fee
    bound: int  # buy: max_sol_cost; sell: min_sol_output

    def to_json(self) -> dict[str, Any]:
        return {"side": self.side, "mint": self.mint, "tokens": self.tokens,
                "lamports": self.lamports, "bound": self.bound}  # fmt: skip


def plan_buy(curve: CurveState, lamports: int, config: BuyerConfig, mint: str) -> OrderPlan | None:
    """The most tokens ``lamports`` (fee included) buys on ``curve``; ``None`` if none."""
    budget = lamports * 10_000 // (10_000 + config.fee_bps)  # the most the curve may take
    while budget + 1 + fee(budget + 1, config.fee_bps) <= lamports:  # floor of the fee: a bit more
        budget += 1
    tokens = curve.tokens_for(budget)
    if tokens <= 0:
        return None
    cost = curve.buy_cost(tokens)
    total = cost + fee(cost, config.fee_bps)
    bound = (
        cost * (10_000 + config.slippage_bps) // 10_000
    )  # the program bounds the cost before fee
    return OrderPlan("buy", mint, tokens, total, bound)


def plan_sell(curve: CurveState, tokens: int, config: BuyerConfig, mint: str) -> OrderPlan:
    out = curve.sell_proceeds(tokens)
    net = out - fee(out, config.fee_bps)
    return OrderPlan("sell", mint, tokens, net, out * (10_000 - config.slippage_bps) // 10_000)


def _budget_ixs(config: BuyerConfig) -> list[Instruction]:
    return [
        set_compute_unit_limit(config.compute_units),
        set_compute_unit_price(config.priority_fee_micro_lamports),
    ]


def build_buy(
    launch: Launch, plan: OrderPlan, wallet: Wallet, blockhash: Hash, config: BuyerConfig
) -> VersionedTransaction:
    """The signed buy: compute budget, the wallet's token account (idempotent), buy."""
    ixs = [
        *_budget_ixs(config),
        _create_ata(wallet.pubkey, Pubkey.from_string(launch.mint)),
        buy_instruction(launch, wallet.pubkey, plan.tokens, plan.bound),
    ]
    return wallet.sign(Message.new_with_blockhash(ixs, wallet.pubkey, blockhash))


def build_sell(
    launch: Launch, plan: OrderPlan, wallet: Wallet, blockhash: Hash, config: BuyerConfig
) -> VersionedTransaction:
    ixs = [*_budget_ixs(config), sell_instruction(launch, wallet.pubkey, plan.tokens, plan.bound)]
    return wallet.sign(Message.new_with_blockhash(ixs, wallet.pubkey, blockhash))


# -- positions and exits -----------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """An open position: tokens held and what they cost (lamports, fee included)."""

    launch: Launch
    tokens: int
    cost_lamports: int
    opened_ms: int
    signature: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"launch": self.launch.to_json(), "tokens": self.tokens,
                "cost_lamports": self.cost_lamports, "opened_ms": self.opened_ms,
                "signature": self.signature}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Position:
        return cls(Launch(**data["launch"]), int(data["tokens"]), int(data["cost_lamports"]),
                   int(data["opened_ms"]), data.get("signature"))  # fmt: skip


ExitRule = Literal["take_profit", "stop_loss", "time", "safety", "migrated", "kill"]


def exit_reason(
    position: Position, curve: CurveState, now_ms: int, config: BuyerConfig, *, safe: bool = True
) -> tuple[ExitRule, float] | None:
    """Why ``position`` should exit now (and its return), or ``None``: the value is what a sell
    would return on ``curve`` after the fee (exact)."""
    if curve.complete:
        return "migrated", math.nan
    out = curve.sell_proceeds(position.tokens)
    ret = (out - fee(out, config.fee_bps)) / position.cost_lamports - 1.0
    if not safe:
        return "safety", ret
    if ret >= config.take_profit:
        return "take_profit", ret
    if ret <= -config.stop_loss:
        return "stop_loss", ret
    if now_ms - position.opened_ms >= config.max_hold_s * 1000:
        return "time", ret
    return None
