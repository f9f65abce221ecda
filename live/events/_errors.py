"""Errors of the event store, grouped by what the caller must do next.

=======================  =============================================  ======================
class                    meaning                                        caller's next step
=======================  =============================================  ======================
``EventStoreError``      the store cannot be opened, read or written    stop; inspect the store
``InvalidEventError``    kind, stream, payload or time is unusable      fix the event
``ChainConflictError``   other writers kept taking the next ``seq``     retry later
``TamperedError``        ``verify`` found the chain broken              halt; investigate
=======================  =============================================  ======================
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grekko_research.errors import GrekkoError, RetryableError

if TYPE_CHECKING:
    from live.events._verify import VerifyReport

__all__ = ["ChainConflictError", "EventStoreError", "InvalidEventError", "TamperedError"]


class EventStoreError(GrekkoError, RuntimeError):
    """The event store cannot be opened, read or written (the database's error is the cause)."""


class InvalidEventError(EventStoreError, ValueError):
    """An event to append is unusable: empty kind or stream, bad time, non-JSON payload."""


class ChainConflictError(EventStoreError, RetryableError):
    """Concurrent writers took the next ``seq`` on every attempt; nothing was appended."""


class TamperedError(EventStoreError):
    """The log fails verification (chain, MAC or checkpoint); ``report`` says at which ``seq``
    and why."""

    def __init__(self, report: VerifyReport, *, hint: str = "") -> None:
        self.report = report
        super().__init__(
            f"event log {report.target}: chain broken at seq {report.first_bad_seq} "
            f"({report.reason}): {report.detail}{hint}"
        )
