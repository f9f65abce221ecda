"""The status API's /metrics over a real replayed run: values that match the log, values that
follow new events, and the Grafana dashboard and Prometheus alert rules use only metrics it
exposes. (Auth, routes, websockets and control: test_api.py.)"""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from decimal import Decimal

import pytest

from live.orders import Ack, Intent, OrderManager, Rejected
from live.state import fold_run

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")

from tests.unit.live._api_run import ROOT, Api, events_of

# A websocket message that never comes must not hang the test; the module fixture that replays
# the run (a numba compile on a cold cache: minutes on a busy CI machine) is not timed.
pytestmark = pytest.mark.timeout(30, func_only=True)


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_match_the_log(api: Api) -> None:
    events = events_of(api.log)
    kinds = Counter(e.kind for e in events)
    m = api.metrics()

    def v(name: str, **labels: str) -> float:
        return m[(name, frozenset(labels.items()))]

    assert v("grekko_fills_total") == kinds["order_fill"] > 0
    assert v("grekko_orders_total", status="NEW") == kinds["order_created"]
    assert v("grekko_orders_total", status="SUBMITTED") == kinds["order_submitted"]
    assert v("grekko_orders_total", status="FILLED") == kinds["order_fill"]  # whole fills here
    assert v("grekko_closed_trades_total") == kinds["trade_closed"]
    assert v("grekko_reconciliations_total", ok="true") == kinds["reconciled"]
    assert v("grekko_log_last_seq") == len(events)
    assert v("grekko_last_event_timestamp_seconds") == events[-1].ts_ms / 1000
    last_bar = next(e for e in reversed(events) if e.kind == "bar_closed")
    assert v("grekko_equity") == last_bar.payload["equity"]
    trades = [e.payload["pnl"] for e in events if e.kind == "trade_closed"]
    assert v("grekko_realised_pnl") == pytest.approx(sum(trades))
    fees = sum(Decimal(e.payload["fee"]) for e in events if e.kind == "order_fill")
    assert v("grekko_fees_total", asset="USDT") == pytest.approx(float(fees))
    state = fold_run(events)
    position = float(state.positions["BTC/USDT"])
    assert v("grekko_position", symbol="BTC/USDT") == pytest.approx(position)
    assert v("grekko_exposure", symbol="BTC/USDT") == pytest.approx(
        position * last_bar.payload["bar"][3][0]
    )
    decided = sum(1 for e in events if e.kind == "decision" and e.payload["intents"])
    assert v("grekko_bar_to_intent_seconds_count") == decided
    assert v("grekko_intent_to_ack_seconds_count") == kinds["order_acknowledged"]
    # Execution quality (live.quality): every filled order once, per venue and symbol.
    from live.quality import quality_table

    table = quality_table(events)
    filled = table[table.filled_qty > 0]
    where = {"venue": "paper", "symbol": "BTC/USDT"}
    slips = sum(
        v("grekko_slippage_arrival_bps_count", **where, side=side) for side in set(filled.side)
    )
    assert slips == filled.slip_arrival_bps.notna().sum() > 0
    assert v("grekko_order_latency_seconds_count", **where, step="submit_to_ack") == (
        table.submit_to_ack_ms.notna().sum()
    )
    assert v("grekko_risk_state") == 0 and v("grekko_halted") == 0
    run = dict(
        run_id=state.run["run_id"],
        strategy="sma_cross",
        venue="paper",
        mode="paper",
        timeframe="1h",
    )
    assert v("grekko_run_info", **run) == 1


