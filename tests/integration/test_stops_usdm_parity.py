"""Backtest parity with stops held by Binance USD-M.

The live runner (``live.stop_policy.mode=native``) trades real hourly BTC/USDT perpetual bars
against the USD-M simulator on 127.0.0.1 through the real ccxt client: every position's
stop-loss, take-profit and trailing stop go on the venue as three reduce-only algo orders
(``STOP_MARKET``, ``TAKE_PROFIT_MARKET``, ``TRAILING_STOP_MARKET``; USD-M has no OCO), which
the simulator triggers and fills by its own rules (``live/sim/_usdm_algo.py``). The
simulator's market clock moves in lock-step with the bars the runner closes
(:class:`tests.peers.lockstep.LockStep`), so the run is the same under any load. A backtest of
the same bars with ``Stops(trigger="usdm")`` makes the same fills (bar, side, size, price) and
the same stop exits; the engine's bar model does not.

The second test sends the stop-loss as a ``STOP`` with a limit price (``live.stop_policy.
stop_limit``) on bars of one hour in three (each open gaps): a stop-limit a gap triggers past
its limit rests there; the runner leaves it working as the position's exit (no re-placement,
no halt) beside the take-profit and trailing stop, which stay on the venue; and
``Stops(trigger="usdm", stop_limit_offset=...)`` makes the same fills.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, MarketRules, Sizing, backtest
from live.events import EventStore
from live.orders import OrderManager, OrderState, StopPolicy
from live.runner import Runner, RunnerSpec
from live.runner._native import is_native
from live.sim.usdm import start_usdm_simulator
from live.venues.credentials import Credentials
from strategies.atr_stop_trend import AtrStopTrend
from tests.integration.test_stops_native_parity import Fill, same, venue_fills
from tests.integration.test_stops_native_parity import candle_bars as spot_candle_bars
from tests.peers.frames import USDM_BTC_1H
from tests.peers.lockstep import LockStep

KEY, SECRET = "usdm-parity-key", "usdm-parity-secret"
HOUR = 3_600_000
PERP = "BTC/USDT:USDT"
START, BARS = 200, 60  # rows of the USD-M candle file (2023-07 hourly BTC/USDT perpetual)
PARAMS = {"fast": 2, "slow": 5, "stop": 0.004, "stop_kind": "pct", "take_profit": 0.008,
          "take_profit_kind": "pct", "trailing": 0.003, "trailing_kind": "pct"}  # fmt: skip
RULES = MarketRules(lot_size=0.001, tick_size=0.1, min_notional=100.0)  # the simulator's BTCUSDT
FEE = "0.0005"


def engine_config(
    trigger: str, params: dict[str, Any] = PARAMS, stop_limit_offset: float | None = None
) -> EngineConfig:
    """The run's engine configuration: 0.01 BTC an entry, the simulator's one fee rate, the
    strategy's stops with ``trigger`` (and the stop-loss as a stop-limit)."""
    strategy = AtrStopTrend()
    fees = Fees(taker=float(FEE), maker=float(FEE))
    base = EngineConfig(fees=fees, market=RULES, sizing=Sizing("units", 0.01))
    cfg = strategy.configure(base, strategy.params(params))
    stops = replace(cfg.stops, trigger=trigger, stop_limit_offset=stop_limit_offset)
    return replace(cfg, stops=stops)


def candle_bars(frame: pd.DataFrame, symbol: str = PERP) -> Bars:
    return spot_candle_bars(frame, symbol)


