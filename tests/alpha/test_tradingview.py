"""The TradingView webhook on the grekko-live status API, served by uvicorn on 127.0.0.1: real
TradingView alert bodies, every refusal, and alerts traded by ``tradingview_alerts`` in a
backtest and a live replay (same orders)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError
from live.api.app import create_app
from live.api.auth import ApiTokens
from live.api.control import FlagFileControl
from live.api.hub import LogHub
from live.api.server import api_server
from live.api.tradingview import TradingViewConfig, base_asset, with_tradingview
from live.events import EventStore

SECRET = "tv-shared-secret-0123456789"
READ = "r" * 32
TV_IPS = ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7")


@dataclass
class Clock:
    t: float

    def __call__(self) -> float:
        return self.t


def strategy_alert(**over: Any) -> dict[str, Any]:
    """A strategy alert's message as TradingView renders the docs' placeholder template."""
    doc = {
        "secret": SECRET,
        "ticker": "BTCUSDT",
        "exchange": "BINANCE",
        "action": "buy",
        "position": "long",
        "contracts": "0.02",
        "size": 0.5,
        "price": 31234.5,
        "time": "2021-01-05T10:00:03Z",
        "interval": "60",
        "strategy": "tv-bot",
    }
    return {**doc, **over}


@dataclass
class Served:
    url: str
    store: AltStore
    clock: Clock


def _serve(tmp_path: Path, **config: Any) -> Iterator[Served]:
    log = tmp_path / "events.db"
    log.parent.mkdir(parents=True, exist_ok=True)
    EventStore.open(str(log)).close()  # an empty run log: the status API serves it
    clock = Clock(pd.Timestamp("2021-01-05T10:00:05Z").timestamp())
    cfg = TradingViewConfig(secret=SECRET, store_root=tmp_path / "store", clock=clock, **config)
    app = with_tradingview(
        create_app(LogHub(log, poll_s=0.05), FlagFileControl(tmp_path), ApiTokens.of([READ], [])),
        cfg,
    )
    server = api_server(app, "127.0.0.1", 0, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", AltStore(cfg.store_root), clock)
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    yield from _serve(tmp_path)


def post(s: Served, body: Any, **kw: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    # TradingView sends text/plain unless the message parses as JSON; both are accepted
    headers = {"Content-Type": "text/plain; charset=utf-8", **kw.pop("headers", {})}
    return httpx.post(
        f"{s.url}/webhooks/tradingview", content=content, headers=headers, timeout=30, **kw
    )


def test_a_strategy_alert_is_stored_point_in_time(served: Served) -> None:
    r = post(served, strategy_alert())
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] and r.json()["target"] == 1.0
    rows = served.store.read(AltKey("tradingview", "BTC"))
    row = rows.iloc[0]
    arrived = int(served.clock.t * 1000)
    assert (row["published_ms"], row["ingested_ms"]) == (arrived, arrived)  # when it arrived
    assert row["event_ms"] == pd.Timestamp("2021-01-05T10:00:03Z").value // 1_000_000
    assert (row["size"], row["price"], row["ticker"], row["action"]) == (
        0.5,
        31234.5,
        "BTCUSDT",
        "long",
    )
    assert SECRET not in json.dumps(rows.astype(str).to_dict())
    # a plain alert with only an action, a perpetual ticker
    r = post(
        served,
        {
            "secret": SECRET,
            "ticker": "BINANCE:ETHUSDT.P",
            "action": "sell",
            "time": "2021-01-05T10:00:04Z",
        },
    )
    assert r.status_code == 200 and r.json()["target"] == -1.0
    assert served.store.exists(AltKey("tradingview", "ETH"))


def test_refusals_store_nothing(served: Served) -> None:
    cases = [
        (b"x" * 5000, 413, "over 4096 bytes"),
        (b"BTCUSDT crossing 30000", 400, "must be JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (strategy_alert(secret="wrong-secret-0123456789"), 401, "wrong secret"),
        (
            {k: v for k, v in strategy_alert().items() if k != "secret"},
            401,
            "missing or wrong secret",
        ),
        (strategy_alert(time="2021-01-05T09:50:00Z"), 422, "outside the accepted window"),
        (strategy_alert(time="2021-01-05T10:05:00Z"), 422, "outside the accepted window"),
        ({k: v for k, v in strategy_alert().items() if k != "time"}, 422, "needs a 'time'"),
        (strategy_alert(position="", action="hold"), 422, "unknown action 'hold'"),
        (strategy_alert(size=3), 422, r"outside [0, 1]"),
        (strategy_alert(ticker="NOT A TICKER"), 422, "not a TradingView ticker"),
    ]
    for body, status, detail in cases:
        r = post(served, body)
        assert r.status_code == status, (body, r.text)
        assert detail in r.json()["detail"]
        assert SECRET not in r.text
    assert not served.store.series()
    assert httpx.get(f"{served.url}/webhooks/tradingview", timeout=30).status_code == 405


def test_a_replayed_alert_is_refused(served: Served) -> None:
    body = strategy_alert()
    assert post(served, body).status_code == 200
    served.clock.t += 10  # the captured request sent again, still inside the time window
    again = post(served, body)
    assert again.status_code == 409 and "duplicate" in again.json()["detail"]
    assert len(served.store.read(AltKey("tradingview", "BTC"))) == 1


def test_the_status_api_still_needs_its_token(served: Served) -> None:
    assert httpx.get(f"{served.url}/positions", timeout=30).status_code == 401
    assert (
        httpx.get(
            f"{served.url}/positions", headers={"Authorization": f"Bearer {READ}"}, timeout=30
        ).status_code
        == 200
    )


def test_sender_allowlist_and_trusted_proxy(tmp_path: Path) -> None:
    gen = _serve(tmp_path / "a", allow_ips=TV_IPS)
    s = next(gen)
    try:
        assert post(s, strategy_alert()).status_code == 403  # 127.0.0.1 is not TradingView
        assert (
            post(s, strategy_alert(), headers={"X-Forwarded-For": TV_IPS[0]}).status_code == 403
        )  # untrusted header
    finally:
        gen.close()
    gen = _serve(tmp_path / "b", allow_ips=TV_IPS, trusted_proxies=("127.0.0.1",))
    s = next(gen)
    try:
        assert post(s, strategy_alert(), headers={"X-Forwarded-For": TV_IPS[1]}).status_code == 200
        assert (
            post(
                s, strategy_alert(price=1.0), headers={"X-Forwarded-For": "203.0.113.9"}
            ).status_code
            == 403
        )
    finally:
        gen.close()


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        TradingViewConfig(secret="short", store_root=Path("."))
    with pytest.raises(ConfigError, match="not an IP address"):
        TradingViewConfig(secret=SECRET, store_root=Path("."), allow_ips=("tradingview.com",))
    assert base_asset("BINANCE:BTCUSDT") == "BTC" and base_asset("COINBASE:ETHUSD") == "ETH"


def test_alerts_trade_the_same_in_backtest_and_live_replay(
    shared_data: Path, tmp_path: Path
) -> None:
    """Alerts received over a week drive tradingview_alerts: a backtest on the stored alerts and
    a grekko-live replay (its orders through the runner's risk engine) place the same orders,
    a reversal from short to long included."""
    from grekko_research.config import compose_config
    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore
    from grekko_research.runs import run_backtest
    from grekko_research.strategy import register_strategy
    from live.app import plan_run, run_plan
    from strategies.tradingview_alerts import TradingViewAlerts
    from tests.peers.replay_fills import backtest_fills, live_fills

    register_strategy(TradingViewAlerts)
    root = tmp_path / "store"  # where _serve's webhook writes, and the runs read
    import_file(
        shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", store=ParquetStore(root)
    )
    gen = _serve(tmp_path)
    s = next(gen)
    try:
        plan = [("2021-01-05T10:17:00Z", "long", 1.0), ("2021-01-06T03:40:00Z", "flat", 1.0),
                ("2021-01-07T15:05:00Z", "short", 0.5), ("2021-01-08T09:59:30Z", "long", 0.8),
                ("2021-01-09T20:00:00Z", "exit", 1.0)]  # fmt: skip
        for when, position, size in plan:
            s.clock.t = pd.Timestamp(when).timestamp() + 2.0  # arrives 2 s after it was sent
            r = post(s, strategy_alert(position=position, size=size, time=when))
            assert r.status_code == 200, r.text
    finally:
        gen.close()
    stored = AltStore(root).read(AltKey("tradingview", "BTC"))
    assert stored["target"].tolist() == [1.0, 0.0, -1.0, 1.0, 0.0]
    overrides = ["strategy=tradingview_alerts", "data=btc_1h", f"data.store={root}", "data.start=2021-01-04",
                 "data.end=2021-01-12", f"live.state_dir={tmp_path / 'state'}"]  # fmt: skip
    cfg = compose_config(overrides)
    backtest = run_backtest(cfg, store=ParquetStore(root))
    expected = backtest_fills(backtest)
    assert len(expected) >= 4
    # each order is decided at the close of the bar the alert arrived in, filled at the next open
    assert expected[0][:3] == (
        pd.Timestamp("2021-01-05T11:00:00Z").value // 1_000_000,
        "BTC/USDT",
        "buy",
    )
    live_plan = plan_run(cfg, replay=True)
    summary = run_plan(live_plan, store=ParquetStore(root))
    assert summary.halted is None
    with EventStore.open(live_plan.events) as log:
        assert live_fills(list(log.read())) == expected
