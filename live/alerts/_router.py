"""Alert delivery through apprise: rate limits, de-duplication, retries, redaction."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

import apprise

from grekko_research.errors import ConfigError
from live.alerts._rules import Alert, AlertContext, alerts_for
from live.events import Event
from live.secrets import ALERT_URLS_ENV, Redactor, default_redactor

__all__ = ["AlertRouter", "Outcome", "Status", "parse_alert_urls"]

log = logging.getLogger("live.alerts")

Status = Literal["sent", "partial", "failed", "rate_limited", "duplicate", "unrouted"]

_NOTIFY_TYPE = {
    "info": apprise.NotifyType.INFO,
    "warning": apprise.NotifyType.WARNING,
    "critical": apprise.NotifyType.FAILURE,
}
# Loggers that see alert URLs (apprise logs the request URL, urllib3 the path on errors).
_URL_LOGGERS = (
    "apprise",
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "requests",
    "live.alerts",
)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one alert.

    ``status``: ``"sent"`` (every target took it), ``"partial"`` (some did), ``"failed"`` (none
    did, after the retries), ``"rate_limited"`` (held back, counted into the next alert of its
    key), ``"duplicate"`` (the same key and body went out within the de-duplication window:
    dropped, counted), ``"unrouted"`` (no target configured). ``errors`` name targets by label
    (``"json#1"``), never by URL, and are redacted.
    """

    alert: Alert
    status: Status
    attempts: int = 0
    errors: tuple[str, ...] = ()

    @property
    def delivered(self) -> bool:
        """Whether at least one target received the alert."""
        return self.status in ("sent", "partial")


@dataclass
class _KeyState:
    last_attempt: float | None = None
    held: int = 0  # rate-limited since the last delivery
    dropped: int = 0  # duplicates since the last delivery
    latest: Alert | None = None  # the newest held-back alert
    sent: dict[str, float] = field(default_factory=dict)  # body → when delivered


@dataclass(frozen=True)
class _Target:
    label: str
    client: Any  # apprise.Apprise holding one URL


def parse_alert_urls(value: str | None) -> list[str]:
    """Split ``GREKKO_ALERT_URLS``'s value (comma or whitespace separated) into URLs."""
    return [u for u in re.split(r"[\s,]+", value or "") if u]


