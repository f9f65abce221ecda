"""What every alternative-data connector is: a ``fetch`` (one request through the source's
official client) and a pure ``parse`` (payload -> rows), plus the download loop they share.

The loop (:func:`download`) waits out the source's rate limit, retries what the connector says
is transient (honouring a Retry-After), writes every page to the point-in-time store as it
arrives (an interrupted download keeps what it got; ids make a rerun idempotent) and records
the high-water mark (``cursor``) only when an entity finished, so the next run starts there.
Time and sleep are injected (tests run without waiting).
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.data.download import RetryPolicy
from grekko_research.errors import ConfigError, RetryableError

__all__ = [
    "Connector",
    "DownloadReport",
    "Page",
    "RateLimiter",
    "Transient",
    "download",
    "env_key",
    "ms",
    "rows_frame",
]


def ms(value: Any) -> int:
    """Return epoch milliseconds (UTC) of a timestamp string, datetime or epoch seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(float(value) * 1000)
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int(stamp.value // 1_000_000)


def env_key(name: str, source: str, *, required: bool = True) -> str | None:
    """Return a credential from the environment; a missing required one names the variable."""
    value = os.environ.get(name, "").strip()
    if not value and required:
        raise ConfigError(f"{source} needs the environment variable {name} (a key; never in conf/)")
    return value or None


def rows_frame(records: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """Return parsed records as store rows with these columns (also when there are none)."""
    cols = ["id", "event_ms", "published_ms", "ingested_ms", *columns]
    frame = pd.DataFrame.from_records(records, columns=cols)
    for col in ("event_ms", "published_ms", "ingested_ms"):
        frame[col] = frame[col].astype("int64")
    return frame


@dataclass(frozen=True)
class Page:
    """One response: its raw payload and the token of the next page (None: the entity is done)."""

    payload: Any
    next_token: str | None = None


class Transient(RetryableError):
    """A failure worth retrying (rate limited, 5xx, connection reset); ``retry_after`` in s."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Connector(ABC):
    """One alternative-data source.

    Subclasses set ``source`` (the store's source name), ``env`` (the variables holding its
    keys) and ``min_interval_s`` (the spacing its rate limit asks for), and implement
    :meth:`fetch` (I/O; raise :class:`Transient` for what may be retried) and :meth:`parse`
    (pure: no I/O, no clock; ``ingested_ms`` is given).
    """

    source: ClassVar[str]
    env: ClassVar[tuple[str, ...]] = ()
    min_interval_s: ClassVar[float] = 1.0
    # Pages oldest first (block ranges): the cursor may advance after every page, so an
    # interrupted download resumes exactly there. Newest-first sources (feeds) advance it
    # only when the gap to the last run is filled, or a hole would be left behind.
    ascending: ClassVar[bool] = False

    @abstractmethod
    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        """Fetch one page about ``entity`` newer than ``since`` (the stored cursor)."""

    @abstractmethod
    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        """Turn one payload into store rows (see :mod:`grekko_research.alpha.store`)."""

    def cursor_after(self, rows: pd.DataFrame, since: str | None, *, entity: str) -> str | None:
        """Return the cursor once ``rows`` are stored: by default the newest published time."""
        if not len(rows):
            return since
        newest = int(rows["published_ms"].max())
        return str(max(newest, int(since))) if since else str(newest)

    def close(self) -> None:  # noqa: B027 - most clients hold nothing to release
        """Release the client (connections, sessions)."""


class RateLimiter:
    """At most one call per ``interval_s`` (the clock and sleep are injected)."""

    def __init__(
        self,
        interval_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval_s = float(interval_s)
        self.clock, self.sleep = clock, sleep
        self._last: float | None = None
        self.waited_s = 0.0

    def wait(self) -> None:
        now = self.clock()
        if self._last is not None:
            gap = self._last + self.interval_s - now
            if gap > 0:
                self.sleep(gap)
                self.waited_s += gap
                now += gap
        self._last = now


@dataclass
class DownloadReport:
    """What a download did, per entity: pages fetched, rows added, rows stored, cursor."""

    source: str
    entities: dict[str, dict[str, Any]]

    @property
    def added(self) -> int:
        return sum(int(e["added"]) for e in self.entities.values())


def _call(
    connector: Connector,
    entity: str,
    since: str | None,
    token: str | None,
    *,
    limiter: RateLimiter,
    retry: RetryPolicy,
) -> Page:
    attempt = 0
    while True:
        limiter.wait()
        try:
            return connector.fetch(entity, since=since, token=token)
        except Transient as exc:
            if attempt >= retry.max_retries:
                raise Transient(
                    f"{connector.source} {entity}: gave up after {attempt + 1} attempts: {exc}",
                    exc.retry_after,
                ) from exc
            limiter.sleep(retry.delay(attempt, exc.retry_after))
            attempt += 1


def download(
    connector: Connector,
    entities: Sequence[str],
    store: AltStore,
    *,
    now_ms: Callable[[], int],
    retry: RetryPolicy | None = None,
    limiter: RateLimiter | None = None,
    max_pages: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> DownloadReport:
    """Download every entity incrementally into ``store`` (see the module docstring).

    ``now_ms`` stamps ``ingested_ms``; ``progress(entity, pages, rows_added)`` is called after
    each page; ``max_pages`` bounds one entity's pages in this run (an ascending source
    resumes after its last page; a newest-first one fetches the gap again, its stored rows
    are not duplicated).
    """
    retry = retry or RetryPolicy()
    limiter = limiter or RateLimiter(connector.min_interval_s)
    report = DownloadReport(connector.source, {})
    try:
        for entity in entities:
            key = AltKey(connector.source, entity)
            since = store.cursor(key)
            token: str | None = None
            pages = added = 0
            newest = since
            while True:
                page = _call(connector, entity, since, token, limiter=limiter, retry=retry)
                rows = connector.parse(page.payload, entity=entity, ingested_ms=int(now_ms()))
                newest = connector.cursor_after(rows, newest, entity=entity)
                fresh, _ = store.write(key, rows, cursor=newest if connector.ascending else None)
                pages, added = pages + 1, added + fresh
                if progress is not None:
                    progress(entity, pages, added)
                token = page.next_token
                if token is None or (max_pages is not None and pages >= max_pages):
                    break
            finished = token is None
            if finished and newest is not None and newest != since:
                store.write(key, rows.iloc[:0], cursor=newest)
            span = store.span(key)
            report.entities[entity] = {
                "pages": pages,
                "added": added,
                "rows": 0 if span is None else span["rows"],
                "cursor": store.cursor(key),
                "complete": finished,
            }
    finally:
        connector.close()  # also when a page failed: sessions and sockets are released
    return report
