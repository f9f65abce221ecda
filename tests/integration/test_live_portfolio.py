"""Several strategies in one live run: each sleeve books exactly what its own backtest books,
the coordinator's rule decides what the account holds, per-strategy and global limits act
where they belong, a restart changes nothing, and every decision stays attributable."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from grekko_research.config import compose_config
from grekko_research.config.schema import GrekkoConfig, PortfolioStrategyConfig
from grekko_research.data.store import ParquetStore
from grekko_research.engine.layout import TRADE_FIELDS
from grekko_research.errors import ConfigError
from grekko_research.risk.spec import OrderRisk, RiskSpec
from grekko_research.runs import run_backtest
from live.app import plan_run, run_plan
from live.events import Event, EventStore
from live.orders import OrderManager
from live.risk import TradingState
from live.state import fold_run

_T = {n: i for i, n in enumerate(TRADE_FIELDS)}

COMMON = [
    "data.start=2021-01-04",
    "data.end=2021-01-25",  # three weeks of real hourly BTC/USDT bars
    "engine.taker_fee=0.001",
    "engine.slippage=bps",
    "engine.slippage_value=5",
]
SMA = PortfolioStrategyConfig(name="sma_cross", id="trend", params={"fast": 5, "slow": 20},
                              weight=2.0, risk={"portfolio": {"drawdown": {"flatten_at": 0.2}}})  # fmt: skip
BOLL = PortfolioStrategyConfig(name="bollinger_breakout", id="breakout",
                               params={"window": 20, "k": 1.5}, weight=1.0,
                               engine={"sizing": "percent", "sizing_value": 0.8})  # fmt: skip
RSI = PortfolioStrategyConfig(name="rsi_mean_reversion", id="reversion",
                              params={"period": 14, "lower": 35, "upper": 55}, weight=1.0)  # fmt: skip


def _cfg(tmp_path: Path, *entries: PortfolioStrategyConfig, **portfolio: Any) -> GrekkoConfig:
    cfg = compose_config([*COMMON, f"live.state_dir={tmp_path}"])
    p = replace(cfg.portfolio, name="test", strategies=list(entries), **portfolio)
    return replace(cfg, portfolio=p)


def _run(cfg: GrekkoConfig, store: Path, **kw: Any) -> list[Event]:
    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=ParquetStore(store), **kw)
    assert summary.halted is None
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        return list(log.read())


def _decisions(events: list[Event]) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.kind == "decision"]


def _sleeve_trades(events: list[Event], sid: str) -> list[dict[str, Any]]:
    return [e.payload for e in events if e.kind == "trade_closed" and e.stream == f"strategy:{sid}"]


@pytest.fixture(scope="module")
def sum_run(research_store: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Event]:
    tmp = tmp_path_factory.mktemp("portfolio-sum")
    return _run(_cfg(tmp, SMA, BOLL, RSI, rule="sum", max_position=0.45), research_store)


def test_each_sleeve_books_exactly_its_own_backtest(
    sum_run: list[Event], research_store: Path, tmp_path: Path
) -> None:
    """The sleeve's closed trades (bars, prices, size, P&L, fees) equal ``grekko backtest`` of
    that strategy alone, with the sleeve's capital and its overrides."""
    started = next(e.payload for e in sum_run if e.kind == "run_started")
    capital = {s["id"]: s["capital"] for s in started["strategies"]}
    assert capital == {"trend": 5000.0, "breakout": 2500.0, "reversion": 2500.0}  # weights 2:1:1
    overrides = {
        "trend": ["strategy=sma_cross", "strategy.params.fast=5", "strategy.params.slow=20",
                  "risk.portfolio.drawdown.flatten_at=0.2"],
        "breakout": ["strategy=bollinger_breakout", "strategy.params.window=20",
                     "strategy.params.k=1.5", "engine.sizing=percent", "engine.sizing_value=0.8"],
        "reversion": ["strategy=rsi_mean_reversion", "strategy.params.lower=35"],
    }  # fmt: skip
    for sid, extra in overrides.items():
        cfg = compose_config([*COMMON, *extra, f"engine.init_cash={capital[sid]}"])
        bt = run_backtest(cfg, store=ParquetStore(research_store))
        rec = bt.result.trade_records
        closed = rec[rec[:, _T["is_open"]] == 0]
        got = _sleeve_trades(sum_run, sid)
        assert len(closed) >= 2, f"{sid} must trade to prove anything"
        assert len(got) == len(closed), sid
        for g, want in zip(got, closed, strict=True):
            for name in ("entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl"):
                assert g[name] == float(want[_T[name]]), (sid, name, g, want)
        last = [e.payload for e in sum_run if e.kind == "bar_closed"][-1]
        assert last["sleeves"][sid]["equity"] == bt.result.final_equity, sid


