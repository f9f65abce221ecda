"""A run's events → cost-model fit rows (live.quality.calibration_rows): the cost against the
bar model, the decision bar's volume share and volatility, how far the next bar traded through
a limit order, and whether it filled."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from live.quality import calibration_rows

H = 3_600_000
N = 25
CLOSE = 100.0 + np.sin(np.arange(N)) * 2  # a moving market: the volatility is not zero
VOLUME = 100.0 + np.arange(N)


def ev(kind: str, payload: dict[str, Any], stream: str = "runner", ts: int = 0) -> Any:
    return SimpleNamespace(kind=kind, payload=payload, stream=stream, ts_ms=ts)


def events() -> list[Any]:
    out = [ev("run_started", {"run_id": "r1", "venue": "sim", "symbols": ["BTC/USDT"],
                              "timeframe": "1h"})]  # fmt: skip
    for t in range(N):
        c = float(CLOSE[t])
        bar = [[c - 0.5], [c + 1.0], [c - 1.0], [c], [float(VOLUME[t])]]
        out.append(ev("bar_closed", {"ts": t * H, "bar": bar, "filled": [False]}))
    orders = [  # (client id, type, side, qty, limit, decision bar, fill price or None)
        ("m1", "market", "buy", 2.0, None, 20, (CLOSE[21] - 0.5) * 1.001),
        ("l1", "limit", "buy", 1.0, CLOSE[22] - 1.2, 22, CLOSE[22] - 1.2),
        ("l2", "limit", "sell", 1.0, CLOSE[22] + 5.0, 22, None),
        ("m2", "market", "sell", 1.0, None, 99, CLOSE[-1]),  # its decision bar is not in the log
    ]
    for seq, (cid, typ, side, qty, limit, t, fill) in enumerate(orders):
        out.append(ev("order_created", {"seq": seq * 100, "symbol": "BTC/USDT", "side": side,
                                        "order_type": typ, "qty": qty, "limit_price": limit,
                                        "decision_ts_ms": t * H}, stream=cid))  # fmt: skip
        if fill is not None:
            out.append(ev("order_fill", {"qty": qty, "price": float(fill), "to": "FILLED"},
                          stream=cid))  # fmt: skip
        else:
            out.append(ev("order_cancelled", {"to": "CANCELLED"}, stream=cid))
    return out


def test_rows_carry_the_engines_features() -> None:
    rows = calibration_rows(events(), vol_window=5).set_index("client_id")
    assert list(rows.index) == ["m1", "l1", "l2"]  # m2: no decision bar, no features
    m1 = rows.loc["m1"]
    assert m1.slip_bps == pytest.approx(10.0) and m1.share == pytest.approx(2.0 / VOLUME[20])
    r = np.diff(np.log(CLOSE[15:21]))
    assert m1.sigma_bps == pytest.approx(np.std(r, ddof=1) * 1e4) and m1.run_id == "r1"
    assert math.isnan(m1.through_bps)
    l1, l2 = rows.loc["l1"], rows.loc["l2"]
    limit = CLOSE[22] - 1.2  # bar 23's low is CLOSE[23] - 1
    assert l1.through_bps == pytest.approx(max(limit - (CLOSE[23] - 1.0), 0) / limit * 1e4)
    assert l1.filled and not l2.filled and l2.through_bps == 0.0  # the high never reached it
