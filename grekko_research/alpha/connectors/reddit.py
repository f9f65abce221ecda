"""Reddit submissions of a subreddit, newest first, through praw (Reddit's official wrapper).

``fetch`` asks ``/r/<subreddit>/new`` for 100 posts a page and hands the page to ``parse`` in
the shape of Reddit's JSON listing (``{"data": {"children": [{"kind": "t3", "data": {...}}],
"after": ...}}``), so a recorded listing and a live one parse the same way. Rows (entity: the
subreddit): ``text`` (title and body), ``author``, ``score``, ``num_comments``,
``upvote_ratio``; ``event_ms`` = ``published_ms`` = ``created_utc`` (a post is public when
created; scores are as of the download, see ``ingested_ms``). Keys: ``REDDIT_CLIENT_ID``,
``REDDIT_CLIENT_SECRET`` (a "script" app); Reddit allows 100 requests a minute per client, so
calls are spaced 0.6 s apart (praw also honours Reddit's rate-limit headers).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from grekko_research.alpha.connectors.base import Connector, Page, Transient, env_key, rows_frame
from grekko_research.errors import DataError, ExchangeError

__all__ = ["Reddit", "parse_reddit"]

COLUMNS = ("text", "author", "score", "num_comments", "upvote_ratio")
_FIELDS = ("id", "name", "title", "selftext", "author", "created_utc", "score", "num_comments",
           "upvote_ratio", "subreddit", "permalink")  # fmt: skip


def parse_reddit(payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
    """Return the rows of one listing page."""
    try:
        children = payload["data"]["children"]
    except (KeyError, TypeError) as exc:
        raise DataError(f"reddit {entity}: payload is not a listing") from exc
    records = []
    for i, child in enumerate(children):
        d = child.get("data") or {}
        try:
            t = round(float(d["created_utc"]) * 1000)
            records.append(
                {
                    "id": f"t3_{d['id']}",
                    "event_ms": t,
                    "published_ms": t,
                    "ingested_ms": ingested_ms,
                    "text": f"{d.get('title') or ''}\n{d.get('selftext') or ''}".strip(),
                    "author": str(d.get("author") or "[deleted]"),
                    "score": float(d.get("score") or 0),
                    "num_comments": float(d.get("num_comments") or 0),
                    "upvote_ratio": float(d.get("upvote_ratio") or 0),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"reddit {entity}: post {i} is malformed ({exc!r})") from exc
    return rows_frame(records, COLUMNS)


class Reddit(Connector):
    """A subreddit's newest submissions, back to the stored cursor."""

    source = "reddit"
    env = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET")
    min_interval_s = 0.6

    def __init__(
        self,
        *,
        oauth_url: str = "https://oauth.reddit.com",
        reddit_url: str = "https://www.reddit.com",
    ) -> None:
        import praw

        self.reddit = praw.Reddit(
            client_id=env_key("REDDIT_CLIENT_ID", "reddit"),
            client_secret=env_key("REDDIT_CLIENT_SECRET", "reddit"),
            user_agent="grekko-alpha/1 (research)",
            oauth_url=oauth_url,
            reddit_url=reddit_url,
            check_for_updates=False,
            check_for_async=False,
        )

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        import prawcore

        params: dict[str, str | int] = {"limit": 100, "raw_json": 1}
        if token:
            params["after"] = token
        try:
            listing = self.reddit.get(f"/r/{entity}/new", params=params)
        except (prawcore.ServerError, prawcore.TooManyRequests, prawcore.RequestException) as exc:
            raise Transient(f"reddit {entity}: {type(exc).__name__}") from exc
        except prawcore.PrawcoreException as exc:
            raise ExchangeError(f"reddit {entity}: {type(exc).__name__}: {exc}") from exc
        children: list[dict[str, Any]] = []
        created: list[float] = []
        for post in listing:
            d = {k: getattr(post, k, None) for k in _FIELDS}
            d["author"] = str(d["author"]) if d["author"] is not None else None
            d["subreddit"] = str(d["subreddit"])
            children.append({"kind": "t3", "data": d})
            created.append(float(d["created_utc"] or 0))
        payload = {"kind": "Listing", "data": {"children": children, "after": listing.after}}
        nxt = listing.after
        if since and created and min(created) * 1000 <= int(since):
            nxt = None  # reached what the store already has
        return Page(payload, nxt)

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_reddit(payload, entity=entity, ingested_ms=ingested_ms)
