"""Search interest from Google Trends through pytrends (unofficial; best-effort, rate-limited).

``fetch`` builds one payload per keyword (entity: the search term, e.g. ``bitcoin``) over
``timeframe`` and returns ``interest_over_time()`` as records ``{"date", <term>, "isPartial"}``.
Rows: ``interest`` (0-100). ``event_ms`` is the period's start and ``published_ms`` its end:
a week's interest is not known before the week is over; a partial (still running) period is
dropped, its value changes until it ends. Caveat for research: Google scales every request to
its own window's maximum, so values of two downloads are not comparable, and a window's scale
depends on data after each point. ``id`` therefore carries the request window, so rows of
different windows never mix. No key. Google answers bursts with 429: calls are spaced 60 s
apart and a 429 is retried with backoff.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from grekko_research.alpha.connectors.base import Connector, Page, Transient, ms, rows_frame
from grekko_research.errors import DataError

__all__ = ["GoogleTrends", "parse_trends"]

COLUMNS = ("interest",)


def parse_trends(payload: Any, *, entity: str, ingested_ms: int, window: str = "") -> pd.DataFrame:
    """Return the rows of ``interest_over_time()`` records for one term."""
    if not isinstance(payload, list):
        raise DataError(f"trends {entity}: payload is not a list of records")
    try:
        starts = [ms(r["date"]) for r in payload]
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"trends {entity}: a record has no valid 'date' ({exc!r})") from exc
    records = []
    for i, r in enumerate(payload):
        if i + 1 < len(starts):
            end = starts[i + 1]
        elif i > 0:
            end = starts[i] + (starts[i] - starts[i - 1])
        else:
            continue  # a lone point has no known period
        if bool(r.get("isPartial")):
            continue
        try:
            value = float(r[entity])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"trends {entity}: record {i} has no value for {entity!r}") from exc
        records.append(
            {
                "id": f"{window}:{starts[i]}" if window else str(starts[i]),
                "event_ms": starts[i],
                "published_ms": end,
                "ingested_ms": ingested_ms,
                "interest": value,
            }
        )
    return rows_frame(records, COLUMNS)


class GoogleTrends(Connector):
    """Interest over ``timeframe`` (pytrends syntax, e.g. ``today 3-m``) for each term."""

    source = "trends"
    min_interval_s = 60.0

    def __init__(self, *, timeframe: str = "today 3-m", geo: str = "") -> None:
        from pytrends.request import TrendReq

        self.timeframe, self.geo = timeframe, geo
        self.client = TrendReq(hl="en-US", tz=0, timeout=(10, 30))

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        from pytrends.exceptions import ResponseError, TooManyRequestsError

        try:
            self.client.build_payload([entity], timeframe=self.timeframe, geo=self.geo)
            frame = self.client.interest_over_time()
        except TooManyRequestsError as exc:
            raise Transient(f"trends {entity}: 429 too many requests") from exc
        except ResponseError as exc:
            raise Transient(f"trends {entity}: {exc}") from exc
        if frame.empty:
            return Page([])
        out = frame.reset_index()
        out["date"] = out["date"].astype(str)
        return Page(out.to_dict("records"))

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_trends(
            payload, entity=entity, ingested_ms=ingested_ms, window=self.timeframe.replace(" ", "_")
        )
