"""``Stops(trigger="coinbase")``: a position's stop-loss and take-profit held as Coinbase holds
the runner's native pair, one ``trigger_bracket_gtc`` bracket (the Coinbase simulator's rules,
``live/sim/_coinbase_book.py``), on hand-made bars whose answer is worked out by hand, each
beside the other models' different answers."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.engine import EngineConfig, Fees, Signals, Sizing, Stops, backtest
from grekko_research.errors import ConfigError
from tests.unit.engine.test_semantics import NOFEE, fills, flags, make_bars

ENTRY = [(100, 100, 100, 100), (100, 100.5, 99.5, 100)]  # decided at 0, filled at bar 1's open
LEVELS = {"stop_loss": 0.02, "take_profit": 0.04}  # 98 and 104 from the entry at 100


def run(rows, trigger: str, sig=None, fees: Fees = NOFEE) -> tuple[tuple, str]:
    """The last fill and the first trade's exit kind (``""``: still open)."""
    cfg = EngineConfig(
        fees=fees, sizing=Sizing("units", 1.0), stops=Stops(trigger=trigger, **LEVELS),  # type: ignore[arg-type]
        allow_short=sig is not None,
    )  # fmt: skip
    res = backtest(make_bars(rows), sig or Signals(flags(len(rows), 0), None), cfg)
    kind = str(res.trades.iloc[0]["exit_kind"]) if len(res.trades) else ""
    return fills(res)[-1], kind


def test_both_levels_in_one_bar_the_stop_leg_wins() -> None:
    rows = [*ENTRY, (100, 105, 97, 100), (100, 100, 100, 100)]
    assert run(rows, "coinbase") == ((2, -1, 1.0, 98.0), "stop_loss")
    assert run(rows, "venue") == ((2, -1, 1.0, 104.0), "take_profit")


def test_the_limit_leg_fills_through_its_price_not_on_a_touch_nor_at_a_gapped_open() -> None:
    touch = [*ENTRY, (100, 104, 99, 103), (103, 104.5, 102, 104), (104,) * 4]
    assert run(touch, "bar") == ((2, -1, 1.0, 104.0), "take_profit")  # a touch
    assert run(touch, "coinbase") == ((3, -1, 1.0, 104.0), "take_profit")  # through, a bar later
    gap = [*ENTRY, (106, 107, 105, 106), (106,) * 4]
    assert run(gap, "bar") == ((2, -1, 1.0, 106.0), "take_profit")  # at the open
    assert run(gap, "coinbase") == ((2, -1, 1.0, 104.0), "take_profit")  # at its limit
    # As a maker: the maker fee, where the bar model's take-profit pays the taker's.
    fees = Fees(taker=0.01, maker=0.001)
    res = backtest(
        make_bars(gap), Signals(flags(4, 0), None),
        EngineConfig(fees=fees, sizing=Sizing("units", 1.0), stops=Stops(trigger="coinbase", **LEVELS)),
    )  # fmt: skip
    assert res.orders["fee"].iloc[-1] == pytest.approx(104.0 * 0.001)


def test_a_gap_past_the_stop_legs_five_percent_limit_rests_there() -> None:
    # The stop 98 triggers at a gapped open of 92, below its limit 98 * 0.95 = 93.1: it rests
    # at 93.1 (the limit leg ended with the trigger) and fills there when a bar trades through.
    rows = [*ENTRY, (92, 93, 91, 92), (92.5, 105, 92, 93), (93,) * 4]
    assert run(rows, "bar") == ((2, -1, 1.0, 92.0), "stop_loss")
    assert run(rows, "coinbase") == ((3, -1, 1.0, 93.1), "stop_loss")
    # Within the 5 %, the gapped open fills it there.
    rows = [*ENTRY, (96, 97, 95, 96), (96,) * 4]
    assert run(rows, "coinbase") == ((2, -1, 1.0, 96.0), "stop_loss")


def test_a_short_bracket_mirrors_it() -> None:
    sig = Signals(np.zeros(4, bool), None, flags(4, 0), None)
    rows = [*ENTRY, (100, 103, 96, 100), (100,) * 4]  # the buy stop 102 wins over the 96 touch
    assert run(rows, "coinbase", sig) == ((2, 1, 1.0, 102.0), "stop_loss")
    rows = [*ENTRY, (100, 101, 95.9, 100), (100,) * 4]  # through the take-profit 96
    assert run(rows, "coinbase", sig) == ((2, 1, 1.0, 96.0), "take_profit")


def test_validation() -> None:
    with pytest.raises(ConfigError, match="needs a stop_loss and a take_profit"):
        Stops(stop_loss=0.02, trigger="coinbase")
    with pytest.raises(ConfigError, match="needs a stop_loss and a take_profit"):
        Stops(trailing=0.02, trigger="coinbase", **LEVELS)
    with pytest.raises(ConfigError, match="does not apply to trigger='coinbase'"):
        Stops(trigger="coinbase", stop_limit_offset=0.01, **LEVELS)
