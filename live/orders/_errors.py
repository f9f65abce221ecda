"""Errors of the order manager, grouped by what the caller must do next.

=========================  ==============================================  =========================
class                      meaning                                         caller's next step
=========================  ==============================================  =========================
``OrderError``             base of the errors below                        see the subclass
``InvalidIntentError``     an intent's field is unusable (qty, side ...)   fix the intent
``InvalidReportError``     a venue report's field is unusable              drop it; fix the adapter
``IntentConflictError``    same client id, different intent                fix the intent sequence
``UnknownOrderError``      a report or event names no known order          reconcile with the venue
``IllegalTransition``      an event would break the state machine          halt; investigate
``ReplayError``            an event cannot be replayed (kind, payload)     halt; inspect the log
``HaltedError``            an anomaly halted the manager: no new orders    halt; investigate
``OverfillError``          halted because fills exceed an order's qty      halt; investigate
=========================  ==============================================  =========================
"""

from __future__ import annotations

from grekko_research.errors import GrekkoError

__all__ = [
    "HaltedError",
    "IllegalTransition",
    "IntentConflictError",
    "InvalidIntentError",
    "InvalidReportError",
    "OrderError",
    "OverfillError",
    "ReplayError",
    "UnknownOrderError",
]


class OrderError(GrekkoError):
    """Base class of the order manager's errors."""


class InvalidIntentError(OrderError, ValueError):
    """An order intent has an unusable field (non-positive quantity, unknown side ...)."""


class InvalidReportError(OrderError, ValueError):
    """A venue report has an unusable field (non-positive fill quantity, bad status ...)."""


class IntentConflictError(OrderError, ValueError):
    """An intent maps to the client id of an existing order but differs from it."""


class UnknownOrderError(OrderError, KeyError):
    """A report or an event names a client order id the manager does not hold."""

    def __init__(self, client_id: str, what: str) -> None:
        self.client_id = client_id
        super().__init__(f"{what} names unknown order {client_id!r}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class IllegalTransition(OrderError, RuntimeError):
    """An event would move an order along a transition the state machine does not allow.

    Parameters
    ----------
    client_id
        The order's client id.
    from_state, to_state
        Names of the order's current state and of the refused target state.
    event
        What asked for the transition, e.g. ``"ack"`` or ``"order_fill"``.
    """

    def __init__(self, client_id: str, from_state: str, to_state: str, event: str) -> None:
        self.client_id = client_id
        self.from_state = from_state
        self.to_state = to_state
        self.event = event
        super().__init__(
            f"order {client_id!r}: illegal transition {from_state} -> {to_state} on {event!r}"
        )


class ReplayError(OrderError, ValueError):
    """An event cannot be replayed: unknown kind, missing or malformed payload field."""


class HaltedError(OrderError, RuntimeError):
    """An anomaly halted the manager; it refuses new orders until a human intervenes."""


class OverfillError(HaltedError):
    """The manager is halted because an order's fills exceed its quantity."""
