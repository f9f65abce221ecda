"""A live run says what it does: the error-rate breaker names the calls that failed (through
the real ccxt client against the local simulator), and ``grekko-live run`` / ``replay`` print
one line per decision, order, fill, refusal and state change as the log records them."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.engine import EngineConfig
from grekko_research.risk.spec import OpsRisk, RiskSpec
from grekko_research.strategy import get_strategy
from live.cli import app
from live.events import EventStore
from live.risk import TradingState
from live.runner import Runner, RunnerSpec
from live.sim import Simulator
from live.venues import CcxtVenue, RetryLater
from live.venues.errors import VenueError
from tests.integration.test_venue_health import run

pytestmark = pytest.mark.timeout(180)

RANGE = ["data.start=2021-01-04", "data.end=2021-01-20"]


def test_an_error_rate_halt_names_the_failed_calls(
    btc: pd.DataFrame, eth: pd.DataFrame, tmp_path: Path
) -> None:
    """Three timed-out balance reads and a timed-out open-orders read trip ``error_rate``
    (limit 3): the halt, its breach and the console line say which calls and why."""
    risk = RiskSpec(ops=OpsRisk(max_errors=3, error_window_s=600, action="halt"))
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 3, "slow": 8})
    spec = RunnerSpec(
        "errors", strategy, params, strategy.configure(EngineConfig(), params), ("BTC/USDT",),
        "1h", risk=risk, kill_file=None,
    )  # fmt: skip

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        store = EventStore.open(tmp_path / "events.db")
        runner = Runner(spec, venue, store)
        try:
            await runner.start()
            sim.set_fault("latency", times=3, path="/api/v3/account", seconds=1.5)
            sim.set_fault("latency", times=1, path="/api/v3/openOrders", seconds=1.5)
            for _ in range(3):
                with pytest.raises(VenueError):
                    await venue.balances()
            with pytest.raises(RetryLater):
                await venue.open_orders(["BTC/USDT"])
            assert await runner.check_ops() is True
            assert runner.risk.state is TradingState.HALTED
            reason = str(runner.risk.reason)
            assert reason.startswith("error_rate: 4 (limit 3)"), reason
            assert "fetch_balance ×3 (RequestTimeout)" in reason, reason
            assert "fetch_open_orders ×1 (RequestTimeout)" in reason, reason
            breach = [e.payload for e in store.read(kinds=["risk_breach"])]
            assert breach[-1]["reason"] == reason
        finally:
            store.close()

    run(btc, eth, scenario)
    # What the run's console showed for it (the same lines `grekko-live run` prints).
    from live.console import EventLines

    lines = EventLines("alerts")
    with EventStore.open(tmp_path / "events.db") as log:
        shown = [line for e in log.read() for line in lines.lines(e)]
    assert any("fetch_balance ×3 (RequestTimeout)" in s and "HALTED" in s for s in shown), shown


def _cli(args: list[str], store: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"GREKKO_DATA_DIR": str(store), "COLUMNS": "80"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_a_replay_prints_its_orders_fills_and_a_summary_of_its_bars(
    research_store: Path, tmp_path: Path
) -> None:
    """``replay`` (default ``--show trades``) prints each decision that acts, each order, each
    fill and each closed trade as a line with its UTC time, and summarises the bars instead of
    printing 384 of them; ``--show alerts`` prints none of those, ``--show all`` every bar."""
    args = ["replay", "--strategy", "sma_cross", "--params", "fast=5", "--params", "slow=20",
            "--state-dir", str(tmp_path), *RANGE]  # fmt: skip
    code, out, err = _cli(args, research_store)
    assert code == 0, err
    events = out.strip().splitlines()[-1]
    with EventStore.open(events) as log:
        logged = list(log.read())
    fills = [e for e in logged if e.kind == "order_fill"]
    orders = [e for e in logged if e.kind == "order_created"]
    assert len(fills) == len(orders) > 4
    lines = err.splitlines()
    stamp = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ "
    fill_lines = [s for s in lines if re.match(stamp + "fill ", s)]
    order_lines = [s for s in lines if re.match(stamp + "order ", s)]
    assert len(fill_lines) == len(fills) and len(order_lines) == len(orders)
    first = fills[0]
    assert fill_lines[0].startswith(pd.Timestamp(first.ts_ms, unit="ms").strftime("%Y-%m-%d %H"))
    assert first.stream[:8] in fill_lines[0] and "BTC/USDT @ " in fill_lines[0]
    assert sum(bool(re.match(stamp + "decide (buy|sell) ", s)) for s in lines) == len(orders)
    assert sum("trade closed" in s for s in lines) == sum(e.kind == "trade_closed" for e in logged)
    bar_lines = [s for s in lines if re.match(stamp + "bars? ", s)]
    assert 1 <= len(bar_lines) < 50, "384 bars are summarised, not printed one by one"
    assert "-384 (the last opened 2021-01-19 23:00Z): equity" in bar_lines[-1]
    assert not [s for s in lines if "e-" in s.split("Z ", 1)[-1]], "no exponent noise"

    code, out, err = _cli([*args, "--run-id", "quiet", "--show", "alerts"], research_store)
    assert code == 0 and not re.search(stamp + "(fill|order|decide|bar)", err, re.M), err
    code, out, err = _cli([*args, "--run-id", "loud", "--show", "all"], research_store)
    assert code == 0 and len(re.findall(stamp + "bar ", err, re.M)) == 384


def test_a_refusal_and_a_halt_are_printed_with_the_rule_and_the_reason(
    research_store: Path, tmp_path: Path
) -> None:
    """A risk limit that refuses every entry: each refusal is a line naming the rule; status
    shows the refusals and the risk state, times UTC."""
    args = ["replay", "--strategy", "sma_cross", "--params", "fast=5", "--params", "slow=20",
            "--state-dir", str(tmp_path), "risk.order.min_notional=1000000", *RANGE]  # fmt: skip
    code, out, err = _cli(args, research_store)
    assert code == 0, err
    events = out.strip().splitlines()[-1]
    with EventStore.open(events) as log:
        refused = [e for e in log.read(kinds=["risk_decision"]) if e.payload["action"] == "reject"]
    assert refused
    shown = [s for s in err.splitlines() if "refused by risk rule min_notional" in s]
    assert len(shown) == len(refused), err
    assert "buy" in shown[0] and "BTC/USDT" in shown[0] and "(limit 1e+06)" in shown[0]

    code, out, _ = _cli(["status", "--events", events], research_store)
    assert code == 0
    assert re.search(r"risk\s+ACTIVE", out) and "last refusals" in out
    assert "risk min_notional" in out and "2021-01-" in out and "Z" in out
    tables = [line for line in out.splitlines() if not line.startswith("log integrity")]
    assert all(len(line) <= 80 for line in tables), out
