"""Stops survive SIGKILL: a runner holding position stops (1 % stop-loss, 1.5 % take-profit,
emulated) is killed again and again — while placing an entry, after a fill arrived before it
was persisted (its stop not armed yet), after a fill was persisted (the stop armed in the book,
not yet in a snapshot), after a stop's exit was persisted and before it was sent, after a bar's
snapshot was persisted while a position held its stops (``stop_held``: the restart has only
the snapshot to re-arm them from) — and restarted, trading real BTC/USDT hourly bars through
the real ccxt client against the Binance simulator.

Checked from the run's log and the simulator's books: 0 orders lost or duplicated (stop exits
included), 0 positions without a stop at any close or restart, 0 duplicate stop exits, and the
same stop exits and trades as a run never killed. The stops are wide enough that positions
stay open across closes: with 0.2 % stops they rarely did, and a restart that dropped the
restored levels went unnoticed; ``stop_held`` catches it (the mutation is in the issue's note).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grekko_research.engine.layout import S_POS, S_SL
from tests.integration.test_live_crash import assert_clean, audit, crash_run

KILLS = max(int(os.environ.get("GREKKO_CRASH_KILLS", "50")) // 3, 5)
# A position is held at a close about once in 75 bars: the 1200 bars give ``stop_held`` about
# 16 occurrences, so fewer kills there (each incarnation is killed at its 1st to 3rd one).
HELD_KILLS = max(KILLS // 3, 5)
BARS = "1200"
# Wide enough that positions stay open across many closes (and so across many restarts): a
# restart that lost the restored levels would leave a position naked, or fire other exits.
STOPS = ("--stops", "--stop-loss", "0.01", "--take-profit", "0.015")
POINTS = ("before_intent", "before_fill", "after_fill", "stop_created", "stop_held")


class _Intents:
    """A decision-like record of the stop exits, so the audit counts them as intended."""

    kind = "decision"
    stream = "runner"
    ts_ms = seq = 0

    def __init__(self, cids: list[str]) -> None:
        self.payload = {"intents": cids}


def stop_exits(events: list[Any]) -> list[dict[str, Any]]:
    return [x for e in events if e.kind == "stop_triggered" for x in e.payload["exits"]]


def stop_audit(events: list[Any]) -> dict[str, Any]:
    """Positions without a stop (at any close, and as re-armed at any restart), and stop exits
    fired twice for one position."""
    naked = []
    for e in events:
        if e.kind == "bar_closed":
            S = np.array(e.payload["book"]["S"], dtype=np.float64)
            if S[0, S_POS] != 0.0 and np.isnan(S[0, S_SL]):
                naked.append(("close", e.payload["ts"]))
        elif e.kind == "stops_armed":
            naked += [("restart", p["symbol"]) for p in e.payload["positions"]
                      if p["stop_loss"] is None]  # fmt: skip
    cids = [x["client_id"] for x in stop_exits(events)]
    twice = [c for c, n in Counter(cids).items() if n > 1]
    # One exit per position: no two exits between the same two entries.
    per_bar = Counter((x["symbol"], x["bar_ts"]) for x in stop_exits(events))
    twice += [f"{k}" for k, n in per_bar.items() if n > 1]
    armed = [e for e in events if e.kind == "stops_armed"]
    holding = [e for e in armed if e.payload["positions"]]
    return {
        "naked": naked,
        "duplicate_stops": twice,
        "restarts_with_stops": len(armed),
        "restarts_holding": len(holding),
    }


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_leaves_no_position_without_its_stop(
    point: str, shared_data: Path, tmp_path: Path
) -> None:
    kills = HELD_KILLS if point == "stop_held" else KILLS
    result, events, ledger = crash_run(
        shared_data, tmp_path / "run", point, kills, *STOPS, "--bars", BARS
    )
    exits = [x["client_id"] for x in stop_exits(events)]
    report = audit([*events, _Intents(sorted(set(exits)))], ledger)
    stops = stop_audit(events)
    _, calm, _ = crash_run(shared_data, tmp_path / "calm", point, 0, *STOPS, "--bars", BARS)
    print(
        f"\nstop crash test {point}: {result['kills']} SIGKILLs, {result['restarts']} restarts, "
        f"{report['decisions_with_orders']} intended orders (stop exits {len(set(exits))}), "
        f"{report['venue_orders']} venue orders, lost {len(report['lost'])}, duplicates "
        f"{len(report['duplicates'])}, positions without a stop {len(stops['naked'])}, "
        f"duplicate stops {len(stops['duplicate_stops'])}, restarts re-arming stops "
        f"{stops['restarts_with_stops']} (holding a position {stops['restarts_holding']}), "
        f"{result['wall_s']} s"
    )
    assert result["kills"] >= kills
    assert len(set(exits)) >= 5, "the run must exit by its stops to prove anything"
    if point == "stop_held":
        # Every restart found an open position whose levels only the snapshot held: a restart
        # that lost them would leave it naked (or fire other exits than the calm run's).
        assert stops["restarts_holding"] >= kills, stops
    assert_clean(report)
    assert stops["naked"] == []
    assert stops["duplicate_stops"] == []
    # The same stops fired, and the same trades closed, as in a run never killed.
    assert sorted(set(exits)) == sorted(x["client_id"] for x in stop_exits(calm))
    closed = lambda ev: [(e.payload["entry_bar"], e.payload["exit_bar"], e.payload["exit_kind"])  # noqa: E731
                         for e in ev if e.kind == "trade_closed"]  # fmt: skip
    assert closed(events) == closed(calm)


def test_stop_audit_is_sharp() -> None:
    """A close with a position and no stop, and one exit fired twice, are both caught."""

    class E:
        def __init__(self, kind: str, payload: dict[str, Any]) -> None:
            self.kind, self.payload = kind, payload

    S = np.full((1, S_SL + 4), np.nan)
    S[0, S_POS] = 1.0
    x = {"client_id": "c1", "symbol": "BTC/USDT", "bar_ts": 5}
    report = stop_audit([
        E("bar_closed", {"ts": 1, "book": {"S": S.tolist()}}),
        E("stop_triggered", {"exits": [x]}), E("stop_triggered", {"exits": [x]}),
    ])  # fmt: skip
    assert report["naked"] == [("close", 1)]
    assert "c1" in report["duplicate_stops"]
