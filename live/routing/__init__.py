"""Smart order routing: send an order of a symbol listed on several venues where its all-in
price is best — top of book and the walk of the book for the size, the taker fee and the
expected slippage — within each venue's balance, avoiding unhealthy venues, split across venues
when the books make that cheaper (issue 27, item 4; ``docs/execution.md``).

:func:`decide` is the pure decision (unit-tested); :class:`SmartRouter` reads the venues, logs
the decision with its reasons (``route_decision``) and sends each child through the risk engine
and its venue's order manager. :class:`SlippageEstimate` is the seam for a calibrated slippage
model; :class:`BookWalkSlippage` is the default. :func:`replay_route` decides a logged route
again from the inputs its event records (:func:`route_differences`: parity with the log). The config section is ``live.routing``
(:class:`RoutingSpec`).
"""

from live.routing._decide import (
    BAN_ERRORS,
    BookWalkSlippage,
    Candidate,
    Child,
    Health,
    Levels,
    RouteDecision,
    SlippageEstimate,
    VenueInput,
    decide,
    venue_health,
    walk_price,
)
from live.routing._live import MAX_VENUES, ROUTE_SEQ, RouteResult, SmartRouter
from live.routing._replay import NotReplayable, replay_route, route_differences
from live.routing._spec import RoutingSpec, routing_spec

__all__ = [
    "BAN_ERRORS",
    "MAX_VENUES",
    "ROUTE_SEQ",
    "BookWalkSlippage",
    "Candidate",
    "Child",
    "Health",
    "Levels",
    "NotReplayable",
    "RouteDecision",
    "RouteResult",
    "RoutingSpec",
    "SlippageEstimate",
    "SmartRouter",
    "VenueInput",
    "decide",
    "replay_route",
    "route_differences",
    "routing_spec",
    "venue_health",
    "walk_price",
]
