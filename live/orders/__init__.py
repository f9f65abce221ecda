"""The order manager's pure core: order state machine, client ids, fills, positions, replay.

No I/O, no clock: the runner passes ``now_ms``, hands venue reports (built by the venue
adapters) to :meth:`OrderManager.apply`, and appends the events every command returns to the
event store; after a restart :meth:`OrderManager.replay` rebuilds the exact same book from them.

Typical use::

    om = OrderManager(grace_ms=10_000)
    events = om.create(Intent("run-1", "BTC/USDT", "buy", Decimal("0.5"), bar_ts, seq=0), now)
    cid = events[0]["stream"]
    events += om.mark_submitted(cid, now)          # then send the create with client id cid
    events += om.apply(Ack(cid, "123"), now)       # ... and whatever the venue reports
    events += om.apply(FillReport(cid, "t1", "0.5", "30000", source="ws"), now)

Order states and transitions (:data:`TRANSITIONS`; terminal states have none)::

    NEW               -> SUBMITTED, CANCELLED
    SUBMITTED         -> ACKNOWLEDGED, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, EXPIRED, UNKNOWN
    UNKNOWN           -> ACKNOWLEDGED, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED, EXPIRED
    ACKNOWLEDGED      -> PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED
    PARTIALLY_FILLED  -> PARTIALLY_FILLED, FILLED, CANCELLED, EXPIRED
    FILLED, CANCELLED, REJECTED, EXPIRED: terminal

How late, duplicate and out-of-order reports merge, and the "not found" grace rule, are
documented on :class:`OrderManager`.
"""

from live.orders._errors import (
    HaltedError,
    IllegalTransition,
    IntentConflictError,
    InvalidIntentError,
    InvalidReportError,
    OrderError,
    OverfillError,
    ReplayError,
    UnknownOrderError,
)
from live.orders._ids import BINANCE_CLIENT_ID_RE, COINBASE_CLIENT_ID_RE, client_order_id
from live.orders._manager import DEFAULT_GRACE_MS, Event, OrderManager
from live.orders._model import (
    LIMIT_TYPES,
    ORDER_TYPES,
    TIME_IN_FORCE_VALUES,
    TRIGGERED_TYPES,
    Ack,
    Anomaly,
    Cancelled,
    Expired,
    Fill,
    FillReport,
    Intent,
    NotFound,
    Order,
    Pending,
    QueryResult,
    Rejected,
    Report,
    Timeout,
)
from live.orders._policy import STOP_POLICY_MODES, StopPlacement, StopPolicy
from live.orders._states import TERMINAL, TRANSITIONS, OrderState

__all__ = [
    "BINANCE_CLIENT_ID_RE",
    "COINBASE_CLIENT_ID_RE",
    "DEFAULT_GRACE_MS",
    "LIMIT_TYPES",
    "ORDER_TYPES",
    "STOP_POLICY_MODES",
    "TERMINAL",
    "TIME_IN_FORCE_VALUES",
    "TRANSITIONS",
    "TRIGGERED_TYPES",
    "Ack",
    "Anomaly",
    "Cancelled",
    "Event",
    "Expired",
    "Fill",
    "FillReport",
    "HaltedError",
    "IllegalTransition",
    "Intent",
    "IntentConflictError",
    "InvalidIntentError",
    "InvalidReportError",
    "NotFound",
    "Order",
    "OrderError",
    "OrderManager",
    "OrderState",
    "OverfillError",
    "Pending",
    "QueryResult",
    "Rejected",
    "ReplayError",
    "Report",
    "StopPlacement",
    "StopPolicy",
    "Timeout",
    "UnknownOrderError",
    "client_order_id",
]