def test_sum_rule_account_follows_the_capped_sum(sum_run: list[Event]) -> None:
    decisions = _decisions(sum_run)
    equity = {e.payload["ts"]: e.payload["equity"] for e in sum_run if e.kind == "bar_closed"}
    traded = capped = 0
    previous: list[float] | None = None
    for d in decisions:
        m = d["merge"]
        targets = np.array(m["targets"])
        raw = targets.sum(axis=0)
        assert m["raw"] == pytest.approx(raw.tolist(), abs=1e-12)
        price = d["prices"][0]
        for j, cap in enumerate(m["capped"]):
            if cap == "position":
                capped += 1
                assert abs(m["target"][j]) < abs(raw[j])
            else:
                assert m["target"][j] == pytest.approx(raw[j], abs=1e-12)
        # The account got to the previous merged target (to the lot) before this decision.
        if previous is not None:
            assert m["held"] == pytest.approx(previous, abs=1e-5)
        previous = m["target"]
        traded += bool(d["intents"])
        if price is not None:  # the cap: 45 % of the account's equity
            assert all(abs(t) * price <= 0.45 * equity[d["ts"]] + 1e-6 for t in m["target"])
    assert traded >= 10 and capped >= 1, (traded, capped)
    # Netting: the account traded less than the sleeves did in total.
    om = OrderManager.replay(sum_run)
    account = sum(float(f.qty) for f in om.fills())
    sleeves = sum(
        abs(b["size"])
        for d in decisions
        for part in d["strategies"].values()
        for b in part["booked"]
    )
    assert 0 < account < sleeves


def test_rules_change_the_account_not_the_sleeves(
    sum_run: list[Event], research_store: Path, tmp_path: Path
) -> None:
    """Under ``unanimous`` the account holds only what every sleeve holds (the smallest), under
    ``vote`` the weighted majority's mean; either way each sleeve's own record is unchanged."""
    runs = {}
    sleeves = {"unanimous": (SMA, BOLL), "vote": (SMA, BOLL, RSI)}
    for rule in ("unanimous", "vote"):
        runs[rule] = _run(_cfg(tmp_path / rule, *sleeves[rule], rule=rule), research_store)
        for sid in [s.id for s in sleeves[rule] if s.id]:
            # Capital differs (vote/unanimous: each sleeve sizes for the whole account), so
            # compare entries and exits, not sizes.
            a = [(t["entry_bar"], t["exit_bar"]) for t in _sleeve_trades(sum_run, sid)]
            b = [(t["entry_bar"], t["exit_bar"]) for t in _sleeve_trades(runs[rule], sid)]
            assert a == b, (rule, sid)
    held_somewhere = {"unanimous": 0, "vote": 0}
    for rule, events in runs.items():
        weights = np.array([s.weight for s in sleeves[rule]])
        for d in _decisions(events):
            t = np.array(d["merge"]["targets"])[:, 0]
            got = d["merge"]["raw"][0]  # the rule's answer (then capped at the leverage)
            if d["merge"]["capped"][0] is None:
                assert d["merge"]["target"][0] == got
            else:
                assert 0 < d["merge"]["target"][0] < got
            if rule == "unanimous":
                want = t.min() if np.all(t > 0) else 0.0
            else:
                long = weights[t > 0].sum() > 0.5 * weights.sum()
                want = float(np.dot(weights[t > 0], t[t > 0]) / weights[t > 0].sum()) if long else 0
            assert got == pytest.approx(want, abs=1e-12), (rule, d["ts"])
            held_somewhere[rule] += got != 0
    assert held_somewhere["unanimous"] >= 1
    assert held_somewhere["vote"] > held_somewhere["unanimous"]


def test_the_account_never_targets_more_than_it_can_carry(
    research_store: Path, tmp_path: Path
) -> None:
    """Two sleeves each given the whole account's capital: their sum is capped at the account's
    leverage (1: its equity) by default, so the venue never refuses for lack of funds."""
    a = replace(SMA, id="a", capital=10_000.0, risk={})
    b = replace(SMA, id="b", params={"fast": 8, "slow": 30}, capital=10_000.0, risk={})
    events = _run(_cfg(tmp_path, a, b, rule="sum"), research_store)
    equity = {e.payload["ts"]: e.payload["equity"] for e in events if e.kind == "bar_closed"}
    gross = 0
    for d in _decisions(events):
        price = d["prices"][0]
        if price is not None:
            assert abs(d["merge"]["target"][0]) * price <= equity[d["ts"]] * (1 + 1e-9)
        gross += "gross" in d["merge"]["capped"]
    assert gross >= 1
    assert not [e for e in events if e.kind == "order_rejected"]


