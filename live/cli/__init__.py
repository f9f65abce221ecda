"""The ``grekko-live`` command line.

``run`` trades a strategy (paper by default), ``replay`` drives it from stored history as fast as
it can, ``status`` / ``orders`` / ``positions`` read a run's event log, ``reconcile`` compares
it with the venue, ``verify`` checks the log's hash chain, ``sim`` serves the local exchange
simulator. Every command takes Hydra overrides (``strategy.params.fast=5``, ``risk=conservative``,
``live.venue_url=http://127.0.0.1:8080`` …) after its options. Credentials come from the
environment (``GREKKO_<VENUE>_API_KEY`` / ``_API_SECRET``) or a keyring, never from options.

Layout: ``_app`` (the typer app, its help formatting, ``main``), ``_options`` (options several
commands share), ``_resolve`` (options to Hydra overrides; finding and reading a run's log), and
one module per group of commands: ``_trade`` (run, replay), ``_inspect`` (status, orders,
positions, runs, verify), ``_quality`` (quality), ``_routes`` (routes), ``_drift`` (drift), ``_calibrate``
(calibrate), ``_export`` (export: JSON lines, Kafka),
``_control`` (reconcile, kill, resume, order), ``_serve`` (api, alerts, sim).
"""

from __future__ import annotations

# `grekko-live contracts build|check|deploy` (issue 17) lives in live/chain/cli.py (typer and rich only).
from live.chain.cli import contracts_app
from live.cli._app import app, main, register
from live.cli._audit import audit_app, report_app  # compliance records (issue 25)
from live.cli._calibrate import calibrate_command  # issue 27: cost models from our fills
from live.cli._control import kill_command, order_command, reconcile_command, resume_command
from live.cli._drift import drift_command  # issue 27: backtest-vs-live drift, by term
from live.cli._export import export_command  # issue 24: JSON lines or a Kafka topic
from live.cli._feed import feed_command  # the market-analysis feed on its own (issue 21)
from live.cli._inspect import (
    orders_command,
    positions_command,
    runs_command,
    status_command,
    verify_command,
)
from live.cli._parity import parity_command  # issue 29: the promotion parity gate
from live.cli._quality import quality_command  # issue 27: execution quality of a run
from live.cli._routes import routes_command  # issue 27: routing decisions, replayed
from live.cli._serve import alerts_command, api_command, sim_command
from live.cli._sniper import sniper_app  # `grekko-live sniper run|replay|analyze` (issue 20)
from live.cli._trade import replay_command, run_command

__all__ = ["app", "main"]

# The commands in the order `grekko-live --help` lists them.
_COMMANDS = (
    ("run", run_command),
    ("replay", replay_command),
    ("parity", parity_command),
    ("status", status_command),
    ("orders", orders_command),
    ("positions", positions_command),
    ("quality", quality_command),
    ("routes", routes_command),
    ("drift", drift_command),
    ("calibrate", calibrate_command),
    ("reconcile", reconcile_command),
    ("runs", runs_command),
    ("kill", kill_command),
    ("resume", resume_command),
    ("order", order_command),
    ("verify", verify_command),
    ("export", export_command),
    ("api", api_command),
    ("alerts", alerts_command),
    ("sim", sim_command),
    ("feed", feed_command),
)
for _name, _command in _COMMANDS:
    register(_name, _command)
app.add_typer(contracts_app, name="contracts")
app.add_typer(sniper_app, name="sniper")
app.add_typer(audit_app, name="audit")  # issue 25: audit bundles, retention
app.add_typer(report_app, name="report")  # issue 25: trade ledger, P&L, tax exports
