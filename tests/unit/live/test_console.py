"""The console's formats and levels: quantities without float noise, durations with units, UTC
times, and which events each ``--show`` level prints."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rich.console import Console
from rich.text import Text

from live.console import EventLines, duration, money, params_text, qty_text, table, utc
from live.events import Event


def ev(kind: str, payload: dict, *, stream: str = "runner", seq: int = 1) -> Event:
    return Event(seq=seq, ts_ms=1_609_718_400_000, kind=kind, stream=stream, payload=payload,
                 prev_hash="", hash="")  # fmt: skip


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (-4e-20, "0"),
        (Decimal("0E-17"), "0"),
        ("0.30804185757410624", "0.30804186"),
        (0.1 + 0.2, "0.3"),
        (12, "12"),
        (-1.5, "-1.5"),
        (None, "-"),
    ],
)
def test_quantities_read_without_float_noise(value: object, text: str) -> None:
    assert qty_text(value) == text


def test_amounts_durations_times_and_parameters() -> None:
    assert money(-0.001) == "0.00" and money(12345.678) == "12,345.68" and money(None) == "-"
    assert duration(0.131) == "0.131 ms" and duration(2_500) == "2.5 s"
    assert duration(600_000) == "10 min" and duration(3 * 86_400_000) == "3 d"
    assert utc(1_609_718_400_000) == "2021-01-04 00:00:00Z"
    assert utc(1_609_718_400_000, seconds=False) == "2021-01-04 00:00Z" and utc(None) == "-"
    assert params_text({"fast": 5, "stop": 0.020000000000000004, "on": True}) == (
        "fast=5, stop=0.02, on=true"
    )


def test_a_table_through_a_pipe_is_plain_and_fits_80_columns() -> None:
    piped = Console(width=80, force_terminal=False, record=True)
    t = table(piped, "run", "venue", "why", keep=("run",))
    t.add_row("sma_cross-a722cebbbd9c-binance", "binance", "a long reason " * 10)
    piped.print(t)
    text = piped.export_text()
    assert "sma_cross-a722cebbbd9c-binance" in text  # an id is never cut
    assert all(len(line) <= 80 for line in text.splitlines())
    assert not set(text) & set("┏━┃│╭╮─"), "no box characters in a pipe"


def test_each_level_shows_its_events() -> None:
    order = ev("order_created", {"side": "buy", "qty": "0.5", "symbol": "BTC/USDT",
                                 "order_type": "market"}, stream="abcdef0123")  # fmt: skip
    fill = ev("order_fill", {"qty": "0.5", "price": "30000.5", "fee": "1.5", "fee_asset": "USDT",
                             "to": "FILLED"}, stream="abcdef0123")  # fmt: skip
    refusal = ev("risk_decision", {"action": "reject", "rule": "max_orders", "side": "buy",
                                   "qty": 0.5, "symbol": "BTC/USDT", "state": "ACTIVE",
                                   "reason": "max_orders: 6 (limit 5)"})  # fmt: skip
    state = ev("risk_state", {"state": "HALTED", "previous": "ACTIVE",
                              "reason": "error_rate: 11 (limit 10) — create_order ×11 (RequestTimeout)"})  # fmt: skip
    reconnect = ev("ws_reconnect", {"count": 1, "total": 3})
    bar = ev(
        "bar_closed", {"ts": 1_609_714_800_000, "equity": 10_000.0, "bar": [[1], [1], [1], [1]]}
    )

    def shown(level: str, events: list[Event]) -> list[str]:
        lines = EventLines(level, realtime=True)  # type: ignore[arg-type]
        return [Text.from_markup(line).plain for e in events for line in lines.lines(e)]

    events = [order, fill, refusal, state, reconnect, bar]
    alerts = shown("alerts", events)
    assert len(alerts) == 3
    assert "refused by risk rule max_orders" in alerts[0] and "buy 0.5 BTC/USDT" in alerts[0]
    assert "ACTIVE → HALTED" in alerts[1] and "create_order ×11 (RequestTimeout)" in alerts[1]
    assert "reconnected" in alerts[2]
    trades = shown("trades", events)
    assert len(trades) == 6 and "fill abcdef01 buy 0.5 BTC/USDT @ 30,000.50" in trades[1]
    assert all(line.startswith("2021-01-04 00:00:00Z ") for line in trades)
    assert shown("none", events) == []


def test_a_replay_summarises_its_bars() -> None:
    now = [0.0]
    lines = EventLines("trades", realtime=False, summary_every_s=2.0, clock=lambda: now[0])
    out = []
    for i in range(10):
        now[0] = i  # one bar a second
        bar = {"ts": 3_600_000 * i, "equity": 100.0 + i, "bar": [[1], [1], [1], [1]]}
        out += lines.lines(ev("bar_closed", bar, seq=i + 1))
    out += lines.flush()
    assert len(out) == 5, out  # every two seconds, then the rest at the end
    assert "bars 1-3 " in out[0] and "bar 10 " in out[-1] and "equity 109.00 (+9.00%" in out[-1]
