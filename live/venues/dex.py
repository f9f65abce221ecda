"""The DEX venue: Uniswap V2/V3 (and forks) through our ``GrekkoTradeExecutor``, on web3's async
client, behind the same :class:`~live.venues.base.Venue` protocol as the exchanges.

The executor contract holds the funds; the hot key can only call its swaps (never withdraw),
and the contract pays the pools from its own balance, so **no ERC-20 allowance is granted to
anything**: the exactness of approvals is by construction. Positions are the executor's token
balances. A market order becomes an exact-input swap (:mod:`live.venues.dex_gate`): a sell pays
``qty`` base, a buy pays the exact-output quote's input for ``qty`` base; ``minOut`` is the exact
quote (the research library's ``PoolState.quote`` / ``V2Pair.quote`` on the pool read at the
latest block) less the slippage, with a deadline. Before anything is signed the swap is
simulated with ``eth_call`` from the hot key (a revert is a rejection naming the contract's
error) and gas is estimated; the transaction then goes through :class:`~live.chain.sender.TxSender`
(nonces and every signed transaction in the event log, replacement, recovery by hash).

A fill counts once its transaction has ``confirmations`` blocks: :meth:`DexVenue.submit` waits
for that up to ``wait_s`` and otherwise returns the acknowledgement only (the runner then polls
:meth:`DexVenue.query`, which resolves the transaction by hash and nonce — never by resending).
A swap whose block is reorganised away before it is final was never reported as a fill; its
logged transaction is pushed again byte for byte, so it lands at most once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_utils import keccak

from grekko_research.risk.spec import RiskSpec
from live.chain.contracts import load_artifact
from live.chain.dex_conf import DexMarket, DexVenueConfig
from live.chain.fees import Fees, suggest_fees
from live.chain.nonces import NonceManager, TxRecord
from live.chain.pools import PoolSnapshot, read_pool, selector
from live.chain.sender import PrivateSubmitter, SendFailed, TxSender, hexstr
from live.events import EventStore
from live.orders import (
    Ack,
    Cancelled,
    FillReport,
    NotFound,
    OrderState,
    QueryResult,
    Rejected,
    Report,
)
from live.venues.base import (
    Bar,
    MarketInfo,
    OrderRequest,
    Venue,
    VenueCapabilities,
    VenueFill,
    VenueHealth,
    VenueOrder,
    no_reports,
)
from live.venues.dex_gate import GateRefusal, SwapPlan, check_gas, mid_price, plan_swap
from live.venues.errors import GiveUp, OutcomeUnknown, RetryLater
from live.venues.paper import ReplayFeed

if TYPE_CHECKING:
    from web3 import AsyncWeb3

    from live.chain.keys import LocalSigner
    from live.chain.mempool import MempoolMonitor

__all__ = ["CAPABILITIES", "DexVenue", "SwapFill", "connect_async"]

CAPABILITIES = VenueCapabilities(
    fetch_ohlcv=False,  # True with a bar feed (a replay, or another venue's public feed)
    market_orders=True,
    query_orders=True,
    cancel_orders=True,
    fetch_balance=True,
    fetch_fills=True,
)
_SWAPPED = "0x" + keccak(text="Swapped(address,address,address,uint256,uint256,address[])").hex()
_BALANCE_OF = selector("balanceOf(address)")


def connect_async(url: str, *, poa: bool = False, timeout_s: float = 30.0) -> AsyncWeb3[Any]:
    """An async web3 client on ``url``: no automatic retries of state-changing calls (a lost
    answer is resolved by hash), POA middleware for chains whose headers carry extra data
    (Polygon PoS, BSC)."""
    from web3 import AsyncWeb3
    from web3.middleware import ExtraDataToPOAMiddleware
    from web3.providers import AsyncHTTPProvider

    provider = AsyncHTTPProvider(
        url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
    )
    w3 = AsyncWeb3(provider)
    if poa:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return w3


class SwapFill:
    """A mined swap, as the executor's ``Swapped`` event reports it (raw units)."""

    def __init__(self, token_in: str, token_out: str, amount_in: int, amount_out: int) -> None:
        self.token_in = token_in
        self.token_out = token_out
        self.amount_in = amount_in
        self.amount_out = amount_out


