"""Drift attribution: why a live run's P&L differs from its backtest's, term by term.

:func:`attribute` takes the backtest's fills and the live run's orders (with their fills),
each side's bars over the window (the store's and the ones the run saw), and walks from the
backtest to the live run one difference at a time, each step's change of P&L its term:

1. ``signal``: the decisions and the data they came from — the bars the run saw (repriced
   at the live bars' opens and marked at their last close) and the orders it decided: an
   order only one side decided (a missed bar, a bar whose data differed), a different size;
2. ``refused``: orders the live venue or risk engine refused;
3. ``partial``: the unfilled part of orders filled in part or not at all (missed fills);
4. ``timing``: each fill at the bar it really happened in, at that bar's open (the model's
   price there) instead of the decision's next open;
5. ``slippage``: each fill's own price instead of the model's (fill price vs the model);
6. ``fees``: the venue's fees instead of the engine's;
7. ``funding``: the live run's funding instead of the backtest's (zero for spot).

An exit keeps closing whatever the step holds, so what an earlier step changed in a position
(a partly filled entry) is carried by its exit into that step's term. P&L is every fill's
``side × qty × (mark − price) − fee`` plus funding (marks: each side's last close). The
``residual`` is what the steps leave of the two runs' own P&L figures — orders outside the model
(manual orders, a kill switch's flatten, native stops), a position the backtest opened in the
warm-up — so the terms sum to ``live P&L − backtest P&L`` exactly.

:func:`drift_of_run` backtests a run's window with its configuration (checked against the
log's ``config_id``) and attributes; :func:`run_drift_job` is the scheduled job (``grekko-live
drift RUN --every 1d``): MLflow (:func:`log_drift`, metrics ``drift_<term>`` and ``drift.json``
beside the promoted model) and alerts (:func:`drift_alerts`). ``docs/execution.md``, "Drift".
"""

from __future__ import annotations

from live.drift._attribute import (
    TERMS,
    BacktestFill,
    DriftReport,
    LiveFill,
    LiveOrder,
    Prices,
    Refusal,
    attribute,
)
from live.drift._inputs import (
    LiveRun,
    backtest_fills,
    backtest_funding,
    read_live,
    stored_prices,
)
from live.drift._run import DRIFT_EXPERIMENT, drift_alerts, drift_of_run, log_drift, run_drift_job

__all__ = [
    "DRIFT_EXPERIMENT",
    "TERMS",
    "BacktestFill",
    "DriftReport",
    "LiveFill",
    "LiveOrder",
    "LiveRun",
    "Prices",
    "Refusal",
    "attribute",
    "backtest_fills",
    "backtest_funding",
    "drift_alerts",
    "drift_of_run",
    "log_drift",
    "read_live",
    "run_drift_job",
    "stored_prices",
]
