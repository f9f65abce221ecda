"""The execution-quality maths on hand-built event sequences: every number worked out by hand."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
from prometheus_client import CollectorRegistry

from live.quality import (
    QualityFold,
    QualityMetrics,
    order_kind,
    quality_table,
    size_bucket,
    summarize,
)

H = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % H  # a bar open, 22:00 UTC (orders at 23:00)


def ev(kind: str, payload: dict[str, Any], ts: int, stream: str = "runner") -> SimpleNamespace:
    return SimpleNamespace(kind=kind, stream=stream, payload=payload, ts_ms=ts)


def bar(ts: int, opens: list[float], closes: list[float], filled: list[bool] | None = None):
    rows = [opens, opens, closes, closes, [1.0] * len(opens)]
    return ev("bar_closed", {"ts": ts, "bar": rows, "filled": filled or [False] * len(opens)}, ts)


def created(cid: str, symbol: str, side: str, qty: str, seq: int, ts: int, **kw: Any):
    p = {"run_id": "r", "symbol": symbol, "side": side, "order_type": kw.get("type", "market"),
         "qty": qty, "limit_price": kw.get("limit"), "decision_ts_ms": kw.get("decision", T0),
         "seq": seq}  # fmt: skip
    return ev("order_created", p, ts, cid)


def step(kind: str, cid: str, ts: int, **p: Any) -> SimpleNamespace:
    return ev(kind, p, ts, cid)


def fill(cid: str, ts: int, qty: str, price: str, to: str, fee: str, asset: str):
    p = {"to": to, "trade_id": f"t{ts}", "qty": qty, "price": price, "fee": fee,
         "fee_asset": asset, "source": "rest"}  # fmt: skip
    return ev("order_fill", p, ts, cid)


START = ev(
    "run_started",
    {"run_id": "r", "venue": "binance", "mode": "live", "symbols": ["BTC/USDT", "ETH/USDT"],
     "timeframe": "1h"},
    T0,
)  # fmt: skip


def run_events() -> list[SimpleNamespace]:
    """Bar T0 decided at T0+H+10: buy 2 BTC (market, two fills), sell 4 ETH (limit, 1 filled,
    the rest cancelled); bar T0+H opens at 100.5 / 2010; then a kill switch's flatten of BTC
    (its bar's decision did not price it: arrival from the last close) that is rejected."""
    d = T0 + H + 10
    decision = {
        "ts": T0,
        "prices": [100.0, 2000.0],
        "planned": [
            {"symbol": "BTC/USDT", "size": 2.0, "price": 100.1, "kind": "market",
             "status": "filled", "rule": None},
            {"symbol": "ETH/USDT", "size": -4.0, "price": 1999.0, "kind": "market",
             "status": "filled", "rule": None},
        ],
        "intents": ["b", "e"],
    }  # fmt: skip
    return [
        START,
        bar(T0, [99.0, 1990.0], [99.5, 1995.0]),
        ev("decision", decision, d),
        created("b", "BTC/USDT", "buy", "2", 0, d),
        created("e", "ETH/USDT", "sell", "4", 100, d, type="limit", limit="2005"),
        step("order_submitted", "b", d + 5, to="SUBMITTED"),
        step("order_acknowledged", "b", d + 25, to="ACKNOWLEDGED", venue_order_id="1"),
        fill("b", d + 30, "0.5", "100", "PARTIALLY_FILLED", "0.001", "BTC"),
        fill("b", d + 70, "1.5", "102", "FILLED", "0.2", "USDT"),
        step("order_submitted", "e", d + 6, to="SUBMITTED"),
        step("order_acknowledged", "e", d + 16, to="ACKNOWLEDGED", venue_order_id="2"),
        fill("e", d + 1000, "1", "2010", "PARTIALLY_FILLED", "2.01", "USDT"),
        bar(T0 + H, [100.5, 2010.0], [101.0, 2020.0]),
        step("order_cancelled", "e", d + 5000, to="CANCELLED", reason="cancelled by the runner"),
        created("k", "BTC/USDT", "sell", "2", 20_000, d + 6000, decision=T0),
        step("order_submitted", "k", d + 6001, to="SUBMITTED"),
        step("order_rejected", "k", d + 6003, to="REJECTED", reason="insufficient balance"),
    ]


def test_each_column_of_each_order() -> None:
    t = quality_table(run_events()).set_index("client_id")
    b, e, k = t.loc["b"], t.loc["e"], t.loc["k"]
    # BTC buy: VWAP (0.5 × 100 + 1.5 × 102) / 2 = 101.5 against 100 at arrival, 100.5 the
    # next open, 100.1 the engine's planned fill.
    assert b.fill_price == 101.5 and b.filled_qty == 2.0 and b.fill_ratio == 1.0
    assert (b.arrival_price, b.model_price, b.plan_price) == (100.0, 100.5, 100.1)
    assert b.slip_arrival_bps == pytest.approx(150.0)
    assert b.slip_model_bps == pytest.approx((101.5 - 100.5) / 100.5 * 1e4)
    assert b.slip_plan_bps == pytest.approx((101.5 - 100.1) / 100.1 * 1e4)
    # Fees: 0.001 BTC at its fill's 100 = 0.1 USDT, plus 0.2 USDT, over 203 USDT of notional.
    assert b.fee_quote == pytest.approx(0.3) and b.notional == 203.0
    assert b.fee_bps == pytest.approx(0.3 / 203 * 1e4)
    assert (b.decision_to_submit_ms, b.submit_to_ack_ms) == (5.0, 20.0)
    assert (b.submit_to_first_fill_ms, b.submit_to_last_fill_ms, b.decision_to_fill_ms) == (
        25.0,
        65.0,
        30.0,
    )
    assert math.isnan(b.time_to_fill_ms)  # a market order
    assert (b.kind, b.state, b.hour, b.size_bucket) == ("strategy", "FILLED", 23, "100-1k")
    # ETH limit sell: 1 of 4 filled at 2010, above the arrival 2000: a negative cost; no bar
    # model for a limit order; not filled in full: no time to fill.
    assert e.fill_ratio == 0.25 and e.state == "CANCELLED"
    assert e.reason == "cancelled by the runner"
    assert e.slip_arrival_bps == pytest.approx(-50.0)
    assert math.isnan(e.model_price) and math.isnan(e.slip_model_bps)
    assert e.plan_price == 1999.0  # planned[1]: seq 100
    assert e.fee_bps == pytest.approx(10.0) and e.size_bucket == "1k-10k"
    assert math.isnan(e.time_to_fill_ms)
    # The kill switch's flatten: not the decision's (its prices are an hour old), so the last
    # close (101); no plan; rejected.
    assert (k.kind, k.arrival_source, k.arrival_price) == ("kill_flatten", "last_close", 101.0)
    assert k.rejected and k.reason == "insufficient balance" and k.fill_ratio == 0.0
    assert math.isnan(k.fill_price) and math.isnan(k.plan_price) and k.notional == 0.0


def test_the_books_mid_at_the_decision_is_the_arrival_where_it_was_read() -> None:
    # BTC quoted 99.9 / 100.3 (mid 100.1, spread 0.4 / 100.1); ETH's read failed (null): its
    # arrival stays the decision's reference price.
    events = run_events()
    events[2].payload["quotes"] = [[99.9, 100.3], None]
    t = quality_table(events).set_index("client_id")
    b, e = t.loc["b"], t.loc["e"]
    assert (b.arrival_source, b.arrival_price) == ("mid", pytest.approx(100.1))
    assert b.spread_bps == pytest.approx(0.4 / 100.1 * 1e4)
    assert b.slip_arrival_bps == pytest.approx((101.5 - 100.1) / 100.1 * 1e4)
    assert (e.arrival_source, e.arrival_price) == ("decision", 2000.0)
    assert math.isnan(e.spread_bps)


def test_an_algorithms_children_are_measured_against_the_parents_first_decision() -> None:
    # A TWAP child created two bars after its parent's first decision (T0, BTC quoted 99.9 /
    # 100.3) fills at 101: its arrival is that decision's mid, not a later close.
    events = run_events()
    events[2].payload["quotes"] = [[99.9, 100.3], None]
    d = T0 + 3 * H
    events += [
        created("c", "BTC/USDT", "buy", "1", 60_000, d, decision=T0),
        step("order_submitted", "c", d + 1, to="SUBMITTED"),
        fill("c", d + 2, "1", "101", "FILLED", "0.1", "USDT"),
    ]
    c = quality_table(events).set_index("client_id").loc["c"]
    assert (c.kind, c.arrival_source, c.arrival_price) == ("algo", "mid", pytest.approx(100.1))
    assert c.slip_arrival_bps == pytest.approx((101 - 100.1) / 100.1 * 1e4)


def test_a_filled_limit_order_has_its_time_to_fill() -> None:
    d = T0 + H
    events = [
        START,
        created("l", "ETH/USDT", "buy", "1", 0, d, type="limit", limit="1990"),
        step("order_submitted", "l", d + 1, to="SUBMITTED"),
        step("order_acknowledged", "l", d + 11, to="ACKNOWLEDGED"),
        fill("l", d + 500, "0.5", "1990", "PARTIALLY_FILLED", "0", "USDT"),
        fill("l", d + 900, "0.5", "1990", "FILLED", "0", "USDT"),
    ]
    (row,) = quality_table(events).itertuples()
    assert row.time_to_fill_ms == 889.0 and row.arrival_source == "none"
    assert math.isnan(row.slip_arrival_bps) and row.fee_bps == 0.0


def test_a_symbol_without_a_market_has_no_model_price() -> None:
    events = run_events()
    events[12] = bar(T0 + H, [100.5, 2010.0], [101.0, 2020.0], filled=[True, False])
    t = quality_table(events).set_index("client_id")
    assert math.isnan(t.loc["b"].model_price)
    assert t.loc["k"].arrival_price == 99.5  # the last close of a bar with a market


def test_summaries_weight_by_notional() -> None:
    t = quality_table(run_events())
    venue = summarize(t, "venue").iloc[0]
    assert (venue.orders, venue.filled, venue.rejects) == (3, 2, 1)
    assert venue.reject_rate == pytest.approx(1 / 3)
    assert venue.fill_ratio == pytest.approx(3 / 8)  # (2 + 1) of (2 + 4 + 2)
    assert venue.notional == 2213.0
    assert venue.slip_arrival_bps == pytest.approx((150 * 203 - 50 * 2010) / 2213)
    assert venue.slip_model_bps == pytest.approx((101.5 - 100.5) / 100.5 * 1e4)  # BTC's only
    assert venue.fee_bps == pytest.approx((0.3 + 2.01) / 2213 * 1e4)
    assert venue.ack_p50_ms == 15.0  # of 20 and 10 (the rejected order was never acked)
    by_side = summarize(t, ["symbol", "side"])
    assert list(zip(by_side.symbol, by_side.side, by_side.orders, strict=True)) == [
        ("BTC/USDT", "buy", 1),
        ("BTC/USDT", "sell", 1),
        ("ETH/USDT", "sell", 1),
    ]
    with pytest.raises(ValueError, match="colour"):
        summarize(t, "colour")
    empty = quality_table([START])
    assert empty.empty and list(summarize(empty, "venue").columns)[:2] == ["venue", "orders"]


def test_the_fold_reports_each_order_once_when_it_ends() -> None:
    fold = QualityFold(bounded=True)
    ended = []
    events = run_events()
    events.append(step("order_status", "b", T0 + 2 * H, to=None, status="FILLED"))
    events.append(step("order_cancelled", "e", T0 + 2 * H, to="CANCELLED", reason="again"))
    for e in events:
        ended += [o.client_id for o in fold.add(e)]
    assert ended == ["b", "e", "k"]
    # The model price of an order that ended before the next bar closed arrives with that bar.
    assert next(o for o in fold.records() if o.client_id == "b").model_price == 100.5


def test_prometheus_histograms_observe_each_ended_order() -> None:
    registry = CollectorRegistry()
    metrics = QualityMetrics(registry)
    fold = QualityFold()
    for e in run_events():
        for o in fold.add(e):
            metrics.observe(o)
    get = registry.get_sample_value
    labels = {"venue": "binance", "symbol": "BTC/USDT", "side": "buy"}
    assert get("grekko_slippage_arrival_bps_count", labels) == 1
    # (a histogram with negative buckets has no _sum: prometheus_client leaves it out)
    assert get("grekko_slippage_arrival_bps_bucket", {**labels, "le": "50.0"}) == 0
    assert get("grekko_slippage_arrival_bps_bucket", {**labels, "le": "100.0"}) == 0
    assert get("grekko_slippage_arrival_bps_bucket", {**labels, "le": "+Inf"}) == 1
    eth_sell = {"venue": "binance", "symbol": "ETH/USDT", "side": "sell"}
    assert get("grekko_slippage_arrival_bps_bucket", {**eth_sell, "le": "-50.0"}) == 1
    ack = {"venue": "binance", "symbol": "BTC/USDT", "step": "submit_to_ack"}
    assert get("grekko_order_latency_seconds_sum", ack) == pytest.approx(0.020)
    eth = {"venue": "binance", "symbol": "ETH/USDT"}
    assert get("grekko_fee_bps_sum", eth) == pytest.approx(10.0)


def test_kinds_and_buckets() -> None:
    seqs = [0, 9_900, 10_000, 20_001, 30_010, 40_003, 50_000]
    assert [order_kind(s) for s in seqs] == [
        "strategy", "strategy", "risk_flatten", "kill_flatten", "stop", "native_stop", "manual",
    ]  # fmt: skip
    assert order_kind(30_000, "stop_loss") == "stop"
    assert order_kind(60_000) == order_kind(160_100) == "algo"  # execution algorithms' children
    assert order_kind(55_000) == order_kind(59_999) == "routed"  # a routed order's children
    assert order_kind(50_002, "take_profit") == "native_stop"  # a native stop's 3,334th revision
    with pytest.raises(ValueError, match="seq is >= 0"):
        order_kind(-1)
    assert [size_bucket(x) for x in (0, 9.99, 10, 999, 1e6, math.nan)] == [
        "<10", "<10", "10-100", "100-1k", ">=1M", "?",
    ]  # fmt: skip
    assert isinstance(quality_table([]), pd.DataFrame)
