"""The status API of a live run: FastAPI routes over a :class:`~live.api.hub.LogHub`.

Every route but ``/health`` (and the OpenAPI document, ``/docs`` and the web console's page and
files, which hold no data) needs ``Authorization: Bearer <token>``;
``/metrics`` too unless the tokens say it is public. ``POST /kill``, ``POST /resume`` and the
manual orders (``POST /orders``, ``POST /orders/{client_id}/cancel``,
``POST /orders/parents/{parent_id}/cancel``) need a control token (a read token gets 403).
Websockets take the token from the same header, from the subprotocols ``grekko.bearer, <token>`` (the web console's way: browsers cannot set headers
on a websocket) or from ``?token=``, checked before the handshake is
accepted: a bad token gets an HTTP 401 refusal (or, on servers without the ASGI denial
response extension, a close with code 4401). See :mod:`live.api` for the whole surface.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Security, WebSocket
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope
from starlette.websockets import WebSocketDisconnect

from live.api._console import CONSOLE_ASSETS, add_console_routes
from live.api._market import add_market_routes
from live.api._research import FRAME_PREFIX, add_research_routes
from live.api.auth import ApiTokens, Scope, bearer_token
from live.api.control import Control
from live.api.hub import TOPICS, LogHub, Subscription, event_message
from live.orders import TERMINAL, OrderState
from live.state import dec_text

__all__ = ["BEARER_SUBPROTOCOL", "DOCS_ASSETS", "create_app"]

BEARER_SUBPROTOCOL = "grekko.bearer"
"""A websocket client may offer ``[BEARER_SUBPROTOCOL, token]`` as its subprotocols (what the
web console does): the server accepts with ``grekko.bearer`` and never echoes the token."""
DOCS_ASSETS = "/docs/assets"
"""Where the app serves the Swagger UI files of ``/docs`` (public, like the page)."""

log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False,
    description="A read token (GREKKO_API_READ_TOKEN) or a control token "
    "(GREKKO_API_CONTROL_TOKEN, needed by /kill, /resume and manual orders).",
)
_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or not a configured one"},
    403: {"description": "A read token on a control route"},
}


# -- response models --------------------------------------------------------------------------


class Health(BaseModel):
    ok: bool = Field(description="status is ok (HTTP 200; else 503)")
    status: Literal["ok", "degraded", "error"] = Field(
        description="error: the log cannot be read or folded; degraded: the run's data is "
        "stale (its last bar older than stale_after_s on the run's clock)"
    )
    reasons: list[str] = Field(description="Why the status is not ok")
    last_seq: int
    clock: Literal["wall", "market", "replay"] | None = Field(
        description="The clock the run lives on (its run_clock record; market: a simulator's)"
    )
    clock_rate: float = Field(description="The run's clock seconds per wall second")
    last_event_age_s: float | None = Field(description="Age of the last event, on the run's clock")
    last_bar_age_s: float | None = Field(
        description="Age of the last closed bar's close (or of the run's start), on the run's clock"
    )
    stale_after_s: float | None = Field(description="stale_bars × the run's timeframe")


class SleeveRun(BaseModel):
    """One strategy of a portfolio run, from its own records."""

    id: str
    strategy: str | None
    params: dict[str, Any]
    weight: float | None
    capital: float | None
    equity: float | None = Field(description="The sleeve's own equity at the last close")
    target: dict[str, float] = Field(description="The sleeve's target position per symbol")
    state: str = Field(description="The sleeve's risk state (ACTIVE, REDUCING, HALTED)")
    reason: str | None
    realised_pnl: float
    closed_trades: int
    error: str | None


class StrategyRun(BaseModel):
    run_id: str | None
    strategy: str | None
    params: dict[str, Any] | None
    venue: str | None
    mode: str | None
    feed: str | None
    symbols: list[str]
    timeframe: str | None
    config_id: str | None
    started_ts_ms: int | None
    restarts: int
    bars: int
    decisions: int
    last_bar_ts: int | None
    strategies: list[SleeveRun] = Field(
        default_factory=list, description="A portfolio run's strategies (empty for one strategy)"
    )


class Position(BaseModel):
    symbol: str
    qty: str = Field(description="Net quantity from the run's fills (decimal string)")
    last_close: float | None
    exposure: float | None = Field(description="qty × last close, in the quote currency")


class Positions(BaseModel):
    positions: list[Position]
    equity: float | None
    last_bar_ts: int | None


class OrderOut(BaseModel):
    client_id: str
    symbol: str
    side: str
    order_type: str
    qty: str
    limit_price: str | None
    filled: str
    avg_price: str | None
    state: OrderState
    decision_ts_ms: int
    created_ms: int
    submitted_ms: int | None
    venue_order_id: str | None
    reason: str | None


class ParentOut(BaseModel):
    """A parent order worked by an execution algorithm (``live.parents``)."""

    parent_id: str
    symbol: str
    side: str
    kind: Literal["twap", "vwap", "iceberg", "chase"]
    qty: str
    filled: str = Field(description="Filled by its children (decimal string)")
    children_sent: int
    children_filled: int
    state: Literal["working", "done", "cancelled", "ended unfilled"]
    start_ts: int = Field(description="The bar of its first decision (ms)")
    request_id: str | None
    cancelled_at_ts: int | None = Field(
        description="Cancelled: its first decision without children"
    )
    cancel_reason: str | None
    cancelled_by: str | None


class FillOut(BaseModel):
    client_id: str
    trade_id: str
    symbol: str
    side: str
    qty: str
    price: str
    fee: str | None
    fee_asset: str | None
    ts_ms: int
    source: str


class Pnl(BaseModel):
    equity: float | None = Field(description="Equity at the last closed bar")
    equity_start: float | None = Field(description="Equity at the first closed bar")
    equity_change: float | None
    realised_pnl: float = Field(description="Sum of the closed trades' P&L")
    closed_trades: int
    winning_trades: int
    fees: dict[str, str] = Field(description="Fees paid per asset (decimal strings)")
    last_bar_ts: int | None


class KillSwitch(BaseModel):
    engaged: bool
    reason: str | None
    flatten: bool | None
    ts_ms: int | None


class Risk(BaseModel):
    state: Literal["ACTIVE", "REDUCING", "HALTED"]
    reason: str | None
    halted: str | None = Field(description="The runner's halt reason, if halted")
    kill_switch: KillSwitch
    breaches: list[dict[str, Any]] = Field(description="Latest breaches, newest last")
    holds: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Holds the API itself sees: stale_data while the run's data is stale "
        "(the runner, frozen or gone, cannot log it)",
    )
    last_risk_decision: dict[str, Any] | None
    last_reconciliation: dict[str, Any] | None
    anomalies: list[str] = Field(description="Order-book anomalies and unreadable events")


class KillRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)
    flatten: bool = False


class ResumeRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


class AlgoRequest(BaseModel):
    """An execution algorithm working the order as child orders (``live.runner._algos``):
    ``twap`` / ``vwap`` (``slices`` children ``over`` a duration or ``every`` bars; vwap weighs
    them by the volume profile), ``iceberg`` (limit clips of ``clip``), ``chase`` (a passive
    limit ``offset_bps`` inside the price, at market after ``passive``)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["twap", "vwap", "iceberg", "chase"]
    slices: int | None = Field(default=None, ge=1, le=999)
    over: str | int | None = None
    every: str | int | None = None
    clip: Decimal | None = Field(default=None, gt=0)
    offset_bps: float | None = Field(default=None, ge=0, lt=10_000)
    passive: str | int | None = None
    weights: list[float] | None = None


