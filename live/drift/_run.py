"""Drift of a run: read its log, backtest its window with its configuration, attribute; and the
scheduled job that logs the breakdown to MLflow and alerts on a term over its threshold."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from grekko_research.config import GrekkoConfig, config_id
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from live.drift._attribute import TERMS, DriftReport, attribute
from live.drift._inputs import backtest_fills, backtest_funding, read_live, stored_prices

__all__ = ["DRIFT_EXPERIMENT", "drift_alerts", "drift_of_run", "log_drift", "run_drift_job"]

DRIFT_EXPERIMENT = "grekko-drift"
_log = logging.getLogger(__name__)


def drift_of_run(
    events: Iterable[Any], cfg: GrekkoConfig, *, store: ParquetStore | None = None
) -> DriftReport:
    """Backtest the window of the run whose ``events`` these are with ``cfg`` and attribute the gap.

    ``cfg`` must be the run's configuration: its ``config_id`` must be the one the log's
    ``run_started`` recorded (else :class:`ConfigError`: a backtest of another configuration
    explains nothing). The backtest loads the stored bars from the first bar the run closed
    (its warm-up bars before, when the run warmed up) to the last, and fills decided in the
    window are compared.
    """
    from grekko_research.data.timeframes import iso
    from grekko_research.runs import run_backtest

    events = list(events)
    run = read_live(events)
    if not run.config_id:
        raise ConfigError(
            f"run {run.run_id!r} recorded no config_id: its configuration cannot be checked"
        )
    given = config_id(cfg)
    if given != run.config_id:
        raise ConfigError(
            f"the configuration given (config_id {given}) is not run {run.run_id!r}'s "
            f"({run.config_id}): pass the overrides the run was started with"
        )
    first, last = run.window()
    assert run.prices is not None
    tf = run.prices.tf_ms
    warm = sum(int(e.payload.get("bars", 0)) for e in events if e.kind == "warmed_up")
    data = replace(cfg.data, start=iso(first - warm * tf), end=iso(last + tf))
    bt = run_backtest(replace(cfg, data=data), store=store)
    bars = bt.bars
    stored = stored_prices(bars, first, last)
    equity = bt.result.equity
    rows = [i for i, ts in enumerate(bars.index) if first <= ts <= last]
    start_equity = float(equity[rows[0] - 1]) if rows[0] > 0 else float(bt.result.config.init_cash)
    report = attribute(
        backtest_fills(bt.result, bars),
        run.orders,
        stored,
        run.prices,
        refusals=run.refusals,
        backtest_funding=backtest_funding(bt.result, bars, first, last),
        live_funding=run.funding,
        backtest_pnl=float(equity[rows[-1]]) - start_equity,
        fee_rate=float(bt.result.config.fees.taker),
    )
    meta = {"run_id": run.run_id, "config_id": run.config_id, "strategy": run.strategy,
            "venue": run.venue, "model": run.model, "model_version": run.model_version}  # fmt: skip
    return replace(report, meta=meta)


# -- the scheduled job --------------------------------------------------------------------------


def drift_alerts(report: DriftReport, thresholds: Mapping[str, float]) -> list[Any]:
    """One warning :class:`~live.alerts.Alert` per term whose absolute value exceeds its
    threshold (``thresholds``: term → quote amount; ``"*"`` applies to every term)."""
    from live.alerts import Alert

    unknown = sorted(set(thresholds) - {*TERMS, "*"})
    if unknown:
        raise ConfigError(f"drift thresholds for unknown terms {unknown}; terms: {list(TERMS)}")
    run = report.meta.get("run_id", "?")
    out = []
    for term in TERMS:
        limit = thresholds.get(term, thresholds.get("*"))
        value = report.terms[term]
        if limit is not None and abs(value) > float(limit):
            out.append(
                Alert(
                    key=f"drift:{term}",
                    severity="warning",
                    title=f"drift of {run}: {term} {value:+.2f}",
                    body=(
                        f"Live P&L {report.live_pnl:.2f} vs backtest {report.backtest_pnl:.2f} "
                        f"(gap {report.gap:+.2f}); the {term} term is {value:+.2f}, over its "
                        f"threshold {float(limit):.2f}."
                    ),
                )
            )
    return out


def log_drift(report: DriftReport, *, uri: str | None = None) -> str:
    """Log ``report`` to MLflow beside the run's promoted model (see
    :func:`grekko_research.tracking.log_drift_breakdown`); return the MLflow run id."""
    from grekko_research.tracking import log_drift_breakdown

    doc = report.as_dict()
    metrics = {f"drift_{t}": v for t, v in report.terms.items()}
    metrics |= {"drift_gap": report.gap, "live_pnl": report.live_pnl,
                "backtest_pnl": report.backtest_pnl}  # fmt: skip
    return log_drift_breakdown(
        metrics, doc, run_name=f"drift-{report.meta.get('run_id', 'run')}",
        tags={k: report.meta.get(k) for k in ("run_id", "config_id", "strategy", "venue")},
        model=report.meta.get("model"), model_version=report.meta.get("model_version"),
        uri=uri, experiment=DRIFT_EXPERIMENT,
    )  # fmt: skip


def run_drift_job(
    events_path: str | Path,
    cfg: GrekkoConfig,
    *,
    thresholds: Mapping[str, float],
    store: ParquetStore | None = None,
    uri: str | None = None,
    send: Callable[[Any], Any] | None = None,
) -> tuple[DriftReport, str, list[Any]]:
    """The daily job (``grekko-live drift RUN --every 1d`` runs it on a schedule; a runner's
    scheduler may call it directly): attribute, log to MLflow, alert.

    ``send`` delivers each alert (default: an :class:`~live.alerts.AlertRouter` on
    ``GREKKO_ALERT_URLS``). Returns the report, the MLflow run id and the alerts raised.
    """
    from live.events import EventStore

    with EventStore.open(events_path) as log:
        report = drift_of_run(log.read(), cfg, store=store)
    mlflow_run = log_drift(report, uri=uri)
    alerts = drift_alerts(report, thresholds)
    if alerts:
        if send is None:
            from live.alerts import AlertRouter

            send = AlertRouter.from_env().send
        for alert in alerts:
            send(alert)
    _log.info("drift of %s logged to MLflow run %s; %d alert(s)", report.meta.get("run_id"),
              mlflow_run, len(alerts))  # fmt: skip
    return report, mlflow_run, alerts
