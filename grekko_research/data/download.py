"""Download candles, mark-price candles and funding history through ccxt into the store.

A download is incremental: it fetches only what the store does not hold yet
(the stretch before the stored series when ``since`` is earlier, and the
stretch after it up to ``until``), so rerunning a command — or resuming one
that was killed — never fetches or stores a bar twice.

Every page is validated before it is kept, and the kept rows reach the store
in checkpoints (every ``checkpoint_rows`` rows or ``checkpoint_seconds``
seconds, and on the way out of any error, Ctrl-C included). Each checkpoint is
an atomic rewrite of the series, so a process killed at any instant leaves a
readable store that holds a prefix of the download, and the next run resumes
after it.

Failures are grouped by what the caller must do next:

* rate limits (HTTP 429/418), timeouts, 5xx and other network errors are
  retried with bounded exponential backoff, waiting at least ``Retry-After``
  when the exchange sends it; after ``max_retries`` a
  :class:`~grekko_research.errors.RetryableError` says "try again later";
* an unknown symbol or timeframe fails at once with close matches listed;
* any other refusal is an :class:`~grekko_research.errors.ExchangeError`.
"""

from __future__ import annotations

import difflib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd

from grekko_research.data.exchanges import ccxt_symbol
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.timeframes import Timeframe, iso, parse_timeframe
from grekko_research.data.validate import DataQualityReport, validate_frame
from grekko_research.errors import (
    ConfigError,
    DataError,
    ExchangeError,
    RetryableError,
    UnknownSymbolError,
    UnknownTimeframeError,
)

__all__ = [
    "DownloadProgress",
    "DownloadResult",
    "Downloader",
    "RetryPolicy",
]

T = TypeVar("T")

# Rows asked for per request. Binance serves up to 1000 (spot) or 1500 (futures)
# candles, but ccxt caps every Binance kline request at 1000, so 1000 it is.
_PAGE_LIMIT = 1000
_FUNDING_PAGE_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    Attempt ``k`` (from 0) waits ``min(base_delay * 2**k, max_delay)``
    seconds, or the exchange's ``Retry-After`` when that is longer (capped at
    ``max_retry_after``).
    """

    max_retries: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ConfigError("retry policy values must be non-negative")

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Return the wait before retry number ``attempt`` (0-based)."""
        backoff = min(self.base_delay * 2.0**attempt, self.max_delay)
        if retry_after is not None:
            return max(backoff, min(retry_after, self.max_retry_after))
        return backoff


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """One progress event: ``cursor_ms`` has advanced within ``[start_ms, end_ms)``."""

    key: SeriesKey
    start_ms: int
    end_ms: int
    cursor_ms: int
    rows: int

    @property
    def fraction(self) -> float:
        """Return the share of the requested span that is done, in [0, 1]."""
        if self.end_ms <= self.start_ms:
            return 1.0
        return min(1.0, max(0.0, (self.cursor_ms - self.start_ms) / (self.end_ms - self.start_ms)))


@dataclass(frozen=True)
class DownloadResult:
    """What one series' download did."""

    key: SeriesKey
    fetched: int
    requests: int
    retries: int
    rows: int
    report: DataQualityReport
    ranges: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    @property
    def up_to_date(self) -> bool:
        """True when the store already held everything asked for."""
        return not self.ranges


