"""The account's fee rates through ccxt (``fetch_trading_fee``): what smart order routing charges
a venue whose ``live.routing`` entry reads its fee from the venue (``fee_from_venue``)."""

from __future__ import annotations

import math
from typing import Any

from live.venues.errors import GiveUp

__all__ = ["read_taker_fee_bps"]


async def read_taker_fee_bps(venue: Any, symbol: str) -> float:
    """``venue``'s taker fee for ``symbol`` in bps. A venue answering no finite rate in
    [0, 10 %) is a failed call (:class:`~live.venues.errors.GiveUp`: never guess a fee)."""
    await venue.start()
    with venue.calling("fetch_trading_fee"):
        fee = await venue.client.fetch_trading_fee(symbol)
    rate = fee.get("taker") if isinstance(fee, dict) else None
    if not isinstance(rate, int | float) or not math.isfinite(rate) or not 0 <= rate < 0.1:
        raise GiveUp(f"{symbol}: the venue reported no usable taker fee ({rate!r})",
                     venue=venue.name, operation="fetch_trading_fee", state_changing=False,
                     source="NoFee")  # fmt: skip
    return float(rate) * 1e4
