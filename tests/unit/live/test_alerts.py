"""Alerts through apprise to a real HTTP receiver on 127.0.0.1: which events alert, rate limits
and de-duplication by an injected clock, retries of a failing receiver, no token in any log."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from grekko_research.errors import ConfigError
from live.alerts import Alert, AlertContext, AlertRouter, afollow, alerts_for, follow
from live.events import Event, EventStore
from live.secrets import Redactor

TOKEN = "hook" + secrets.token_hex(12)  # the webhook's secret path segment
PASSWORD = "pw" + secrets.token_hex(8)  # its Basic-auth password


@dataclass
class Receiver:
    """What the local webhook received, and the statuses it answers with (then 200)."""

    port: int
    posts: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = f"/alerts/{TOKEN}") -> str:
        return f"json://grekko:{PASSWORD}@127.0.0.1:{self.port}{path}"

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.posts) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.posts)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with state.lock:
                status = state.statuses.pop(0) if state.statuses else 200
                state.posts.append(
                    {"path": self.path, "status": status, "auth": self.headers.get("Authorization"),
                     **json.loads(body)}
                )  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # the test peer stays quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def ev(seq: int, kind: str, payload: dict[str, Any], stream: str = "runner") -> Event:
    return Event(seq, 1_700_000_000_000 + seq, kind, stream, payload, "0" * 64, "0" * 64)


def router_for(receiver: Receiver, **kw: Any) -> AlertRouter:
    kw.setdefault("sleep", lambda s: None)
    return AlertRouter([receiver.url()], **kw)


def breach(value: float) -> Alert:
    return Alert("risk_breach:max_drawdown", "warning", "drawdown", f"drawdown {value}")


# -- delivery --------------------------------------------------------------------------------


def test_a_risk_breach_and_a_halt_reach_the_receiver(receiver: Receiver) -> None:
    router = router_for(receiver, big_fill_notional=1000)
    events = [
        ev(1, "run_started", {"run_id": "sma-1", "venue": "binance"}),
        ev(2, "bar_closed", {"ts": 0}),
        ev(3, "risk_breach", {"rule": "max_drawdown", "value": 0.21, "limit": 0.2}),
        ev(4, "halted", {"reason": "max_drawdown 0.21 > 0.2"}),
    ]
    outcomes = [o for e in events for o in router.handle(e)]
    assert [(o.alert.key, o.status, o.attempts) for o in outcomes] == [
        ("risk_breach:max_drawdown", "sent", 1),
        ("halted", "sent", 1),
    ]
    first, second = receiver.posts
    assert first["path"] == f"/alerts/{TOKEN}" and first["auth"].startswith("Basic ")
    assert first["type"] == "warning" and "max_drawdown" in first["title"]
    assert "value 0.21 against limit 0.2" in first["message"] and "sma-1" in first["title"]
    assert second["type"] == "failure" and "halted" in second["title"].lower()
    assert "max_drawdown 0.21 > 0.2" in second["message"]
    assert router.counts["sent"] == 2 and router.targets == ["json#1"]


def test_follow_tails_the_event_log(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore.open(path) as store:
        store.append("run_started", "runner", {"run_id": "r-9"}, ts_ms=1)
        store.append("order_created", "cid-1", {"symbol": "BTC/USDT", "side": "buy"}, ts_ms=2)
        store.append("halted", "runner", {"reason": "old halt, before the follower"}, ts_ms=3)
    router = router_for(receiver, big_fill_notional="5000")
    # Default: only what is appended from now on; the past still teaches the context.
    last = follow(path, router, stop=lambda: True)
    assert last == 3 and receiver.posts == []
    with EventStore.open(path) as store:
        store.append("order_fill", "cid-1", {"qty": "0.5", "price": "30000", "trade_id": "t1",
                                             "fee": "15", "fee_asset": "USDT"}, ts_ms=4)  # fmt: skip
        store.append("order_fill", "cid-1", {"qty": "0.01", "price": "30000"}, ts_ms=5)  # small
    seen: list[str] = []
    assert follow(path, router, after_seq=last, stop=lambda: True, on_outcome=lambda o: seen.append(o.status)) == 5  # fmt: skip
    (post,) = receiver.posts
    assert seen == ["sent"]
    assert "BUY 0.5 BTC/USDT at 30000: notional 15000.0 USDT" in post["message"]
    assert "r-9" in post["title"] and "Fee 15 USDT" in post["message"]


def test_afollow_runs_until_stopped(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    EventStore.open(path).close()
    router = router_for(receiver)

    async def main() -> int:
        stop = asyncio.Event()
        task = asyncio.create_task(afollow(path, router, after_seq=0, poll_s=0.02, stop=stop))
        await asyncio.sleep(0.05)
        with EventStore.open(path) as store:
            store.append("kill_switch", "runner", {"engaged": True, "reason": "operator",
                                                   "flatten": True}, ts_ms=7)  # fmt: skip
        await asyncio.to_thread(receiver.wait_for, 1)
        stop.set()
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(main()) == 1
    (post,) = receiver.posts
    assert post["type"] == "failure" and "Kill switch ENGAGED" in post["message"]
    assert "Flatten positions: yes" in post["message"]


# -- one halt, one critical alert --------------------------------------------------------------


def test_one_halt_is_one_critical_alert_and_one_resume_one_more(
    receiver: Receiver, tmp_path: Path
) -> None:
    """Each halt of a run is logged by several events — the runner's ``halted`` with the risk
    engine's ``risk_state``; the kill switch's ``kill_switch`` first; a breaker's
    ``risk_state``, then the kill switch it engages — and each resume by ``resumed`` with the
    state's return to ACTIVE. The user gets one critical alert per halt, from its first event
    (the cause, with the reason), and one per resume. Before, a runner's halt sent "Trading
    halted" and "Risk state HALTED", a kill three criticals, a breaker's kill four."""
    from grekko_research.risk.spec import DrawdownBreaker, OpsRisk, PortfolioRisk, RiskSpec
    from live.risk import MarketView, OpsView, PortfolioView, RiskEngine

    spec = RiskSpec(portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=0.1)),
                    ops=OpsRisk(max_data_age_s=60))  # fmt: skip
    risk = RiskEngine(spec)  # the run's one trading state: its drafts, as the runner logs them
    market, t = MarketView(prices={"BTC/USDT": 100.0}), 1_700_000_000_000
    path = tmp_path / "events.db"

    def runner_halt(reason: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [("halted", "runner", {"reason": reason}), *risk.halt(reason, now_ms=t)]

    def kill(reason: str, source: str) -> list[tuple[str, str, dict[str, Any]]]:
        engaged = {"engaged": True, "reason": reason, "flatten": False, "source": source}
        return [("kill_switch", "runner", engaged), *runner_halt(f"kill switch: {reason}")]

    def resume(reason: str, by: str = "runner") -> list[tuple[str, str, dict[str, Any]]]:
        return [("resumed", "runner", {"reason": reason, "by": by}), *risk.resume(reason, now_ms=t)]

    steps = [
        [("run_started", "runner", {"run_id": "halts-1"})],
        risk.on_bar(PortfolioView(1000.0), market, now_ms=t),
        runner_halt("positions differ: BTC/USDT venue 0.5, ours 0.4"),
        resume("positions fixed"),
        kill("operator at the desk", "flag"),
        resume("kill flag removed"),
        risk.on_bar(PortfolioView(850.0), market, now_ms=t),  # drawdown 15 % > 10 %: HALTED
        kill("risk engine halted: drawdown", "breaker"),  # the breaker's kill (_breaker_kill)
        [("resumed", "runner", {"reason": "reviewed", "by": "cli"})],  # grekko-live resume ...
        risk.resume("reviewed", now_ms=t),  # ... that the live runner follows, logged=True
        risk.on_ops(OpsView(last_data_ms=t - 120_000), now_ms=t),  # stale feed: HALTED ...
        risk.on_ops(OpsView(last_data_ms=t), now_ms=t + 1),  # ... until data comes again
    ]
    with EventStore.open(path) as store:
        for drafts in steps:
            store.append_many([(k, s, p, t) for k, s, p in drafts])
            t += 1
    # No rate limit or de-duplication here: every alert the rules raise is delivered.
    router = router_for(receiver, min_interval_s=0, dedup_window_s=0)
    follow(path, router, after_seq=0, stop=lambda: True)
    got = [(post["type"], post["title"].split(" — ")[0]) for post in receiver.posts]
    assert got == [
        ("failure", "[CRITICAL] Trading halted"),
        ("info", "[INFO] Trading resumed"),
        ("failure", "[CRITICAL] Kill switch engaged"),
        ("info", "[INFO] Trading resumed"),
        ("warning", "[WARNING] Risk limit breached: drawdown"),
        ("failure", "[CRITICAL] Risk state HALTED"),
        ("info", "[INFO] Trading resumed"),
        ("warning", "[WARNING] Risk limit breached: stale_data"),
        ("failure", "[CRITICAL] Risk state HALTED"),
        ("info", "[INFO] Risk state ACTIVE"),
    ], got
    messages = [post["message"] for post in receiver.posts]
    assert "positions differ: BTC/USDT venue 0.5, ours 0.4" in messages[0]
    assert "operator at the desk" in messages[2] and "drawdown" in messages[5]

    # A follower started during a halt does not alert it again at its later events.
    with EventStore.open(path) as store:
        head = store.head()
        assert head is not None
        store.append_many([(k, s, p, t) for k, s, p in runner_halt("strategy raised")])
        at = head.seq + 2
        store.append_many([(k, s, p, t) for k, s, p in kill("operator", "flag")])
    later = router_for(receiver, min_interval_s=0, dedup_window_s=0)
    follow(path, later, after_seq=at, stop=lambda: True)
    assert len(receiver.posts) == len(got)


# -- rate limit and de-duplication -----------------------------------------------------------


def test_rate_limit_holds_back_and_summarises_by_the_clock(receiver: Receiver) -> None:
    clock = Clock()
    router = router_for(receiver, clock=clock, min_interval_s=60, dedup_window_s=600)
    assert router.send(breach(0.21)).status == "sent"
    clock.t += 10
    assert router.send(breach(0.22)).status == "rate_limited"
    clock.t += 20
    assert router.send(breach(0.23)).status == "rate_limited"
    other = Alert("halted", "critical", "halted", "halted: drawdown")
    assert router.send(other).status == "sent"  # the limit is per key
    clock.t += 29.9  # 59.9 s after the first
    assert router.send(breach(0.24)).status == "rate_limited"
    assert router.flush() == []  # not due yet
    clock.t += 0.2
    sent = router.send(breach(0.25))
    assert sent.status == "sent"
    assert "3 earlier alert(s) of this kind held back by the rate limit" in sent.alert.body
    posts = receiver.posts
    assert [p["message"].split("\n")[0] for p in posts] == [
        "drawdown 0.21",
        "halted: drawdown",
        "drawdown 0.25",
    ]
    assert "3 earlier alert(s)" in posts[-1]["message"]
    assert router.counts["rate_limited"] == 3 and router.counts["sent"] == 3


def test_flush_sends_the_latest_held_back_alert(receiver: Receiver) -> None:
    clock = Clock()
    router = router_for(receiver, clock=clock, min_interval_s=60)
    router.send(breach(0.21))
    clock.t += 5
    router.send(breach(0.22))
    clock.t += 5
    router.send(breach(0.23))
    clock.t += 49
    assert router.flush() == []
    clock.t += 1
    (flushed,) = router.flush()
    assert flushed.status == "sent" and flushed.alert.body.startswith("drawdown 0.23")
    assert "(+1 held back)" in flushed.alert.title
    assert "1 earlier alert(s)" in receiver.posts[-1]["message"]
    assert router.flush() == []  # nothing left to summarise
    assert len(receiver.posts) == 2


def test_duplicates_are_dropped_within_the_window(receiver: Receiver) -> None:
    clock = Clock()
    router = router_for(receiver, clock=clock, min_interval_s=60, dedup_window_s=600)
    assert router.send(breach(0.21)).status == "sent"
    clock.t += 100  # past the rate limit, inside the window
    assert router.send(breach(0.21)).status == "duplicate"
    clock.t += 100
    assert router.send(breach(0.21)).status == "duplicate"
    assert router.send(breach(0.30)).status == "sent"  # another body is news
    clock.t += 400.5  # 600.5 s after the first one
    again = router.send(breach(0.21))
    assert again.status == "sent"
    assert len(receiver.posts) == 3
    assert router.counts["duplicate"] == 2
    # The drops since the last delivery of the key were reported with the next one.
    assert "2 duplicate(s) dropped" in receiver.posts[1]["message"]


# -- failures --------------------------------------------------------------------------------


def test_a_failing_receiver_is_retried_then_reported(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    waits: list[float] = []
    router = AlertRouter([receiver.url()], retries=3, backoff_s=0.5, sleep=waits.append)
    receiver.statuses = [500] * 10
    with caplog.at_level(logging.WARNING, logger="live.alerts"):
        outcome = router.send(breach(0.21))  # never raises
    assert outcome.status == "failed" and not outcome.delivered and outcome.attempts == 4
    assert len(receiver.posts) == 4 and waits == [0.5, 1.0, 2.0]
    assert outcome.errors == ("json#1: not delivered after 4 attempt(s)",)
    (record,) = [r for r in caplog.records if r.name == "live.alerts"]
    assert "not delivered to json#1 after 4 attempt(s)" in record.getMessage()
    # A failed delivery still takes the key's slot: a dead target is not hammered.
    assert router.send(breach(0.5)).status == "rate_limited"
    # A receiver that recovers: delivered on the second attempt.
    receiver.posts.clear()
    receiver.statuses = [500]
    waits.clear()
    fresh = AlertRouter([receiver.url()], retries=3, backoff_s=0.5, sleep=waits.append)
    ok = fresh.send(breach(0.5))
    assert ok.status == "sent" and ok.attempts == 2 and waits == [0.5]
    assert [p["status"] for p in receiver.posts] == [500, 200]


def test_an_unreachable_target_is_reported_not_raised() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    router = AlertRouter([f"json://127.0.0.1:{port}/x/{TOKEN}"], retries=1, sleep=lambda s: None)
    outcome = router.send(breach(0.1))
    assert outcome.status == "failed" and outcome.attempts == 2


def test_no_url_token_appears_in_logs(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with caplog.at_level(logging.DEBUG):
        router = AlertRouter(
            [receiver.url(), f"json://grekko:{PASSWORD}@127.0.0.1:{dead}/alerts/{TOKEN}"],
            retries=1,
            sleep=lambda s: None,
        )
        outcome = router.send(breach(0.21))
        repr(router)
    assert outcome.status == "partial" and len(receiver.posts) == 1
    assert outcome.errors == ("json#2: not delivered after 2 attempt(s)",)
    messages = [r.getMessage() for r in caplog.records]
    # apprise logs the request URL and urllib3 the path of a refused connection: masked.
    assert any("JSON POST URL" in m and "/alerts/***" in m for m in messages)
    assert any(r.name == "live.alerts" for r in caplog.records)
    for text in [caplog.text, *messages, repr(router), *outcome.errors]:
        assert TOKEN not in text and PASSWORD not in text


def test_a_bad_url_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError, match=r"alert URL #2 \(scheme 'nosuch'\)") as info:
        AlertRouter(["json://127.0.0.1:9/a", f"nosuch://{TOKEN}"])
    assert TOKEN not in str(info.value)
    assert AlertRouter.from_env({}).targets == []
    unrouted = AlertRouter([]).send(breach(0.2))
    assert unrouted.status == "unrouted" and not unrouted.delivered


# -- what alerts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "payload", "key", "severity"),
    [
        ("risk_breach", {"rule": "max_position", "value": 2, "limit": 1}, "risk_breach:max_position", "warning"),
        ("risk_state", {"state": "halted", "reason": "daily loss"}, "risk_state:HALTED", "critical"),
        ("risk_state", {"state": "REDUCING", "reason": "drawdown"}, "risk_state:REDUCING", "warning"),
        ("risk_state", {"state": "ACTIVE", "reason": "new day"}, "risk_state:ACTIVE", "info"),
        ("kill_switch", {"engaged": True, "reason": "file", "flatten": False}, "kill_switch:engaged", "critical"),
        ("kill_switch", {"engaged": False, "reason": "api"}, "kill_switch:released", "warning"),
        ("halted", {"reason": "positions differ"}, "halted", "critical"),
        ("resumed", {"reason": "fixed", "halt": "positions differ"}, "resumed", "info"),
        ("order_rejected", {"to": "REJECTED", "reason": "insufficient balance"}, "order_rejected:ETH/USDT", "warning"),
        ("error", {"where": "strategy", "message": "ZeroDivisionError"}, "error:strategy", "warning"),
        ("reconciled", {"ok": False, "diff": ["BTC/USDT: venue 0.5"]}, "reconcile_failed", "critical"),
        ("order_fill", {"qty": "2", "price": "3000"}, "fill:ETH/USDT", "info"),
        ("log_verified", {"ok": True, "mode": "incremental", "keyed": True, "head_seq": 9, "head_hash": "ab" * 32}, "log_verified", "info"),
        ("log_verified", {"ok": False, "failed_seq": 4, "failure": "mac_mismatch", "accepted": "checked", "head_seq": 9}, "log_verified", "critical"),
        ("log_accepted", {"failed_seq": 4, "failure": "truncated", "reason": "restored backup", "by": "run"}, "log_accepted", "critical"),
        ("order_fill", {"qty": "0.1", "price": "3000"}, None, None),
        ("reconciled", {"ok": True, "ms": 3.2}, None, None),
        ("bar_closed", {"ts": 0}, None, None),
        ("order_created", {"symbol": "ETH/USDT", "side": "sell"}, None, None),
    ],
)  # fmt: skip
def test_which_events_alert(
    kind: str, payload: dict[str, Any], key: str | None, severity: str | None
) -> None:
    ctx = AlertContext(big_fill_notional=Decimal(1000), redactor=Redactor())
    alerts_for(ev(1, "order_created", {"symbol": "ETH/USDT", "side": "sell"}, "cid-7"), ctx)
    got = alerts_for(ev(2, kind, payload, "cid-7"), ctx)
    assert [(a.key, a.severity) for a in got] == ([] if key is None else [(key, severity)])
    for alert in got:
        assert alert.seq == 2 and "2023-11-14 22:13:20 UTC" in alert.body


def test_a_log_verification_alert_carries_the_head_it_vouches_for() -> None:
    """The alert channel keeps a copy of each start's checkpoint (seq and head hash)."""
    ctx = AlertContext(redactor=Redactor())
    payload = {"ok": True, "mode": "incremental", "keyed": True, "head_seq": 41,
               "head_hash": "c0ffee" * 10 + "abcd"}  # fmt: skip
    (alert,) = alerts_for(ev(42, "log_verified", payload), ctx)
    assert "seq 41" in alert.body and payload["head_hash"] in alert.body
    assert "keyed" in alert.body and "OK" in alert.body


def test_a_strategys_own_risk_engine_is_named_and_its_halt_is_a_warning() -> None:
    ctx = AlertContext(redactor=Redactor())
    (halt,) = alerts_for(ev(1, "risk_state", {"state": "HALTED", "reason": "x"}, "risk:trend"), ctx)
    assert (halt.key, halt.severity) == ("risk_state:trend:HALTED", "warning")
    assert "Strategy trend: Risk state HALTED" in halt.title
    (breach,) = alerts_for(ev(2, "risk_breach", {"rule": "max_notional"}, "risk:trend"), ctx)
    assert breach.key == "risk_breach:trend:max_notional" and "Strategy trend" in breach.title


def test_alert_texts_are_redacted() -> None:
    secret = "sk-" + secrets.token_hex(10)
    ctx = AlertContext(redactor=Redactor([secret]))
    (alert,) = alerts_for(
        ev(1, "error", {"where": "venue", "message": f"401 for key {secret}; apiKey=AKIA99XYZ"}),
        ctx,
    )
    assert secret not in alert.body and "AKIA99XYZ" not in alert.body
    assert "401 for key ***; apiKey=***" in alert.body
    (halt,) = alerts_for(ev(2, "halted", {"reason": f"bad token {secret}"}), ctx)
    assert secret not in halt.body + halt.title


def test_a_separate_process_alerts_from_the_environment(receiver: Receiver, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    EventStore.open(path).close()
    env = {**os.environ, "GREKKO_ALERT_URLS": f"{receiver.url()} ,"}
    log = tmp_path / "alerts.err"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "live.alerts", "--events", str(path), "--after-seq", "0",
             "--poll", "0.05"],
            env=env, stderr=sink, text=True,
        )  # fmt: skip
    try:
        with EventStore.open(path) as store:
            store.append("halted", "runner", {"reason": "operator kill file"}, ts_ms=1)
        posts = receiver.wait_for(1, timeout=30)
        # The follower reports a delivery after the receiver has it: wait for that line.
        deadline = time.monotonic() + 10
        while "sent:" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    err = log.read_text()
    assert len(posts) == 1 and "operator kill file" in posts[0]["message"]
    assert "alerting ['json#1']" in err and "sent: [CRITICAL] Trading halted" in err
    assert TOKEN not in err and PASSWORD not in err