class ManualOrderRequest(BaseModel):
    """A manual order (freqtrade's forceenter / forceexit): ``enter`` buys or sells ``qty``;
    ``exit`` closes the position (or ``qty`` of it). Checked by the run's risk engine.
    ``order_type: limit`` rests at ``limit_price`` (rounded to the tick away from the market)
    until it fills or is cancelled; a limit takes no ``algo``."""

    action: Literal["exit", "enter"]
    symbol: str = Field(min_length=1, max_length=64)
    side: Literal["buy", "sell"] | None = None
    qty: Decimal | None = Field(default=None, gt=0)
    order_type: Literal["market", "limit"] = "market"
    limit_price: Decimal | None = Field(default=None, gt=0, allow_inf_nan=False)
    reason: str = Field(min_length=1, max_length=500)
    algo: AlgoRequest | None = None

    @model_validator(mode="after")
    def _limit(self) -> ManualOrderRequest:
        if self.order_type == "limit" and self.limit_price is None:
            raise ValueError("limit_price: order_type limit needs a limit_price")
        if self.order_type == "market" and self.limit_price is not None:
            raise ValueError("limit_price: only order_type limit takes a limit_price")
        if self.order_type == "limit" and self.algo is not None:
            raise ValueError("algo: order_type limit takes no algo (it sets its own prices)")
        return self


class CancelRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


# -- the app ----------------------------------------------------------------------------------


def create_app(
    hub: LogHub,
    control: Control,
    tokens: ApiTokens,
    *,
    runs_dir: Path | None = None,
    data_dir: Path | None = None,
    shared_dir: Path | None = None,
) -> FastAPI:
    """Build the API over ``hub``; the app starts and stops the hub's polling with itself.

    Parameters
    ----------
    hub
        The run's log hub.
    control
        What ``/kill`` and ``/resume`` call (e.g. :class:`~live.api.FlagFileControl`).
    tokens
        The accepted tokens (:meth:`ApiTokens.from_env`). With none configured, every
        protected route answers 401.
    runs_dir, data_dir, shared_dir
        The research pages' runs folder, the market pages' store and shared data folder
        (default: ``GREKKO_RUNS_DIR``, ``GREKKO_DATA_DIR``, ``GREKKO_SHARED_DATA``, read on
        each request).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    # /docs from Swagger UI assets shipped in the fastapi-offline package, served by this
    # app itself: FastAPI's own page loads them from a CDN (a blank page offline).
    app = FastAPIOffline(
        title="Grekko live status API",
        version="1",
        summary="Read a live run's state, stream its events, engage its kill switch.",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        static_url=DOCS_ASSETS,
    )

    public = {"/", "/health", "/openapi.json", "/docs", "/docs/oauth2-redirect"}
    if tokens.metrics_public:
        public.add("/metrics")
    app.add_middleware(
        _TokenGate,
        tokens=tokens,
        public=frozenset(public),
        # framed reports: a frame ticket in their path is their key (see live.api._research)
        public_prefix=(DOCS_ASSETS + "/", CONSOLE_ASSETS + "/", FRAME_PREFIX + "/"),
    )

    read = [Depends(_needs(tokens, "read"))]
    add_console_routes(app, hub, tokens, read, _AUTH_ERRORS)  # / is the web console
    add_research_routes(app, read, _AUTH_ERRORS, runs_dir)  # its research pages
    add_market_routes(app, hub, read, _AUTH_ERRORS, data_dir=data_dir, shared_dir=shared_dir)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    async def health() -> JSONResponse:
        """Whether the API reads the log and the run's data is fresh, with the ages on the
        run's clock (no token needed); 503 unless ok."""
        info = hub.health()
        return JSONResponse(info, status_code=200 if info["ok"] else 503)

    @app.get("/status", dependencies=read, responses=_AUTH_ERRORS)
    async def status() -> Health:
        """What /health says, always with HTTP 200 (read token): for the web console, where a
        503 would read as a failed request rather than as a run whose data is stale."""
        return Health(**hub.health())

    _add_book_routes(app, hub, read)
    _add_account_routes(app, hub, read)
    _add_control_routes(app, control, [Depends(_needs(tokens, "control"))])

    async def metrics() -> Response:
        """Prometheus metrics of the run (text exposition format)."""
        hub.data_age()  # the ages are taken now, on the run's clock
        return Response(generate_latest(hub.registry), media_type=CONTENT_TYPE_LATEST)

    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        dependencies=[] if tokens.metrics_public else read,
        responses={} if tokens.metrics_public else _AUTH_ERRORS,
        response_class=Response,
    )

    for topic in TOPICS:
        app.add_api_websocket_route(f"/ws/{topic}", _stream(hub, tokens, topic))
    return app