def run_native(
    frame: pd.DataFrame, state: Path, params: dict[str, Any], policy: StopPolicy
) -> tuple[list[Any], list[Any], list[Any]]:
    """Run the strategy live over ``frame``'s first ``BARS`` bars against the USD-M simulator
    with ``policy``; return the run's events, the simulator's fills (client id, bar, side,
    quantity, price) and its algo orders."""
    ledger: list[Any] = []
    algos: list[Any] = []
    bars = candle_bars(frame.head(BARS))
    strategy = AtrStopTrend()
    spec = RunnerSpec(
        "usdm-parity", strategy, strategy.params(params), engine_config("bar", params),
        bars.symbols, "1h", grace_ms=300, reconcile_every_ms=10**12, stop_policy=policy,
    )  # fmt: skip

    async def run() -> None:
        sim = await start_usdm_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
            balances={"USDT": "1000000"}, fee_rate=FEE, start_ms=int(frame.timestamp[0]),
        )  # fmt: skip
        venue = LockStep(sim, bars, Credentials(KEY, SECRET))
        store = EventStore.open(state / "events.db")
        try:
            summary = await Runner(spec, venue, store).run()  # type: ignore[arg-type]
            assert summary.halted is None, summary.halted
            ledger.extend(
                (f.client_order_id, f.time - f.time % HOUR, f.side.lower(), f.qty, f.price)
                for f in sim.ledger
            )
            algos.extend(sim.book.algo_orders)
        finally:
            await venue.exchange.close()
            store.close()
            await sim.close()

    asyncio.run(run())
    with EventStore.open(state / "events.db") as log:
        return list(log.read()), ledger, algos


def backtest_fills(
    bars: Bars, trigger: str, params: dict[str, Any] = PARAMS, offset: float | None = None
) -> tuple[list[Fill], list[str]]:
    strategy = AtrStopTrend()
    sig = strategy.signals(bars, strategy.params(params))
    res = backtest(bars, sig, engine_config(trigger, params, offset))
    o = res.orders[res.orders["status"] == "filled"]
    fills = [(int(bars.index[int(b)]), "buy" if s > 0 else "sell", float(z), float(p))
             for b, s, z, p in zip(o.bar, o.side, o["size"], o.price, strict=True)]  # fmt: skip
    stops = ("stop_loss", "take_profit", "trailing_stop")
    return fills, [k for k in o["kind"] if k in stops]


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pd.DataFrame:
    whole = pd.read_csv(shared_data / "ohlcv" / USDM_BTC_1H)
    return whole.iloc[START : START + BARS + 2].reset_index(drop=True)