class AlertRouter:
    """Send alerts to apprise URLs (Telegram, Slack, Discord, e-mail, ``json://`` webhooks ...).

    Parameters
    ----------
    urls
        Apprise URLs. They embed tokens: take them from the environment
        (:meth:`from_env`, ``GREKKO_ALERT_URLS``), never from ``conf/``. Their secret parts
        are registered with ``redactor`` and they are never logged; targets are named
        ``"<scheme>#<n>"`` instead.
    min_interval_s
        At most one alert per key in this many seconds; the others are held back, counted,
        and summarised in the next alert of that key (or by :meth:`flush`).
    dedup_window_s
        An alert with the same key and body as one delivered less than this many seconds ago
        is dropped (and counted).
    big_fill_notional
        Fills of at least this notional alert (see :func:`~live.alerts.alerts_for`).
    clock
        Seconds, monotonic (injected in tests).
    retries, backoff_s, sleep
        A target that fails is tried again ``retries`` times, waiting ``backoff_s``,
        then twice that, and so on, through ``sleep``.
    redactor
        Masks secrets in alerts and log lines (the process-wide one by default).

    Raises
    ------
    ConfigError
        If a URL is not one apprise accepts (the message gives its position and scheme only).

    Delivery never raises: :meth:`send` returns an :class:`Outcome` and logs failures
    (redacted) on the ``live.alerts`` logger. Thread-safe; sends are serialised.
    """

    def __init__(
        self,
        urls: Sequence[str],
        *,
        min_interval_s: float = 60.0,
        dedup_window_s: float = 600.0,
        big_fill_notional: float | Decimal | str | None = None,
        clock: Callable[[], float] = time.monotonic,
        retries: int = 3,
        backoff_s: float = 1.0,
        sleep: Callable[[float], Any] = time.sleep,
        redactor: Redactor | None = None,
    ) -> None:
        if min_interval_s < 0 or dedup_window_s < 0 or retries < 0 or backoff_s < 0:
            raise ConfigError("alert intervals, windows, retries and back-off must be >= 0")
        self.redactor = redactor or default_redactor()
        self.min_interval_s = float(min_interval_s)
        self.dedup_window_s = float(dedup_window_s)
        self.retries = int(retries)
        self.backoff_s = float(backoff_s)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._keys: dict[str, _KeyState] = {}
        self.counts: dict[str, int] = dict.fromkeys(
            ("sent", "partial", "failed", "rate_limited", "duplicate", "unrouted"), 0
        )
        notional = None if big_fill_notional is None else Decimal(str(big_fill_notional))
        self.context = AlertContext(big_fill_notional=notional, redactor=self.redactor)
        # Secrets first, filters second, apprise third: apprise logs each URL it loads.
        for url in urls:
            self.redactor.add_url(url)
        self.redactor.protect(*_URL_LOGGERS)
        self._targets = [self._target(i, url) for i, url in enumerate(urls, 1)]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> AlertRouter:
        """A router on the URLs of ``GREKKO_ALERT_URLS`` (none set: alerts are unrouted)."""
        env = os.environ if environ is None else environ
        return cls(parse_alert_urls(env.get(ALERT_URLS_ENV)), **kwargs)

    def _target(self, n: int, url: str) -> _Target:
        scheme = url.partition("://")[0].lower() if "://" in url else "?"
        client = apprise.Apprise(asset=apprise.AppriseAsset(storage_mode="memory"))
        if not client.add(url):
            raise ConfigError(
                f"alert URL #{n} (scheme {scheme!r}) is not a URL apprise accepts: see "
                f"https://github.com/caronc/apprise/wiki (the URL itself is not shown)"
            )
        return _Target(f"{scheme}#{n}", client)

    @property
    def targets(self) -> list[str]:
        """The targets' labels (``"json#1"``, ``"tgram#2"``)."""
        return [t.label for t in self._targets]

    def __repr__(self) -> str:
        return f"AlertRouter(targets={self.targets})"

    # ------------------------------------------------------------------ events

    def handle(self, event: Event) -> list[Outcome]:
        """Send the alerts ``event`` raises (see :func:`~live.alerts.alerts_for`)."""
        return [self.send(alert) for alert in alerts_for(event, self.context)]

    # ------------------------------------------------------------------ sending

    def send(self, alert: Alert) -> Outcome:
        """Send ``alert`` unless it is a duplicate or over its key's rate limit."""
        with self._lock:
            now = self._clock()
            state = self._keys.setdefault(alert.key, _KeyState())
            state.sent = {b: t for b, t in state.sent.items() if now - t < self.dedup_window_s}
            if alert.body in state.sent:
                state.dropped += 1
                return self._count(Outcome(alert, "duplicate"))
            if state.last_attempt is not None and now - state.last_attempt < self.min_interval_s:
                state.held += 1
                state.latest = alert
                return self._count(Outcome(alert, "rate_limited"))
            note = self._note(state, now, latest=False)
            out = replace(alert, body=alert.body + note) if note else alert
            return self._dispatch(state, alert, out, now)

    def flush(self) -> list[Outcome]:
        """Send, for each key whose rate limit has passed, the newest alert it held back, with
        the count of those held back; call it now and then (:func:`~live.alerts.follow` does)."""
        outcomes = []
        with self._lock:
            now = self._clock()
            for state in self._keys.values():
                due = state.last_attempt is None or now - state.last_attempt >= self.min_interval_s
                if state.latest is None or not due:
                    continue
                latest = state.latest
                out = latest
                if state.held > 1:
                    out = replace(out, title=f"{out.title} (+{state.held - 1} held back)")
                if note := self._note(state, now, latest=True):
                    out = replace(out, body=out.body + note)
                outcomes.append(self._dispatch(state, latest, out, now))
        return outcomes

    def _note(self, state: _KeyState, now: float, *, latest: bool) -> str:
        parts = []
        held = state.held - 1 if latest else state.held
        if held > 0:
            parts.append(f"{held} earlier alert(s) of this kind held back by the rate limit")
        if state.dropped:
            parts.append(f"{state.dropped} duplicate(s) dropped")
        if not parts:
            return ""
        since = (
            "" if state.last_attempt is None else f" in the last {now - state.last_attempt:.0f} s"
        )
        return "\n\n(" + "; ".join(parts) + since + ")"

    def _dispatch(self, state: _KeyState, alert: Alert, out: Alert, now: float) -> Outcome:
        state.last_attempt = now
        outcome = self._deliver(out)
        if outcome.delivered:
            state.sent[alert.body] = now
            state.held = state.dropped = 0
            state.latest = None
        return self._count(outcome)

    def _count(self, outcome: Outcome) -> Outcome:
        self.counts[outcome.status] += 1
        return outcome

    def _deliver(self, alert: Alert) -> Outcome:
        if not self._targets:
            log.debug("alert %s not routed: no alert URL configured", alert.key)
            return Outcome(alert, "unrouted")
        pending = list(self._targets)
        errors: list[str] = []
        attempts = 0
        for attempt in range(self.retries + 1):
            if attempt:
                self._sleep(self.backoff_s * 2 ** (attempt - 1))
            attempts += 1
            failed = []
            for target in pending:
                try:
                    ok = bool(
                        target.client.notify(
                            body=alert.body,
                            title=alert.title,
                            notify_type=_NOTIFY_TYPE[alert.severity],
                            body_format=apprise.NotifyFormat.TEXT,
                        )
                    )
                except Exception as e:  # a plugin bug must not take the caller down
                    ok = False
                    errors.append(self.redactor.redact(f"{target.label}: {type(e).__name__}: {e}"))
                if not ok:
                    failed.append(target)
            pending = failed
            if not pending:
                break
        if not pending:
            return Outcome(alert, "sent", attempts, tuple(errors))
        labels = ", ".join(t.label for t in pending)
        errors.append(f"{labels}: not delivered after {attempts} attempt(s)")
        log.warning(
            self.redactor.redact(
                f"alert {alert.key} ({alert.severity}) not delivered to {labels} "
                f"after {attempts} attempt(s): {alert.title}"
            )
        )
        status: Status = "partial" if len(pending) < len(self._targets) else "failed"
        return Outcome(alert, status, attempts, tuple(errors))
