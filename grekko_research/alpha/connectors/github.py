"""Developer activity of a GitHub repository through PyGithub: commits and releases.

Entity: ``owner@repo`` (``bitcoin@bitcoin``). ``fetch`` pages through ``get_commits(since=…)``
then ``get_releases()``, 100 a page, handing ``parse`` the REST JSON of each (``raw_data``).
Rows: ``kind`` (``commit`` or ``release``), ``author`` (login or name), ``message`` (first
line), ``prerelease``. For a commit ``event_ms`` is the author date and ``published_ms`` the
later of author and committer dates: an author date can be backdated by a rebase, the commit
was not public before it was committed (a push can still come later: research with
``mode="ingested"`` where that matters). A release is knowable at ``published_at``. Key:
``GITHUB_TOKEN`` (optional: 60 requests an hour without, 5,000 with); calls are spaced 1 s
apart (0.75 s with a token), and a 403/429 rate-limit answer is retried after its reset.
"""

from __future__ import annotations

import time
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
from grekko_research.errors import ConfigError, DataError, ExchangeError

__all__ = ["GitHubActivity", "parse_github"]

COLUMNS = ("kind", "author", "message", "prerelease")


def _commit(c: dict[str, Any], ingested_ms: int) -> dict[str, Any]:
    info = c["commit"]
    authored = ms(info["author"]["date"])
    committed = ms((info.get("committer") or {}).get("date") or info["author"]["date"])
    return {
        "id": f"commit:{c['sha']}",
        "event_ms": authored,
        "published_ms": max(authored, committed),
        "ingested_ms": ingested_ms,
        "kind": "commit",
        "author": str((c.get("author") or {}).get("login") or info["author"].get("name") or ""),
        "message": str(info.get("message") or "").split("\n", 1)[0][:200],
        "prerelease": 0.0,
    }


def _release(r: dict[str, Any], ingested_ms: int) -> dict[str, Any]:
    created = ms(r["created_at"])
    published = ms(r.get("published_at") or r["created_at"])
    return {
        "id": f"release:{r['id']}",
        "event_ms": min(created, published),
        "published_ms": published,
        "ingested_ms": ingested_ms,
        "kind": "release",
        "author": str((r.get("author") or {}).get("login") or ""),
        "message": str(r.get("tag_name") or r.get("name") or ""),
        "prerelease": float(bool(r.get("prerelease"))),
    }


def parse_github(payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
    """Return the rows of ``{"commits": [...], "releases": [...]}`` (REST JSON items)."""
    if not isinstance(payload, dict):
        raise DataError(f"github {entity}: payload is not a JSON object")
    records = []
    for kind, build in (("commits", _commit), ("releases", _release)):
        for i, item in enumerate(payload.get(kind) or []):
            if kind == "releases" and item.get("draft"):
                continue  # a draft is not public
            try:
                records.append(build(item, ingested_ms))
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"github {entity}: {kind}[{i}] is malformed ({exc!r})") from exc
    return rows_frame(records, COLUMNS)


class GitHubActivity(Connector):
    """Commits since the stored cursor, then every release, of one repository."""

    source = "github"
    env = ("GITHUB_TOKEN",)
    min_interval_s = 1.0

    def __init__(self, base_url: str = "https://api.github.com") -> None:
        from github import Auth, Github

        token = env_key("GITHUB_TOKEN", "github", required=False)
        self.gh = Github(
            base_url=base_url,
            auth=Auth.Token(token) if token else None,
            per_page=100,
            retry=None,
        )

    @staticmethod
    def repo_name(entity: str) -> str:
        if entity.count("@") != 1:
            raise ConfigError(f"github entity {entity!r}: expected owner@repo")
        return entity.replace("@", "/")

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        import github

        kind, _, number = (token or "commits:1").partition(":")
        page = int(number)
        params: dict[str, Any] = {"per_page": 100, "page": page}
        if kind == "commits" and since:
            params["since"] = pd.Timestamp(int(since), unit="ms", tz="UTC").isoformat()
        try:
            # the client's own request path (auth, rate-limit headers, its exceptions), one
            # page of raw JSON: PyGithub's lazy objects would fetch every commit again
            _, items = self.gh.requester.requestJsonAndCheck(
                "GET", f"/repos/{self.repo_name(entity)}/{kind}", parameters=params
            )
        except github.RateLimitExceededException as exc:
            reset = (exc.headers or {}).get("x-ratelimit-reset")
            raise Transient(
                f"github {entity}: rate limited",
                max(1.0, float(reset) - time.time()) if reset else None,
            ) from exc
        except github.GithubException as exc:
            if exc.status >= 500:
                raise Transient(f"github {entity}: HTTP {exc.status}") from exc
            raise ExchangeError(f"github {entity}: HTTP {exc.status}: {exc.data}") from exc
        nxt: str | None
        if len(items) == 100:
            nxt = f"{kind}:{page + 1}"
        else:
            nxt = "releases:1" if kind == "commits" else None
        return Page({kind: items}, nxt)

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        return parse_github(payload, entity=entity, ingested_ms=ingested_ms)

    def close(self) -> None:
        self.gh.close()
