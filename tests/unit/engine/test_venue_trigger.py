"""``Stops(trigger="venue")``: position stops held as the venue holds the runner's native OCO list
(the Binance spot simulator's rules, ``live/sim/_spot_types.py``), on hand-made bars whose answer
is worked out by hand, each beside the bar model's different answer."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.engine import (
    EngineConfig,
    MarketRules,
    Signals,
    Sizing,
    Slippage,
    Stops,
    backtest,
)
from grekko_research.engine.api import _lean_config_scope
from grekko_research.errors import ConfigError
from tests.unit.engine.test_semantics import NOFEE, fills, flags, make_bars

ENTRY = [(100, 100, 100, 100), (100, 100.5, 99.5, 100)]  # decided at 0, filled at bar 1's open


def config(trigger: str, **kw) -> EngineConfig:
    rules = kw.pop("market", MarketRules())
    slip = kw.pop("slippage", Slippage())
    stops = Stops(stop_loss=0.02, take_profit=0.04, trigger=trigger, **kw)  # type: ignore[arg-type]
    return EngineConfig(fees=NOFEE, sizing=Sizing("units", 1.0), stops=stops, market=rules,
                        slippage=slip)  # fmt: skip


def last_exit(rows, sig=None, **kw) -> dict[str, tuple]:
    """The last fill and exit kind under each trigger model."""
    bars = make_bars(rows)
    sig = sig or Signals(flags(len(rows), 0), None)
    out = {}
    for trigger in ("bar", "venue"):
        res = backtest(bars, sig, config(trigger, **kw))
        out[trigger] = (fills(res)[-1], res.trades.iloc[0]["exit_kind"])
    return out


def test_both_levels_in_one_bar_the_oco_above_leg_wins() -> None:
    # Range 97..105 reaches the stop 98 and the take-profit 104: the bar model's pessimism takes
    # the stop; the venue checks the sell list's leg above the market (the take-profit) first.
    got = last_exit([*ENTRY, (100, 105, 97, 100), (100, 100, 100, 100)])
    assert got["bar"] == ((2, -1, 1.0, 98.0), "stop_loss")
    assert got["venue"] == ((2, -1, 1.0, 104.0), "take_profit")


def test_gap_below_the_stop_with_a_high_at_the_take_profit() -> None:
    got = last_exit([*ENTRY, (96, 104.5, 95, 100), (100, 100, 100, 100)])
    assert got["bar"] == ((2, -1, 1.0, 96.0), "stop_loss")  # exits at the open
    assert got["venue"] == ((2, -1, 1.0, 104.0), "take_profit")


def test_a_gap_triggers_at_the_open_on_later_bars_only() -> None:
    got = last_exit([*ENTRY, (96, 97, 95, 96), (96, 96, 96, 96)])
    assert got["venue"] == got["bar"] == ((2, -1, 1.0, 96.0), "stop_loss")
    # The entry bar: the list is placed after the entry's fill at the open, so only its range
    # counts there (as the bar model with on_entry_bar).
    same_bar = [(100, 100, 100, 100), (100, 100.5, 97, 99), (99, 99, 99, 99)]
    got = last_exit(same_bar)
    assert got["venue"] == got["bar"] == ((1, -1, 1.0, 98.0), "stop_loss")
    # on_entry_bar=False: the bar model skips the entry bar; the venue holds the list already.
    bar_off = backtest(make_bars(same_bar), Signals(flags(3, 0)), config("bar", on_entry_bar=False))
    assert len(fills(bar_off)) == 1
    venue = backtest(make_bars(same_bar), Signals(flags(3, 0)), config("venue", on_entry_bar=False))
    assert fills(venue)[-1] == (1, -1, 1.0, 98.0)


def test_levels_on_the_tick_grid_towards_the_market() -> None:
    # Tick 0.3: the stop 98 goes up to 98.1, the take-profit 104 down to 103.8 (as the runner
    # sends them); the venue fills at those levels, the bar model at the unrounded ones.
    rules = MarketRules(tick_size=0.3)
    sl = last_exit([*ENTRY, (99, 99.5, 97, 98), (98, 98, 98, 98)], market=rules)
    assert sl["bar"][0][3] == 98.0
    assert sl["venue"][0][3] == pytest.approx(98.1, abs=1e-9)
    tp = last_exit([*ENTRY, (101, 103.9, 100.5, 103), (103, 103, 103, 103)], market=rules)
    assert tp["venue"] == ((2, -1, 1.0, pytest.approx(103.8, abs=1e-9)), "take_profit")
    assert len(fills(backtest(make_bars([*ENTRY, (101, 103.9, 100.5, 103)]),
                              Signals(flags(3, 0)), config("bar", market=rules)))) == 1  # fmt: skip


def test_the_stop_market_fills_at_its_trigger_without_slippage() -> None:
    slip = Slippage("bps", 50.0)
    got = last_exit([*ENTRY, (99, 99.5, 97, 98), (98, 98, 98, 98)], slippage=slip)
    entry = 100 * 1.005
    assert got["bar"][0][3] == pytest.approx(entry * 0.98 * 0.995)
    assert got["venue"][0][3] == pytest.approx(entry * 0.98)


def test_a_signal_exit_at_the_open_goes_before_the_venue_stop() -> None:
    # The exit decided at bar 1 executes at bar 2's open, which gaps below the stop: the bar
    # model's stop exits first at the open; the runner cancels the venue's list and sells.
    rows = [*ENTRY, (96, 97, 95, 96), (96, 96, 96, 96)]
    got = last_exit(rows, sig=Signals(flags(4, 0), flags(4, 1)))
    assert got["bar"] == ((2, -1, 1.0, 96.0), "stop_loss")
    assert got["venue"] == ((2, -1, 1.0, 96.0), "market")


def test_shorts_check_the_stop_above_first() -> None:
    sig = Signals(np.zeros(4, bool), None, flags(4, 0), None)
    rows = [*ENTRY, (100, 103, 95, 100), (100, 100, 100, 100)]
    bars = make_bars(rows)
    for trigger in ("bar", "venue"):
        cfg = config(trigger)
        cfg = EngineConfig(fees=NOFEE, sizing=cfg.sizing, stops=cfg.stops, allow_short=True)
        res = backtest(bars, sig, cfg)
        assert fills(res)[-1] == (2, 1, 1.0, 102.0), trigger  # the buy stop above at 102


def test_validation_and_the_lean_kernel_scope() -> None:
    with pytest.raises(ConfigError, match=r"Stops\.trigger must be bar, venue, usdm or coinbase"):
        Stops(stop_loss=0.02, trigger="exchange")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="OCO list, which has no trailing stop"):
        Stops(trailing=0.02, trigger="venue")
    with pytest.raises(ConfigError, match="execution='next_open'"):
        EngineConfig(execution="close", stops=Stops(stop_loss=0.02, trigger="venue"))
    bars = make_bars([(100, 100, 100, 100)] * 3)
    assert _lean_config_scope(config("bar"), bars) is None
    assert "venue" in str(_lean_config_scope(config("venue"), bars))