def _needs(tokens: ApiTokens, scope: Scope) -> Callable[..., Awaitable[None]]:
    """A dependency that admits a bearer token of ``scope`` (401 without one, 403 for a read
    token on a control route)."""

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> None:
        got = tokens.scope_of(credentials.credentials if credentials else None)
        if got is None:
            raise HTTPException(
                401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        if scope == "control" and got != "control":
            raise HTTPException(403, "this route needs a control token")

    return check


def _add_book_routes(app: FastAPI, hub: LogHub, read: list[Any]) -> None:
    """/strategies, /positions, /orders, /fills: what the run trades and holds."""
    fold = hub.fold

    @app.get("/strategies", dependencies=read, responses=_AUTH_ERRORS)
    async def strategies() -> list[StrategyRun]:
        """The run this API watches: strategy, parameters, venue, mode, symbols (and each
        strategy of a portfolio run: its own equity, target, risk state and P&L)."""
        r = fold.run
        if not r:
            return []
        return [
            StrategyRun(
                run_id=r.get("run_id"),
                strategy=r.get("strategy"),
                params=r.get("params"),
                venue=r.get("venue"),
                mode=r.get("mode"),
                feed=r.get("feed"),
                symbols=fold.symbols,
                timeframe=r.get("timeframe"),
                config_id=r.get("config_id"),
                started_ts_ms=fold.started_ts_ms,
                restarts=fold.restarts,
                bars=fold.bars,
                decisions=fold.decisions,
                last_bar_ts=fold.last_bar_ts,
                strategies=[SleeveRun(**s.summary()) for s in fold.sleeves.values()],
            )
        ]

    @app.get("/positions", dependencies=read, responses=_AUTH_ERRORS)
    async def positions() -> Positions:
        """Net positions from the run's fills, valued at the last close."""
        held = fold.om.positions()
        exposure = fold.exposure()
        symbols = [*fold.symbols, *(s for s in held if s not in fold.symbols)]
        return Positions(
            positions=[
                Position(
                    symbol=s,
                    qty=dec_text(held.get(s, Decimal(0))),
                    last_close=fold.last_close.get(s),
                    exposure=exposure.get(s),
                )
                for s in symbols
            ],
            equity=fold.equity,
            last_bar_ts=fold.last_bar_ts,
        )

    @app.get("/orders", dependencies=read, responses=_AUTH_ERRORS)
    async def orders(
        state: Annotated[OrderState | None, Query(description="Only orders in this state")] = None,
        open: Annotated[
            bool | None, Query(description="true: only orders not final; false: only final")
        ] = None,
        symbol: str | None = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000, description="The last N")] = None,
    ) -> list[OrderOut]:
        """Every order of the run with its state and fills, oldest first."""
        out = [
            OrderOut(
                client_id=o.client_id,
                symbol=o.symbol,
                side=o.side,
                order_type=o.order_type,
                qty=dec_text(o.qty),
                limit_price=None if o.limit_price is None else dec_text(o.limit_price),
                filled=dec_text(o.filled_qty),
                avg_price=None if o.avg_price is None else dec_text(o.avg_price),
                state=o.state,
                decision_ts_ms=o.decision_ts_ms,
                created_ms=o.created_ms,
                submitted_ms=o.submitted_ms,
                venue_order_id=o.venue_order_id,
                reason=o.reason,
            )
            for o in fold.om.orders()
            if (state is None or o.state is state)
            and (open is None or (o.state not in TERMINAL) == open)
            and (symbol is None or o.symbol == symbol)
        ]
        return out[-limit:] if limit else out

    @app.get("/orders/parents", dependencies=read, responses=_AUTH_ERRORS)
    async def parents() -> list[ParentOut]:
        """Every parent order of the run (execution algorithms), oldest first: its children
        sent and filled, and its state (working, done, cancelled, ended unfilled)."""
        return [ParentOut(**row) for row in fold.parent_rows()]

    @app.get("/fills", dependencies=read, responses=_AUTH_ERRORS)
    async def fills(
        symbol: str | None = None,
        client_id: str | None = None,
        since_ms: Annotated[int | None, Query(ge=0, description="Fills at or after")] = None,
        limit: Annotated[int | None, Query(ge=1, le=100_000, description="The last N")] = None,
    ) -> list[FillOut]:
        """Every distinct fill of the run, in arrival order."""
        out = []
        for f in fold.om.fills(client_id):
            order = fold.om.order(f.client_id)
            if (symbol is not None and order.symbol != symbol) or (
                since_ms is not None and f.ts_ms < since_ms
            ):
                continue
            out.append(
                FillOut(
                    client_id=f.client_id,
                    trade_id=f.trade_id,
                    symbol=order.symbol,
                    side=order.side,
                    qty=dec_text(f.qty),
                    price=dec_text(f.price),
                    fee=None if f.fee is None else dec_text(f.fee),
                    fee_asset=f.fee_asset,
                    ts_ms=f.ts_ms,
                    source=f.source,
                )
            )
        return out[-limit:] if limit else out


