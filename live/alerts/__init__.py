"""Alerts: risk breaches, kill-switch changes, halts, large fills, errors and failed
reconciliations of a live run, sent through apprise (Telegram, Slack, Discord, e-mail,
``json://`` webhooks — any apprise URL).

The URLs embed tokens, so they come from the environment only (``GREKKO_ALERT_URLS``, comma
or space separated), are registered with the process's :class:`~live.secrets.Redactor` and
are never logged: targets are named ``"json#1"``, ``"tgram#2"``. In the runner's process or in
its own one, tail the run's event log::

    router = AlertRouter.from_env(big_fill_notional=10_000)
    follow("runs/live/<run>/events.db", router)     # or: await afollow(..., stop=event)

or, from a shell, ``python -m live.alerts --events runs/live/<run>/events.db``.

:func:`alerts_for` decides which events alert, how loudly and with what text;
:class:`AlertRouter` holds each key to one alert per ``min_interval_s`` (the others are counted
and summarised in the next one), drops the same key and body within ``dedup_window_s``, and
retries failed deliveries with back-off; a failure is returned and logged, never raised.
"""

from live.alerts._follow import afollow, follow
from live.alerts._router import AlertRouter, Outcome, Status, parse_alert_urls
from live.alerts._rules import SEVERITIES, Alert, AlertContext, Severity, alerts_for
from live.secrets import ALERT_URLS_ENV

__all__ = [
    "ALERT_URLS_ENV",
    "SEVERITIES",
    "Alert",
    "AlertContext",
    "AlertRouter",
    "Outcome",
    "Severity",
    "Status",
    "afollow",
    "alerts_for",
    "follow",
    "parse_alert_urls",
]
