"""The LLM adviser against a local fake OpenAI-compatible server (127.0.0.1, ephemeral port)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grekko_research.alpha.features import alpha_extras
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError
from grekko_research.ml.ensemble_strategy import EnsembleStrategy
from grekko_research.ml.llm import AdviserConfig, LlmAdviser, Vote, record_vote
from grekko_research.strategy import register_strategy
from strategies.ensemble_hedge import EnsembleHedge
from tests.peers.frames import real_bars

KEY = "sk-test-7f3a9c1e-do-not-print"


@dataclass
class FakeLlm:
    """What the fake server answers next, and what it received."""

    url: str
    reply: Callable[[dict[str, Any]], tuple[int, Any]]
    requests: list[tuple[dict[str, str], dict[str, Any]]]
    release: threading.Event


def _chat(content: Any) -> tuple[int, Any]:
    return 200, {"choices": [{"message": {"role": "assistant", "content": content}}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLlm]:
    state = FakeLlm("", lambda body: _chat("{}"), [], threading.Event())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((dict(self.headers), body))
            status, payload = state.reply(body)
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the timeout test's client hangs up before the late answer: expected

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()


def _adviser(fake: FakeLlm, **kw: Any) -> LlmAdviser:
    cfg = AdviserConfig(base_url=fake.url, model="tiny", enabled=True, **kw)
    return LlmAdviser(cfg, env={"GREKKO_LLM_API_KEY": KEY})


def test_a_good_answer_is_a_vote_and_the_key_stays_secret(
    fake: FakeLlm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.requests.clear()
    fake.reply = lambda body: _chat(json.dumps(
        {"vote": "Long", "confidence": 0.7, "rationale": "trend up", "size": 1e6,
         "order": {"side": "buy", "qty": 100}}))  # fmt: skip
    with _adviser(fake) as adviser:
        vote = adviser.vote("BTC/USDT", {"closes": [1.0, 2.0], "weights": {"sma_cross": 1.0}})
        assert KEY not in repr(adviser)
    assert vote == Vote(1.0, 0.7, "trend up")
    assert vote.value == pytest.approx(0.7)
    assert not hasattr(vote, "size") and not hasattr(vote, "order")  # dropped, never passed on
    headers, body = fake.requests[-1]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "tiny" and body["response_format"] == {"type": "json_object"}
    assert json.loads(body["messages"][1]["content"])["symbol"] == "BTC/USDT"
    assert KEY not in caplog.text


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (lambda b: (500, {"error": "overloaded"}), "HTTP 500"),
        (lambda b: (200, b"not json at all"), "malformed reply"),
        (lambda b: (200, {"choices": []}), "malformed reply"),
        (lambda b: _chat("I think you should buy!"), "malformed reply"),
        (lambda b: _chat('["long"]'), "not a JSON object"),
        (lambda b: _chat('{"vote": "buy 100 BTC", "confidence": 1}'), "unknown vote"),
        (lambda b: _chat('{"vote": "short", "confidence": 3}'), "outside [0, 1]"),
        (lambda b: _chat('{"vote": "short", "confidence": "high"}'), "not a number"),
    ],
)
def test_bad_answers_are_abstentions(fake: FakeLlm, reply: Any, reason: str) -> None:
    fake.reply = reply
    with _adviser(fake) as adviser:
        vote = adviser.vote("ETH/USDT", {})
    assert vote.abstained and vote.abstained_because is not None
    assert reason in vote.abstained_because
    assert np.isnan(vote.value)


def test_a_timeout_is_an_abstention(fake: FakeLlm) -> None:
    fake.release.clear()

    def slow(body: dict[str, Any]) -> tuple[int, Any]:
        fake.release.wait(10.0)  # far past the client's timeout; released at the end
        return _chat('{"vote": "long", "confidence": 1}')

    fake.reply = slow
    try:
        with _adviser(fake, timeout_s=0.5) as adviser:
            vote = adviser.vote("BTC/USDT", {})
    finally:
        fake.release.set()
    assert vote.abstained and "timeout" in str(vote.abstained_because)


def test_nothing_listening_is_an_abstention() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = AdviserConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", api_key_env=None,
                        enabled=True, timeout_s=5)  # fmt: skip
    with LlmAdviser(cfg) as adviser:
        assert adviser.vote("BTC/USDT", {}).abstained


def test_off_by_default_and_the_key_comes_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="off"):
        LlmAdviser(AdviserConfig(base_url="http://127.0.0.1:9/v1", model="m"))
    with pytest.raises(ConfigError, match="GREKKO_LLM_API_KEY") as err:
        LlmAdviser(AdviserConfig(base_url="http://127.0.0.1:9/v1", model="m", enabled=True),
                   env={})  # fmt: skip
    assert KEY not in str(err.value)
    with pytest.raises(ConfigError, match="URL"):
        AdviserConfig(base_url="127.0.0.1:9", model="m")


class _Advised(EnsembleStrategy):
    name = "test_advised_ensemble"
    members = EnsembleHedge.members
    advisers = ("alpha.llm_vote",)


def test_votes_reach_the_ensemble_point_in_time_and_cannot_size(
    fake: FakeLlm, shared_data: Path, tmp_path: Path
) -> None:
    """Votes asked after each close are stored, land in the next bar, and only ever are one
    weighted member: the target stays within [-1, 1] of equity whatever the adviser says."""
    register_strategy(_Advised)
    assert _Advised.requires == ("alpha.llm_vote",)
    bars = real_bars(shared_data, ["BTC-USDT"], 700)
    store = AltStore(tmp_path / "alt")
    fake.reply = lambda b: _chat('{"vote": "long", "confidence": 1.0, "rationale": "always"}')
    tf = 3_600_000
    with _adviser(fake) as adviser:
        for t in range(600, 610):  # ask about a few closes, answered 5 s after each
            close_ms = int(bars.index[t]) + tf
            record_vote(store, "BTC/USDT", close_ms, close_ms + 5_000, adviser.vote("BTC/USDT", {}))
    rows = store.read(AltKey("llm", "BTC"))
    assert len(rows) == 10 and (rows["vote"] == 1.0).all()
    extras = alpha_extras(bars.index, bars.symbols, "1h", ["alpha.llm_vote"], store)
    votes = extras["alpha.llm_vote"][:, 0]
    assert np.isnan(votes[:601]).all() and (votes[601:611] == 1.0).all()  # the next bar on
    advised = bars.with_extras(**extras)
    s = _Advised()
    p = s.params(grid=0.0, hold=100, window=48)
    target = s.signals(advised, p).target[:, 0]
    weights = s.weights(advised, p)
    assert list(weights.columns)[-1] == "alpha.llm_vote"
    assert np.nanmax(np.abs(target)) <= 1.0
    w_adv = weights["alpha.llm_vote"].to_numpy()
    assert np.all((w_adv[601:611] > 0) & (w_adv[601:611] < 1))  # weighted, not obeyed
    with pytest.raises(ConfigError, match=r"alpha\.llm_vote"):
        s.signals(bars, p)  # without the votes the ensemble refuses to guess