def _add_account_routes(app: FastAPI, hub: LogHub, read: list[Any]) -> None:
    """/pnl and /risk: the account's result and its risk state."""
    fold = hub.fold

    @app.get("/pnl", dependencies=read, responses=_AUTH_ERRORS)
    async def pnl() -> Pnl:
        """Equity at the last bar, realised P&L of closed trades, fees paid."""
        change = (
            None
            if fold.equity is None or fold.first_equity is None
            else fold.equity - fold.first_equity
        )
        return Pnl(
            equity=fold.equity,
            equity_start=fold.first_equity,
            equity_change=change,
            realised_pnl=fold.realised_pnl,
            closed_trades=fold.closed_trades,
            winning_trades=fold.winning_trades,
            fees={k: dec_text(v) for k, v in fold.fees.items()},
            last_bar_ts=fold.last_bar_ts,
        )

    @app.get("/risk", dependencies=read, responses=_AUTH_ERRORS)
    async def risk(
        breaches: Annotated[int, Query(ge=0, le=50, description="How many breaches")] = 20,
    ) -> Risk:
        """Risk state (ACTIVE, REDUCING, HALTED) and why, latest breaches, last reconciliation."""
        state, reason = fold.risk()
        kill = fold.kill or {}
        stale = hub.data_age().hold()
        if stale is not None and state != "HALTED":
            state, reason = "HALTED", stale["reason"]
        anomalies = [f"{a.client_id}: {a.kind}: {a.detail}" for a in fold.om.anomalies]
        if hub.read_error:
            anomalies.append(f"log read: {hub.read_error}")
        return Risk(
            state=state,
            reason=reason,
            halted=fold.halted,
            kill_switch=KillSwitch(
                engaged=fold.kill is not None,
                reason=kill.get("reason"),
                flatten=kill.get("flatten"),
                ts_ms=kill.get("ts_ms"),
            ),
            breaches=list(fold.breaches)[-breaches:] if breaches else [],
            holds=[] if stale is None else [stale],
            last_risk_decision=fold.last_risk_decision,
            last_reconciliation=fold.last_reconcile,
            anomalies=anomalies + fold.errors,
        )


def _add_control_routes(app: FastAPI, control: Control, control_auth: list[Any]) -> None:
    """/kill, /resume and manual orders (control tokens only): requests the runner acts on."""

    @app.post("/kill", status_code=202, dependencies=control_auth, responses=_AUTH_ERRORS)
    async def kill(body: KillRequest) -> dict[str, Any]:
        """Ask for the kill switch: block new orders, cancel open ones, flatten if asked.

        Accepted, not done: the runner acts on it and logs ``kill_switch`` (see ``/risk``).
        """
        log.warning("kill switch requested through the API (flatten=%s)", body.flatten)
        return await control.kill(body.reason, body.flatten)

    @app.post("/resume", status_code=202, dependencies=control_auth, responses=_AUTH_ERRORS)
    async def resume(body: ResumeRequest) -> dict[str, Any]:
        """Ask to lift the kill switch."""
        log.warning("resume requested through the API")
        return await control.resume(body.reason)

    @app.post("/orders", status_code=202, dependencies=control_auth, responses=_AUTH_ERRORS)
    async def manual_order(body: ManualOrderRequest) -> dict[str, Any]:
        """Ask for a manual order: force an entry or an exit (a market order of the run, or
        with ``order_type: limit`` a limit order resting at ``limit_price``).

        Accepted, not done: the runner checks it with its risk engine (a refusal is logged
        with the rule) and logs ``manual_order`` with the returned ``request_id``.
        """
        if body.action == "enter" and body.side is None:
            raise HTTPException(422, "an entry needs side: buy or sell")
        log.warning("manual %s of %s requested through the API", body.action, body.symbol)
        request = body.model_dump(mode="json")
        return await control.manual({**request, "by": "api"})

    @app.post(
        "/orders/{client_id}/cancel",
        status_code=202,
        dependencies=control_auth,
        responses=_AUTH_ERRORS,
    )
    async def manual_cancel(client_id: str, body: CancelRequest) -> dict[str, Any]:
        """Ask to cancel one of the run's open orders (logged as a manual cancel)."""
        log.warning("manual cancel requested through the API")
        request = {"action": "cancel", "client_id": client_id, "reason": body.reason}
        return await control.manual({**request, "by": "api"})

    @app.post(
        "/orders/parents/{parent_id}/cancel",
        status_code=202,
        dependencies=control_auth,
        responses=_AUTH_ERRORS,
    )
    async def parent_cancel(parent_id: str, body: CancelRequest) -> dict[str, Any]:
        """Ask to cancel a working parent order: no child after it, its resting child
        cancelled, what filled stays (logged as ``algo_cancelled`` and a manual cancel)."""
        log.warning("parent cancel requested through the API")
        request = {"action": "cancel", "parent_id": parent_id, "reason": body.reason}
        return await control.manual({**request, "by": "api"})


