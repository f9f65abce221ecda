"""``Stops(trigger="venue", stop_limit_offset=...)``: the venue holds the stop-loss as a
stop-limit (Binance spot ``STOP_LOSS_LIMIT`` in the runner's OCO list, ``live/sim/_spot_types.py``):
a gap past its limit triggers it without a fill; it rests at the limit from the next bar on and
fills there, as a maker, only on a bar that trades *through* it. Hand-made bars, each answer
worked out by hand beside the stop-market's."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.engine import EngineConfig, Signals, Sizing, Stops, backtest
from grekko_research.engine.book import EngineBook
from grekko_research.engine.layout import S_SL_REST
from grekko_research.errors import ConfigError
from tests.unit.engine.test_semantics import NOFEE, fills, flags, make_bars

# Decided at bar 0, bought at bar 1's open (100): stop 98, take-profit 104; the stop-limit's
# limit 1 % beyond the stop: 97.02.
ENTRY = [(100, 100, 100, 100), (100, 100.5, 99.5, 100)]


def run(rows, offset: float | None = 0.01, exits=None):  # type: ignore[no-untyped-def]
    stops = Stops(stop_loss=0.02, take_profit=0.04, trigger="venue", stop_limit_offset=offset)
    cfg = EngineConfig(fees=NOFEE, sizing=Sizing("units", 1.0), stops=stops)
    res = backtest(make_bars(rows), Signals(flags(len(rows), 0), exits), cfg)
    return fills(res)[1:], list(res.orders[res.orders["status"] == "filled"]["kind"])[1:]


def test_a_gap_past_the_limit_rests_and_fills_at_the_limit_when_the_market_comes_back() -> None:
    rows = [*ENTRY, (96, 97, 95, 96), (96.5, 97.5, 96, 97), (97, 97, 97, 97)]
    assert run(rows) == ([(3, -1, 1.0, pytest.approx(97.02))], ["stop_loss"])
    assert run(rows, offset=None) == ([(2, -1, 1.0, 96.0)], ["stop_loss"])  # stop-market


def test_the_resting_limit_fills_only_from_the_next_bar_and_only_through_it() -> None:
    # Bar 2 gaps to 96 and rallies to 99 (through the limit) in the triggering bar: the limit
    # rests from the next bar on; bar 3 touches 97.02 without trading through it.
    rows = [*ENTRY, (96, 99, 95, 96), (96, 97.02, 95, 96), (96, 96, 96, 96)]
    assert run(rows) == ([], [])  # still holding, the stop-limit resting
    rows = [*rows[:-1], (96, 97.03, 95, 96)]
    assert run(rows) == ([(4, -1, 1.0, pytest.approx(97.02))], ["stop_loss"])


def test_a_gap_within_the_limit_fills_at_the_open_and_a_reached_stop_at_the_stop() -> None:
    assert run([*ENTRY, (97.5, 98, 97, 97.5), (97, 97, 97, 97)]) == (
        [(2, -1, 1.0, 97.5)], ["stop_loss"],
    )  # fmt: skip
    assert run([*ENTRY, (99, 99.5, 96, 97), (97, 97, 97, 97)]) == (
        [(2, -1, 1.0, 98.0)], ["stop_loss"],
    )  # fmt: skip


def test_the_strategy_exit_cancels_a_resting_stop_limit() -> None:
    # The exit decided at bar 2's close sells at bar 3's open; the rest never filled.
    rows = [*ENTRY, (96, 97, 95, 96), (95, 97.5, 94, 95), (95, 95, 95, 95)]
    got = run(rows, exits=flags(len(rows), 2))
    assert got == ([(3, -1, 1.0, 95.0)], ["market"])


def test_validation() -> None:
    with pytest.raises(ConfigError, match=r"stop_limit_offset .* needs trigger='venue'"):
        Stops(stop_loss=0.02, stop_limit_offset=0.01)
    for bad in (1.0, -0.1, True, float("nan")):
        with pytest.raises(ConfigError, match=r"stop_limit_offset must be a fraction in \[0, 1\)"):
            Stops(stop_loss=0.02, trigger="venue", stop_limit_offset=bad)  # type: ignore[arg-type]


def test_a_book_snapshot_from_before_the_resting_column_restores() -> None:
    book = EngineBook(EngineConfig(), ("A/B",), 0)
    snap = book.snapshot()
    old = dict(snap, S=[row[:S_SL_REST] for row in snap["S"]])
    book.restore(old)
    assert np.isnan(book.S[0, S_SL_REST])
    with pytest.raises(ConfigError, match="state shapes"):
        book.restore(dict(snap, S=[row[: S_SL_REST - 1] for row in snap["S"]]))