def test_metrics_follow_new_events(api: Api) -> None:
    """Latencies, rejections and reconnects from events appended while the API runs."""
    run_id = api.hub.fold.run["run_id"]
    t0 = 1_800_000_000_000  # after the replay: new client ids
    om = OrderManager()
    acked = Intent(run_id, "BTC/USDT", "buy", Decimal("0.01"), t0, seq=0)
    refused = Intent(run_id, "BTC/USDT", "buy", Decimal("9"), t0, seq=100)
    drafts = [
        (
            "bar_closed",
            "runner",
            {
                "ts": t0,
                "bar": [[1.0], [1.0], [1.0], [40_000.0], [1.0]],
                "equity": 123.0,
                "risk": [],
            },
            t0 + 10,
        ),
        (
            "decision",
            "runner",
            {
                "ts": t0,
                "intents": [acked.client_id, refused.client_id],
                "refused": [{"symbol": "BTC/USDT", "reason": "below one lot"}],
            },
            t0 + 260,
        ),
    ]
    for e in (
        om.create(acked, t0 + 260)
        + om.create(refused, t0 + 260)
        + om.mark_submitted(acked.client_id, t0 + 300)
        + om.mark_submitted(refused.client_id, t0 + 300)
        + om.apply(Ack(acked.client_id, "v1"), t0 + 420)
        + om.apply(Rejected(refused.client_id, "Account has insufficient balance"), t0 + 450)
    ):
        drafts.append((e["kind"], e["stream"], e["payload"], e["ts_ms"]))
    drafts += [
        ("decision", "runner", {"ts": t0 + 1, "intents": ["x"], "latency_ms": 2000}, t0 + 9_999),
        ("ws_reconnect", "binance", {"attempt": 1}, t0 + 500),
        ("ws_reconnect", "binance", {"attempt": 2}, t0 + 600),
        ("ws_reconnect", "venue", {"count": 3, "total": 5}, t0 + 650),  # three since the last
        (
            "risk_decision",
            "risk",
            {"action": "reject", "rule": "max_position", "reason": "too big"},
            t0 + 700,
        ),
        ("risk_decision", "risk", {"action": "approve", "rule": None, "reason": None}, t0 + 700),
    ]
    before = api.metrics()
    api.wait(api.append(*drafts))
    after = api.metrics()

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after[key] - before.get(key, 0.0)

    assert delta("grekko_bar_to_intent_seconds_count") == 2
    assert delta("grekko_bar_to_intent_seconds_sum") == pytest.approx(0.25 + 2.0)
    assert delta("grekko_bar_to_intent_seconds_bucket", le="0.25") == 1
    assert delta("grekko_intent_to_ack_seconds_count") == 1
    assert delta("grekko_intent_to_ack_seconds_sum") == pytest.approx(0.12)
    assert delta("grekko_rejections_total", source="venue", reason="insufficient_funds") == 1
    assert delta("grekko_rejections_total", source="runner", reason="min_size") == 1
    assert delta("grekko_rejections_total", source="risk", reason="max_position") == 1
    assert delta("grekko_orders_total", status="REJECTED") == 1
    assert delta("grekko_orders_total", status="NEW") == 2
    assert delta("grekko_ws_reconnects_total") == 5
    assert after[("grekko_equity", frozenset())] == 123.0
    assert after[("grekko_open_orders", frozenset())] == 1


# -- the Grafana dashboard ----------------------------------------------------------------------


def test_the_dashboard_uses_only_metrics_the_api_exposes(api: Api) -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/grekko-live.json").read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    exprs = []
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            exprs.append(target["expr"])
    exprs.append(dashboard["templating"]["list"][0]["query"]["query"])
    import yaml

    rules = yaml.safe_load((ROOT / "deploy/prometheus/grekko-live-alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    assert alerts["GrekkoDataStale"] == "grekko_data_stale == 1"  # /health's signal
    assert any("grekko_data_stale_after_seconds" in e for e in exprs), "the dashboard's panel"
    exprs += list(alerts.values())
    used = {name for e in exprs for name in re.findall(r"\bgrekko_[a-z0-9_]+", e)}
    text = api.get("/metrics").text
    exposed = set(re.findall(r"^# (?:HELP|TYPE) (grekko_[a-z0-9_]+)", text, re.M))
    exposed |= set(re.findall(r"^(grekko_[a-z0-9_]+)", text, re.M))
    assert used and used <= exposed, f"not exposed: {sorted(used - exposed)}"
    for histogram in ("grekko_bar_to_intent_seconds", "grekko_intent_to_ack_seconds"):
        for q in ("0.5", "0.99"):
            assert any(f"histogram_quantile({q}" in e and histogram in e for e in exprs)
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for word in (
        "equity",
        "p&l",
        "orders",
        "fills",
        "rejections",
        "risk",
        "exposure",
        "reconnects",
        "strategy",
    ):
        assert word in titles, word
