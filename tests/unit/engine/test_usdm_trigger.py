"""``Stops(trigger="usdm")``: position stops held as Binance USD-M holds the runner's native
orders (the USD-M simulator's rules, ``live/sim/_usdm_algo.py``): separate algo orders, no OCO,
triggered in placement order (stop-loss, take-profit, trailing stop), and the
``TRAILING_STOP_MARKET`` peak rule. Hand-made bars whose answer is worked out by hand, each
beside the other models' different answers."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.engine import EngineConfig, MarketRules, Signals, Sizing, Stops, backtest
from grekko_research.engine.api import _lean_config_scope
from grekko_research.errors import ConfigError
from tests.unit.engine.test_semantics import NOFEE, fills, flags, make_bars

ENTRY = [(100, 100, 100, 100), (100, 100.5, 99.5, 100)]  # decided at 0, filled at bar 1's open
LEVELS = {"stop_loss": 0.02, "take_profit": 0.04}  # 98 and 104 from the entry at 100


def run(rows, trigger: str, sig=None, tick: float = 0.0, **stops) -> tuple[tuple, str]:
    """The last fill and the first trade's exit kind."""
    cfg = EngineConfig(
        fees=NOFEE, sizing=Sizing("units", 1.0), market=MarketRules(tick_size=tick),
        stops=Stops(trigger=trigger, **stops), allow_short=sig is not None,  # type: ignore[arg-type]
    )  # fmt: skip
    res = backtest(make_bars(rows), sig or Signals(flags(len(rows), 0), None), cfg)
    return fills(res)[-1], str(res.trades.iloc[0]["exit_kind"])


def test_both_levels_in_one_bar_the_stop_placed_first_wins() -> None:
    rows = [*ENTRY, (100, 105, 97, 100), (100, 100, 100, 100)]
    assert run(rows, "usdm", **LEVELS) == ((2, -1, 1.0, 98.0), "stop_loss")
    assert run(rows, "venue", **LEVELS) == ((2, -1, 1.0, 104.0), "take_profit")  # the OCO


def test_a_gap_above_the_take_profit_loses_to_a_stop_the_bar_reaches() -> None:
    # The open gaps above the take-profit and the bar falls to the stop: USD-M checks the
    # stop-loss order first (placed first), and the bar's low triggers it at its level.
    rows = [*ENTRY, (105, 105, 97, 100), (100, 100, 100, 100)]
    assert run(rows, "usdm", **LEVELS) == ((2, -1, 1.0, 98.0), "stop_loss")
    assert run(rows, "bar", **LEVELS) == ((2, -1, 1.0, 105.0), "take_profit")  # at the open
    assert run(rows, "venue", **LEVELS) == ((2, -1, 1.0, 105.0), "take_profit")
    # Without the stop in reach, the gap triggers the take-profit at the open.
    rows = [*ENTRY, (105, 105, 99, 100), (100, 100, 100, 100)]
    assert run(rows, "usdm", **LEVELS) == ((2, -1, 1.0, 105.0), "take_profit")


def test_the_trailing_stop_skips_its_placement_bar_and_trails_the_highs_before() -> None:
    # Entry bar 1 reaches 101 and dips to 98: the bar model's trailing stop (2 % behind the
    # entry's 100) exits there; the venue's is placed after the entry's fill and only moves
    # its peak in that bar (to 101). Bar 2's level is 101 * 0.98 = 98.98, floored onto the
    # 0.1 grid: 98.9, which the low reaches.
    rows = [(100, 100, 100, 100), (100, 101, 98, 100), (100, 100.5, 98.9, 99), (99, 99, 99, 99)]
    assert run(rows, "bar", tick=0.1, trailing=0.02) == ((1, -1, 1.0, 98.0), "trailing_stop")
    got = run(rows, "usdm", tick=0.1, trailing=0.02)
    assert got == ((2, -1, 1.0, pytest.approx(98.9, abs=1e-9)), "trailing_stop")
    # A gap below the level triggers it at the open; the peak is the highs before the bar
    # (bar 2's 102 counts from bar 3 on: 102 * 0.98 = 99.96 -> 99.9).
    rows = [(100, 100, 100, 100), (100, 101, 99.5, 100), (100, 102, 99.5, 101),
            (99.8, 100, 99, 99.5), (99, 99, 99, 99)]  # fmt: skip
    assert run(rows, "usdm", tick=0.1, trailing=0.02) == ((3, -1, 1.0, 99.8), "trailing_stop")


def test_a_short_trails_the_lows_and_rounds_its_level_up() -> None:
    sig = Signals(np.zeros(4, bool), None, flags(4, 0), None)
    rows = [(100, 100, 100, 100), (100, 100.5, 99, 100), (100, 101.1, 99.5, 100), (100,) * 4]
    # Peak 99 after the entry bar: 99 * 1.02 = 100.98 -> 101.0 on the 0.1 grid.
    got = run(rows, "usdm", sig, tick=0.1, trailing=0.02)
    assert got == ((2, 1, 1.0, pytest.approx(101.0, abs=1e-9)), "trailing_stop")


def test_a_resting_stop_limit_leaves_the_take_profit_working() -> None:
    # A gap to 97 triggers the stop-loss below its limit 98 * 0.995 = 97.51: it rests. On USD-M
    # the take-profit is an order of its own: the bar's high at 104.5 triggers it (at 104). With
    # a stop-market the stop-loss fills at the open first.
    rows = [*ENTRY, (97, 104.5, 96, 100), (100, 100, 100, 100)]
    limit = dict(LEVELS, stop_limit_offset=0.005)
    assert run(rows, "usdm", **limit) == ((2, -1, 1.0, 104.0), "take_profit")
    assert run(rows, "usdm", **LEVELS) == ((2, -1, 1.0, 97.0), "stop_loss")
    # Resting, it fills at its limit on the first later bar that trades through it.
    rows = [*ENTRY, (97, 97.4, 96, 97), (97.3, 97.6, 97, 97.5), (97.5,) * 4]
    assert run(rows, "usdm", **limit) == ((3, -1, 1.0, 97.51), "stop_loss")


def test_validation_and_the_lean_kernel_scope() -> None:
    with pytest.raises(ConfigError, match=r"trailing stop must be pct within 0\.001\.\.0\.1"):
        Stops(trailing=2.0, trailing_kind="atr", trigger="usdm")
    with pytest.raises(ConfigError, match="callbackRate"):
        Stops(trailing=0.2, trigger="usdm")
    with pytest.raises(ConfigError, match="trigger='venue' or 'usdm'"):
        Stops(stop_loss=0.02, stop_limit_offset=0.01)
    with pytest.raises(ConfigError, match=r"Stops\.trigger='usdm' needs"):
        EngineConfig(execution="close", stops=Stops(stop_loss=0.02, trigger="usdm"))
    cfg = EngineConfig(stops=Stops(stop_loss=0.02, trigger="usdm"))
    assert "venue" in str(_lean_config_scope(cfg, make_bars([(100, 100, 100, 100)] * 3)))
