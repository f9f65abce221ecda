"""Position stops in the live book, the order model and the paper venue: the engine's trigger
rule and exit price, exits that carry their trigger, and old logs that still read."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, Slippage, Stops
from grekko_research.engine.book import EngineBook, decision_atr
from grekko_research.errors import ConfigError
from live.orders import FillReport, Intent, OrderManager, Rejected
from live.venues.base import OrderRequest
from live.venues.paper import PaperVenue, ReplayFeed

SYM = ("BTC/USDT",)


def _book(stops: Stops, *, slip: float = 0.0) -> EngineBook:
    config = EngineConfig(fees=Fees(taker=0.001), slippage=Slippage("bps", slip), stops=stops)
    book = EngineBook(config, SYM, 0)
    book.fill(0, 1.0, 100.0)  # long 1 at 100: stops armed from the entry price
    return book


def _a(x: float) -> np.ndarray:
    return np.array([x])


def test_a_fill_arms_the_stops_and_a_close_trails_the_peak() -> None:
    book = _book(Stops(stop_loss=0.05, take_profit=0.1, trailing=0.02))
    (lv,) = book.stop_levels()
    assert (lv.stop_loss, lv.take_profit, lv.trailing) == (95.0, pytest.approx(110.0), 98.0)
    book.close_bar(_a(104.0), _a(99.5), _a(103.0), np.zeros(1, bool))
    assert book.stop_levels()[0].trailing == pytest.approx(104.0 * 0.98)


def test_stop_exits_take_the_engines_rule_and_price() -> None:
    book = _book(Stops(stop_loss=0.05, take_profit=0.1), slip=10)
    # Inside the bar: the range reaches the stop: exit at the level, slipped by 10 bps.
    (ex,) = book.stop_exits(_a(99.0), _a(100.0), _a(94.0), at_open=False)
    assert (ex.kind, ex.size, ex.trigger) == ("stop_loss", -1.0, 95.0)
    assert ex.price == pytest.approx(95.0 * (1 - 0.001))
    # Both levels in one bar: pessimistic, the stop.
    (ex,) = book.stop_exits(_a(100.0), _a(111.0), _a(94.0), at_open=False)
    assert ex.kind == "stop_loss"
    # A gap through the take-profit at the open: at the open, no slippage.
    (ex,) = book.stop_exits(_a(112.0), _a(np.inf), _a(-np.inf), at_open=True)
    assert (ex.kind, ex.price, ex.trigger) == ("take_profit", 112.0, 112.0)
    # Nothing reached; no market.
    assert book.stop_exits(_a(100.0), _a(101.0), _a(99.0), at_open=False) == []
    assert book.stop_exits(_a(np.nan), _a(101.0), _a(90.0), at_open=False) == []
    assert book.position(0) == 1.0  # asking changes nothing


def test_a_position_opened_at_this_bars_open_waits_without_on_entry_bar() -> None:
    book = _book(Stops(stop_loss=0.05, on_entry_bar=False))
    assert book.stop_exits(_a(99.0), _a(100.0), _a(90.0), at_open=False) == []
    book.close_bar(_a(100.0), _a(90.0), _a(99.0), np.zeros(1, bool))
    assert len(book.stop_exits(_a(99.0), _a(100.0), _a(90.0), at_open=False)) == 1


def test_an_exit_fill_closes_the_trade_with_the_stops_kind_and_clears_the_stops() -> None:
    book = _book(Stops(stop_loss=0.05))
    trade = book.fill(0, -1.0, 95.0, kind="stop_loss")["trade"]
    assert trade is not None and trade["exit_kind"] == 5.0  # KIND_STOP_LOSS
    assert book.stop_levels() == []
    with pytest.raises(ConfigError, match="fill kind"):
        book.fill(0, 1.0, 95.0, kind="stop")


def test_atr_stops_arm_with_the_decision_bars_atr() -> None:
    config = EngineConfig(stops=Stops(stop_loss=2.0, stop_loss_kind="atr", atr_window=3))
    h, lo, c = (np.array([[11.0], [12.0], [13.0], [14.0]]), np.array([[9.0], [10.0], [11.0], [12.0]]),
                np.array([[10.0], [11.0], [12.0], [13.0]]))  # fmt: skip
    atr = decision_atr(config, h, lo, c)
    assert atr is not None and atr[0] == pytest.approx((2 + 2 + 2) / 3 + (2 - 2) / 3)
    book = EngineBook(config, SYM, 0)
    book.fill(0, 1.0, 100.0, atr=float(atr[0]))
    assert book.stop_levels()[0].stop_loss == pytest.approx(100.0 - 2.0 * atr[0])
    assert decision_atr(EngineConfig(), h, lo, c) is None


def test_an_exits_fields_survive_the_log_and_old_events_still_read() -> None:
    om = OrderManager()
    exit_ = Intent("r", "BTC/USDT", "sell", "1", 1000, seq=30_000, reduce_only=True,
                   tag="stop_loss", trigger_price="95.5", trigger_ts_ms=2000)  # fmt: skip
    plain = Intent("r", "BTC/USDT", "buy", "1", 1000, seq=0)
    events = om.create(exit_, 1) + om.create(plain, 1)
    assert "tag" not in events[1]["payload"] and "reduce_only" not in events[1]["payload"]
    again = OrderManager.replay(
        [{"kind": e["kind"], "stream": e["stream"], "payload": e["payload"], "ts_ms": 1}
         for e in events]
    )  # fmt: skip
    o = again.order(exit_.client_id)
    assert (o.reduce_only, o.tag, o.trigger_price, o.trigger_ts_ms) == (
        True, "stop_loss", Decimal("95.5"), 2000,
    )  # fmt: skip
    assert again.create(exit_, 2) == []  # the same exit again: idempotent, never a second


def _bars() -> Bars:
    col = lambda *v: np.array(v, dtype=np.float64).reshape(-1, 1)  # noqa: E731
    return Bars(
        index=np.array([0, 3_600_000, 7_200_000], dtype=np.int64), symbols=SYM, timeframe="1h",
        open=col(100, 101, 96), high=col(102, 103, 99), low=col(99, 94, 95),
        close=col(101, 96, 98), volume=col(5, 5, 5),
    )  # fmt: skip


def test_the_paper_venue_fills_an_emulated_exit_at_its_trigger_on_its_bar() -> None:
    bars = _bars()
    engine = EngineConfig(init_cash=1000.0, fees=Fees(taker=0.001), slippage=Slippage("bps", 10),
                          allow_short=True)  # fmt: skip
    feed = ReplayFeed(bars)
    venue = PaperVenue(engine, SYM, feed)
    feed.t = 1  # bar 1 has closed; the venue's market is bar 2's open (96)
    req = OrderRequest("c1", "BTC/USDT", "sell", Decimal(1), reduce_only=True,
                       trigger_price=Decimal(95), trigger_ts_ms=3_600_000)  # fmt: skip
    _, fill = asyncio.run(venue.submit(req))
    assert isinstance(fill, FillReport)
    assert float(fill.price) == pytest.approx(95 * (1 - 0.001))  # the level, slipped, on bar 1
    assert venue.account.fills[-1]["ts"] == 3_600_000
    # A take-profit's limit at its level fills there, without slippage; a limit the market
    # has not reached is refused (the paper venue keeps no resting book).
    tp = OrderRequest("c2", "BTC/USDT", "sell", Decimal(1), "limit", Decimal(102),
                      trigger_price=Decimal(102), trigger_ts_ms=0)  # fmt: skip
    assert Decimal(asyncio.run(venue.submit(tp))[1].price) == Decimal("102.0")
    (refused,) = asyncio.run(venue.submit(OrderRequest("c3", "BTC/USDT", "sell", Decimal(1),
                                                       "limit", Decimal(97))))  # fmt: skip
    assert isinstance(refused, Rejected) and "not marketable" in refused.reason