def test_backtest_with_usdm_triggers_makes_the_native_runs_fills(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    events, ledger, algos = run_native(frame, tmp_path, PARAMS, StopPolicy("native"))
    bars = candle_bars(frame.head(BARS))
    got, fired = venue_fills(events, ledger, int(bars.index[-1]) + HOUR)
    assert not [e for e in events if e.kind in ("stop_triggered", "stop_fallback", "halted")]
    assert {a.type for a in algos} == {"STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
    kinds = set(fired)
    assert kinds == {"stop_loss", "take_profit", "trailing_stop"}, f"all three must fire: {fired}"
    usdm, usdm_kinds = backtest_fills(bars, "usdm")
    assert same(usdm, got), (usdm, got)
    assert usdm_kinds == fired
    bar, bar_kinds = backtest_fills(bars, "bar")
    assert not same(bar, got), "the bar model must differ here, or the test proves nothing"
    first = next((i for i, (x, y) in enumerate(zip(bar, got, strict=False)) if x != y), None)
    print(
        f"\nUSD-M stop parity: {len(got)} fills, stops fired {Counter(fired)}; bar model: "
        f"{len(bar)} fills, stops {Counter(bar_kinds)}, first difference at fill {first}"
    )


# -- the stop-loss as a STOP with a limit price, on gapping bars ----------------------------

GAP_START, GAP_EVERY = 0, 3  # rows of the candle file; one bar of every three hours
OFFSET = 0.001  # the stop-limit's limit lies 0.1 % beyond its stop
RESTS = {  # what a resting stop-limit does on these bars with these stops
    "fills_later": PARAMS | {"stop": 0.004, "take_profit": 0.02, "trailing": 0.02},
    "trailing_fires_beside_it": PARAMS | {"stop": 0.003, "take_profit": 0.01, "trailing": 0.008},
}


@pytest.fixture(scope="module")
def gap_frame(shared_data: Path) -> pd.DataFrame:
    """Real hourly bars of one hour in three, stamped as consecutive hours: each open gaps
    from the previous close by two real hours' move (where a stop-limit and a stop part)."""
    whole = pd.read_csv(shared_data / "ohlcv" / USDM_BTC_1H)
    rows = whole.iloc[GAP_START : GAP_START + GAP_EVERY * (BARS + 2) : GAP_EVERY]
    out = rows.reset_index(drop=True)
    out["timestamp"] = int(out.timestamp[0]) + np.arange(len(out), dtype=np.int64) * HOUR
    return out


@pytest.mark.parametrize("case", sorted(RESTS))
def test_a_triggered_stop_limit_rests_as_the_exit_beside_the_other_algo_orders(
    case: str, gap_frame: pd.DataFrame, tmp_path: Path
) -> None:
    """A gap past the stop-limit's limit triggers the ``STOP`` algo order without a fill: its
    LIMIT order rests. The runner leaves it working as the position's exit: it places no
    second stop-loss for the position and does not halt. USD-M has no OCO, so the
    take-profit and the trailing stop stay on the venue beside it: the resting limit fills
    when a later bar trades through it (``fills_later``), or the trailing stop fires in the
    very bar (``trailing_fires_beside_it``) and the runner cancels the resting limit. The
    backtest with ``Stops(trigger="usdm", stop_limit_offset=...)`` makes the same fills; the
    stop-market model does not."""
    params = RESTS[case]
    policy = StopPolicy("native", stop_limit_offset=OFFSET, stop_limit=True)
    events, ledger, algos = run_native(gap_frame, tmp_path, params, policy)
    bars = candle_bars(gap_frame.head(BARS))
    got, fired = venue_fills(events, ledger, int(bars.index[-1]) + HOUR)
    assert not [e for e in events if e.kind in ("stop_triggered", "stop_fallback", "halted")]
    om = OrderManager.replay(events)
    stops = [o for o in om.orders() if is_native(o) and o.tag == "stop_loss"]
    assert stops and all(o.order_type == "stop_limit" for o in stops)
    entries = [o for o in om.orders() if not is_native(o) and o.side == "buy" and o.filled_qty]
    assert len(stops) == len(entries), "one stop-loss a position: a resting one is not re-placed"
    triggered = {a.client_algo_id: a.update_time - a.update_time % HOUR
                 for a in algos if a.status == "FINISHED"}  # fmt: skip
    filled = {cid: bar for cid, bar, *_ in ledger}
    (rest,) = [  # triggered without a fill in the bar that triggered it
        o for o in stops
        if o.client_id in triggered and filled.get(o.client_id, 1 << 62) > triggered[o.client_id]
    ]  # fmt: skip
    at = triggered[rest.client_id]
    if case == "fills_later":
        assert rest.state is OrderState.FILLED
        assert {p for c, _, _, _, p in ledger if c == rest.client_id} == {rest.limit_price}
    else:
        assert rest.state is OrderState.CANCELLED and rest.filled_qty == 0
        exits = [om.order(c).tag for c, bar, *_ in ledger if bar == at and is_native(om.order(c))]
        assert exits == ["trailing_stop"], exits
    usdm, usdm_kinds = backtest_fills(bars, "usdm", params, OFFSET)
    assert same(usdm, got), (usdm, got)
    assert usdm_kinds == fired
    # The stop-market model: the gap fills the stop-loss (at the open, where the trailing
    # stop fires beside the resting stop-limit: the same price, another exit).
    market, market_kinds = backtest_fills(bars, "usdm", params)
    assert not same(market, got) or market_kinds != fired, "the stop-market model must differ"
    print(f"\nUSD-M stop-limit parity ({case}): {len(got)} fills, stops fired {Counter(fired)}")
