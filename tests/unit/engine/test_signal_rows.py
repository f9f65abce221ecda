"""The lean kernel's signal-row scan (eight rows per step) lists exactly the rows that signal."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.engine._lean_one import signal_rows_nb


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 64, 1003])
@pytest.mark.parametrize("density", [0.0, 0.03, 0.5, 1.0])
def test_the_rows_are_those_with_an_entry_or_an_exit_in_order(n: int, density: float) -> None:
    rng = np.random.default_rng(n * 100 + int(density * 10))
    entries = rng.random(n) < density
    exits = rng.random(n) < density
    if n > 9:  # a row with both, and signals at the first and last rows (the tail after words)
        entries[3] = exits[3] = True
        entries[0] = exits[n - 1] = True
    rows = np.full(n + 8, -1, dtype=np.int64)
    count = signal_rows_nb(entries, exits, rows)
    expected = np.flatnonzero(entries | exits)
    assert count == expected.shape[0]
    np.testing.assert_array_equal(rows[:count], expected)


def test_every_bit_of_a_word_is_found_alone() -> None:
    """Each of a word's eight positions, alone, in the entries or in the exits."""
    for pos in range(8):
        for which in (0, 1):
            arrays = [np.zeros(24, dtype=np.bool_), np.zeros(24, dtype=np.bool_)]
            arrays[which][8 + pos] = True
            rows = np.full(32, -1, dtype=np.int64)
            assert signal_rows_nb(arrays[0], arrays[1], rows) == 1
            assert rows[0] == 8 + pos
