"""News headlines from CryptoPanic (``/api/v1/posts/``): fetch through its HTTP API, pure parse.

Rows (entity: the currency code asked for, e.g. ``BTC``): ``title``, ``url``, ``domain``,
``assets`` (comma-separated currency codes the post is tagged with), ``votes_positive``,
``votes_negative``, ``votes_important``. ``event_ms`` is the article's ``published_at``;
``published_ms`` the later of that and CryptoPanic's ``created_at`` (a feed cannot show a post
before it indexed it). Key: ``CRYPTOPANIC_TOKEN``. Free plan: about 5 requests a second, so the
connector spaces calls 0.5 s apart.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pandas as pd

from grekko_research.alpha.connectors._http import JsonClient
from grekko_research.alpha.connectors.base import Connector, Page, env_key, ms, rows_frame
from grekko_research.errors import DataError

__all__ = ["CryptoPanic", "parse_cryptopanic"]

COLUMNS = (
    "title",
    "url",
    "domain",
    "assets",
    "votes_positive",
    "votes_negative",
    "votes_important",
)


def parse_cryptopanic(payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
    """Return the rows of one ``/posts/`` page (``{"results": [...], "next": ...}``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("results"), list):
        raise DataError(f"cryptopanic {entity}: payload has no 'results' list")
    records = []
    for i, post in enumerate(payload["results"]):
        try:
            event = ms(post["published_at"])
            known = max(event, ms(post.get("created_at") or post["published_at"]))
            votes = post.get("votes") or {}
            source = post.get("source") or {}
            records.append(
                {
                    "id": f"cp:{post['id']}",
                    "event_ms": event,
                    "published_ms": known,
                    "ingested_ms": ingested_ms,
                    "title": str(post.get("title") or ""),
                    "url": str(post.get("url") or ""),
                    "domain": str(post.get("domain") or source.get("domain") or ""),
                    "assets": ",".join(c["code"] for c in post.get("currencies") or []),
                    "votes_positive": float(votes.get("positive", 0)),
                    "votes_negative": float(votes.get("negative", 0)),
                    "votes_important": float(votes.get("important", 0)),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"cryptopanic {entity}: result {i} is malformed ({exc!r})") from exc
    return rows_frame(records, COLUMNS)


class CryptoPanic(Connector):
    """CryptoPanic posts about one currency, newest first, until the stored cursor."""

    source = "news"
    env = ("CRYPTOPANIC_TOKEN",)
    min_interval_s = 0.5

    def __init__(self, base_url: str = "https://cryptopanic.com", *, kind: str = "news") -> None:
        self.token = env_key("CRYPTOPANIC_TOKEN", "cryptopanic")
        self.kind = kind
        self.http = JsonClient(base_url, source="cryptopanic")

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        params = {
            "auth_token": self.token,
            "currencies": entity,
            "kind": self.kind,
            "public": "true",
        }
        if token:
            params["page"] = token
        payload = self.http.get("/api/v1/posts/", params)
        nxt = payload.get("next") if isinstance(payload, dict) else None
        page = parse_qs(urlparse(nxt).query).get("page", [None])[0] if nxt else None
        results = (payload.get("results") or []) if isinstance(payload, dict) else []
        if since and results and min(ms(r["published_at"]) for r in results) <= int(since):
            page = None  # reached what the store already has
        return Page(payload, page)

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_cryptopanic(payload, entity=entity, ingested_ms=ingested_ms)

    def close(self) -> None:
        self.http.close()
