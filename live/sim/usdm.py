"""A local Binance USD-M futures peer: the REST API ``ccxt.binanceusdm`` uses, over a simulated
one-way cross-margin account, so venue adapters run the real ccxt client against a real
protocol peer::

    sim = await start_usdm_simulator(candles={"BTCUSDT": frame}, api_key="k", api_secret="s")
    ex = ccxt.async_support.binanceusdm({"apiKey": "k", "secret": "s", "options": USDM_OPTIONS})
    ex.urls["api"] = rebase_urls(ex.urls["api"], sim.url)
    sim.advance_to(frame.timestamp[10])         # the market clock, on a bar open
    ...
    await sim.close()

Endpoints. Public: ``GET /fapi/v1/ping``, ``time``, ``exchangeInfo`` (PRICE_FILTER, LOT_SIZE,
MARKET_LOT_SIZE, MIN_NOTIONAL filters), ``klines``. Signed (``X-MBX-APIKEY`` plus an
HMAC-SHA256 ``signature`` of the query string followed by the body, and a ``timestamp``
within ``recvWindow`` ≤ 60 s of the server clock): ``POST|GET|DELETE /fapi/v1/order``
(query and cancel by ``orderId`` or ``origClientOrderId``; LIMIT with GTC, IOC, FOK or GTX —
``-5022`` when a GTX order would take), ``POST|GET|DELETE /fapi/v1/algoOrder`` and ``GET
/fapi/v1/openAlgoOrders`` (conditional orders: :mod:`live.sim._usdm_algo`),
``GET /fapi/v1/openOrders``,
``GET /fapi/v1/userTrades``, ``GET /fapi/v1/income`` (``FUNDING_FEE`` rows only: ccxt's
``fetch_funding_history``), ``POST /fapi/v1/leverage``, ``GET /fapi/v1/leverageBracket``,
``GET /fapi/v2|v3/account``, ``GET /fapi/v2|v3/balance``, ``GET /fapi/v2|v3/positionRisk``.

What ccxt needs: ``load_markets`` calls ``/fapi/v1/exchangeInfo`` and, because
``binanceusdm`` has ``fetchCurrencies``, the *spot wallet's* ``/sapi/v1/capital/config/getall``
when keys are set: turn that off with ``options={"fetchCurrencies": False}``
(:data:`USDM_OPTIONS`); nothing else is needed. ``fetch_balance`` reads ``/fapi/v3/account``
(``/fapi/v2/account`` with ``useV2``); ``fetch_positions`` reads ``/fapi/v1/leverageBracket``
once, then ``/fapi/v3/positionRisk`` (v2 with ``useV2``). ccxt picks its futures error table
by the URL's host (``https://fapi.binance.com/``), so against a rebased URL Binance's
futures-only codes (-2019, -2022, -4116, -4164) surface as plain ``ccxt.ExchangeError`` with
the code in the message; the shared ones (-1022, -2013, -2011, -1021 ...) map as usual.

Matching: market orders fill at once at the current bar's **open** (the mark price); limit
orders fill at once (at that open) when marketable, else at their price on the first bar that
trades *through* it (``low < price`` to buy, ``high > price`` to sell), once the clock passes
that bar's close. ``/fapi/v1/klines`` serves only bars that have closed by the market clock.
Fees: ``fee_rate`` of each fill's notional, from the wallet. Realised P&L settles into the
wallet at each reducing fill. Funding (``funding=``: a rate schedule per symbol): at each
funding time the clock passes, every open position pays ``amount × mark × rate`` into the
wallet, the mark being the open of the bar containing that time — the backtest's rule
(:mod:`live.sim._usdm_funding`).

Errors, as Binance's futures API answers them: -1022 bad signature, -2014/-2015 key, -1021
timestamp, -1121 symbol, -1116 order type, -1115 time in force, -1111 quantity precision,
-4014 tick, -4003/-4005 quantity bounds, -4164 under the minimum notional, -4116 duplicate
client order id, -2022 reduce-only that would not reduce, -2019 margin insufficient, -2013
query of an unknown order, -2011 cancel of an unknown or closed order, -4028 bad leverage.

Simplifications: one-way mode and cross margin only (``positionSide`` must be BOTH; no
``marginType``/``positionSide/dual`` endpoints); MARKET and LIMIT GTC only; no partial
fills; no liquidation or maintenance-margin checks (one leverage bracket per symbol
with a 0.4 % maintenance ratio, reported only); mark price = last trade price = bar open; a
resting order's margin is fixed at placement; a reduce-only order must not exceed the
position (Binance would shrink it) and one that no longer reduces when the bar trades through
it expires; ``breakEvenPrice``/``liquidationPrice`` are not modelled (``"0"``); client ids are
refused when used before on the symbol (``duplicate_scope="open"``: only among open orders,
like Binance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import parse_qsl

import pandas as pd
from aiohttp import web

from live.sim._binance_auth import BinanceAuth, Endpoints, error_response
from live.sim._book import ApiError, fmt, kline_rows
from live.sim._http import HttpPeer, Request, json_response
from live.sim._usdm_algo import ALGO_TYPES, AlgoOrder, algo_json
from live.sim._usdm_book import (
    Contract,
    ContractSpec,
    FuturesFill,
    FuturesOrder,
    Position,
    UsdmBook,
)
from live.sim._usdm_funding import income_json, income_rows

__all__ = [
    "USDM_OPTIONS",
    "ContractSpec",
    "FuturesFill",
    "FuturesOrder",
    "Position",
    "UsdmRequest",
    "UsdmSimulator",
    "start_usdm_simulator",
]

USDM_OPTIONS: dict[str, Any] = {"fetchCurrencies": False}
"""ccxt ``binanceusdm`` options the peer needs: no spot-wallet currency lookup."""

_MAINT_RATIO = Decimal("0.004")


@dataclass(frozen=True)
class UsdmRequest(Request):
    """One request received: method, path, HTTP status answered, parameters (no signature)."""

    params: Mapping[str, str] = field(default_factory=dict)


def _fixed(value: Decimal, unit: Decimal) -> str:
    """``value`` with as many decimals as ``unit`` (Binance's per-symbol precision)."""
    return f"{value.quantize(unit):f}"


def _plain(value: Decimal) -> str:
    """``value`` rounded to eight decimals, trailing zeros dropped (``"30989.5"``)."""
    text = f"{value.quantize(Decimal('0.00000001')):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class UsdmSimulator(HttpPeer):
    """A running simulated Binance USD-M account; create it with :func:`start_usdm_simulator`.

    Attributes
    ----------
    book : UsdmBook
        Orders, positions, wallet, ledger and market clock (inspect freely in tests).
    requests : list[UsdmRequest]
        Every request answered, in order.
    """

    def __init__(
        self,
        book: UsdmBook,
        *,
        api_key: str,
        api_secret: str,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(clock)
        self.book = book
        self.requests: list[UsdmRequest] = []
        self._auth = BinanceAuth(api_key, api_secret, self._clock)
        self._api = Endpoints(
            "/fapi/",
            public={
                "v1/ping": lambda p: {},
                "v1/time": lambda p: {"serverTime": self._clock()},
                "v1/exchangeInfo": self._exchange_info,
                "v1/klines": self._klines,
            },
            signed={
                ("POST", "v1/order"): lambda p: self._order_json(self.book.new_order(p)),
                ("GET", "v1/order"): lambda p: self._order_json(self.book.find(p), query=True),
                ("DELETE", "v1/order"): lambda p: self._order_json(self.book.cancel(p)),
                ("GET", "v1/openOrders"): lambda p: [
                    self._order_json(o, query=True) for o in self.book.open_orders(p.get("symbol"))
                ],
                ("POST", "v1/algoOrder"): lambda p: self._algo_json(self.book.new_algo(p)),
                ("GET", "v1/algoOrder"): lambda p: self._algo_json(self.book.find_algo(p)),
                ("DELETE", "v1/algoOrder"): lambda p: self._algo_json(self.book.cancel_algo(p)),
                ("GET", "v1/openAlgoOrders"): lambda p: [
                    self._algo_json(a)
                    for a in self.book.algo_orders
                    if a.is_open and p.get("symbol") in (None, "", a.symbol)
                ],
                ("GET", "v1/userTrades"): lambda p: [
                    self._trade_json(f) for f in self.book.trades(p)
                ],
                ("GET", "v1/income"): lambda p: [
                    income_json(r) for r in income_rows(self.book.income, p)
                ],
                ("POST", "v1/leverage"): self._leverage,
                ("GET", "v1/leverageBracket"): self._brackets,
                ("GET", "v2/account"): lambda p: self._account(v2=True),
                ("GET", "v3/account"): lambda p: self._account(v2=False),
                ("GET", "v2/balance"): self._balance,
                ("GET", "v3/balance"): self._balance,
                ("GET", "v2/positionRisk"): lambda p: self._position_risk(p, v2=True),
                ("GET", "v3/positionRisk"): lambda p: self._position_risk(p, v2=False),
            },
        )

    # -- public surface -----------------------------------------------------------------------

    @property
    def ledger(self) -> list[FuturesFill]:
        """Every fill so far, oldest first."""
        return self.book.ledger

    @property
    def orders(self) -> list[FuturesOrder]:
        """Every order booked so far, oldest first."""
        return self.book.orders

    def positions(self) -> dict[str, Position]:
        """The non-flat positions by symbol id (copies: signed amount, entry price)."""
        return self.book.open_positions()

    def wallet(self, asset: str = "USDT") -> Decimal:
        """Wallet balance of a margin asset: deposits + realised P&L − fees + funding."""
        return self.book.wallet.get(asset, Decimal(0))

    def available(self, asset: str = "USDT") -> Decimal:
        """What new orders may still use as margin (``availableBalance``)."""
        return self.book.totals(asset)["available"]

    def advance_to(self, ts_ms: int) -> list[FuturesFill]:
        """Move the market clock to ``ts_ms`` (a bar open); return the fills it caused."""
        return self.book.advance_to(ts_ms)

    # -- plumbing ------------------------------------------------------------------------------

    async def _start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        await self._serve(app, host, port)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.text()
        try:
            response = json_response(self._api.call(self._auth, request, body))
        except ApiError as exc:
            response = error_response(exc.status, exc.code, exc.msg)
        params = dict(parse_qsl(request.query_string)) | dict(parse_qsl(body))
        params.pop("signature", None)
        self.requests.append(UsdmRequest(request.method, request.path, response.status, params))
        return response

    # -- market data ---------------------------------------------------------------------------

    def _exchange_info(self, p: Mapping[str, str]) -> dict[str, Any]:
        symbols = []
        for c in self.book.contracts.values():
            s = c.spec
            lot = {"stepSize": f"{s.step:f}", "minQty": f"{s.step:f}", "maxQty": f"{s.max_qty:f}"}
            symbols.append(
                {
                    "symbol": c.id,
                    "pair": c.id,
                    "contractType": "PERPETUAL",
                    "deliveryDate": 4133404800000,
                    "onboardDate": int(c.opens[0]),
                    "status": "TRADING",
                    "maintMarginPercent": "2.5000",
                    "requiredMarginPercent": "5.0000",
                    "baseAsset": c.base,
                    "quoteAsset": c.quote,
                    "marginAsset": c.quote,
                    "pricePrecision": max(0, -int(s.tick.normalize().as_tuple().exponent)),
                    "quantityPrecision": max(0, -int(s.step.normalize().as_tuple().exponent)),
                    "baseAssetPrecision": 8,
                    "quotePrecision": 8,
                    "underlyingType": "COIN",
                    "underlyingSubType": [],
                    "triggerProtect": "0.0500",
                    "liquidationFee": "0.012500",
                    "marketTakeBound": "0.05",
                    "maxMoveOrderLimit": 10000,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": f"{s.tick:f}",
                            "maxPrice": "10000000",
                            "tickSize": f"{s.tick:f}",
                        },
                        {"filterType": "LOT_SIZE", **lot},
                        {"filterType": "MARKET_LOT_SIZE", **lot},
                        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                        {"filterType": "MIN_NOTIONAL", "notional": f"{s.min_notional:f}"},
                    ],
                    "orderTypes": ["LIMIT", "MARKET", *ALGO_TYPES],
                    "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": self._clock(),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": a, "marginAvailable": True, "autoAssetExchange": "0"}
                for a in sorted(self.book.wallet)
            ],
            "symbols": symbols,
        }

    def _klines(self, p: Mapping[str, str]) -> list[list[Any]]:
        """Candles that have *closed* by the market clock (no peeking at the current bar)."""
        c = self.book.contract(p.get("symbol"))
        return kline_rows(c.opens, c.ohlcv, c.interval_ms, self.book.now, p, max_limit=1500)

    # -- orders and trades ---------------------------------------------------------------------

    def _order_json(self, o: FuturesOrder, *, query: bool = False) -> dict[str, Any]:
        spec = self.book.contracts[o.symbol].spec
        body: dict[str, Any] = {
            "orderId": o.order_id,
            "symbol": o.symbol,
            "status": o.status,
            "clientOrderId": o.client_order_id,
            "price": _fixed(o.price, spec.tick),
            "avgPrice": _plain(o.avg_price),
            "origQty": _fixed(o.qty, spec.step),
            "executedQty": _fixed(o.executed, spec.step),
            "cumQty": _fixed(o.executed, spec.step),
            "cumQuote": _plain(o.cum_quote),
            "timeInForce": o.time_in_force,
            "type": o.type,
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side,
            "positionSide": "BOTH",
            "stopPrice": "0",
            "workingType": "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": o.type,
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "updateTime": o.update_time,
        }
        if query:
            body["time"] = o.time
        return body

    def _algo_json(self, a: AlgoOrder) -> dict[str, Any]:
        spec = self.book.contracts[a.symbol].spec
        return algo_json(
            a, _fixed(a.qty, spec.step), _fixed(a.trigger, spec.tick), _fixed(a.price, spec.tick)
        )

    def _trade_json(self, f: FuturesFill) -> dict[str, Any]:
        spec = self.book.contracts[f.symbol].spec
        return {
            "symbol": f.symbol,
            "id": f.trade_id,
            "orderId": f.order_id,
            "side": f.side,
            "price": _fixed(f.price, spec.tick),
            "qty": _fixed(f.qty, spec.step),
            "realizedPnl": fmt(f.realized_pnl),
            "quoteQty": _plain(f.quote_qty),
            "commission": fmt(f.commission),
            "commissionAsset": f.commission_asset,
            "time": f.time,
            "positionSide": "BOTH",
            "buyer": f.side == "BUY",
            "maker": f.is_maker,
        }

    def _leverage(self, p: Mapping[str, str]) -> dict[str, Any]:
        c = self.book.set_leverage(p)
        return {"leverage": c.leverage, "maxNotionalValue": "1000000000", "symbol": c.id}

    def _brackets(self, p: Mapping[str, str]) -> list[dict[str, Any]]:
        wanted = self.book.contract(p["symbol"]).id if p.get("symbol") else None
        return [
            {
                "symbol": c.id,
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": 1,
                        "initialLeverage": 125,
                        "notionalCap": 1_000_000_000,
                        "notionalFloor": 0,
                        "maintMarginRatio": float(_MAINT_RATIO),
                        "cum": 0.0,
                    }
                ],
            }
            for c in self.book.contracts.values()
            if wanted in (None, c.id)
        ]

    # -- account -------------------------------------------------------------------------------

    def _asset_rows(self) -> list[dict[str, Any]]:
        rows = []
        for asset in sorted(self.book.wallet):
            t = self.book.totals(asset)
            maint = sum(
                (
                    self._notional(s) * _MAINT_RATIO
                    for s in self.book.positions
                    if self._is(s, asset)
                ),
                Decimal(0),
            )
            rows.append(
                {
                    "asset": asset,
                    "walletBalance": fmt(t["wallet"]),
                    "unrealizedProfit": fmt(t["unrealized"]),
                    "marginBalance": fmt(t["margin_balance"]),
                    "maintMargin": fmt(maint),
                    "initialMargin": fmt(t["position_margin"] + t["order_margin"]),
                    "positionInitialMargin": fmt(t["position_margin"]),
                    "openOrderInitialMargin": fmt(t["order_margin"]),
                    "crossWalletBalance": fmt(t["wallet"]),
                    "crossUnPnl": fmt(t["unrealized"]),
                    "availableBalance": fmt(t["available"]),
                    "maxWithdrawAmount": fmt(max(Decimal(0), min(t["available"], t["wallet"]))),
                    "updateTime": self.book.wallet_time,
                }
            )
        return rows

    def _is(self, symbol_id: str, asset: str) -> bool:
        return self.book.contracts[symbol_id].quote == asset

    def _notional(self, symbol_id: str) -> Decimal:
        pos = self.book.positions[symbol_id]
        return abs(pos.amount) * self.book.mark(symbol_id) if pos.amount else Decimal(0)

    def _account(self, *, v2: bool) -> dict[str, Any]:
        assets = self._asset_rows()

        def total(key: str) -> str:
            return fmt(sum((Decimal(a[key]) for a in assets), Decimal(0)))

        body: dict[str, Any] = {
            "totalInitialMargin": total("initialMargin"),
            "totalMaintMargin": total("maintMargin"),
            "totalWalletBalance": total("walletBalance"),
            "totalUnrealizedProfit": total("unrealizedProfit"),
            "totalMarginBalance": total("marginBalance"),
            "totalPositionInitialMargin": total("positionInitialMargin"),
            "totalOpenOrderInitialMargin": total("openOrderInitialMargin"),
            "totalCrossWalletBalance": total("crossWalletBalance"),
            "totalCrossUnPnl": total("crossUnPnl"),
            "availableBalance": total("availableBalance"),
            "maxWithdrawAmount": total("maxWithdrawAmount"),
            "assets": assets,
        }
        rows = self._position_rows(None, v2=v2, every=v2)
        if v2:
            body = {
                "feeTier": 0,
                "feeBurn": False,
                "canTrade": True,
                "canDeposit": False,
                "canWithdraw": False,
                "updateTime": 0,
                "multiAssetsMargin": False,
                "tradeGroupId": -1,
                **body,
            }
        body["positions"] = [
            {
                k: r[k]
                for k in (
                    "symbol", "positionSide", "positionAmt", "unrealizedProfit", "isolatedMargin",
                    "notional", "isolatedWallet", "initialMargin", "maintMargin", "updateTime",
                    *(("leverage", "entryPrice", "isolated") if v2 else ()),
                )
            }
            for r in rows
        ]  # fmt: skip
        return body

    def _balance(self, p: Mapping[str, str]) -> list[dict[str, Any]]:
        return [
            {
                "accountAlias": "SimFuturesAccount",
                "asset": a["asset"],
                "balance": a["walletBalance"],
                "crossWalletBalance": a["crossWalletBalance"],
                "crossUnPnl": a["crossUnPnl"],
                "availableBalance": a["availableBalance"],
                "maxWithdrawAmount": a["maxWithdrawAmount"],
                "marginAvailable": True,
                "updateTime": a["updateTime"],
            }
            for a in self._asset_rows()
        ]

    def _position_risk(self, p: Mapping[str, str], *, v2: bool) -> list[dict[str, Any]]:
        wanted = self.book.contract(p["symbol"]).id if p.get("symbol") else None
        return self._position_rows(wanted, v2=v2, every=v2)

    def _position_rows(self, wanted: str | None, *, v2: bool, every: bool) -> list[dict[str, Any]]:
        """Position rows; v3 lists only symbols with a position or an open order."""
        rows = []
        for sid, pos in self.book.positions.items():
            if wanted not in (None, sid):
                continue
            c: Contract = self.book.contracts[sid]
            busy = bool(pos.amount) or any(o.symbol == sid for o in self.book.open_orders(None))
            if not (every or busy):
                continue
            try:
                mark = self.book.mark(sid)
            except ApiError:  # the clock is outside this symbol's candles
                mark = Decimal(0)
            notional = pos.amount * mark
            im = self.book.position_margin(sid)
            row: dict[str, Any] = {
                "symbol": sid,
                "positionSide": "BOTH",
                "positionAmt": _fixed(pos.amount, c.spec.step),
                "entryPrice": _plain(pos.entry_price),
                "breakEvenPrice": "0",
                "markPrice": _plain(mark),
                "unrealizedProfit": fmt(self.book.unrealized(sid)),
                "unRealizedProfit": fmt(self.book.unrealized(sid)),
                "liquidationPrice": "0",
                "isolatedMargin": "0",
                "notional": fmt(notional),
                "marginAsset": c.quote,
                "isolatedWallet": "0",
                "initialMargin": fmt(im + self.book.order_margin(sid)),
                "maintMargin": fmt(abs(notional) * _MAINT_RATIO),
                "positionInitialMargin": fmt(im),
                "openOrderInitialMargin": fmt(self.book.order_margin(sid)),
                "adl": 0,
                "bidNotional": "0",
                "askNotional": "0",
                "updateTime": pos.update_time,
            }
            if v2:
                row |= {
                    "leverage": str(c.leverage),
                    "maxNotionalValue": "1000000000",
                    "marginType": "cross",
                    "isAutoAddMargin": "false",
                    "isolated": False,
                }
            rows.append(row)
        return rows


