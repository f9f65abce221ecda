"""Funding settlements of perpetual positions, read from the venue and booked as the backtest
books them.

On a venue whose adapter lists the account's funding (``capabilities.funding``: a
:class:`~live.venues.base.FundingVenue`), the runner asks it, after each bar's close and
before the decision that executes at the next open, for the settlements of every symbol since
the last one logged (the run's first bar on a fresh run). Each new one is logged once as a
``funding`` event::

    funding  {symbol, ts_ms, amount, asset, id, bar}   amount: received, in the quote
                                                        (negative: paid), as a decimal string

then booked in the account's engine book (:meth:`~grekko_research.engine.book.EngineBook.fund`:
the kernel's own funding booking, into the cash and the open trade's funding), so the next
close's equity includes it. A settlement the log already holds (its ``id``) is never logged or
booked again: a restart books the ones after the last ``bar_closed`` snapshot from the log and
asks the venue again from the last logged time. In a lock-step replay (the venue's clock at
the next bar's open when a bar closes) the funding at that open is booked on the position
carried into it, before the open's orders: the backtest's ``funding_phase``, to the bit. A
venue that fails to answer is asked again after the next bar. A portfolio run books funding in
the account's book, not in its sleeves' books.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from live.runner._base import RunnerBase
from live.venues.base import FundingVenue
from live.venues.errors import VenueError

__all__ = ["FundingSettlements"]


class FundingSettlements(RunnerBase):
    """The runner's funding settlements (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (symbol, id) -> ts_ms of every settlement logged, read from the log once
        self._funding_logged: dict[tuple[str, str], int] | None = None

    def _book_funding(self, payload: dict[str, Any]) -> None:
        """Book one logged settlement in the account's engine book."""
        if self.book is not None:
            j = self.spec.symbols.index(str(payload["symbol"]))
            self.book.fund(j, float(Decimal(str(payload["amount"]))))

    async def _settle_funding(self) -> None:
        """Log and book the venue's new funding settlements of the run's symbols."""
        if not self.venue.capabilities.funding or self.book is None:
            return
        if self._funding_logged is None:
            self._funding_logged = {
                (str(e.payload["symbol"]), str(e.payload["id"])): int(e.payload["ts_ms"])
                for e in self.store.read(kinds=["funding"])
            }
        logged = self._funding_logged
        venue = cast(FundingVenue, self.venue)  # capabilities.funding: the adapter declares it
        drafts: list[tuple[str, str, dict[str, Any]]] = []
        for symbol in self.spec.symbols:
            since = max(
                (ts for (s, _), ts in logged.items() if s == symbol), default=self._first_ts
            )
            try:
                paid = await venue.funding_payments(symbol, since)
            except VenueError as e:
                drafts.append(
                    ("funding_unavailable", "runner", {"symbol": symbol, "error": str(e)})
                )
                continue
            for f in paid:
                key = (symbol, f.id)
                if key in logged or f.ts_ms < self._first_ts:
                    continue
                logged[key] = f.ts_ms
                drafts.append(
                    ("funding", "runner", {"symbol": symbol, "ts_ms": f.ts_ms,
                     "amount": str(f.amount), "asset": f.asset, "id": f.id, "bar": self.book.bar})
                )  # fmt: skip
        self._append(drafts)
        for kind, _, payload in drafts:
            if kind == "funding":
                self._book_funding(payload)
