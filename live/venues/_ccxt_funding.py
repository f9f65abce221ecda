"""The account's funding settlements through ccxt's ``fetch_funding_history`` (the capability
``funding``): :class:`FundingHistory` is mixed into :class:`~live.venues.ccxt_venue.CcxtVenue`
and uses only its public members (``client``, ``calling``, ``start``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from live.venues._ccxt_util import dec
from live.venues.base import FundingPayment

__all__ = ["FUNDING_PAGE", "FundingHistory"]

FUNDING_PAGE = 1000
"""Settlements asked for per request (Binance's maximum); a full page asks again from its
newest time."""


class _Host(Protocol):
    client: Any

    @property
    def calling(self) -> Callable[..., AbstractContextManager[None]]: ...

    async def start(self) -> None: ...


class FundingHistory:
    """:meth:`funding_payments` for a ccxt adapter."""

    async def funding_payments(self: _Host, symbol: str, since_ms: int) -> list[FundingPayment]:
        """The account's funding settlements of ``symbol`` at or after ``since_ms``, oldest
        first, each once (paged by time)."""
        await self.start()
        out: dict[str, FundingPayment] = {}
        since = int(since_ms)
        while True:
            with self.calling("fetch_funding_history"):
                page = await self.client.fetch_funding_history(symbol, since, FUNDING_PAGE)
            fresh = 0
            for row in page:
                key = str(row.get("id") or f"{row.get('timestamp')}:{row.get('amount')}")
                if key not in out:
                    fresh += 1
                    out[key] = FundingPayment(
                        symbol, int(row["timestamp"]), dec(row["amount"]),
                        str(row.get("code") or ""), key,
                    )  # fmt: skip
            if not fresh or len(page) < FUNDING_PAGE:
                return sorted(out.values(), key=lambda f: (f.ts_ms, f.id))
            since = max(int(r["timestamp"]) for r in page)
