"""Google Trends through the real pytrends client against a local peer serving Trends' shapes.

pytrends hard-codes https://trends.google.com/trends; the connector's ``api_url`` rebases the
URLs pytrends passes to its own request method. The peer answers like the site: an ``NID``
cookie on the explore page, the widgets (with their tokens) behind ``)]}'``, the timeline
behind ``)]}',``, and 429 pages when asked too fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from grekko_research.alpha.connectors.base import ms
from grekko_research.alpha.connectors.trends import GoogleTrends
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError, ExchangeError
from tests.alpha.fake_http import FakeHttp, Reply, Request, serve
from tests.alpha.test_fetch import Clock, run

PAYLOADS = Path(__file__).parent / "payloads"
RATE_LIMITED = b"<html><title>Error 429 (Too Many Requests)!!1</title></html>"


def _doc(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def _js(prefix: str, doc: Any) -> Reply:
    body = (prefix + json.dumps(doc)).encode()
    return 200, {"Content-Type": "application/json; charset=utf-8"}, body


class TrendsSite:
    """Routes of the Trends site; ``busy`` 429s the next timeline requests."""

    def __init__(self, peer: FakeHttp) -> None:
        self.busy = 0
        self.status: int | None = None
        explore = _doc("trends_explore.json")
        self.token = explore["widgets"][0]["token"]
        peer.route("GET", "/trends/explore/", self.cookie)
        peer.route("POST", "/trends/api/explore", lambda r: _js(")]}'\n", explore))
        peer.route("GET", "/trends/api/widgetdata/multiline", self.timeline)

    def cookie(self, req: Request) -> Reply:
        headers = {"Content-Type": "text/html", "Set-Cookie": "NID=511=grekko-local; Path=/"}
        return 200, headers, b"<html></html>"

    def timeline(self, req: Request) -> Reply:
        if self.status is not None:
            return self.status, {"Content-Type": "text/html"}, b"<html>error</html>"
        if self.busy:
            self.busy -= 1
            return 429, {"Content-Type": "text/html; charset=UTF-8"}, RATE_LIMITED
        if req.query.get("token") != self.token or "NID=511=grekko-local" not in req.headers.get(
            "cookie", ""
        ):
            return 401, {"Content-Type": "text/html"}, b"<html>no token</html>"
        return _js(")]}',\n", _doc("trends_multiline.json"))


@pytest.fixture
def site() -> Iterator[tuple[FakeHttp, TrendsSite]]:
    with serve() as peer:
        yield peer, TrendsSite(peer)


def test_trends_through_pytrends(site: tuple[FakeHttp, TrendsSite], tmp_path: Path) -> None:
    peer, trends = site
    trends.busy = 2  # Google's burst answer, twice, then the data
    store, clock = AltStore(tmp_path), Clock()
    report = run(GoogleTrends(api_url=peer.url + "/trends"), ["bitcoin"], store, clock)
    assert report.entities["bitcoin"]["added"] == 3  # the partial week is not stored
    rows = store.read(AltKey("trends", "bitcoin")).sort_values("event_ms")
    assert rows["interest"].tolist() == [41.0, 48.0, 63.0]
    assert rows["event_ms"].iloc[0] == ms("2024-10-20T00:00:00Z")
    assert rows["published_ms"].iloc[-1] == ms("2024-11-10T00:00:00Z")  # known at week's end
    assert rows["id"].iloc[0] == f"today_3-m:{ms('2024-10-20T00:00:00Z')}"
    # each retry backs off (1 s, 2 s), then the rest of the 60 s spacing Google asks for
    assert clock.slept == [1.0, 59.0, 2.0, 58.0]
    explore = next(r for r in peer.requests if r.path == "/trends/api/explore")
    req = json.loads(explore.query["req"])
    assert req["comparisonItem"] == [{"keyword": "bitcoin", "time": "today 3-m", "geo": ""}]
    assert explore.query["tz"] == "0" and explore.query["hl"] == "en-US"
    timeline = [r for r in peer.requests if r.path.endswith("/multiline")]
    assert len(timeline) == 3 and json.loads(timeline[-1].query["req"])["resolution"] == "WEEK"


def test_trends_spaces_terms_a_minute_apart(
    site: tuple[FakeHttp, TrendsSite], tmp_path: Path
) -> None:
    peer, _ = site
    clock = Clock()
    run(
        GoogleTrends(api_url=peer.url + "/trends"),
        ["bitcoin", "ethereum"],
        AltStore(tmp_path),
        clock,
    )
    assert clock.slept == [60.0]  # the second term waited out the rate limit's spacing


def test_trends_client_errors_are_not_retried(
    site: tuple[FakeHttp, TrendsSite], tmp_path: Path
) -> None:
    peer, trends = site
    trends.status = 400
    with pytest.raises(ExchangeError, match="trends bitcoin: Google answered HTTP 400"):
        run(GoogleTrends(api_url=peer.url + "/trends"), ["bitcoin"], AltStore(tmp_path), Clock())
    assert len([r for r in peer.requests if r.path.endswith("/multiline")]) == 1


def test_cli_downloads_trends_from_a_base_url(
    site: tuple[FakeHttp, TrendsSite], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from grekko_research.cli import app

    peer, _ = site
    args = ["alpha", "download", "trends", "bitcoin", "--store", str(tmp_path)]
    got = CliRunner().invoke(app, [*args, "--base-url", peer.url + "/trends"])
    assert got.exit_code == 0, got.output
    assert len(AltStore(tmp_path).read(AltKey("trends", "bitcoin"))) == 3
    # telegram reaches the data centre its session names: a base URL is refused, not ignored
    got = CliRunner().invoke(
        app, ["alpha", "download", "telegram", "x", "--store", str(tmp_path), "--base-url", "u"]
    )
    assert isinstance(got.exception, ConfigError)
    assert "--base-url does not apply" in str(got.exception)
