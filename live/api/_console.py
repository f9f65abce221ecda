"""The web console's side of the status API: its page and bundled assets (public, under a strict
Content-Security-Policy) and the two read routes it loads before it streams.

The bundle is built from ``web/`` (React + TypeScript, esbuild) into ``live/api/console/``
and ships inside the package, so an installed ``grekko-live`` serves it without npm. The page
holds no data: it asks for a token in a login form and sends it in an ``Authorization``
header (websockets: a subprotocol), never in a URL or a cookie, so a control call cannot be
forged by another site (no ambient credential) and nothing outlives the tab by default.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from live.api.auth import ApiTokens, bearer_token
from live.api.hub import TOPICS, LogHub, event_message
from live.runs import list_runs

__all__ = ["CONSOLE_ASSETS", "CONSOLE_DIR", "CSP", "add_console_routes", "source_hash"]

CONSOLE_DIR = Path(__file__).with_name("console")
"""The built bundle: ``index.html``, ``assets/*`` and ``SOURCE_HASH`` (see :func:`source_hash`)."""
CONSOLE_ASSETS = "/console/assets"
"""Where the bundle's scripts and stylesheets are served (public, like the page)."""

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",  # fetch and the websockets of this origin only
        "frame-src 'self'",  # a research tearsheet, served by this origin
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
"""The page's Content-Security-Policy: nothing but this origin's own files; no inline script or
style, no eval, no framing by other sites."""

_SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_TYPES = {".js": "text/javascript", ".css": "text/css", ".map": "application/json"}


def source_hash(web: Path) -> str:
    """SHA-256 over the console's sources (``web/src``, its build script and lock): what the
    bundle's ``SOURCE_HASH`` records, so a test tells a bundle older than its sources."""
    h = hashlib.sha256()
    src = sorted((web / "src").rglob("*"), key=lambda p: p.relative_to(web).as_posix())
    files = [web / "build.mjs", web / "package-lock.json", *src]
    for f in files:
        if f.is_file():
            h.update(f.relative_to(web).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


class WhoAmI(BaseModel):
    scope: Literal["read", "control"] = Field(
        description="What the presented token may do: control may also kill and resume"
    )


class RunListed(BaseModel):
    """A run with a log beside the served one (``<state_dir>/<run_id>/events.db``)."""

    run_id: str
    served: bool = Field(description="Whether this API serves this run")
    venue: str | None
    feed: str | None
    mode: str | None
    strategy: str | None
    started_ms: int | None
    last_event_ms: int | None
    state: str = Field(description="ACTIVE, REDUCING, HALTED, or EMPTY (no run_started)")
    reason: str | None


class EventOut(BaseModel):
    topic: str
    seq: int
    ts_ms: int
    kind: str
    stream: str
    payload: dict[str, Any]


class EventPage(BaseModel):
    events: list[EventOut] = Field(description="The latest events of the topic, oldest first")
    last_seq: int = Field(
        description="The log's seq these events go up to: stream /ws/<topic>?after_seq=last_seq "
        "to miss nothing"
    )


class EquityPoint(BaseModel):
    ts: int = Field(description="The bar's open time, ms since the epoch")
    equity: float


class EquityCurve(BaseModel):
    points: list[EquityPoint] = Field(
        description="Equity at each closed bar, oldest first (thinned on long runs)"
    )
    equity_start: float | None
    last_seq: int


def add_console_routes(
    app: FastAPI,
    hub: LogHub,
    tokens: ApiTokens,
    read: list[Any],
    errors: dict[int | str, dict[str, Any]],
) -> None:
    """``/`` (the console), ``/console/assets/*``, and ``/whoami``, ``/events``, ``/equity``
    (read token)."""
    assets = CONSOLE_DIR / "assets"
    # Only the files the bundle holds are served: a name is looked up, never joined to a path.
    served = {p.name: p for p in assets.iterdir() if p.is_file()} if assets.is_dir() else {}

    @app.get("/", include_in_schema=False)
    async def console() -> HTMLResponse:
        """The web console (the API's documentation is at /docs)."""
        index = CONSOLE_DIR / "index.html"
        if not index.is_file():
            return HTMLResponse(
                "<!doctype html><title>grekko console</title><p>The console is not built: run "
                "<code>make console</code>. The API's documentation is at "
                '<a href="/docs">/docs</a>.</p>',
                503,
                headers=_SECURITY_HEADERS,
            )
        headers = {**_SECURITY_HEADERS, "Cache-Control": "no-store"}
        return HTMLResponse(index.read_text(encoding="utf-8"), headers=headers)

    @app.get(CONSOLE_ASSETS + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        path = served.get(name)
        if path is None:
            raise HTTPException(404, "no such asset")
        # Names carry the content's hash: a browser may keep them.
        headers = {**_SECURITY_HEADERS, "Cache-Control": "public, max-age=31536000, immutable"}
        return FileResponse(path, media_type=_TYPES.get(path.suffix), headers=headers)

    @app.get("/whoami", dependencies=read, responses=errors)
    async def whoami(request: Request) -> WhoAmI:
        """The scope of the presented token (the console shows the kill switch to control)."""
        scope = tokens.scope_of(bearer_token(request.headers.get("authorization")))
        assert scope is not None  # the read dependency let it through
        return WhoAmI(scope=scope)

    @app.get("/runs", dependencies=read, responses=errors)
    async def runs() -> list[RunListed]:
        """The runs whose logs share the served run's state folder, most recently active first
        (each is watched by its own API; a PostgreSQL log lists only the served run)."""
        return await asyncio.to_thread(_runs_beside, Path(hub.target), hub)

    @app.get("/events", dependencies=read, responses=errors)
    async def events(
        topic: Annotated[Literal["orders", "fills", "signals", "risk"], Query()],
        limit: Annotated[int, Query(ge=1, le=500, description="The last N (at most 500)")] = 100,
    ) -> EventPage:
        """The latest events of a websocket topic, then stream the rest from ``last_seq``."""
        assert topic in TOPICS
        return EventPage(
            events=[EventOut(**event_message(e, topic)) for e in hub.recent.latest(topic, limit)],
            last_seq=hub.fold.last_seq,
        )

    @app.get("/equity", dependencies=read, responses=errors)
    async def equity() -> EquityCurve:
        """The run's equity at each closed bar (its drawdown is the fall from the running peak)."""
        return EquityCurve(
            points=[EquityPoint(ts=ts, equity=v) for ts, v in hub.recent.curve()],
            equity_start=hub.fold.first_equity,
            last_seq=hub.fold.last_seq,
        )


def _runs_beside(served: Path, hub: LogHub) -> list[RunListed]:
    """The runs of the served log's state folder (its parent's parent), read without writing."""
    if "://" in str(hub.target):
        infos = []
    else:
        infos = list_runs(served.parent.parent)
    out = [
        RunListed(
            run_id=r.run_id,
            served=Path(r.events).resolve() == served.resolve(),
            venue=r.venue,
            feed=r.feed,
            mode=r.mode,
            strategy=r.strategy,
            started_ms=r.started,
            last_event_ms=r.last_event,
            state=r.state,
            reason=r.reason,
        )
        for r in infos
    ]
    if not any(r.served for r in out):  # a database log, or a log outside a state folder
        run = hub.fold.run
        state, reason = hub.fold.risk() if run else ("EMPTY", "no run_started event")
        out.insert(
            0,
            RunListed(
                run_id=str(run.get("run_id") or served.parent.name),
                served=True,
                venue=run.get("venue"),
                feed=run.get("feed"),
                mode=run.get("mode"),
                strategy=run.get("strategy"),
                started_ms=hub.fold.started_ts_ms,
                last_event_ms=hub.fold.last_ts_ms or None,
                state=state,
                reason=reason,
            ),
        )
    return out