def test_strategies_on_their_own_symbols(research_store: Path, tmp_path: Path) -> None:
    """A BTC trend strategy and an ETH mean-reversion strategy share a two-symbol account:
    each books exactly its own single-symbol backtest, abstains on the other's symbol, and the
    account trades both."""
    btc = replace(SMA, id="btc_trend", risk={}, symbols=["BTC/USDT"])
    eth = replace(RSI, id="eth_reversion", symbols=["ETH/USDT"])
    cfg = _cfg(tmp_path, btc, eth, rule="unanimous")
    cfg = replace(cfg, data=replace(cfg.data, symbols=["BTC/USDT", "ETH/USDT"]))
    events = _run(cfg, research_store)
    cases = {
        "btc_trend": ["data.symbol=BTC/USDT", "strategy=sma_cross", "strategy.params.fast=5",
                      "strategy.params.slow=20"],
        "eth_reversion": ["data.symbol=ETH/USDT", "strategy=rsi_mean_reversion",
                          "strategy.params.lower=35"],
    }  # fmt: skip
    for sid, extra in cases.items():
        bt = run_backtest(
            compose_config([*COMMON, *extra, "engine.init_cash=10000"]),
            store=ParquetStore(research_store),
        )
        rec = bt.result.trade_records
        closed = rec[rec[:, _T["is_open"]] == 0]
        got = _sleeve_trades(events, sid)
        assert len(closed) >= 2 and len(got) == len(closed), sid
        for g, want in zip(got, closed, strict=True):
            for name in ("entry_bar", "exit_bar", "entry_price", "size", "pnl"):
                assert g[name] == float(want[_T[name]]), (sid, name)
    for d in _decisions(events):
        targets = d["merge"]["targets"]
        assert targets[0][1] is None and targets[1][0] is None  # each abstains on the other's
        for j in (0, 1):  # unanimous among those who vote: the one sleeve trading the symbol
            own = targets[j][j]
            assert d["merge"]["raw"][j] == pytest.approx(own if own else 0.0, abs=1e-12)
    traded = {OrderManager.replay(events).order(f.client_id).symbol
              for f in OrderManager.replay(events).fills()}  # fmt: skip
    assert traded == {"BTC/USDT", "ETH/USDT"}


def test_per_strategy_and_global_limits(research_store: Path, tmp_path: Path) -> None:
    """A sleeve's own ``risk.order`` shrinks its orders only; the run's ``risk.order`` shrinks the
    account's orders only."""
    free = replace(SMA, id="free", risk={})
    tight = replace(SMA, id="tight", risk={"order": {"max_notional": 800.0}})
    cfg = _cfg(tmp_path, free, tight, rule="sum")
    cfg = replace(cfg, risk=replace(cfg.risk, order=replace(cfg.risk.order, max_notional=3000.0)))
    events = _run(cfg, research_store)
    booked = {"free": [], "tight": []}
    for d in _decisions(events):
        for sid, part in d["strategies"].items():
            # entries only: a check on order size lets every closing order through
            booked[sid] += [b["size"] * b["price"] for b in part["booked"] if b["size"] > 0]
    assert max(booked["tight"]) <= 800.0 + 1e-6
    assert max(booked["free"]) > 3000.0  # the global limit does not reach into a sleeve
    shrunk = [e for e in events if e.kind == "risk_decision" and e.payload["action"] == "shrink"]
    by_sleeve = [e for e in shrunk if e.stream.startswith("strategy:tight:")]
    by_account = [e for e in shrunk if not e.stream.startswith("strategy:")]
    assert by_sleeve and all(e.payload["rule"] == "max_notional" for e in by_sleeve)
    assert not [e for e in shrunk if e.stream.startswith("strategy:free:")]
    assert by_account
    om = OrderManager.replay(events)
    buys = [o for o in om.orders() if o.side == "buy"]
    for order in buys:  # entries shrunk at the reference price; fills slip by 5 bps
        px = next(f.price for f in om.fills(order.client_id))
        assert float(order.qty * px) <= 3000.0 * 1.001


class _Crash(Exception):
    pass


