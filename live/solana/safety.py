"""The safety analyzer: a verdict with reasons from on-chain facts, failing closed.

Facts read through the real ``solana`` async client (every one is required):

- the mint (``getMultipleAccounts``, with the bonding curve and the Metaplex metadata): mint
  authority revoked, freeze authority absent, Token-2022 extensions (transfer fee, permanent
  delegate, transfer hook, non-transferable, default frozen state, pausable, confidential);
- metadata mutability;
- the bonding curve: reserves, progress, not yet complete;
- supply concentration of the largest holders (``getTokenLargestAccounts`` and their owners by
  ``getMultipleAccounts``), excluding the bonding curve's token account and configured vaults;
- the creator's other launches seen by the monitor;
- two ``simulateTransaction`` checks, run concurrently (signatures not verified, the
  blockhash replaced):

  - the **sell**: the launch program's own ``sell`` instruction, byte-identical to the one the
    buyer sends (:func:`~live.solana.buyer.sell_instruction`), of ``sell_probe_tokens`` from the
    creator's account. An error rejects (``sell_simulation_failed``, with the program's last
    log line); on success the ``TradeEvent`` in the logs must be the only sell of this mint,
    of exactly the probe by the creator, and pay exactly what the curve math gives on the
    reserves it records (``sell_simulation_mismatch`` otherwise; 0 lamports:
    ``sell_returns_nothing``); logs that do not parse, or no such event, reject as a missing
    fact. The quote on the curve read before is recorded beside it (the curve may have moved
    in between: the event's own reserves are what the check uses);
  - the **transfer**: one base unit moved by the token program from the creator's account to
    the curve's (``TransferChecked``, as the sell moves it), so a frozen account or a mint
    that cannot move is named by the SPL Token / Token-2022 program itself
    (``transfer_simulation_failed``).

**Fails closed**: an RPC error, a timeout, a malformed answer, an unknown account layout or a
missing fact makes the verdict ``REJECT`` with the reason naming the fact — never a default
pass. A fatal finding rejects and scores 0; otherwise the score is 100 less the penalties and
must reach ``min_score``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from live.solana.accounts import (
    TokenAccount,
    associated_token_address,
    bonding_curve_address,
    decode_metadata,
    decode_mint,
    decode_token_account,
    metadata_address,
)
from live.solana.buyer import sell_instruction
from live.solana.curve import CurveState, decode_curve
from live.solana.parse import Launch, ParseError, Trade, trades_from_logs

__all__ = ["Reason", "SafetyAnalyzer", "SafetyConfig", "Verdict"]

T = TypeVar("T")

# Extensions whose mere presence lets someone else take, freeze, tax or block the holder's tokens.
_FATAL_EXTENSIONS = {
    "permanent_delegate": "a permanent delegate can move or burn any holder's tokens",
    "non_transferable": "the token is non-transferable: it cannot be sold",
    "pausable": "the mint can be paused: transfers can be stopped",
    "confidential_transfer_mint": "confidential transfers hide balances from this analysis",
    "confidential_transfer_fee_config": "confidential transfer fees hide fees from this analysis",
    "confidential_mint_burn": "confidential mint/burn hides the supply from this analysis",
}


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the analyzer (``conf/solana/`` sets them for a run)."""

    max_holder_share: float = 0.10  # the largest holder (curve and vaults excluded)
    max_top10_share: float = 0.30
    max_creator_launches: int = 3  # other launches of the same creator seen by the monitor
    creator_launch_penalty: int = 10  # per other launch, up to the maximum
    max_curve_progress: float = 0.85  # late on the curve: little upside, migration risk
    mutable_metadata_penalty: int = 20
    min_score: int = 60
    timeout_s: float = 5.0  # per RPC call
    excluded_owners: tuple[str, ...] = ()  # pool vault owners, beyond the bonding curve
    # base units the simulated sell sells from the creator's account (100 000 tokens of 6
    # decimals: about 0.003 SOL on a fresh curve); a creator holding fewer rejects
    sell_probe_tokens: int = 100_000_000_000

    def __post_init__(self) -> None:
        for name in ("max_holder_share", "max_top10_share", "max_curve_progress"):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f"solana.safety.{name} must be in (0, 1], got {value}")
        if self.timeout_s <= 0:
            raise ValueError(f"solana.safety.timeout_s must be positive, got {self.timeout_s}")
        probe = self.sell_probe_tokens
        if not (isinstance(probe, int) and not isinstance(probe, bool) and probe > 0):
            raise ValueError(
                f"solana.safety.sell_probe_tokens must be a positive integer, got {probe!r}"
            )


