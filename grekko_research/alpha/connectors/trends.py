"""Search interest from Google Trends through pytrends (unofficial; best-effort, rate-limited).

``fetch`` builds one payload per keyword (entity: the search term, e.g. ``bitcoin``) over
``timeframe`` and returns ``interest_over_time()`` as records ``{"date", <term>, "isPartial"}``.
Rows: ``interest`` (0-100). ``event_ms`` is the period's start and ``published_ms`` its end:
a week's interest is not known before the week is over; a partial (still running) period is
dropped, its value changes until it ends. Caveat for research: Google scales every request to
its own window's maximum, so values of two downloads are not comparable, and a window's scale
depends on data after each point. ``id`` therefore carries the request window, so rows of
different windows never mix. No key. Google answers bursts with 429: calls are spaced 60 s
apart and a 429 or a 5xx is retried with backoff; another 4xx is an error. pytrends has no
base-URL option (its URLs are class constants and each call opens a new requests session):
``api_url`` rebases the URL pytrends hands to its own request method, so everything else
(cookie, tokens, the ``)]}'`` prefix, status handling) stays pytrends' code.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from grekko_research.alpha.connectors.base import Connector, Page, Transient, ms, rows_frame
from grekko_research.errors import DataError, ExchangeError

__all__ = ["GoogleTrends", "parse_trends"]

COLUMNS = ("interest",)
TRENDS_URL = "https://trends.google.com/trends"


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

    def __init__(
        self, *, timeframe: str = "today 3-m", geo: str = "", api_url: str = TRENDS_URL
    ) -> None:
        self.timeframe, self.geo = timeframe, geo
        self.client = _trend_req(api_url)(hl="en-US", tz=0, timeout=(10, 30))

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        from pytrends.exceptions import ResponseError, TooManyRequestsError

        try:
            self.client.build_payload([entity], timeframe=self.timeframe, geo=self.geo)
            frame = self.client.interest_over_time()
        except TooManyRequestsError as exc:
            raise Transient(f"trends {entity}: 429 too many requests") from exc
        except ResponseError as exc:
            status = exc.response.status_code
            if status >= 500:
                raise Transient(f"trends {entity}: server error {status}") from exc
            raise ExchangeError(f"trends {entity}: Google answered HTTP {status}") from exc
        except ValueError as exc:  # a 200 whose body is not the JSON pytrends expects
            raise Transient(f"trends {entity}: unreadable answer ({exc})") from exc
        if frame.empty:
            return Page([])
        out = frame.reset_index()
        out["date"] = out["date"].astype(str)
        return Page(out.to_dict("records"))

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_trends(
            payload, entity=entity, ingested_ms=ingested_ms, window=self.timeframe.replace(" ", "_")
        )


def _trend_req(base: str) -> Any:
    """Return pytrends' ``TrendReq``, or a subclass sending its requests to ``base``."""
    from pytrends.request import TrendReq

    if base.rstrip("/") == TRENDS_URL:
        return TrendReq
    root = base.rstrip("/")

    class RebasedTrendReq(TrendReq):
        def _get_data(self, url: str, *args: Any, **kwargs: Any) -> Any:
            return super()._get_data(root + url[len(TRENDS_URL) :], *args, **kwargs)

        def GetGoogleCookie(self) -> dict[str, str]:  # pytrends' method name
            import requests

            # pytrends' own cookie call, on the rebased URL (no proxies here)
            got = requests.get(
                f"{root}/explore/?geo={self.hl[-2:]}", timeout=self.timeout, **self.requests_args
            )
            return {k: str(v) for k, v in got.cookies.items() if k == "NID"}

    return RebasedTrendReq