class Downloader:
    """Fetch market data with a ccxt client and write it into a store.

    Parameters
    ----------
    client
        A ccxt exchange, e.g. from :func:`~grekko_research.data.exchanges.make_exchange`.
    store
        The destination store.
    exchange, market
        Grekko's names for the series (``binance``, ``spot``/``usdm``/...).
    retry
        Retry policy for transient failures.
    checkpoint_rows, checkpoint_seconds
        Write fetched rows to the store after this many rows or seconds.
    sleep, clock
        Injected for tests and for deterministic runs; ``clock`` returns epoch
        milliseconds and decides which bars are closed.
    on_progress
        Called after every page.
    """

    def __init__(
        self,
        client: ccxt.Exchange,
        store: ParquetStore,
        *,
        exchange: str,
        market: str = "spot",
        retry: RetryPolicy | None = None,
        checkpoint_rows: int = 50_000,
        checkpoint_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], int] = lambda: int(time.time() * 1000),
        on_progress: Callable[[DownloadProgress], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.exchange = exchange
        self.market = market
        self.retry = retry or RetryPolicy()
        self.checkpoint_rows = max(1, int(checkpoint_rows))
        self.checkpoint_seconds = float(checkpoint_seconds)
        self._sleep = sleep
        self._clock = clock
        self._on_progress = on_progress
        self.requests = 0
        self.retries = 0
        self._markets_loaded = False

    # -- public ----------------------------------------------------------------------

    def download(
        self,
        symbol: str,
        timeframe: str | None,
        *,
        kind: str = "ohlcv",
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> DownloadResult:
        """Bring one series in the store up to ``until_ms`` (exclusive; default: now).

        Parameters
        ----------
        symbol
            ``BASE/QUOTE`` (``BTC/USDT`` also for the USD-M perpetual).
        timeframe
            Bar length for ``ohlcv``/``markprice``; None for ``funding``.
        kind
            ``ohlcv`` (traded candles), ``markprice`` (mark-price candles of a
            perpetual) or ``funding`` (funding-rate history).
        since_ms
            First timestamp wanted. Needed when the store holds nothing yet;
            otherwise the download resumes after the stored series (and also
            fetches the stretch before it when ``since_ms`` is earlier).

        Raises
        ------
        UnknownSymbolError, UnknownTimeframeError
            At once, before any data request.
        RetryableError
            When a transient failure outlasted the retries; what was fetched
            before it is in the store and the next run resumes there.
        """
        key = SeriesKey.make(self.exchange, symbol, timeframe, market=self.market, kind=kind)
        if kind in ("markprice", "funding") and self.market == "spot":
            raise ConfigError(f"{kind} data exists only for perpetuals: use --market usdm")
        market_symbol = self._resolve_symbol(key)
        now = int(self._clock())
        if key.timeframe is not None:
            tf = parse_timeframe(key.timeframe)
            if key.timeframe not in self.client.timeframes:
                raise UnknownTimeframeError(
                    self.exchange, key.timeframe, _nearest_timeframes(tf, self.client.timeframes)
                )
            step = tf.ms if not tf.is_calendar else 1
            # The bar opening at floor(now) is still forming: only closed bars are stored.
            end = int(tf.floor(np.array([now]))[0])
            if until_ms is not None:
                end = min(end, int(until_ms))
        else:
            step = 1
            end = now if until_ms is None else min(now, int(until_ms))
        ranges = self._missing_ranges(key, since_ms, end, step)
        fetched, requests0, retries0 = 0, self.requests, self.retries
        for start, stop in ranges:
            fetched += self._fetch_range(key, market_symbol, start, stop)
        span = self.store.span(key)
        if span is None:
            raise DataError(
                f"{key.label()}: the exchange returned no data between "
                f"{iso(ranges[0][0]) if ranges else '?'} and {iso(end)}"
            )
        report = validate_frame(self.store.read(key), key, f"store {key.label()}")
        return DownloadResult(
            key=key,
            fetched=fetched,
            requests=self.requests - requests0,
            retries=self.retries - retries0,
            rows=span[2],
            report=report,
            ranges=tuple(ranges),
        )

    # -- planning --------------------------------------------------------------------

    def _missing_ranges(
        self, key: SeriesKey, since_ms: int | None, end: int, step: int
    ) -> list[tuple[int, int]]:
        span = self.store.span(key)
        if span is None:
            if since_ms is None:
                raise ConfigError(
                    f"the store has no {key.label()} yet: give a start date (--since)"
                )
            return [(int(since_ms), end)] if since_ms < end else []
        first, last, _ = span
        ranges = []
        if since_ms is not None and since_ms < first:
            ranges.append((int(since_ms), first))
        if key.timeframe is not None:
            resume = int(parse_timeframe(key.timeframe).next_open(np.array([last]))[0])
        else:
            resume = last + step
        if resume < end:
            ranges.append((resume, end))
        return ranges

    # -- fetching --------------------------------------------------------------------

    def _fetch_range(self, key: SeriesKey, market_symbol: str, start: int, stop: int) -> int:
        """Fetch ``[start, stop)`` page by page; return the number of new rows stored."""
        pending: list[pd.DataFrame] = []
        pending_rows = 0
        written = 0
        last_flush = time.monotonic()
        cursor = start

        def flush() -> None:
            nonlocal pending, pending_rows, written, last_flush
            if pending:
                rows = pd.concat(pending, ignore_index=True)
                self.store.write(key, rows, metadata={"source": f"ccxt:{self.client.id}"})
                written += len(rows)
            pending, pending_rows, last_flush = [], 0, time.monotonic()

        try:
            while cursor < stop:
                page = self._fetch_page(key, market_symbol, cursor, stop)
                page = page[(page["timestamp"] >= cursor) & (page["timestamp"] < stop)]
                if page.empty:
                    break  # nothing more in this span (before listing, or past the last bar)
                page = page.reset_index(drop=True)
                label = f"{key.label()} from {self.client.id}, page at {iso(cursor)}"
                validate_frame(page, key, label)
                pending.append(page)
                pending_rows += len(page)
                newest = int(page["timestamp"].iloc[-1])
                if key.timeframe is not None:
                    nxt = int(parse_timeframe(key.timeframe).next_open(np.array([newest]))[0])
                else:
                    nxt = newest + 1
                if nxt <= cursor:
                    raise ExchangeError(f"{label}: the exchange did not advance past {cursor}")
                cursor = nxt
                if (
                    pending_rows >= self.checkpoint_rows
                    or time.monotonic() - last_flush >= self.checkpoint_seconds
                ):
                    flush()
                if self._on_progress is not None:
                    self._on_progress(
                        DownloadProgress(
                            key, start, stop, min(cursor, stop), written + pending_rows
                        )
                    )
        finally:
            # Keep every validated page, even on Ctrl-C or a final failure:
            # the next run resumes after it.
            flush()
        return written

    def _fetch_page(
        self, key: SeriesKey, market_symbol: str, cursor: int, stop: int
    ) -> pd.DataFrame:
        if key.kind == "funding":
            rows = self._call(
                self.client.fetch_funding_rate_history,
                market_symbol,
                cursor,
                _FUNDING_PAGE_LIMIT,
                {"endTime": stop - 1},
            )
            return pd.DataFrame(
                {
                    "timestamp": np.array([r["timestamp"] for r in rows], dtype=np.int64),
                    "funding_rate": np.array([r["fundingRate"] for r in rows], dtype=np.float64),
                }
            )
        params: dict[str, Any] = {"until": stop - 1}
        if key.kind == "markprice":
            params["price"] = "mark"
        rows = self._call(
            self.client.fetch_ohlcv, market_symbol, key.timeframe, cursor, _PAGE_LIMIT, params
        )
        arr = np.array(rows, dtype=np.float64).reshape(-1, 6) if rows else np.empty((0, 6))
        frame = pd.DataFrame(arr[:, 1:], columns=["open", "high", "low", "close", "volume"])
        frame.insert(0, "timestamp", arr[:, 0].astype(np.int64))
        if key.kind == "markprice":
            frame["volume"] = 0.0  # mark-price klines carry no traded volume
        return frame

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ccxt with retries; translate its errors into Grekko's."""
        attempt = 0
        while True:
            self.requests += 1
            try:
                return fn(*args)
            except ccxt.BadSymbol as exc:
                raise ExchangeError(f"{self.client.id} rejected the symbol: {exc}") from exc
            except (ccxt.DDoSProtection, ccxt.RateLimitExceeded) as exc:
                wait = self.retry.delay(attempt, _retry_after(self.client, self._clock()))
                error: Exception = exc
            except ccxt.NetworkError as exc:  # timeouts, 5xx, connection failures
                wait = self.retry.delay(attempt)
                error = exc
            except ccxt.BaseError as exc:
                raise ExchangeError(f"{self.client.id} refused the request: {exc}") from exc
            if attempt >= self.retry.max_retries:
                raise RetryableError(
                    f"{self.client.id}: giving up after {attempt + 1} attempts "
                    f"({type(error).__name__}: {error}); what was fetched is stored, "
                    "rerun the same command later to resume"
                ) from error
            attempt += 1
            self.retries += 1
            self._sleep(wait)

    def _resolve_symbol(self, key: SeriesKey) -> str:
        if not self._markets_loaded:
            self._call(self.client.load_markets)
            self._markets_loaded = True
        wanted = ccxt_symbol(key.symbol, key.market)
        if wanted in self.client.markets:
            return wanted
        listed = sorted({s.split(":", 1)[0] for s in self.client.markets})
        close = difflib.get_close_matches(key.symbol, listed, n=5, cutoff=0.6)
        raise UnknownSymbolError(f"{self.exchange} {self.market}", key.symbol, close)


def _nearest_timeframes(wanted: Timeframe, offered: Iterable[str], n: int = 3) -> list[str]:
    """Return the ``n`` offered timeframes closest in length to ``wanted``."""
    scored = []
    for name in offered:
        try:
            tf = parse_timeframe(name)
        except ConfigError:
            continue
        length = 30 * 86_400_000 * tf.count if tf.is_calendar else tf.ms
        target = 30 * 86_400_000 * wanted.count if wanted.is_calendar else wanted.ms
        scored.append((abs(math.log(length / target)), length, name))
    return [name for _, _, name in sorted(scored)[:n]]


def _retry_after(client: ccxt.Exchange, now_ms: int) -> float | None:
    """Return the ``Retry-After`` seconds of the last response, if it sent one.

    The header holds either seconds or an HTTP date (RFC 9110 §10.2.3).
    """
    headers = getattr(client, "last_response_headers", None) or {}
    value = None
    for name, raw in dict(headers).items():
        if str(name).lower() == "retry-after":
            value = raw
            break
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except (TypeError, ValueError):
        # An HTTP date: wait until then.
        try:
            when = pd.Timestamp(value)
        except (ValueError, TypeError):
            return None
        if when.tzinfo is None:
            when = when.tz_localize("UTC")
        return max(0.0, when.timestamp() - now_ms / 1000.0)
