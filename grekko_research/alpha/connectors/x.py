"""Posts on X matching a query, through tweepy's API v2 client (recent search, last 7 days).

``fetch`` calls ``search_recent_tweets`` (100 a page, ``since_id`` = the stored cursor,
``next_token`` = the page token) with ``return_type=dict``, so ``parse`` reads the v2 JSON
(``data``, ``includes.users``, ``meta``) a recorded response has too. Rows (entity: a query
name such as ``BTC``, whose search is ``$BTC OR #bitcoin`` unless given): ``text``, ``author``
(username), ``followers`` (the influencer weight's input), ``likes``, ``retweets``,
``replies``; ``event_ms`` = ``published_ms`` = ``created_at``. The cursor is the newest post
id. Key: ``X_BEARER_TOKEN``. The v2 basic tier allows about 60 recent searches per 15 min per
app: calls are spaced 15 s apart; a 429 is retried after ``x-rate-limit-reset``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from grekko_research.alpha.connectors.base import (
    Connector,
    Page,
    Transient,
    env_key,
    ms,
    rows_frame,
)
from grekko_research.errors import DataError, ExchangeError

__all__ = ["XSearch", "parse_x"]

COLUMNS = ("text", "author", "followers", "likes", "retweets", "replies")
API_HOST = "https://api.twitter.com"


def parse_x(payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
    """Return the rows of one v2 search response."""
    if not isinstance(payload, dict):
        raise DataError(f"x {entity}: payload is not a JSON object")
    users = {u["id"]: u for u in (payload.get("includes") or {}).get("users") or []}
    records = []
    for i, tweet in enumerate(payload.get("data") or []):
        try:
            t = ms(tweet["created_at"])
            user = users.get(tweet.get("author_id"), {})
            metrics = tweet.get("public_metrics") or {}
            records.append(
                {
                    "id": str(tweet["id"]),
                    "event_ms": t,
                    "published_ms": t,
                    "ingested_ms": ingested_ms,
                    "text": str(tweet.get("text") or ""),
                    "author": str(user.get("username") or tweet.get("author_id") or ""),
                    "followers": float(
                        (user.get("public_metrics") or {}).get("followers_count", 0)
                    ),
                    "likes": float(metrics.get("like_count", 0)),
                    "retweets": float(metrics.get("retweet_count", 0)),
                    "replies": float(metrics.get("reply_count", 0)),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"x {entity}: post {i} is malformed ({exc!r})") from exc
    return rows_frame(records, COLUMNS)


class XSearch(Connector):
    """Recent posts for named queries (``queries``: entity -> search; default cashtag/hashtag)."""

    source = "x"
    env = ("X_BEARER_TOKEN",)
    min_interval_s = 15.0

    def __init__(
        self, *, queries: Mapping[str, str] | None = None, api_url: str = API_HOST
    ) -> None:
        import tweepy

        self.queries = dict(queries or {})
        self.client = tweepy.Client(
            bearer_token=env_key("X_BEARER_TOKEN", "x"), return_type=dict, wait_on_rate_limit=False
        )
        if api_url != API_HOST:  # tweepy has no base-URL option: rebase its requests session
            self.client.session.mount(API_HOST, _rebase(api_url))

    def query(self, entity: str) -> str:
        return self.queries.get(entity) or f"(${entity} OR #{entity.lower()}) -is:retweet"

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        import tweepy

        try:
            payload = self.client.search_recent_tweets(
                self.query(entity),
                max_results=100,
                since_id=since,
                next_token=token,
                tweet_fields=["created_at", "public_metrics", "author_id", "lang"],
                expansions=["author_id"],
                user_fields=["username", "public_metrics"],
            )
        except tweepy.TooManyRequests as exc:
            reset = getattr(exc, "reset_time", None)
            wait = max(1.0, reset - time.time()) if reset else None
            raise Transient(f"x {entity}: rate limited", wait) from exc
        except tweepy.TwitterServerError as exc:
            raise Transient(f"x {entity}: server error {exc.response.status_code}") from exc
        except tweepy.HTTPException as exc:
            raise ExchangeError(f"x {entity}: HTTP {exc.response.status_code}") from exc
        return Page(payload, (payload.get("meta") or {}).get("next_token"))

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_x(payload, entity=entity, ingested_ms=ingested_ms)

    def cursor_after(self, rows: pd.DataFrame, since: str | None, *, entity: str) -> str | None:
        if not len(rows):
            return since
        newest = max(int(i) for i in rows["id"])  # post ids are time-ordered snowflakes
        return str(max(newest, int(since or 0)))

    def close(self) -> None:
        self.client.session.close()


def _rebase_adapter() -> type:
    from requests.adapters import HTTPAdapter

    class Rebase(HTTPAdapter):
        """Send the client's requests for ``api.twitter.com`` to another base URL."""

        def __init__(self, base: str) -> None:
            super().__init__()
            self.base = base.rstrip("/")

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            request.url = self.base + request.url[len(API_HOST) :]
            return super().send(request, *args, **kwargs)

    return Rebase


def _rebase(base: str) -> Any:
    return _rebase_adapter()(base)
