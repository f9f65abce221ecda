"""A strategy that raises inside ``signals()`` in a single-strategy live run is contained as a
portfolio's sleeve is: the run halts (``halted`` with the traceback summary, alerted), its
resting orders are cancelled, the process goes on — closing bars, the status API following it
— and exits non-zero only when it is asked to stop. Before, the exception escaped the runner
and ended the process: no ``halted`` event, no alert, orders left resting."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from grekko_research.engine import EngineConfig
from grekko_research.strategy import get_strategy
from live.api import ApiTokens, FlagFileControl, LogHub, api_server, create_app
from live.events import Event, EventStore
from live.orders import Intent, OrderState
from live.runner import Runner, RunnerSpec
from live.sim import start_simulator
from live.venues.credentials import Credentials
from live.venues.registry import make_venue
from tests.peers.sim_cli import sim_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "raising-key-0123456789", "raising-secret-abcdefghij"
ENV = {"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": SECRET}
READ = "read-token-raising-0123456789"
RUN = ["run", "--venue", "binance", "--mode", "live", "--confirm-live", "binance",
       "risk=conservative", "risk.ops.max_clock_skew_ms=null", "--strategy", "sma_cross",
       "--params", "fast=2", "--params", "slow=5", "--show", "alerts",
       "live.run_id=raising"]  # fmt: skip
RAISE_AT = 6  # the sixth decision raises, and every one after it


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local webhook for the alerts (apprise's ``json://``)."""
    posts: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/alerts", posts
    finally:
        server.shutdown()


def _events(path: Path) -> list[Event]:
    if not path.exists():
        return []
    with EventStore.open(path) as log:
        return list(log.read())