def test_restart_mid_run_changes_nothing(
    sum_run: list[Event], research_store: Path, tmp_path: Path
) -> None:
    """Stopped right after a decision in which sleeves booked fills (the restart must book them
    again from the log), then killed before a later decision's intents are persisted, the run
    ends with the same sleeve trades, account fills and targets."""
    cfg = _cfg(tmp_path, SMA, BOLL, RSI, rule="sum", max_position=0.45)
    decisions = _decisions(sum_run)
    stop = next(
        i + 1
        for i, d in enumerate(decisions)
        if i > 50 and sum(len(p["booked"]) for p in d["strategies"].values()) >= 1
    )
    plan = plan_run(cfg, replay=True)
    run_plan(
        replace(plan, spec=replace(plan.spec, max_bars=stop)), store=ParquetStore(research_store)
    )
    calls = {"n": 0}

    def hook(point: str) -> None:
        if point == "before_intent":
            calls["n"] += 1
            if calls["n"] == 5:
                raise _Crash(point)

    with pytest.raises(_Crash):
        run_plan(plan, store=ParquetStore(research_store), hook=hook)
    events = _run(cfg, research_store)
    assert sum(e.kind == "run_resumed" for e in events) == 2
    for sid in ("trend", "breakout", "reversion"):
        assert _sleeve_trades(events, sid) == _sleeve_trades(sum_run, sid), sid

    def fills(ev: list[Event]) -> list[tuple[Any, ...]]:
        om = OrderManager.replay(ev)
        return [(f.ts_ms, om.order(f.client_id).side, f.qty, f.price) for f in om.fills()]

    assert fills(events) == fills(sum_run)
    assert [d["merge"]["target"] for d in _decisions(events)] == [
        d["merge"]["target"] for d in _decisions(sum_run)
    ]


def test_a_log_is_resumed_only_by_its_own_strategies(
    sum_run: list[Event], research_store: Path, tmp_path: Path
) -> None:
    first = _cfg(tmp_path, SMA, BOLL)
    first = replace(first, live=replace(first.live, run_id="same", max_bars=30))
    _run(first, research_store)
    other = replace(first, portfolio=replace(first.portfolio, strategies=[SMA, RSI]))
    with pytest.raises(ConfigError, match=r"\[.trend., .breakout.\].*\[.trend., .reversion.\]"):
        _run(other, research_store)
    single = replace(compose_config([*COMMON, f"live.state_dir={tmp_path}"]), live=first.live)
    with pytest.raises(ConfigError, match="one strategy"):
        _run(single, research_store)


