"""Order states and the explicit table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from live.orders._errors import IllegalTransition

__all__ = ["TERMINAL", "TRANSITIONS", "OrderState", "check_transition", "is_stale"]


class OrderState(StrEnum):
    """Life-cycle state of an order, as the manager knows it."""

    NEW = "NEW"
    """Created locally from an intent; not yet sent."""
    SUBMITTED = "SUBMITTED"
    """The create request is (about to be) on the wire; no answer yet."""
    UNKNOWN = "UNKNOWN"
    """The create timed out or got a 5xx: it may or may not exist on the venue. Resolve it by
    querying its client id, never by a blind resubmit."""
    ACKNOWLEDGED = "ACKNOWLEDGED"
    """The venue accepted the order; nothing filled yet."""
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    """Part of the quantity filled; the rest is working."""
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


S = OrderState
_AFTER_SEND = frozenset(
    {S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
)

TRANSITIONS: MappingProxyType[OrderState, frozenset[OrderState]] = MappingProxyType(
    {
        # CANCELLED from NEW: withdrawn before it was ever sent.
        S.NEW: frozenset({S.SUBMITTED, S.CANCELLED}),
        # Fills may arrive (websocket) before the ack (REST), hence SUBMITTED -> *_FILLED.
        S.SUBMITTED: _AFTER_SEND | {S.UNKNOWN},
        S.UNKNOWN: _AFTER_SEND,
        S.ACKNOWLEDGED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
        # PARTIALLY_FILLED -> PARTIALLY_FILLED: a further partial fill.
        S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.EXPIRED}),
        S.FILLED: frozenset(),
        S.CANCELLED: frozenset(),
        S.REJECTED: frozenset(),
        S.EXPIRED: frozenset(),
    }
)
"""Allowed transitions ``from -> {to, ...}``; terminal states have none."""

TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)
"""States an order never leaves: FILLED, CANCELLED, REJECTED, EXPIRED."""

# Progress along the life cycle, used to drop stale (late, out-of-order) venue updates.
_RANK = {
    S.NEW: 0,
    S.SUBMITTED: 1,
    S.UNKNOWN: 1,
    S.ACKNOWLEDGED: 2,
    S.PARTIALLY_FILLED: 3,
    S.FILLED: 4,
    S.CANCELLED: 4,
    S.REJECTED: 4,
    S.EXPIRED: 4,
}


def is_stale(current: OrderState, target: OrderState) -> bool:
    """Return whether a venue update towards ``target`` is older news than ``current``.

    It is when ``current`` is terminal (terminal states are final: the first one wins) or when
    ``target`` lies behind ``current`` in the life cycle (an ack after a fill). Stale updates
    are merged without a state change; they are not errors.
    """
    return current in TERMINAL or _RANK[target] < _RANK[current]


def check_transition(client_id: str, current: OrderState, target: OrderState, event: str) -> None:
    """Raise :class:`IllegalTransition` unless ``TRANSITIONS`` allows ``current -> target``."""
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(client_id, current.value, target.value, event)