def _wait(what: str, until: Any, timeout: float, proc: subprocess.Popen[str]) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = until()
        if got:
            return got
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the run ended by itself ({proc.returncode}) before {what}: {err[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_a_raising_strategy_halts_a_grekko_live_run_which_stays_up(
    shared_data: Path, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url_alerts, posts = receiver
    events = tmp_path / "raising" / "events.db"
    env = {**os.environ, **ENV, "GREKKO_SHARED_DATA": str(shared_data),
           "GREKKO_TEST_RAISE_AT": str(RAISE_AT)}  # fmt: skip
    with sim_process(shared_data, ENV, speed=3600) as url:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/peers/raising_run.py"), *RUN, "--venue-url", url,
             "--state-dir", str(tmp_path)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )  # fmt: skip
        alerts: subprocess.Popen[str] | None = None
        hub: LogHub | None = None
        server = None
        thread: threading.Thread | None = None
        try:
            halted = _wait(
                "a halted event",
                lambda: [e for e in _events(events) if e.kind == "halted"],
                180,
                proc,
            )
            # The alert follower, as an operator runs it beside the runner.
            alerts = subprocess.Popen(
                [sys.executable, "-m", "live.alerts", "--events", str(events), "--after-seq",
                 "0", "--poll", "0.2"],
                env={**env, "GREKKO_ALERT_URLS": url_alerts}, stderr=subprocess.PIPE,
                text=True, cwd=ROOT,
            )  # fmt: skip
            # The status API follows the halted run.
            hub = LogHub(events, poll_s=0.05)
            server = api_server(
                create_app(hub, FlagFileControl(events.parent), ApiTokens.of([READ], [])),
                "127.0.0.1",
                0,
                log_level="warning",
            )
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:
                time.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            # The run goes on: bars keep closing after the halt, and nothing new is sent.
            at = halted[0].seq
            _wait(
                "bars closed after the halt",
                lambda: sum(e.kind == "bar_closed" and e.seq > at for e in _events(events)) >= 4,
                60,
                proc,
            )
            with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                              headers={"Authorization": f"Bearer {READ}"}) as http:  # fmt: skip
                risk = http.get("/risk").json()
            _wait("the alert", lambda: [p for p in posts if "Trading halted" in p["title"]], 30,
                  proc)  # fmt: skip
            assert proc.poll() is None  # not ended by the strategy's error
        finally:
            proc.send_signal(signal.SIGINT)  # asked to stop, as Ctrl-C does
            _, err = proc.communicate(timeout=60)
            if alerts is not None:
                alerts.terminate()
                alerts.communicate(timeout=10)
            if server is not None and thread is not None:
                server.should_exit = True
                thread.join(10)
            if hub is not None:
                hub.close()
    assert proc.returncode == 3, err[-3000:]  # halted: a supervisor sees it
    assert "stopped (Ctrl-C)" in err
    log = _events(events)
    (first, *_) = [e for e in log if e.kind == "halted"]
    reason, tb = first.payload["reason"], first.payload["traceback"]
    assert reason.startswith("strategy sma_cross raised ZeroDivisionError")
    assert "in _broken_indicator" in tb and "raising_run.py" in tb  # where, not only what
    decisions = [e.payload for e in log if e.kind == "decision"]
    failed = [d for d in decisions if d.get("error")]
    assert failed and failed[0]["error"] == reason and failed[0]["signal"] is None
    assert len(decisions) - len(failed) == RAISE_AT - 1
    # Nothing is created after the halt; the state is HALTED with the strategy's reason.
    assert not [e for e in log if e.kind == "order_created" and e.seq > first.seq]
    states = [e.payload for e in log if e.kind == "risk_state" and e.stream == "risk"]
    assert states[-1]["state"] == "HALTED" and "ZeroDivisionError" in states[-1]["reason"]
    assert risk["state"] == "HALTED" and "ZeroDivisionError" in (risk["reason"] or "")
    (alert,) = [p for p in posts if "Trading halted" in p["title"]]
    assert "CRITICAL" in alert["title"] and "ZeroDivisionError" in alert["message"]
    # One critical alert for the halt: not also the risk engine's "Risk state HALTED".
    assert [p["title"] for p in posts if "CRITICAL" in p["title"]] == [alert["title"]]


def test_a_raising_strategy_cancels_the_resting_orders(shared_data: Path, tmp_path: Path) -> None:
    """Against the Binance simulator through the real ccxt client: resting limit orders of the
    run are cancelled when its strategy raises (nothing it asked for stays working)."""
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(300)
    strategy = get_strategy("sma_cross")

    class Broken(type(strategy)):  # type: ignore[misc]
        def signals(self, bars: Any, params: Any) -> Any:
            raise ZeroDivisionError("broken indicator")

    async def main() -> tuple[list[Event], list[OrderState], str | None]:
        sim = await start_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
            balances={"USDT": "1000000", "BTC": "0"},
        )  # fmt: skip
        sim.advance_to(int(frame.timestamp[120]))
        low = Decimal(str(round(float(frame.low[120]) * 0.5, 2)))
        spec = RunnerSpec("resting", Broken(), strategy.params({}), EngineConfig(),
                          ("BTC/USDT",), "1h")  # fmt: skip
        venue = make_venue(
            "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        store = EventStore.open(tmp_path / "events.db")
        runner = Runner(spec, venue, store, clock=lambda: int(time.time() * 1000))
        try:
            await runner.start()
            for seq in range(5):
                intent = Intent("resting", "BTC/USDT", "buy", "0.001", 1, seq=seq,
                                order_type="limit", limit_price=low)  # fmt: skip
                runner._persist_om(runner.om.create(intent, int(time.time() * 1000)))
                await runner._send(intent.client_id)
            assert len(runner.om.open_orders()) == 5
            for i in range(100, 122):  # a window, then the bar whose decision raises
                row = frame.iloc[i]
                ohlcv = np.array([[row.open], [row.high], [row.low], [row.close], [row.volume]])
                if i < 121:
                    runner.window.push(int(row.timestamp), ohlcv, np.zeros(1, dtype=bool))
                else:
                    await runner._on_bar(int(row.timestamp), ohlcv, np.zeros(1, dtype=bool))
            states = [o.state for o in runner.om.orders()]
            # Halted across a restart, until resumed.
            again = Runner(spec, venue, store, clock=lambda: int(time.time() * 1000))
            again._restore()
            still = again.halted
        finally:
            await venue.close()
            store.close()
            await sim.close()
        with EventStore.open(tmp_path / "events.db") as log:
            return list(log.read()), states, still

    log, states, still = asyncio.run(main())
    assert still is not None and still.startswith("strategy sma_cross raised ZeroDivisionError")
    assert states == [OrderState.CANCELLED] * 5
    (halted,) = [e.payload for e in log if e.kind == "halted"]
    assert "broken indicator" in halted["reason"] and "ZeroDivisionError" in halted["traceback"]
    assert not [e for e in log if e.kind == "kill_switch"]  # a halt, not the operator's switch
