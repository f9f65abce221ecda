"""Each connector's fetch through its real client library against a local peer on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grekko_research.alpha.connectors.base import RateLimiter, Transient, download, ms
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.data.download import RetryPolicy
from grekko_research.errors import ConfigError
from tests.alpha.fake_http import FakeHttp, Request, json_reply, serve

PAYLOADS = Path(__file__).parent / "payloads"
NOW = ms("2024-11-12T00:00:00Z")


def payload(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


class Clock:
    """Injected time: sleeping advances it, nothing waits."""

    def __init__(self) -> None:
        self.t = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def run(connector: Any, entities: list[str], store: AltStore, clock: Clock, **kw: Any) -> Any:
    limiter = RateLimiter(connector.min_interval_s, clock=clock, sleep=clock.sleep)
    retry = RetryPolicy(max_retries=3, base_delay=1.0, max_delay=8.0)
    return download(
        connector, entities, store, now_ms=lambda: NOW, limiter=limiter, retry=retry, **kw
    )


@pytest.fixture
def peer() -> Iterator[FakeHttp]:
    with serve() as p:
        yield p


# -- CryptoPanic (httpx) ---------------------------------------------------------------------


def _cryptopanic(peer: FakeHttp, fail_first: int = 0) -> None:
    state = {"fails": fail_first}

    def posts(req: Request) -> Any:
        if state["fails"]:
            state["fails"] -= 1
            return json_reply({"detail": "slow down"}, 429, {"Retry-After": "7"})
        if req.query.get("auth_token") != "tok-123":
            return json_reply({"detail": "Token not found"}, 403)
        return json_reply(payload(f"cryptopanic_posts_p{req.query.get('page', '1')}.json"))

    peer.route("GET", "/api/v1/posts/", posts)


def test_cryptopanic_pages_retries_and_resumes(
    peer: FakeHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grekko_research.alpha.connectors.news import CryptoPanic

    monkeypatch.setenv("CRYPTOPANIC_TOKEN", "tok-123")
    _cryptopanic(peer, fail_first=2)
    store, clock = AltStore(tmp_path), Clock()
    seen: list[tuple[str, int, int]] = []
    report = run(CryptoPanic(peer.url), ["BTC"], store, clock, progress=lambda *a: seen.append(a))
    assert report.entities["BTC"]["added"] == 4 and report.entities["BTC"]["complete"]
    assert seen == [("BTC", 1, 2), ("BTC", 2, 4)]
    assert 7.0 in clock.slept  # the Retry-After was honoured
    assert [r.query.get("page") for r in peer.requests] == [None, None, None, "2"]
    assert peer.requests[0].query["currencies"] == "BTC"
    key = AltKey("news", "BTC")
    assert store.cursor(key) == str(ms("2024-11-11T14:07:31Z"))
    # a rerun stops at the first page: its oldest post is already stored
    peer.requests.clear()
    again = run(CryptoPanic(peer.url), ["BTC"], store, clock)
    assert again.entities["BTC"] == {**again.entities["BTC"], "pages": 1, "added": 0, "rows": 4}


def test_cryptopanic_needs_its_key_and_gives_up_without_leaking_it(
    peer: FakeHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grekko_research.alpha.connectors.news import CryptoPanic

    monkeypatch.delenv("CRYPTOPANIC_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="CRYPTOPANIC_TOKEN"):
        CryptoPanic(peer.url)
    monkeypatch.setenv("CRYPTOPANIC_TOKEN", "tok-secret-9")
    _cryptopanic(peer, fail_first=100)
    with pytest.raises(Transient, match="gave up after 4 attempts") as err:
        run(CryptoPanic(peer.url), ["BTC"], AltStore(tmp_path), Clock())
    assert "tok-secret-9" not in str(err.value)
    assert not AltStore(tmp_path).exists(AltKey("news", "BTC"))


# -- DefiLlama (httpx) -----------------------------------------------------------------------


def test_defillama_pools_and_chart(peer: FakeHttp, tmp_path: Path) -> None:
    from grekko_research.alpha.connectors.defillama import DefiLlama

    peer.route("GET", "/pools", lambda r: json_reply(payload("defillama_pools.json")))
    peer.route("GET", "/chart/8f1c", lambda r: json_reply(payload("defillama_chart.json")))
    store = AltStore(tmp_path)
    report = run(DefiLlama(peer.url), ["pools", "8f1c"], store, Clock())
    assert (report.entities["pools"]["rows"], report.entities["8f1c"]["rows"]) == (4, 3)
    assert store.read(AltKey("defillama", "8f1c"))["apy"].tolist() == [21.3, 15.2, 18.5]


# -- Reddit (praw) ---------------------------------------------------------------------------


def test_reddit_through_praw(
    peer: FakeHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grekko_research.alpha.connectors.reddit import Reddit

    monkeypatch.setenv("REDDIT_CLIENT_ID", "cid")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "csecret")
    peer.route(
        "POST",
        "/api/v1/access_token",
        lambda r: json_reply(
            {"access_token": "at-1", "token_type": "bearer", "expires_in": 3600, "scope": "*"}
        ),
    )
    last = payload("reddit_new.json")
    last["data"]["after"] = None

    def new(req: Request) -> Any:
        assert req.headers["authorization"] == "bearer at-1"
        return json_reply(
            payload("reddit_new.json")
            if "after" not in req.query
            else {"kind": "Listing", "data": {"children": [], "after": None}}
        )

    peer.route("GET", "/r/CryptoCurrency/new", new)
    store = AltStore(tmp_path)
    report = run(
        Reddit(oauth_url=peer.url, reddit_url=peer.url), ["CryptoCurrency"], store, Clock()
    )
    assert report.entities["CryptoCurrency"]["added"] == 3
    got = [r for r in peer.requests if r.path.endswith("/new")]
    assert [r.query.get("after") for r in got] == [None, "t3_1gorx5c"]
    assert got[0].query["limit"] == "100"
    rows = store.read(AltKey("reddit", "CryptoCurrency"))
    assert set(rows["author"]) == {"hodl_hannah", "bear_bob", "AutoModerator"}


# -- X (tweepy v2) ---------------------------------------------------------------------------


def test_x_through_tweepy(peer: FakeHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from grekko_research.alpha.connectors.x import XSearch

    monkeypatch.setenv("X_BEARER_TOKEN", "bearer-x")
    calls = {"n": 0}

    def search(req: Request) -> Any:
        calls["n"] += 1
        assert req.headers["authorization"] == "Bearer bearer-x"
        if calls["n"] == 1:
            return json_reply({"title": "Too Many Requests"}, 429, {"x-rate-limit-reset": "0"})
        doc = payload("x_search_recent.json")
        if "next_token" not in req.query:
            doc["meta"]["next_token"] = "b26v89c19zqg8o3f"
        else:
            doc = {"meta": {"result_count": 0}}
        return json_reply(doc)

    peer.route("GET", "/2/tweets/search/recent", search)
    store, clock = AltStore(tmp_path), Clock()
    report = run(XSearch(api_url=peer.url), ["BTC"], store, clock)
    assert report.entities["BTC"]["added"] == 2
    q = [r.query for r in peer.requests]
    assert q[1]["query"] == "($BTC OR #btc) -is:retweet" and q[1]["max_results"] == "100"
    assert q[2]["next_token"] == "b26v89c19zqg8o3f"
    assert store.cursor(AltKey("x", "BTC")) == "1856001234567890123"
    run(XSearch(api_url=peer.url), ["BTC"], store, clock)
    assert peer.requests[-1].query["since_id"] == "1856001234567890123"  # incremental


# -- GitHub (PyGithub) -----------------------------------------------------------------------


def test_github_through_pygithub(
    peer: FakeHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grekko_research.alpha.connectors.github import GitHubActivity

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    peer.route(
        "GET",
        "/repos/bitcoin/bitcoin/commits",
        lambda r: json_reply(payload("github_commits.json")),
    )
    peer.route(
        "GET",
        "/repos/bitcoin/bitcoin/releases",
        lambda r: json_reply(payload("github_releases.json")),
    )
    store = AltStore(tmp_path)
    report = run(GitHubActivity(peer.url), ["bitcoin@bitcoin"], store, Clock())
    assert report.entities["bitcoin@bitcoin"]["added"] == 3
    rows = store.read(AltKey("github", "bitcoin@bitcoin"))
    assert sorted(rows["kind"]) == ["commit", "commit", "release"]
    commits = [r for r in peer.requests if r.path.endswith("/commits")]
    assert commits[0].query["per_page"] == "100"
    run(GitHubActivity(peer.url), ["bitcoin@bitcoin"], store, Clock())
    since = [r for r in peer.requests if r.path.endswith("/commits")][-1].query["since"]
    assert since.startswith("2024-11-10T16:30:00")  # resumes from the newest stored commit
