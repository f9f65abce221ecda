"""Funding of the simulated USD-M perpetuals: schedules, settlements, ``/fapi/v1/income`` rows.

A schedule per symbol is a frame like the shared funding files (``timestamp`` in ms,
``funding_rate`` a fraction). When the market clock passes a funding time, every open
position pays ``amount × mark × rate`` (a short with a positive rate receives it), where
the mark is the simulator's market price at that time, the open of the bar containing it:
the backtest's rule (``funding_phase``: the rate lands on the bar whose span contains its
time and is priced at that bar's open, on the position carried into the bar). The amount,
rounded to eight decimals as Binance books it, settles into the margin asset's wallet and is
listed as a ``FUNDING_FEE`` income. A funding time that is not a bar open settles on the
position held when the clock passes it (the clock sits on bar opens: orders placed at the
bar's open are then already in it); the backtest uses the one carried into the bar.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from live.sim._book import fmt

__all__ = ["FundingSchedule", "Income", "income_json", "income_rows", "schedules"]


@dataclass
class FundingSchedule:
    """One symbol's funding times (ms, increasing) and rates; ``next`` is the first unsettled."""

    times: np.ndarray
    rates: np.ndarray
    next: int = 0

    def due(self, until_ms: int) -> list[tuple[int, Decimal]]:
        """The funding times ≤ ``until_ms`` not yet settled, with their rates (marked settled)."""
        end = int(np.searchsorted(self.times, until_ms, "right"))
        out = [
            (int(self.times[i]), Decimal(repr(float(self.rates[i])))) for i in range(self.next, end)
        ]
        self.next = max(self.next, end)
        return out


@dataclass(frozen=True)
class Income:
    """One ``FUNDING_FEE`` income: ``income`` received (negative: paid) in ``asset``."""

    tran_id: int
    symbol: str
    asset: str
    income: Decimal
    time: int
    rate: Decimal


def schedules(
    funding: Mapping[str, pd.DataFrame] | None, listed: Mapping[str, Any], start_ms: int
) -> dict[str, FundingSchedule]:
    """The schedules of ``funding`` (symbol id → frame), for listed symbols only; times at or
    before ``start_ms`` (no position can be open yet) are skipped."""
    out: dict[str, FundingSchedule] = {}
    for sid, frame in (funding or {}).items():
        if sid not in listed:
            raise ValueError(f"funding: {sid} is not a listed symbol ({', '.join(listed)})")
        times = frame["timestamp"].to_numpy(np.int64)
        if np.any(np.diff(times) <= 0):
            raise ValueError(f"funding: {sid}'s times must be strictly increasing")
        rates = frame["funding_rate"].to_numpy(np.float64)
        s = FundingSchedule(times, rates)
        s.next = int(np.searchsorted(times, start_ms, "right"))
        out[sid] = s
    return out


def income_rows(rows: list[Income], p: Mapping[str, str]) -> list[Income]:
    """The incomes a ``GET /fapi/v1/income`` asks for: by ``symbol``, ``incomeType`` (only
    ``FUNDING_FEE`` is kept here), ``startTime``/``endTime``, oldest first, at most ``limit``
    (100 by default, 1000 at most; the newest without a start)."""
    kind = p.get("incomeType")
    if kind not in (None, "", "FUNDING_FEE"):
        return []
    if sym := p.get("symbol"):
        rows = [r for r in rows if r.symbol == sym]
    if start := p.get("startTime"):
        rows = [r for r in rows if r.time >= int(start)]
    if end := p.get("endTime"):
        rows = [r for r in rows if r.time <= int(end)]
    limit = min(int(p.get("limit") or 100), 1000)
    return rows[:limit] if p.get("startTime") else rows[-limit:]


def income_json(r: Income) -> dict[str, Any]:
    """Binance's income row."""
    return {
        "symbol": r.symbol,
        "incomeType": "FUNDING_FEE",
        "income": fmt(r.income),
        "asset": r.asset,
        "info": "FUNDING_FEE",
        "time": r.time,
        "tranId": r.tran_id,
        "tradeId": "",
    }
