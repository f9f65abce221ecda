"""The web console in a real browser (Debian's headless chromium, driven by Playwright) against
a real ``grekko-live run`` in its own process, trading through the real ccxt client on the local
Binance simulator (live mode: the orders rest at the simulated venue, so the kill switch has
something to cancel), with the status API serving the console.

The market is BTC/USDT's real 2021 hours; the simulator fills each market order half at once and
the rest at the next bar's open (its ``partial_fill`` fault), so an order stays open for one bar.
The test moves the market clock itself: it holds the market while an order rests so that the
kill lands on an open order whatever the machine's load (no race with the next bar), and stops
it at the end to see the stale-data badge. Screenshots of each page: see conftest.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import httpx
import pytest

from live.api import KILL_FILE
from live.events import EventStore
from tests.console.conftest import REPO, PageLog, Served, serve, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

KEY, SECRET = "console-key-0123456789", "console-secret-abcdefghij"
READ = "console-read-" + os.urandom(12).hex()
CONTROL = "console-ctl-" + os.urandom(12).hex()
START = "2021-01-10"
SPEED = 360.0  # market seconds per wall second: a 1h bar every 10 s
RUN_ID = "console-e2e"
WAIT = 180.0  # seconds: generous, the machine is shared
MS = 1000.0
HOUR = 3_600_000
HOLD = 30 * 60_000  # market ms before a close where the test takes the clock over (5 s wall)
MAX_BARS = 30


class SimThread:
    """The Binance simulator on its own event loop in a thread (the test moves its clock)."""

    def __init__(self, shared_data: Path) -> None:
        from live.sim.cli import _to_ms, load_candles

        self.start_ms = _to_ms(START)
        self.candles = {"BTCUSDT": load_candles("BTC/USDT", "1h", shared_data, self.start_ms)}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="sim")
        self.thread.start()
        self.sim = self.call(self._start())

    async def _start(self) -> Any:
        from live.sim import start_simulator

        return await start_simulator(
            candles=self.candles,
            api_key=KEY,
            api_secret=SECRET,
            start_ms=self.start_ms,
            market_time=True,
            faults={"partial_fill": {"fraction": 0.5, "times": 1000}},
        )

    def call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(60)

    def run_clock(self) -> None:
        async def go() -> None:
            self.sim.run_clock(speed=SPEED)

        self.call(go())

    def stop_clock(self) -> None:
        async def stop() -> None:
            self.sim.stop_clock()

        self.call(stop())

    def now(self) -> int:
        return int(self.sim.book.now)

    def hold_at(self, ms: int) -> None:
        """Stop the clock and move the market to ``ms`` (if not past it already)."""

        async def go() -> None:
            self.sim.stop_clock()
            if self.sim.book.now < ms:
                self.sim.advance_to(ms)

        self.call(go())

    def step_bar(self, served: Served) -> int:
        """Run the market to the next bar's close, hold it exactly there (a resting order's
        rest fills only when the clock moves again), and wait for the run's decision on the
        bar. Return the bar's open."""
        boundary = (self.now() // HOUR + 1) * HOUR
        self.run_clock()
        wait_until("the market near the close", lambda: self.now() >= boundary - HOLD, WAIT, 0.01)
        self.hold_at(boundary)

        def decided() -> bool:
            page = _api(served, "/events?topic=signals&limit=1")["events"]
            return bool(page) and page[-1]["payload"]["ts"] >= boundary - HOUR

        wait_until("the run's decision on the bar", decided, WAIT, 0.05)
        return boundary - HOUR

    def close(self) -> None:
        self.call(self.sim.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


@pytest.fixture(scope="module")
def world(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The simulator (clock held), a live run against it in its own process, the API."""
    sim = SimThread(shared_data)
    state = tmp_path_factory.mktemp("console-state")
    run = [
        sys.executable, "-c", "from live.cli import main; main()", "run",
        "--venue", "binance", "--mode", "live", "--confirm-live", "binance",
        "--venue-url", sim.sim.url, "--strategy", "sma_cross",
        "--params", "fast=2", "--params", "slow=5", "--state-dir", str(state),
        "risk=conservative", "risk.ops.max_clock_skew_ms=null",
        # One order a day: the run's second entry of the day is refused by this rule.
        "risk.order.max_orders_per_day=1", f"live.run_id={RUN_ID}",
    ]  # fmt: skip
    env = {
        **os.environ,
        "GREKKO_BINANCE_API_KEY": KEY,
        "GREKKO_BINANCE_API_SECRET": SECRET,
        "GREKKO_SHARED_DATA": str(shared_data),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    log_file = state / "runner.log"
    with log_file.open("w") as out:
        proc = subprocess.Popen(run, env=env, stdout=out, stderr=subprocess.STDOUT)
    events = state / RUN_ID / "events.db"

    def started() -> bool:
        assert proc.poll() is None, "the run stopped: " + log_file.read_text()[-3000:]
        if not events.is_file():
            return False
        with EventStore.open(events) as log:
            return any(True for _ in log.read(kinds=["run_started"]))

    try:
        wait_until("the run to start", started, WAIT, every=0.2)
        served = serve(events, READ, CONTROL, stale_bars=2.0)
        api = next(served)
        try:
            yield sim, api, proc, log_file
        finally:
            served.close()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        sim.close()


def _api(served: Served, path: str, token: str = READ) -> Any:
    r = httpx.get(served.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def _login(page: Any, served: Served, token: str) -> None:
    page.goto(served.url + "/")
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("scope").wait_for(timeout=WAIT * MS)


def _text(page: Any, test_id: str) -> str:
    return str(page.get_by_test_id(test_id).inner_text(timeout=WAIT * MS))


def _rows(page: Any, test_id: str) -> int:
    return int(page.locator(f"[data-testid={test_id}] tbody tr").count())


def _shoot(page: Any, artifacts: Path, name: str) -> None:
    page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def _svg_drawn(page: Any, test_id: str) -> bool:
    """The chart's path has points and the SVG takes room on the page."""
    return bool(
        page.evaluate(
            """(id) => {
                const svg = document.querySelector(`[data-testid=${id}]`);
                if (!svg) return false;
                const box = svg.getBoundingClientRect();
                const d = svg.querySelector("path")?.getAttribute("d") ?? "";
                return box.width > 100 && box.height > 20 && (d.match(/L/g) ?? []).length >= 1;
            }""",
            test_id,
        )
    )


def _open_the_run(page: Any, served: Served, artifacts: Path) -> None:
    page.goto(served.url + "/")
    page.get_by_test_id("login").wait_for(timeout=WAIT * MS)
    _shoot(page, artifacts, "01-login")
    _login(page, served, CONTROL)
    assert _text(page, "scope") == "control token"
    page.get_by_test_id("runs").wait_for(timeout=WAIT * MS)
    assert RUN_ID in _text(page, "runs")
    assert f"{RUN_ID} (this one)" in _text(page, "state-runs")
    _shoot(page, artifacts, "02-runs")
    page.get_by_test_id("run-link").click()
    page.get_by_test_id("run-page").wait_for(timeout=WAIT * MS)
    wait_until("the live badge", lambda: _text(page, "live-badge") == "live", WAIT)
    assert _rows(page, "fills") == 0, "the market is held: nothing has traded yet"


def _watch_an_order(page: Any, sim: SimThread, served: Served, artifacts: Path) -> Any:
    """The market moves bar by bar until the run sends an order: half fills at once (a fill
    arrives on the open page), the rest waits at the venue while the test holds the market."""
    for _ in range(MAX_BARS):
        sim.step_bar(served)
        decision = _api(served, "/events?topic=signals&limit=1")["events"][-1]["payload"]
        if decision["intents"]:
            wait_until("the order's first fill", lambda: _api(served, "/fills"), WAIT)
            if _api(served, "/orders?open=true"):
                break
    (resting,) = _api(served, "/orders?open=true")
    assert resting["state"] == "PARTIALLY_FILLED", resting
    wait_until("the fill on the page", lambda: _rows(page, "fills") >= 1, WAIT)
    wait_until("the open order on the page", lambda: _rows(page, "open-orders") == 1, WAIT)
    fills = page.get_by_test_id("fills").inner_text()
    assert resting["symbol"] in fills and resting["side"] in fills
    assert "PARTIALLY_FILLED" in page.get_by_test_id("open-orders").inner_text()
    # The order was shrunk to the venue's lot: a risk decision with its rule, state, reason.
    wait_until("the shrink on the page", lambda: _rows(page, "refusals") >= 1, WAIT)
    refusals = page.get_by_test_id("refusals").inner_text()
    assert "shrink" in refusals and "ACTIVE" in refusals and "qty_precision" in refusals
    wait_until("the equity chart", lambda: _svg_drawn(page, "equity-svg"), WAIT)
    assert _svg_drawn(page, "drawdown-svg")
    # A control token may cancel the open order from its row: a confirmation first (Back does
    # nothing; the kill below is what cancels it).
    page.get_by_test_id("cancel-order").click()
    page.get_by_test_id("confirm-manual-cancel").wait_for(timeout=WAIT * MS)
    assert page.get_by_test_id("manual-submit").is_disabled()  # a reason is required
    page.get_by_test_id("manual-back").click()
    assert page.get_by_test_id("confirm-manual-cancel").count() == 0
    _shoot(page, artifacts, "03-run-open-order")
    return resting


def _kill(page: Any, served: Served, resting: Any, artifacts: Path) -> None:
    """The kill switch: a confirmation step first (cancel does nothing), then HALTED and the
    resting order cancelled."""
    flag = served.events.parent / KILL_FILE
    page.get_by_test_id("kill-button").click()
    page.get_by_test_id("confirm-kill").wait_for(timeout=WAIT * MS)
    assert page.get_by_test_id("confirm-submit").is_disabled()  # a reason is required
    page.get_by_test_id("confirm-cancel").click()
    assert page.get_by_test_id("confirm-kill").count() == 0 and not flag.exists()
    page.get_by_test_id("kill-button").click()
    page.get_by_test_id("confirm-reason").fill("console e2e: stop everything")
    _shoot(page, artifacts, "04-kill-confirm")
    page.get_by_test_id("confirm-submit").click()
    page.get_by_test_id("control-result").wait_for(timeout=WAIT * MS)
    wait_until("HALTED on the page", lambda: _text(page, "risk-state") == "HALTED", WAIT)
    wait_until("the kill on the page", lambda: page.get_by_test_id("kill-engaged").count(), WAIT)
    wait_until("no open order", lambda: _rows(page, "open-orders") == 0, WAIT)
    wait_until(
        "the cancel in the alerts",
        lambda: "1 open order(s) cancelled" in _text(page, "alerts"),
        WAIT,
    )
    assert "kill switch: console e2e: stop everything" in _text(page, "risk-reason")
    orders = _api(served, f"/orders?symbol={resting['symbol']}")
    assert [o["state"] for o in orders if o["client_id"] == resting["client_id"]] == ["CANCELLED"]
    _shoot(page, artifacts, "05-run-halted")


def _resume_then_refuse(page: Any, sim: SimThread, served: Served, artifacts: Path) -> None:
    """Resume (confirmed); the market moves on: the run decides again, and refuses what the
    day's order limit forbids."""
    page.get_by_test_id("resume-button").click()
    page.get_by_test_id("confirm-reason").fill("console e2e: resume")
    page.get_by_test_id("confirm-submit").click()
    wait_until("the kill lifted", lambda: page.get_by_test_id("kill-engaged").count() == 0, WAIT)
    wait_until("the resume in the alerts", lambda: "resumed" in _text(page, "alerts"), WAIT)
    sim.step_bar(served)
    wait_until("not HALTED", lambda: _text(page, "risk-state") != "HALTED", WAIT)
    _shoot(page, artifacts, "06-run-resumed")
    for _ in range(MAX_BARS):
        if "max_orders_per_day" in _text(page, "refusals"):
            break
        sim.step_bar(served)
        if any(
            p["rule"] == "max_orders_per_day"
            for e in _api(served, "/events?topic=signals&limit=1")["events"]
            for p in e["payload"]["planned"]
        ):
            wait_until(
                "the refusal on the page",
                lambda: "max_orders_per_day" in _text(page, "refusals"),
                WAIT,
            )
    assert "max_orders_per_day" in _text(page, "refusals")
    assert "refused by max_orders_per_day" in _text(page, "decisions")
    _shoot(page, artifacts, "07-run-refusal")


def _manual_entry(page: Any, served: Served, artifacts: Path) -> None:
    """A manual entry from the page goes through the run's risk engine: a limit far below the
    market, it is refused with the rule (checked at its price), and the answer shows in the
    alerts."""
    manual = served.events.parent / "manual"
    page.get_by_test_id("manual-enter").click()
    page.get_by_test_id("confirm-manual-enter").wait_for(timeout=WAIT * MS)
    page.get_by_test_id("manual-reason").fill("console e2e: a tiny entry")
    assert page.get_by_test_id("manual-submit").is_disabled()  # an entry needs a quantity
    page.get_by_test_id("manual-qty").fill("0.00001")
    page.get_by_test_id("manual-side").select_option("buy")
    # An algorithm shows its fields and rules out a limit; a limit needs a positive price.
    page.get_by_test_id("manual-algo").select_option("iceberg")
    assert page.get_by_test_id("manual-order-type").is_disabled()
    assert page.get_by_test_id("manual-submit").is_disabled()  # an iceberg needs its clip
    page.get_by_test_id("manual-algo-clip").fill("0.00001")
    assert not page.get_by_test_id("manual-submit").is_disabled()
    page.get_by_test_id("manual-algo").select_option("")
    page.get_by_test_id("manual-order-type").select_option("limit")
    assert page.get_by_test_id("manual-algo").is_disabled()
    assert page.get_by_test_id("manual-submit").is_disabled()
    page.get_by_test_id("manual-limit-price").fill("1000.005")
    _shoot(page, artifacts, "07b-manual-confirm")
    page.get_by_test_id("manual-submit").click()
    assert "risk engine" in _text(page, "manual-result")
    wait_until(
        "the manual entry's answer in the alerts",
        lambda: "manual enter" in _text(page, "alerts"),
        WAIT,
    )
    alerts = _text(page, "alerts")
    assert "manual enter buy 0.00001 BTC/USDT (console e2e: a tiny entry)" in alerts, alerts
    assert "refused by price_band" in alerts, alerts
    assert not list(manual.glob("*.json")), "the runner took the request"
    (answer,) = [
        e["payload"]
        for e in _api(served, "/events?topic=risk&limit=500")["events"]
        if e["kind"] == "manual_order"
    ]
    assert (answer["outcome"], answer["rule"], answer["by"]) == ("refused", "price_band", "api")
    assert (answer["order_type"], answer["limit_price"]) == ("limit", "1000")  # to the tick


def _cancel_a_parent(page: Any, served: Served, artifacts: Path) -> None:
    """A TWAP entry from the page starts a parent (the market is held: no child yet); the
    working orders panel lists it, and its cancel (confirmed, with a reason) stops it."""
    page.get_by_test_id("manual-enter").click()
    page.get_by_test_id("manual-qty").fill("0.0003")
    page.get_by_test_id("manual-side").select_option("buy")
    page.get_by_test_id("manual-algo").select_option("twap")
    page.get_by_test_id("manual-algo-slices").fill("3")
    page.get_by_test_id("manual-algo-over").fill("3h")
    page.get_by_test_id("manual-reason").fill("console e2e: a twap")
    page.get_by_test_id("manual-submit").click()
    wait_until("the parent on the page", lambda: _rows(page, "parents") == 1, WAIT)
    row = _text(page, "parents")
    assert all(s in row for s in ("twap", "buy", "0 / 0.0003 (0%)", "0 / 0", "working")), row
    panel = page.get_by_test_id("parents")
    panel.get_by_test_id("cancel-parent").click()
    assert "Cancel the working parent twap buy 0.0003" in _text(page, "confirm-manual-cancel")
    assert panel.get_by_test_id("manual-submit").is_disabled()  # a reason is required
    panel.get_by_test_id("manual-reason").fill("console e2e: stop the twap")
    panel.get_by_test_id("manual-submit").click()
    assert "risk engine" in str(panel.get_by_test_id("manual-result").inner_text())
    wait_until("the parent cancelled", lambda: "cancelled" in _text(page, "parents"), WAIT)
    assert "cancelled (api: console e2e: stop the twap)" in _text(page, "parents")
    assert panel.get_by_test_id("cancel-parent").count() == 0  # no longer working
    wait_until("the answer in the alerts", lambda: "cancel sent" in _text(page, "alerts"), WAIT)
    alerts = _text(page, "alerts")
    assert "manual cancel buy BTC/USDT (console e2e: stop the twap) → cancel sent" in alerts, alerts
    (parent,) = _api(served, "/orders/parents")
    assert (parent["state"], parent["children_sent"]) == ("cancelled", 0), parent
    _shoot(page, artifacts, "07c-parent-cancelled")


def test_a_trader_watches_kills_and_resumes_a_live_run(
    world: Any, browser: Any, artifacts: Path
) -> None:
    sim, served, proc, log_file = world
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    said = PageLog()
    said.attach(page)

    _open_the_run(page, served, artifacts)
    resting = _watch_an_order(page, sim, served, artifacts)
    _kill(page, served, resting, artifacts)
    _resume_then_refuse(page, sim, served, artifacts)
    _manual_entry(page, served, artifacts)
    _cancel_a_parent(page, served, artifacts)

    # The market stops: the page says its data is stale.
    sim.stop_clock()
    wait_until("the stale badge", lambda: page.get_by_test_id("stale-badge").count(), WAIT)
    assert "stale" in _text(page, "stale-badge")
    _shoot(page, artifacts, "08-run-stale")

    # No console error, and the token never went into a URL or outlived the tab's memory.
    assert not said.errors, said.errors
    assert said.urls and not [u for u in said.urls if CONTROL in u], said.urls
    assert any(u.startswith("ws://") for u in said.urls)
    stored = page.evaluate("() => [JSON.stringify(localStorage), JSON.stringify(sessionStorage)]")
    assert stored == ["{}", "{}"] and context.cookies() == []
    context.close()
    assert proc.poll() is None, log_file.read_text()[-3000:]


def test_a_read_token_sees_the_run_but_cannot_kill(
    world: Any, browser: Any, artifacts: Path
) -> None:
    _, served, _, _ = world
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    said = PageLog()
    said.attach(page)
    page.goto(served.url + "/")
    page.get_by_test_id("token").fill("not-a-token-" + READ)
    page.get_by_test_id("login-submit").click()
    assert "not accepted" in _text(page, "login-error")
    said.errors.clear()  # the browser reports the refused request (401) as a console error

    page.get_by_test_id("token").fill(READ)
    page.get_by_test_id("remember").check()  # this tab only: sessionStorage
    page.get_by_test_id("login-submit").click()
    assert _text(page, "scope") == "read token"
    page.goto(served.url + "/#/run/" + RUN_ID)
    page.get_by_test_id("run-page").wait_for(timeout=WAIT * MS)
    assert page.get_by_test_id("kill-button").count() == 0
    assert page.get_by_test_id("manual-orders").count() == 0
    page.get_by_test_id("parents").or_(page.get_by_test_id("parents-empty")).wait_for()
    assert page.get_by_test_id("cancel-parent").count() == 0
    assert "need a control token" in _text(page, "control-readonly")
    # Straight from the page, with the read token: the API refuses, no flag file appears.
    flag = served.events.parent / KILL_FILE
    status = page.evaluate(
        """async (token) => (await fetch("/kill", {method: "POST",
            headers: {Authorization: `Bearer ${token}`, "Content-Type": "application/json"},
            body: JSON.stringify({reason: "read token", flatten: true})})).status""",
        READ,
    )
    assert status == 403 and not flag.exists()
    # A reload in the same tab keeps the session (asked for); logging out forgets it.
    page.reload()
    page.get_by_test_id("run-page").wait_for(timeout=WAIT * MS)
    assert json.loads(page.evaluate("() => JSON.stringify(sessionStorage)")) != {}
    _shoot(page, artifacts, "09-run-read-only")
    page.get_by_test_id("logout").click()
    page.get_by_test_id("login").wait_for(timeout=WAIT * MS)
    assert page.evaluate("() => sessionStorage.length") == 0
    assert not [e for e in said.errors if "403" not in e], said.errors
    assert not [u for u in said.urls if READ in u]
    context.close()
