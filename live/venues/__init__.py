"""Venue adapters' shared parts: the error tree every adapter translates ccxt's errors into.

The ccxt adapters (:func:`make_venue`, :func:`load_credentials`, :class:`Credentials`,
:class:`CcxtVenue`) are exported lazily: importing this package does not load ``ccxt.pro``.
"""

from typing import Any

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
    "CcxtVenue",
    "Credentials",
    "GiveUp",
    "OrderMissing",
    "OutcomeUnknown",
    "RetryLater",
    "VenueError",
    "load_credentials",
    "make_venue",
    "parse_retry_after",
    "raise_translated",
    "scrub",
    "translate",
    "translating",
]

_LAZY = {
    "CcxtVenue": "live.venues.ccxt_venue",
    "Credentials": "live.venues.credentials",
    "load_credentials": "live.venues.credentials",
    "make_venue": "live.venues.registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'live.venues' has no attribute {name!r}")
