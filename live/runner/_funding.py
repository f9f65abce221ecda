"""Funding settlements of perpetual positions, read from the venue and booked as the backtest
books them.

On a venue whose adapter lists the account's funding (``capabilities.funding``: a
:class:`~live.venues.base.FundingVenue`), the runner asks it, after a bar's close and before
the decision that executes at the next open, for the settlements of the run's symbols since
the last one logged (the run's first bar on a fresh run). Each new one is logged once as a
``funding`` event::

    funding  {symbol, ts_ms, amount, asset, id, bar,   amount: received, in the quote
              sleeves?: {id: amount}}                  (negative: paid), as a decimal string

then booked in the account's engine book (:meth:`~grekko_research.engine.book.EngineBook.fund`:
the kernel's own funding booking, into the cash and the open trade's funding), so the next
close's equity includes it. A settlement the log already holds (its ``id``) is never logged or
booked again: a restart books the ones after the last ``bar_closed`` snapshot from the log and
asks the venue again from the last logged time. In a lock-step replay (the venue's clock at
the next bar's open when a bar closes) the funding at that open is booked on the position
carried into it, before the open's orders: the backtest's ``funding_phase``, to the bit. A
venue that fails to answer is asked again after the next bar.

**When the venue is asked.** Funding happens at known times: the multiples of
``RunnerSpec.funding_interval_ms`` since the epoch (``live.funding_interval_h``, default 8 h:
Binance USD-M's 00:00, 08:00 and 16:00 UTC; the adapters do not tell a symbol's interval). The
venue is asked at the first decision of the process (a start or a restart: nothing is missed),
then only at a decision whose next open (the bar's close time) is at or past a funding time
later than the last one asked for. A settlement can be listed late (Binance lists it seconds
after the funding time; a decision comes right at the bar's close), so a symbol the account
holds and whose answer had no settlement at or after that funding time is asked again at the
next decisions, :data:`FUNDING_RETRIES` times at most; a failed ask does not count. A
settlement listed later still is booked at the next funding time's ask, which asks from the
last logged settlement: late, never lost.

**Portfolio runs.** The settlement is the account's; each sleeve's book pays funding on its
own position in the symbol at the same rate and mark, as its own backtest would. The venue's
income carries neither rate nor mark, but the account's position paid ``−position × mark ×
rate``, so a sleeve holding ``q`` pays ``amount × q / position`` (the account's position in the
book when the settlement is booked; the sleeves' net position when the account is flat there).
The shares are computed once, logged under ``sleeves`` and booked from the event, live and on
a restart (after the sleeves' books are restored from the ``bar_closed`` snapshot, in the log's
order): the replay books the very amounts the run booked. The sleeves' shares need not add up
to the account's amount (weights, lots and the coordinator's caps part them).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any, cast

from live.runner._base import RunnerBase
from live.venues.base import FundingVenue
from live.venues.errors import VenueError

__all__ = ["FUNDING_RETRIES", "FundingSettlements"]

FUNDING_RETRIES = 3
"""Asks, after the first one after a funding time, for a settlement of a held symbol that the
venue has not listed yet."""

_SHARE = Decimal("1e-12")  # a sleeve's share, in the quote, as logged


class FundingSettlements(RunnerBase):
    """The runner's funding settlements (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (symbol, id) -> ts_ms of every settlement logged, read from the log once
        self._funding_logged: dict[tuple[str, str], int] | None = None
        self._funding_asked: int | None = None  # the last funding time asked for (None: none)
        self._funding_awaited: dict[str, int] = {}  # symbol -> asks left for the last one

    def _book_funding(self, payload: dict[str, Any]) -> None:
        """Book one logged settlement in the account's engine book and the sleeves' shares in
        theirs."""
        if self.book is not None:
            symbol = str(payload["symbol"])
            self.book.fund(self.spec.symbols.index(symbol), float(Decimal(str(payload["amount"]))))
            shares = payload.get("sleeves") or {}
            for sleeve in self.sleeves:
                if sleeve.id in shares:
                    sleeve.fund(symbol, float(Decimal(str(shares[sleeve.id]))))

    def _sleeve_shares(self, symbol: str, amount: Decimal) -> dict[str, str]:
        """Each sleeve's part of a settlement: its own position at the account's rate × mark."""
        assert self.book is not None
        held = {s.id: q for s in self.sleeves if (q := s.holding(symbol)) != 0.0}
        base = self.book.position(self.spec.symbols.index(symbol)) or math.fsum(held.values())
        if not held or base == 0.0:
            return {}
        per_unit = amount / Decimal(repr(base))  # −mark × rate
        return {k: str((per_unit * Decimal(repr(q))).quantize(_SHARE)) for k, q in held.items()}

    def _funding_asks(self, next_open: int) -> list[str]:
        """The symbols to ask about at the decision whose orders execute at ``next_open``."""
        every = self.spec.funding_interval_ms
        last = next_open - next_open % every if every > 0 else next_open
        if self._funding_asked is None or last > self._funding_asked:
            self._funding_asked = last
            self._funding_awaited = dict.fromkeys(self.spec.symbols, FUNDING_RETRIES + 1)
        return list(self._funding_awaited)

    def _funding_answered(self, symbol: str, logged: dict[tuple[str, str], int]) -> None:
        """One answer about ``symbol``: wait no more for a settlement at the last funding time
        when it came, when the account does not hold the symbol, or when the asks ran out."""
        assert self.book is not None
        assert self._funding_asked is not None
        left = self._funding_awaited.pop(symbol) - 1
        came = any(ts >= self._funding_asked for (s, _), ts in logged.items() if s == symbol)
        if not came and left > 0 and self.book.position(self.spec.symbols.index(symbol)) != 0.0:
            self._funding_awaited[symbol] = left

    async def _settle_funding(self, next_open: int) -> None:
        """Log and book the venue's new funding settlements of the run's symbols, when a
        funding time before ``next_open`` calls for an ask (see the module docstring)."""
        if not self.venue.capabilities.funding or self.book is None:
            return
        asks = self._funding_asks(next_open)
        if not asks:
            return
        if self._funding_logged is None:
            self._funding_logged = {
                (str(e.payload["symbol"]), str(e.payload["id"])): int(e.payload["ts_ms"])
                for e in self.store.read(kinds=["funding"])
            }
        logged = self._funding_logged
        venue = cast(FundingVenue, self.venue)  # capabilities.funding: the adapter declares it
        drafts: list[tuple[str, str, dict[str, Any]]] = []
        for symbol in asks:
            since = max(
                (ts for (s, _), ts in logged.items() if s == symbol), default=self._first_ts
            )
            try:
                paid = await venue.funding_payments(symbol, since)
            except VenueError as e:
                drafts.append(
                    ("funding_unavailable", "runner", {"symbol": symbol, "error": str(e)})
                )
                continue  # still awaited: asked again at the next decision
            for f in paid:
                key = (symbol, f.id)
                if key in logged or f.ts_ms < self._first_ts:
                    continue
                logged[key] = f.ts_ms
                shares = self._sleeve_shares(symbol, f.amount) if self.sleeves else None
                drafts.append(
                    ("funding", "runner", {"symbol": symbol, "ts_ms": f.ts_ms,
                     "amount": str(f.amount), "asset": f.asset, "id": f.id, "bar": self.book.bar,
                     **({"sleeves": shares} if shares is not None else {})})
                )  # fmt: skip
            self._funding_answered(symbol, logged)
        self._append(drafts)
        for kind, _, payload in drafts:
            if kind == "funding":
                self._book_funding(payload)
