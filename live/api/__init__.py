"""The status API of a live run: read its state, stream its events, engage its kill switch.

It reads only the run's event log (another process than the runner may serve it) and acts on
the run only through a :class:`Control` (by default the ``KILL`` flag file the runner watches).

Routes (JSON; every one but ``/health`` and the pages with their files — ``/docs``, ``/`` —
needs ``Authorization: Bearer <token>``)::

    GET  /health        ok | degraded (stale data) | error, ages on the run's clock (no token)
    GET  /strategies    run id, strategy, params, venue, mode, symbols
    GET  /positions     net positions, last close, exposure
    GET  /orders        ?state=FILLED &open=true &symbol= &limit=
    GET  /orders/parents  execution algorithms' parents: children, filled, state
    GET  /fills         ?symbol= &client_id= &since_ms= &limit=
    GET  /pnl           equity, realised P&L, fees
    GET  /risk          ACTIVE | REDUCING | HALTED + reason, breaches, last reconciliation
    POST /kill          {"reason": str, "flatten": bool}   control token
    POST /resume        {"reason": str}                    control token
    POST /orders/parents/{parent_id}/cancel  {"reason": str}  control token
    GET  /metrics       Prometheus text (public with GREKKO_API_METRICS_PUBLIC=1)
    WS   /ws/orders /ws/fills /ws/signals /ws/risk          ?after_seq=N to catch up
                        (token: Authorization header, subprotocols grekko.bearer + token, or ?token=)
    GET  /status        what /health says, always 200 (read token; the web console's)
    GET  /whoami        the token's scope: read | control
    GET  /events        ?topic=orders|fills|signals|risk &limit=N: the latest, then stream
    GET  /equity        equity at each closed bar (thinned on long runs)
    GET  /openapi.json  the OpenAPI document
    GET  /docs          Swagger UI, its files served locally (no CDN)
    GET  /              the web console (docs/console.md), its files under /console/assets/

Example::

    from live.api import ApiTokens, FlagFileControl, LogHub, create_app, serve

    serve("runs/live/my-run/events.db", "runs/live/my-run", port=8000)   # blocks
"""

from live.api.app import create_app
from live.api.auth import ApiTokens
from live.api.control import KILL_FILE, Control, FlagFileControl
from live.api.hub import TOPICS, LogHub, Subscription, topics_of
from live.api.server import api_server, serve

__all__ = [
    "KILL_FILE",
    "TOPICS",
    "ApiTokens",
    "Control",
    "FlagFileControl",
    "LogHub",
    "Subscription",
    "api_server",
    "create_app",
    "serve",
    "topics_of",
]