def _unauthorized() -> JSONResponse:
    return JSONResponse(
        {"detail": "missing or invalid bearer token"}, 401, headers={"WWW-Authenticate": "Bearer"}
    )


class _TokenGate:
    """Answer 401 to an HTTP request without a configured token before routing and before its
    body is parsed (so strangers learn nothing, not even which paths exist). The routes still
    check the scope (control routes: 403 for a read token) and document the scheme."""

    def __init__(
        self,
        app: ASGIApp,
        tokens: ApiTokens,
        public: frozenset[str],
        public_prefix: tuple[str, ...],
    ) -> None:
        self.app, self.tokens, self.public = app, tokens, public
        self.public_prefix = public_prefix

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path not in self.public
            and not path.startswith(self.public_prefix)
        ):
            token = bearer_token(Headers(scope=scope).get("authorization"))
            if self.tokens.scope_of(token) is None:
                await _unauthorized()(scope, receive, send)
                return
        await self.app(scope, receive, send)


# -- websockets -------------------------------------------------------------------------------


async def _deny(ws: WebSocket, status: int, detail: str) -> None:
    """Refuse a handshake: an HTTP answer where the server can send one, else a close code."""
    if "websocket.http.response" in ws.scope.get("extensions", {}):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await ws.send_denial_response(JSONResponse({"detail": detail}, status, headers=headers))
    else:
        await ws.close(code=4401 if status == 401 else 1008, reason=detail)


def _stream(hub: LogHub, tokens: ApiTokens, topic: str) -> Callable[[WebSocket], Awaitable[None]]:
    async def stream(ws: WebSocket) -> None:
        offered = ws.scope.get("subprotocols") or []
        token = (
            bearer_token(ws.headers.get("authorization"))
            or _subprotocol_token(offered)
            or ws.query_params.get("token")
        )
        if not tokens.allows(token, "read"):
            await _deny(ws, 401, "missing or invalid token")
            return
        after_text = ws.query_params.get("after_seq")
        if after_text is not None and not (after_text.isdigit() and len(after_text) < 19):
            await _deny(ws, 400, "after_seq must be an integer >= 0")
            return
        with hub.subscription(topic) as sub:  # before the backlog: no gap between the two
            await ws.accept(
                subprotocol=BEARER_SUBPROTOCOL if BEARER_SUBPROTOCOL in offered else None
            )
            last = -1
            if after_text is not None:
                for e in await hub.backlog(topic, int(after_text)):
                    await ws.send_json(event_message(e, topic))
                    last = e.seq

            await _follow(ws, sub, topic, last)

    stream.__name__ = f"ws_{topic}"
    stream.__doc__ = f"Stream the run's new {topic} events as JSON (after_seq=N: from seq N+1)."
    return stream


def _subprotocol_token(offered: list[str]) -> str | None:
    """The token a browser offers as the subprotocol after ``grekko.bearer`` (a browser cannot
    set a websocket's headers; a subprotocol keeps the token out of the URL and the logs)."""
    if BEARER_SUBPROTOCOL not in offered:
        return None
    rest = [p for p in offered if p != BEARER_SUBPROTOCOL]
    return rest[0] if len(rest) == 1 else None


async def _follow(ws: WebSocket, sub: Subscription, topic: str, last: int) -> None:
    """Send ``sub``'s events after seq ``last`` until the client leaves or falls too far behind
    (then close with 1013: it reconnects with ``after_seq``)."""

    async def pump() -> None:
        nonlocal last
        while True:
            e = await sub.get()
            if e is None:
                await ws.close(1013, "too slow: reconnect with after_seq")
                return
            if e.seq > last:
                await ws.send_json(event_message(e, topic))
                last = e.seq

    async def drain() -> None:
        while (await ws.receive())["type"] != "websocket.disconnect":
            pass  # clients have nothing to say; read only to notice a disconnect

    tasks = [asyncio.ensure_future(pump()), asyncio.ensure_future(drain())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
                await t