def _swapped(receipt: Any, executor: str) -> SwapFill | None:
    from eth_abi import decode

    for log in receipt["logs"]:
        topics = [hexstr(t) for t in log["topics"]]
        if log["address"].lower() != executor.lower() or not topics or topics[0] != _SWAPPED:
            continue
        amount_in, amount_out, _route = decode(
            ["uint256", "uint256", "address[]"], bytes(log["data"])
        )
        return SwapFill("0x" + topics[2][-40:], "0x" + topics[3][-40:], amount_in, amount_out)
    return None


class DexVenue:
    """One executor on one chain, trading the configured markets (see the module doc)."""

    def __init__(
        self,
        config: DexVenueConfig,
        signer: LocalSigner,
        store: EventStore | Path,
        *,
        clock: Callable[[], int],
        risk: RiskSpec | None = None,
        wait_s: float = 60.0,
        w3: AsyncWeb3[Any] | None = None,
        private: PrivateSubmitter | None = None,
        monitor: MempoolMonitor | None = None,
        feed: ReplayFeed | Venue | None = None,
    ) -> None:
        self.name = config.name
        # Bars come from a feed (stored bars replayed, or another venue's public klines): the
        # pools' own swap logs as bars are not built yet.
        self.feed = feed
        self.capabilities = replace(CAPABILITIES, fetch_ohlcv=feed is not None)
        self.config = config
        self.signer = signer
        # The one risk spec: its ``dex`` part bounds every swap (impact, gas, slippage, pending)
        self.risk = risk if risk is not None else RiskSpec()
        self.limits = self.risk.dex
        self.wait_s = wait_s
        self._clock = clock
        self.w3 = w3 or connect_async(config.rpc_url, poa=config.poa)
        if private is None and config.private_rpc_url:
            private = PrivateSubmitter(config.private_rpc_url, max_blocks=config.private_max_blocks)
        self.monitor = monitor
        abi = load_artifact("GrekkoTradeExecutor").abi
        self._executor = self.w3.eth.contract(
            address=self.w3.to_checksum_address(config.executor), abi=abi
        )
        self._errors = _error_selectors(abi)
        # A path: the venue opens the nonce log (last: nothing fails after) and closes it in
        # close(); an open store stays the caller's.
        self._own_store = not isinstance(store, EventStore)
        self.store = store if isinstance(store, EventStore) else EventStore.open(store)
        try:
            self.nonces = NonceManager(self.store, config.chain_id, signer.address, clock)
        except BaseException:
            if self._own_store:
                self.store.close()
            raise
        self.sender = TxSender(self.w3, signer, self.nonces, chain_id=config.chain_id,
                               confirmations=config.confirmations, bump=config.replacement_bump,
                               private=private)  # fmt: skip

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the chain, the executor and the key's role (fail closed), then resolve every
        transaction the log left unsettled (a restart after a crash)."""
        try:
            chain_id = int(await self.w3.eth.chain_id)
            code = await self.w3.eth.get_code(self._executor.address)
            role = bool(await self._executor.functions.isExecutor(self.signer.address).call())
            paused = bool(await self._executor.functions.paused().call())
        except Exception as e:
            raise GiveUp(str(e), venue=self.name, operation="start", state_changing=False,
                         source=type(e).__name__) from e  # fmt: skip
        problems = []
        if chain_id != self.config.chain_id:
            problems.append(f"node is chain {chain_id}, config says {self.config.chain_id}")
        if len(bytes(code)) == 0:
            problems.append(f"no contract at executor {self.config.executor}")
        elif not role:
            problems.append(
                f"{self.signer.address} lacks the executor role on {self.config.executor}"
            )
        if paused:
            problems.append("the executor is paused (the kill switch): the owner unpauses it")
        if problems:
            raise GiveUp("; ".join(problems), venue=self.name, operation="start",
                         state_changing=False, source="preflight")  # fmt: skip
        await self.sender.recover()
        if self.feed is not None and not isinstance(self.feed, ReplayFeed):
            await self.feed.start()  # another venue's public klines: after the chain checks

    async def close(self) -> None:
        """Close the feed, the node and private endpoint connections, and the nonce log when the
        venue opened it (each step runs even when an earlier one fails)."""
        try:
            if self.feed is not None and not isinstance(self.feed, ReplayFeed):
                await self.feed.close()
        finally:
            try:
                await self.w3.provider.disconnect()
                if self.sender.private is not None:
                    await self.sender.private.close()
            finally:
                if self._own_store:
                    self.store.close()

    def now_ms(self) -> int:
        return self.feed.now_ms() if isinstance(self.feed, ReplayFeed) else self._clock()

    # -- markets and prices --------------------------------------------------------------------

    async def market(self, symbol: str) -> MarketInfo:
        m = self._market(symbol)
        return MarketInfo(symbol, m.base.symbol, m.quote.symbol,
                          Decimal(1).scaleb(-m.base.decimals), Decimal(1).scaleb(-m.quote.decimals))  # fmt: skip

    def _market(self, symbol: str) -> DexMarket:
        for m in self.config.markets:
            if m.symbol == symbol:
                return m
        raise GiveUp(f"no market {symbol!r}", venue=self.name, operation="market",
                     state_changing=False, source="config")  # fmt: skip

    async def snapshot(self, symbol: str, block: int | None = None, words: int = 2) -> PoolSnapshot:
        """The market's pool read at ``block`` (latest when None)."""
        m = self._market(symbol)
        b = int(await self.w3.eth.block_number) if block is None else block
        return await read_pool(self.w3, m.pool, m.kind, m.fee, b, words=words)

    async def reference_price(self, symbol: str) -> Decimal:
        snap = await self.snapshot(symbol)
        return mid_price(self._market(symbol), snap.state)

    # -- orders --------------------------------------------------------------------------------

    def _records(self, client_id: str) -> list[TxRecord]:
        return [t for t in self.nonces.txs.values() if t.client_id == client_id]

    async def plan(self, request: OrderRequest) -> SwapPlan | GateRefusal:
        """The swap an order would send now (read-only: pool, limits, risk spec)."""
        m = self._market(request.symbol)
        cap = self.limits.max_pending_swaps
        pending = [r for r in self.nonces.unsettled() if r.purpose == "swap"]
        if cap is not None and len({r.client_id for r in pending}) >= cap:
            return GateRefusal(
                "pending_swaps",
                f"{len({r.client_id for r in pending})} swaps of ours are not final "
                f"(risk.dex.max_pending_swaps {cap})",
            )
        if self.monitor is not None and self.limits.pending_swap_impact is not None:
            await self.monitor.poll()
        block = await self.w3.eth.get_block("latest")
        snap = await self.snapshot(request.symbol, int(block["number"]))
        plan = self._plan(m, snap, request, int(block["timestamp"]))
        if isinstance(plan, SwapPlan) and snap.kind == "v3":
            end = snap.state.quote(plan.amount_in, plan.zero_for_one).result.tick  # type: ignore[union-attr]
            if not snap.covers(end):  # the swap leaves the words read: read the whole map
                snap = await self.snapshot(request.symbol, int(block["number"]), words=1 << 16)
                plan = self._plan(m, snap, request, int(block["timestamp"]))
        return plan

    def _plan(
        self, m: DexMarket, snap: PoolSnapshot, request: OrderRequest, ts: int
    ) -> SwapPlan | GateRefusal:
        plan = plan_swap(m, snap.state, side=request.side, qty=request.qty, block=snap.block,
                         block_time=ts, risk=self.risk)  # fmt: skip
        limit = self.limits.pending_swap_impact
        if isinstance(plan, SwapPlan) and limit is not None and self.monitor is not None:
            seen = self.monitor.impact(m.pool)
            if seen >= limit:
                return GateRefusal(
                    "pending_swap",
                    f"a pending swap moves {m.pool} by {seen:.4%} "
                    f"(risk.dex.pending_swap_impact {limit:.4%})",
                )
        return plan

    def _swap_tx(self, plan: SwapPlan) -> dict[str, Any]:
        m = self._market(plan.symbol)
        data = self._executor.encode_abi(
            "swapExactIn",
            args=[self.w3.to_checksum_address(plan.token_in), [self.w3.to_checksum_address(m.pool)],
                  plan.amount_in, plan.min_out, plan.deadline],
        )  # fmt: skip
        return {"from": self.signer.address, "to": self._executor.address, "data": data, "value": 0}

    async def simulate(self, plan: SwapPlan) -> int:
        """``eth_call`` the swap from the hot key on the latest state: the exact amount out, or
        :class:`GiveUp` naming the contract's error."""
        from web3.exceptions import ContractLogicError, Web3RPCError

        try:
            out = await self.w3.eth.call(self._swap_tx(plan), "latest")  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as e:
            raise GiveUp(f"simulation reverted: {self._revert(e)}", venue=self.name,
                         operation="simulate", state_changing=False, source="eth_call") from None  # fmt: skip
        return int(bytes(out).hex() or "0", 16)

    def _revert(self, e: Exception) -> str:
        from eth_abi import decode

        data = getattr(e, "data", None)
        raw = hexstr(data) if isinstance(data, str | bytes) else ""
        sel = raw[:10]
        if sel in self._errors:
            name, types = self._errors[sel]
            return f"{name}{tuple(decode(types, bytes.fromhex(raw[10:])))}"
        return str(e)

    async def submit(self, request: OrderRequest) -> list[Report]:
        cid = request.client_id
        if self._records(cid):  # a retried create: the order exists, never a second swap
            return [await self.query(request.symbol, cid)]
        if request.order_type != "market":
            return [Rejected(cid, "the DEX venue sends market orders (swaps) only")]
        return await self.submit_planned(request, await self.plan(request))

    async def submit_planned(
        self, request: OrderRequest, plan: SwapPlan | GateRefusal
    ) -> list[Report]:
        """Simulate, price the gas, sign, log and send the swap :meth:`plan` made for
        ``request`` (``submit`` is ``plan`` then this)."""
        cid = request.client_id
        if isinstance(plan, GateRefusal):
            return [Rejected(cid, f"pre-trade {plan}")]
        tx = self._swap_tx(plan)
        # the simulation, the gas estimate and the fee history in one round trip's time
        sim, est, fees = await asyncio.gather(
            self.simulate(plan),
            self.w3.eth.estimate_gas(tx),  # type: ignore[arg-type]
            suggest_fees(self.w3, eip1559=self.config.eip1559, urgency=self.config.urgency),
            return_exceptions=True,
        )
        if isinstance(sim, GiveUp):  # the decoded revert says most
            return [Rejected(cid, sim.detail)]
        for res in (sim, est, fees):
            if isinstance(res, BaseException):
                return [Rejected(cid, f"pre-trade simulation failed: {type(res).__name__}: {res}")]
        assert isinstance(fees, Fees)
        gas = int(est)  # type: ignore[arg-type]
        refusal = check_gas(
            plan, await self._gas_in_quote(plan, gas * fees.expected_price()), self.limits
        )
        if refusal is not None:
            return [Rejected(cid, f"pre-trade {refusal}")]
        # The limit, not the price: the estimate runs on the latest block, the swap may be mined
        # a block later when a V2 pair writes its price accumulators (see contracts.py).
        try:
            rec = await self.sender.send(
                tx, fees, gas=gas * 3 // 2 + 100_000, purpose="swap", client_id=cid,
                meta={"symbol": request.symbol, "side": request.side, "qty": str(request.qty),
                      "quote_out": str(plan.quote_out), "min_out": str(plan.min_out),
                      "gas_estimate": gas, "fee_expected": fees.expected_price()},
            )  # fmt: skip
        except SendFailed as e:
            return [Rejected(cid, str(e))]
        rec = await self.sender.wait(rec, timeout_s=self.wait_s)
        return [Ack(cid, rec.hash), *await self._reports(request.symbol, cid)]

    async def _gas_in_quote(self, plan: SwapPlan, wei: int) -> Decimal | None:
        native = Decimal(wei).scaleb(-18)
        m = self._market(plan.symbol)
        wrapped = self.config.wrapped_native
        if wrapped == m.quote.symbol:
            return native
        if wrapped == m.base.symbol:
            return native * mid_price(m, (await self.snapshot(m.symbol, plan.block)).state)
        for other in self.config.markets:  # a market pricing the native token in our quote
            if other.base.symbol == wrapped and other.quote.symbol == m.quote.symbol:
                return native * mid_price(other, (await self.snapshot(other.symbol)).state)
        return None

    async def _fill(self, rec: TxRecord) -> SwapFill | None:
        receipt = await self.w3.eth.get_transaction_receipt(rec.hash)  # type: ignore[arg-type]
        return _swapped(receipt, self.config.executor)

    async def _reports(self, symbol: str, cid: str) -> list[Report]:
        """What the chain says about the order now (its transactions resolved first)."""
        recs = self._records(cid)
        if not recs:
            return [NotFound(cid)]
        for r in {r.nonce: r for r in recs}.values():
            try:
                await self.sender.resolve(r)
            except (OSError, TimeoutError) as e:
                raise RetryLater(str(e), venue=self.name, operation="query", state_changing=False,
                                 source=type(e).__name__, client_id=cid) from e  # fmt: skip
        recs = self._records(cid)
        final = [r for r in recs if r.status == "confirmed"]
        if not final:
            return []
        won = final[0]
        if won.purpose == "cancel":
            return [Cancelled(cid, f"cancelled on chain by {won.hash}")]
        if not won.success:
            return [Rejected(cid, f"swap {won.hash} reverted on chain")]
        fill = await self._fill(won)
        if fill is None:
            return [Rejected(cid, f"swap {won.hash} mined without a Swapped event")]
        return [self._fill_report(symbol, cid, won, fill)]

    def _fill_report(self, symbol: str, cid: str, rec: TxRecord, fill: SwapFill) -> FillReport:
        m = self._market(symbol)
        sell = fill.token_in.lower() == m.base.address.lower()
        base_raw, quote_raw = (
            (fill.amount_in, fill.amount_out) if sell else (fill.amount_out, fill.amount_in)
        )
        qty = Decimal(base_raw).scaleb(-m.base.decimals)
        wanted = Decimal(rec.meta["qty"]) if "qty" in rec.meta else None
        if not sell and wanted is not None and qty > wanted:
            qty = wanted  # a buy's rounding surplus stays in the balance (reconciliation reads it)
        price = Decimal(quote_raw).scaleb(-m.quote.decimals) / Decimal(base_raw).scaleb(
            -m.base.decimals
        )
        gas_paid = Decimal(int(rec.gas_used or 0) * int(rec.price or 0)).scaleb(-18)
        return FillReport(cid, rec.hash, qty, price, source="chain", fee=gas_paid,
                          fee_asset=self.config.native_symbol)  # fmt: skip

    async def query(self, symbol: str, client_id: str) -> Report:
        reports = await self._reports(symbol, client_id)
        recs = self._records(client_id)
        if not recs:
            return NotFound(client_id)
        head = recs[-1].hash
        for r in reports:
            if isinstance(r, FillReport):
                return QueryResult(client_id, OrderState.FILLED, r.qty, r.trade_id)
            if isinstance(r, Cancelled):
                return QueryResult(client_id, OrderState.CANCELLED, 0, head)
            if isinstance(r, Rejected):
                return QueryResult(client_id, OrderState.REJECTED, 0, head)
        return QueryResult(client_id, OrderState.ACKNOWLEDGED, 0, head)

    async def cancel(self, symbol: str, client_id: str) -> list[Report]:
        """Replace the order's pending swap by a 0-value self-transfer at its nonce (bumped
        fees); whichever lands decides: ``Cancelled`` or the swap's fill."""
        recs = self._records(client_id)
        if not recs:
            return [NotFound(client_id)]
        done = await self._reports(symbol, client_id)
        if done:
            return done
        live = [r for r in recs if r.status in ("signed", "sent", "reorged")]
        if live:
            try:
                rec = await self.sender.cancel(live[-1])
            except SendFailed as e:
                raise OutcomeUnknown(str(e), venue=self.name, operation="cancel", state_changing=True,
                                     source="SendFailed", client_id=client_id) from e  # fmt: skip
            await self.sender.wait(rec, timeout_s=self.wait_s)
        return await self._reports(symbol, client_id)

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        out = []
        for r in self.nonces.unsettled():
            if r.client_id is None or r.purpose != "swap":
                continue
            symbol = r.meta.get("symbol", "")
            if symbol not in symbols:
                continue
            out.append(VenueOrder(symbol, r.client_id, r.hash, r.meta.get("side", "buy"),
                                  OrderState.ACKNOWLEDGED, Decimal(r.meta.get("qty", 0)),
                                  Decimal(0)))  # fmt: skip
        return out

    async def fills(self, symbol: str, since_ms: int | None = None) -> list[VenueFill]:
        out = []
        for r in self.nonces.txs.values():
            if (
                r.status != "confirmed"
                or r.purpose != "swap"
                or not r.success
                or r.client_id is None
            ):
                continue
            fill = await self._fill(r)
            if fill is None or self._symbol_of(fill) != symbol:
                continue
            rep = self._fill_report(symbol, r.client_id, r, fill)
            out.append(VenueFill(symbol, r.client_id, r.hash, r.hash,
                                 "sell" if fill.token_in.lower() == self._market(symbol).base.address.lower() else "buy",
                                 Decimal(rep.qty), Decimal(rep.price), Decimal(rep.fee or 0), rep.fee_asset,
                                 self._clock()))  # fmt: skip
        return out

    def _symbol_of(self, fill: SwapFill) -> str | None:
        pair = {fill.token_in.lower(), fill.token_out.lower()}
        for m in self.config.markets:
            if {m.base.address.lower(), m.quote.address.lower()} == pair:
                return m.symbol
        return None

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        return [f for f in await self.fills(symbol) if f.client_id == client_id]

    # -- account -------------------------------------------------------------------------------

    async def balances(self) -> dict[str, Decimal]:
        """The executor's balance of every configured token (what the venue trades with), as
        of the newest block with ``confirmations`` (a swap mined but not final is not a fill
        yet: counting it would make reconciliation see a position the log cannot have)."""
        tokens = {t.symbol: t for m in self.config.markets for t in (m.base, m.quote)}
        out = {}
        holder = self._executor.address[2:].lower().rjust(64, "0")
        head = int(await self.w3.eth.block_number)
        final = max(head - (self.config.confirmations - 1), 0)
        for sym, t in sorted(tokens.items()):
            raw = await self.w3.eth.call({"to": self.w3.to_checksum_address(t.address),
                                          "data": _BALANCE_OF + holder}, final)  # type: ignore[typeddict-item]  # fmt: skip
            out[sym] = Decimal(int(bytes(raw).hex() or "0", 16)).scaleb(-t.decimals)
        return out

    async def positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        bal = await self.balances()
        return {s: bal.get(self._market(s).base.symbol, Decimal(0)) for s in symbols}

    def reports(self) -> AsyncIterator[Report]:
        return no_reports()

    async def history(self, symbols: Sequence[str], timeframe: str, count: int) -> list[Bar]:
        if self.feed is None or isinstance(self.feed, ReplayFeed):
            return []  # a replay starts cold, as the backtest does
        return await self.feed.history(symbols, timeframe, count)

    async def bars(
        self, symbols: Sequence[str], timeframe: str, since_ms: int | None
    ) -> AsyncIterator[Bar]:
        if self.feed is None:
            raise GiveUp("no bar feed configured", venue=self.name, operation="bars",
                         state_changing=False, source="config")  # fmt: skip
        if not isinstance(self.feed, ReplayFeed):
            async for bar in self.feed.bars(symbols, timeframe, since_ms):
                yield bar
            return
        for bar in self.feed.replay(symbols, timeframe, since_ms):  # the paper venue's replay
            yield bar

    async def health(self) -> VenueHealth:
        return VenueHealth(realtime=not isinstance(self.feed, ReplayFeed))

    def execution_bar(self, symbol: str) -> Bar | None:
        return None


def _error_selectors(abi: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
    out = {}
    for item in abi:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            out[selector(f"{item['name']}({','.join(types)})")] = (item["name"], types)
    return out
