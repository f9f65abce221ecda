"""Venue adapters' shared parts: the error tree every adapter translates ccxt's errors into."""

from live.venues.errors import (
    GiveUp,
    OrderMissing,
    OutcomeUnknown,
    RetryLater,
    VenueError,
    parse_retry_after,
    raise_translated,
    scrub,
    translate,
    translating,
)

__all__ = [
    "GiveUp",
    "OrderMissing",
    "OutcomeUnknown",
    "RetryLater",
    "VenueError",
    "parse_retry_after",
    "raise_translated",
    "scrub",
    "translate",
    "translating",
]