@dataclass(frozen=True)
class Reason:
    """One finding: a code, what was measured, and whether it alone rejects."""

    code: str
    detail: str
    fatal: bool = False
    penalty: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "detail": self.detail,
            "fatal": self.fatal,
            "penalty": self.penalty,
        }


@dataclass(frozen=True)
class Verdict:
    """``PASS`` or ``REJECT``, the score, the reasons and the facts read."""

    mint: str
    verdict: str
    score: int
    reasons: tuple[Reason, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    elapsed_ms: float = 0.0

    @property
    def passed(self) -> bool:
        return self.verdict == "PASS"

    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.reasons]

    def to_json(self) -> dict[str, Any]:
        return {
            "mint": self.mint,
            "verdict": self.verdict,
            "score": self.score,
            "reasons": [r.to_json() for r in self.reasons],
            "facts": self.facts,
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


class _FactError(Exception):
    """A fact could not be established: the analysis rejects with this reason."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = Reason(code, detail, fatal=True)


class SafetyAnalyzer:
    """Scores a launch from chain facts read through ``client`` (a ``solana`` AsyncClient).

    Parameters
    ----------
    client
        The RPC client (``solana.rpc.async_api.AsyncClient``).
    config
        Limits and penalties.
    creator_launches
        How many launches of a creator the monitor has seen (this one included).
    """

    def __init__(
        self,
        client: Any,
        config: SafetyConfig | None = None,
        *,
        creator_launches: Callable[[str], int] | None = None,
    ) -> None:
        self.client = client
        self.config = config or SafetyConfig()
        self._creator_launches = creator_launches

    async def analyze(self, launch: Launch | str, *, creator: str | None = None) -> Verdict:
        """The verdict on ``launch`` (or a bare mint address, with its ``creator`` if known)."""
        t0 = time.perf_counter()
        mint = launch.mint if isinstance(launch, Launch) else launch
        facts: dict[str, Any] = {}
        try:
            reasons = await self._findings(launch, creator, facts)
        except _FactError as e:
            reasons = [e.reason]
        except Exception as e:  # a bug here must not read as a pass
            reasons = [Reason("analyzer_error", f"{type(e).__name__}: {e}", fatal=True)]
        fatal = any(r.fatal for r in reasons)
        score = 0 if fatal else max(0, 100 - sum(r.penalty for r in reasons))
        if not fatal and score < self.config.min_score:
            reasons.append(
                Reason(
                    "low_score", f"score {score} < min_score {self.config.min_score}", fatal=True
                )
            )
            fatal = True
        return Verdict(
            mint,
            "REJECT" if fatal else "PASS",
            score,
            tuple(reasons),
            facts,
            (time.perf_counter() - t0) * 1000,
        )

    # -- the facts ---------------------------------------------------------------------

    async def _rpc(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await asyncio.wait_for(call(), self.config.timeout_s)
        except TimeoutError as e:
            raise _FactError(
                "rpc_timeout", f"{what}: no answer within {self.config.timeout_s}s"
            ) from e
        except _FactError:
            raise
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit):
            raise
        except BaseException as e:  # RPC/HTTP/parse errors; solders' parser panics (BaseException)
            code = "malformed_answer" if _is_parse_error(e) else "rpc_error"
            raise _FactError(code, f"{what}: {type(e).__name__}: {str(e)[:200]}") from e

    async def _findings(
        self, launch: Launch | str, creator: str | None, facts: dict[str, Any]
    ) -> list[Reason]:
        mint_key = Pubkey.from_string(launch.mint if isinstance(launch, Launch) else launch)
        curve_key = (
            Pubkey.from_string(launch.bonding_curve)
            if isinstance(launch, Launch)
            else bonding_curve_address(mint_key)
        )
        creator = launch.creator if isinstance(launch, Launch) else creator
        meta_key = metadata_address(mint_key)
        # two rounds of independent calls: (accounts, largest holders), then (holders'
        # owners, sell simulation)
        accounts, largest = await _settled(
            self._rpc(
                "getMultipleAccounts(mint, curve, metadata)",
                lambda: self.client.get_multiple_accounts([mint_key, curve_key, meta_key]),
            ),
            self._rpc(
                "getTokenLargestAccounts", lambda: self.client.get_token_largest_accounts(mint_key)
            ),
        )
        values = _value(_ok(accounts), "getMultipleAccounts")
        if not isinstance(values, list) or len(values) != 3:
            raise _FactError("malformed_answer", "getMultipleAccounts: expected 3 accounts")
        mint_acc, curve_acc, meta_acc = values
        for name, acc in (("mint", mint_acc), ("bonding curve", curve_acc), ("metadata", meta_acc)):
            if acc is None:
                raise _FactError("fact_missing", f"{name} account not found")
        reasons: list[Reason] = []
        mint = _decoded("mint", lambda: decode_mint(bytes(mint_acc.data), str(mint_acc.owner)))
        facts["mint"] = {
            "program": mint.program,
            "mint_authority": mint.mint_authority,
            "freeze_authority": mint.freeze_authority,
            "supply": mint.supply,
            "decimals": mint.decimals,
            "extensions": mint.extensions,
        }
        reasons += _mint_reasons(mint)
        curve = _decoded("bonding curve", lambda: decode_curve(bytes(curve_acc.data)))
        facts["curve"] = {
            "virtual_sol": curve.virtual_sol_reserves,
            "virtual_token": curve.virtual_token_reserves,
            "real_sol": curve.real_sol_reserves,
            "real_token": curve.real_token_reserves,
            "progress": round(curve.progress(), 6),
            "complete": curve.complete,
        }
        reasons += self._curve_reasons(curve)
        meta = _decoded("metadata", lambda: decode_metadata(bytes(meta_acc.data)))
        if meta.mint != str(mint_key):
            raise _FactError("unknown_layout", f"metadata names mint {meta.mint}, not {mint_key}")
        facts["metadata"] = {
            "is_mutable": meta.is_mutable,
            "update_authority": meta.update_authority,
        }
        if meta.is_mutable:
            reasons.append(
                Reason(
                    "metadata_mutable",
                    f"update authority {meta.update_authority} can change name, symbol and URI",
                    penalty=self.config.mutable_metadata_penalty,
                )
            )
        reasons += self._creator_reasons(creator, facts)
        holders, sell, transfer = await _together(
            self._holders(_ok(largest), mint_key, curve_key, mint.supply, facts),
            self._sell_check(mint_key, curve_key, mint_acc.owner, curve, creator, facts),
            self._transfer_check(
                mint_key, curve_key, mint_acc.owner, mint.decimals, creator, facts
            ),
        )
        return reasons + holders + sell + transfer

    def _curve_reasons(self, curve: CurveState) -> list[Reason]:
        out = []
        if curve.complete:
            out.append(
                Reason(
                    "curve_complete",
                    "the curve is complete (migrated): no curve trading",
                    fatal=True,
                )
            )
        progress = curve.progress()
        if progress > self.config.max_curve_progress:
            out.append(
                Reason(
                    "curve_late",
                    f"curve progress {progress:.1%} > {self.config.max_curve_progress:.0%}",
                    fatal=True,
                )
            )
        if curve.real_token_reserves <= 0:
            out.append(Reason("curve_empty", "no tokens left on the curve", fatal=True))
        return out

    def _creator_reasons(self, creator: str | None, facts: dict[str, Any]) -> list[Reason]:
        if creator is None:
            raise _FactError("fact_missing", "creator unknown (give the launch, or --creator)")
        if self._creator_launches is None:
            raise _FactError("fact_missing", "creator history unavailable (no monitor record)")
        others = max(0, self._creator_launches(creator) - 1)
        facts["creator"] = {"address": creator, "other_launches": others}
        if others > self.config.max_creator_launches:
            return [
                Reason(
                    "serial_creator",
                    f"creator launched {others} other tokens (> {self.config.max_creator_launches})",
                    fatal=True,
                )
            ]
        if others:
            return [
                Reason(
                    "creator_history",
                    f"creator launched {others} other token(s)",
                    penalty=self.config.creator_launch_penalty * others,
                )
            ]
        return []

    async def _holders(
        self, largest: Any, mint: Pubkey, curve: Pubkey, supply: int, facts: dict[str, Any]
    ) -> list[Reason]:
        rows = _value(largest, "getTokenLargestAccounts")
        if not isinstance(rows, list) or not rows:
            raise _FactError("fact_missing", "getTokenLargestAccounts: no holder accounts")
        addresses = [r.address for r in rows]
        owners_resp = await self._rpc(
            "getMultipleAccounts(holders)", lambda: self.client.get_multiple_accounts(addresses)
        )
        accounts = _value(owners_resp, "getMultipleAccounts(holders)")
        if not isinstance(accounts, list) or len(accounts) != len(addresses):
            raise _FactError("malformed_answer", "getMultipleAccounts(holders): wrong count")
        excluded = {str(curve), *self.config.excluded_owners}
        shares = []
        for address, acc in zip(addresses, accounts, strict=True):
            if acc is None:
                raise _FactError("fact_missing", f"holder account {address} not found")
            holder = _decoded(f"holder {address}", partial(_token_account, acc))
            if holder.mint != str(mint):
                raise _FactError("unknown_layout", f"holder {address} is of mint {holder.mint}")
            if holder.owner not in excluded:
                shares.append((holder.owner, holder.amount / supply if supply else 1.0))
        top = max((s for _, s in shares), default=0.0)
        top10 = sum(s for _, s in sorted(shares, key=lambda x: -x[1])[:10])
        facts["holders"] = {
            "top_share": round(top, 6),
            "top10_share": round(top10, 6),
            "counted": len(shares),
        }
        if top > self.config.max_holder_share or top10 > self.config.max_top10_share:
            return [
                Reason(
                    "concentrated_supply",
                    f"largest holder {top:.1%} (max {self.config.max_holder_share:.0%}), top 10 "
                    f"{top10:.1%} (max {self.config.max_top10_share:.0%}), curve excluded",
                    fatal=True,
                )
            ]
        return []

    async def _simulate(
        self, what: str, ixs: list[Instruction], payer: Pubkey
    ) -> tuple[Any, list[str]]:
        """``simulateTransaction`` of ``ixs`` paid by ``payer`` (unsigned, blockhash replaced):
        its ``err`` and log lines, or a :class:`_FactError` for an answer without them."""
        msg = Message.new_with_blockhash(ixs, payer, Hash.default())
        tx = VersionedTransaction.populate(msg, [Signature.default()])
        resp = await self._rpc(
            what,
            lambda: self.client.simulate_transaction(
                tx, sig_verify=False, replace_recent_blockhash=True
            ),
        )
        value = _value(resp, what)
        err = getattr(value, "err", "missing")
        if err == "missing":
            raise _FactError("malformed_answer", f"{what}: no err field")
        logs = getattr(value, "logs", None)
        if logs is None:
            logs = []
        if not isinstance(logs, list) or not all(isinstance(x, str) for x in logs):
            raise _FactError("malformed_answer", f"{what}: logs are not a list of strings")
        return err, logs

    async def _sell_check(
        self,
        mint: Pubkey,
        curve_key: Pubkey,
        program: Pubkey,
        curve: CurveState,
        creator: str | None,
        facts: dict[str, Any],
    ) -> list[Reason]:
        """Simulate the launch program's ``sell`` of the probe from the creator's account and
        check the ``TradeEvent`` it logs against the curve math."""
        assert creator is not None  # checked by _creator_reasons
        seller = Pubkey.from_string(creator)
        probe = self.config.sell_probe_tokens
        launch = Launch(str(mint), str(curve_key), creator, "", "", "")
        ix = sell_instruction(launch, seller, probe, 0, token_program=program)
        what = "simulateTransaction(sell)"
        err, logs = await self._simulate(what, [ix], seller)
        fact: dict[str, Any] = {"tokens": probe, "seller": creator, "logs": logs[-4:]}
        facts["sell_simulation"] = fact
        if err is not None:
            fact["err"] = str(err)
            said = [x for x in logs if x.startswith("Program log: ")][-1:]
            detail = f"the program's sell fails: {err}" + (f" ({said[0][13:]})" if said else "")
            return [Reason("sell_simulation_failed", detail, fatal=True)]
        fact["err"] = None
        if not logs:
            raise _FactError("malformed_answer", f"{what}: a success without log lines")
        try:
            trades = trades_from_logs(logs)
        except ParseError as e:
            raise _FactError("unknown_layout", f"{what}: TradeEvent: {e}") from e
        sells = [t for t in trades if t.mint == str(mint) and not t.is_buy]
        if len(sells) != 1:
            raise _FactError(
                "fact_missing", f"{what}: {len(sells)} sell TradeEvents of this mint (1 expected)"
            )
        return _judge_sell(sells[0], probe, creator, curve, fact)

    async def _transfer_check(
        self,
        mint: Pubkey,
        curve: Pubkey,
        program: Pubkey,
        decimals: int,
        creator: str | None,
        facts: dict[str, Any],
    ) -> list[Reason]:
        """Simulate moving one base unit from the creator's account to the curve's account."""
        assert creator is not None  # checked by _creator_reasons
        owner = Pubkey.from_string(creator)
        source = associated_token_address(owner, mint, program)
        dest = associated_token_address(curve, mint, program)
        ix = Instruction(
            program,
            bytes([12]) + (1).to_bytes(8, "little") + bytes([decimals]),  # TransferChecked
            [
                AccountMeta(source, False, True),
                AccountMeta(mint, False, False),
                AccountMeta(dest, False, True),
                AccountMeta(owner, True, False),
            ],
        )
        err, logs = await self._simulate("simulateTransaction(transfer)", [ix], owner)
        facts["transfer_simulation"] = {
            "err": None if err is None else str(err),
            "logs": logs[-3:],
        }
        if err is not None:
            return [
                Reason(
                    "transfer_simulation_failed",
                    f"the token program refuses the sell's transfer: {err}",
                    fatal=True,
                )
            ]
        return []


def _judge_sell(
    trade: Trade, probe: int, creator: str, curve: CurveState, fact: dict[str, Any]
) -> list[Reason]:
    """The simulated sell's ``TradeEvent`` against the probe and the curve math on the
    reserves before it (the event's reserves after, less the trade)."""
    before = CurveState(
        trade.virtual_token_reserves - trade.token_amount,
        trade.virtual_sol_reserves + trade.sol_amount,
        (trade.real_token_reserves or 0) - trade.token_amount,
        (trade.real_sol_reserves or 0) + trade.sol_amount,
        curve.token_total_supply,
    )
    math_out = before.sell_proceeds(trade.token_amount) if before.virtual_token_reserves > 0 else -1
    fact.update(
        sol_out=trade.sol_amount,
        curve_math=math_out,
        quote_at_read=curve.sell_proceeds(probe),
        same_curve=(before.virtual_sol_reserves, before.virtual_token_reserves)
        == (curve.virtual_sol_reserves, curve.virtual_token_reserves),
    )
    if trade.token_amount != probe or trade.user != creator:
        return [
            Reason(
                "sell_simulation_mismatch",
                f"the simulated sell logged {trade.token_amount} tokens by {trade.user}, not the "
                f"probe's {probe} by {creator}",
                fatal=True,
            )
        ]
    if trade.sol_amount != math_out:
        return [
            Reason(
                "sell_simulation_mismatch",
                f"the simulated sell pays {trade.sol_amount} lamports; the curve math on its "
                f"reserves gives {math_out}",
                fatal=True,
            )
        ]
    if trade.sol_amount <= 0:
        return [Reason("sell_returns_nothing", "the simulated sell pays 0 lamports", fatal=True)]
    return []


async def _settled(*calls: Awaitable[Any]) -> list[Any]:
    """Await ``calls`` concurrently; each result, or the exception it raised (see :func:`_ok`)."""
    return list(await asyncio.gather(*calls, return_exceptions=True))


def _ok(result: Any) -> Any:
    if isinstance(result, BaseException):
        raise result
    return result


async def _together(*calls: Awaitable[Any]) -> list[Any]:
    """Await ``calls`` concurrently; the first failure (in argument order) is raised."""
    return [_ok(r) for r in await _settled(*calls)]


def _token_account(acc: Any) -> TokenAccount:
    return decode_token_account(bytes(acc.data), str(acc.owner))


def _value(resp: Any, what: str) -> Any:
    if resp is None or not hasattr(resp, "value"):
        raise _FactError("malformed_answer", f"{what}: answer has no value ({type(resp).__name__})")
    return resp.value


def _decoded(what: str, decode: Callable[[], T]) -> T:
    try:
        return decode()
    except ParseError as e:
        raise _FactError("unknown_layout", f"{what}: {e}") from e


def _is_parse_error(e: BaseException) -> bool:
    name = type(e).__name__
    text = str(e)
    return "Serde" in name or "Parse" in name or "ValidationError" in name or "invalid type" in text


def _mint_reasons(mint: Any) -> list[Reason]:
    out: list[Reason] = []
    if mint.mint_authority is not None:
        out.append(
            Reason(
                "mint_authority", f"mint authority {mint.mint_authority} can mint more", fatal=True
            )
        )
    if mint.freeze_authority is not None:
        out.append(
            Reason(
                "freeze_authority",
                f"freeze authority {mint.freeze_authority} can freeze holders",
                fatal=True,
            )
        )
    for name, ext in mint.extensions.items():
        if name in _FATAL_EXTENSIONS:
            out.append(Reason(name, _FATAL_EXTENSIONS[name], fatal=True))
        elif name == "transfer_fee_config":
            bps = max(ext.get("older_bps", 0), ext.get("newer_bps", 0))
            if bps > 0 or ext.get("authority"):
                out.append(
                    Reason(
                        "transfer_fee",
                        f"transfer fee {bps} bps"
                        + (f", changeable by {ext['authority']}" if ext.get("authority") else ""),
                        fatal=True,
                    )
                )
        elif name == "transfer_hook" and (ext.get("program") or ext.get("authority")):
            out.append(
                Reason("transfer_hook", f"transfer hook program {ext.get('program')}", fatal=True)
            )
        elif name == "default_account_state" and ext.get("state") == "frozen":
            out.append(Reason("default_frozen", "new token accounts start frozen", fatal=True))
        elif name == "mint_close_authority" and ext.get("authority"):
            out.append(Reason("mint_close_authority", "the mint can be closed", penalty=10))
    return out