async def start_usdm_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    candles: Mapping[str, pd.DataFrame],
    api_key: str,
    api_secret: str,
    balances: Mapping[str, str | Decimal] | None = None,
    fee_rate: str | Decimal = "0.0005",
    leverage: int = 20,
    start_ms: int | None = None,
    specs: Mapping[str, ContractSpec] | None = None,
    clock: Callable[[], int] | None = None,
    duplicate_scope: Literal["all", "open"] = "all",
    funding: Mapping[str, pd.DataFrame] | None = None,
) -> UsdmSimulator:
    """Serve a simulated Binance USD-M account on ``host:port`` (0: a free port) in this loop.

    Parameters
    ----------
    candles
        Binance symbol id (``"BTCUSDT"``) → candle frame (``timestamp`` = bar open in ms,
        ``open, high, low, close``, optional ``volume``); each is listed as a USDT-margined
        perpetual with Binance's filters (``DEFAULT_SPECS``: BTCUSDT tick 0.10, step 0.001,
        minimum notional 100) unless ``specs`` says otherwise.
    api_key, api_secret
        The only key accepted and the HMAC secret signatures must use.
    balances
        Starting wallet of the margin assets, ``{"USDT": "10000"}`` by default.
    fee_rate
        Commission per fill, a fraction of its notional (0.05 %).
    leverage
        Initial leverage of every symbol (20, Binance's default).
    start_ms, specs, duplicate_scope, funding
        See :class:`live.sim._usdm_book.UsdmBook` (``funding``: symbol id → frame of
        ``timestamp`` ms and ``funding_rate``, like the shared funding files).
    clock
        Server clock in ms (wall time by default) for ``/fapi/v1/time`` and timestamp checks.
    """
    book = UsdmBook(
        candles,
        balances=balances,
        fee_rate=fee_rate,
        leverage=leverage,
        start_ms=start_ms,
        specs=specs,
        duplicate_scope=duplicate_scope,
        funding=funding,
    )
    sim = UsdmSimulator(book, api_key=api_key, api_secret=api_secret, clock=clock)
    await sim._start(host, port)
    return sim