def test_a_failing_strategy_halts_its_sleeve_only(
    sum_run: list[Event], research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strategies.bollinger_breakout import BollingerBreakout

    calls = {"n": 0}
    original = BollingerBreakout.signals

    def flaky(self: Any, bars: Any, params: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= 200:
            raise ZeroDivisionError("broken indicator")
        return original(self, bars, params)

    monkeypatch.setattr(BollingerBreakout, "signals", flaky)
    events = _run(_cfg(tmp_path, SMA, BOLL, RSI, rule="sum", max_position=0.45), research_store)
    states = [e.payload for e in events if e.kind == "risk_state" and e.stream == "risk:breakout"]
    assert states and states[-1]["state"] == "HALTED"
    assert "broken indicator" in states[-1]["reason"]
    assert not [e for e in events if e.kind == "risk_state" and e.stream == "risk"]
    errors = [d["strategies"]["breakout"].get("error") for d in _decisions(events)]
    assert errors[198] is None and "ZeroDivisionError" in str(errors[199])
    # The other sleeves go on exactly as before.
    for sid in ("trend", "reversion"):
        assert _sleeve_trades(events, sid) == _sleeve_trades(sum_run, sid)
    # `grekko-live resume` lifts the strategy's halt too; a restart picks it up from the log.
    from typer.testing import CliRunner

    from live.app import make_plan_venue
    from live.cli import app
    from live.runner import Runner

    plan = plan_run(_cfg(tmp_path, SMA, BOLL, RSI, rule="sum", max_position=0.45), replay=True)
    out = CliRunner().invoke(app, ["resume", "--events", plan.events, "--reason", "fixed"])
    assert out.exit_code == 0 and "strategies ['breakout']" in out.stdout, out.stdout

    async def restart() -> TradingState:
        venue = make_plan_venue(plan, store=ParquetStore(research_store))
        with EventStore.open(plan.events) as log:
            runner = Runner(plan.spec, venue, log)
            runner._restore()
            await venue.close()
            return runner.sleeves[1].risk.state

    assert asyncio.run(restart()) is TradingState.ACTIVE


def test_status_and_api_attribute_to_each_strategy(sum_run: list[Event], tmp_path: Path) -> None:
    from live.api import ApiTokens, FlagFileControl, LogHub, create_app

    fold = fold_run(sum_run)
    assert set(fold.sleeves) == {"trend", "breakout", "reversion"}
    for sid, sleeve in fold.sleeves.items():
        trades = _sleeve_trades(sum_run, sid)
        assert sleeve.closed_trades == len(trades)
        assert sleeve.realised_pnl == pytest.approx(sum(t["pnl"] for t in trades))
    # The account's own trades are not the sleeves' (no double counting).
    account = [e for e in sum_run if e.kind == "trade_closed" and not e.stream.startswith("strat")]
    assert fold.closed_trades == len(account)
    path = tmp_path / "events.db"
    with EventStore.open(str(path)) as log:
        log.append_many([(e.kind, e.stream, e.payload, e.ts_ms) for e in sum_run])
    hub = LogHub(path, poll_s=0.01)
    app = create_app(hub, FlagFileControl(tmp_path), ApiTokens.of(["r" * 32], []))
    with TestClient(app) as client:
        auth = {"Authorization": "Bearer " + "r" * 32}
        got = client.get("/strategies", headers=auth).json()
        metrics = client.get("/metrics", headers=auth).text
    hub.close()
    # The trade counter counts the account's trades, not the sleeves' as well.
    (line,) = [x for x in metrics.splitlines() if x.startswith("grekko_closed_trades_total ")]
    assert float(line.split()[1]) == len(account)
    # Each strategy's own figures, labelled by its id.
    for sid, sleeve in fold.sleeves.items():
        (eq,) = [x for x in metrics.splitlines()
                 if x.startswith(f'grekko_strategy_equity{{strategy="{sid}"}}')]  # fmt: skip
        assert float(eq.split()[1]) == pytest.approx(sleeve.equity)
        (pnl,) = [x for x in metrics.splitlines()
                  if x.startswith(f'grekko_strategy_realised_pnl{{strategy="{sid}"}}')]  # fmt: skip
        assert float(pnl.split()[1]) == pytest.approx(sleeve.realised_pnl)
    by_id = {s["id"]: s for s in got[0]["strategies"]}
    assert by_id["trend"]["strategy"] == "sma_cross" and by_id["trend"]["weight"] == 2.0
    assert by_id["trend"]["closed_trades"] == fold.sleeves["trend"].closed_trades
    assert by_id["breakout"]["equity"] == fold.sleeves["breakout"].equity


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rule": "average"}, "portfolio.rule"),
        ({"quorum": 1.5}, "portfolio.quorum"),
        ({"strategies": [SMA, replace(BOLL, id="trend")]}, "unique"),
        ({"strategies": [replace(SMA, risk={"max_drawdwn": 0.1})]}, "max_drawdwn"),
        ({"strategies": [replace(SMA, risk={"order": {"max_order": 1}})]}, "risk.order"),
        ({"strategies": [replace(SMA, params={"fastt": 5})]}, "strategies[0]"),
        ({"strategies": [replace(SMA, capital=-1.0)]}, "capital"),
        ({"strategies": [replace(SMA, name="models:/x@live")]}, "its own parameters"),
        ({"strategies": [replace(SMA, symbols=["DOGE/USDT"])]}, "among the run's"),
    ],
)
def test_bad_portfolios_are_refused_by_name(
    change: dict[str, Any], message: str, tmp_path: Path
) -> None:
    cfg = _cfg(tmp_path, SMA, BOLL)
    cfg = replace(cfg, portfolio=replace(cfg.portfolio, **change))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        plan_run(cfg, replay=True)


def test_portfolio_from_the_config_group(tmp_path: Path) -> None:
    cfg = compose_config(["portfolio=trend_and_reversion", f"live.state_dir={tmp_path}"])
    plan = plan_run(cfg, replay=True)
    assert [s.id for s in plan.spec.sleeves] == ["sma_cross", "bollinger_breakout",
                                                 "rsi_mean_reversion"]  # fmt: skip
    assert plan.spec.sleeves[0].engine.risk.portfolio.drawdown.flatten_at == 0.2
    # Each sleeve's own risk engine has only what its entry sets.
    risks = [s.risk for s in plan.spec.sleeves]
    assert all(isinstance(r, RiskSpec) for r in risks)
    assert [r.order for r in risks if isinstance(r, RiskSpec)] == [
        OrderRisk(),
        OrderRisk(),
        OrderRisk(max_orders=10),
    ]
    assert math.isclose(sum(s.engine.init_cash for s in plan.spec.sleeves), 10_000.0)
    # The portfolio does not change the backtest's configuration id.
    assert plan.spec.config_id == plan_run(compose_config([]), replay=True).spec.config_id
