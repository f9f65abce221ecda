"""Trial return series read a few columns at a time, so study statistics keep bounded memory.

The overfitting statistics of a study (:mod:`~grekko_research.optimize.trial_stats`) need
every scored trial's daily returns, one column each. A :class:`ColumnSource` hands them out
in chunks of columns (:meth:`ColumnSource.chunks`) or picks a few (:meth:`ColumnSource.take`),
so a 100,000-trial study never has its ``(days, trials)`` matrix in memory at once: the
statistics hold per-trial scalars and per-block sums instead. :class:`MatrixColumns` wraps a
matrix already in memory; the trial series table gives
:meth:`~grekko_research.optimize.series.TrialSeriesStore.columns`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

__all__ = ["ColumnSource", "MatrixColumns", "RowsOf"]


class ColumnSource(Protocol):
    """A ``(days, trials)`` float64 matrix read by columns."""

    @property
    def shape(self) -> tuple[int, int]:
        """``(days, trials)``."""
        ...

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(first column, (days, <= size) block)`` over all columns, in order."""
        ...

    def take(self, columns: Sequence[int]) -> np.ndarray:
        """The ``(days, len(columns))`` block of those columns, in that order."""
        ...


@dataclass(frozen=True)
class MatrixColumns:
    """A matrix in memory as a :class:`ColumnSource`."""

    matrix: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        rows, cols = self.matrix.shape
        return int(rows), int(cols)

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        m = np.asarray(self.matrix, dtype=np.float64)
        for lo in range(0, m.shape[1], size):
            yield lo, m[:, lo : lo + size]

    def take(self, columns: Sequence[int]) -> np.ndarray:
        return np.asarray(self.matrix, dtype=np.float64)[:, np.asarray(columns, dtype=np.int64)]


@dataclass(frozen=True)
class RowsOf:
    """The rows ``rows`` (a boolean mask over the days) of another source."""

    source: ColumnSource
    rows: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return int(np.count_nonzero(self.rows)), self.source.shape[1]

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        for lo, block in self.source.chunks(size):
            yield lo, block[self.rows]

    def take(self, columns: Sequence[int]) -> np.ndarray:
        return self.source.take(columns)[self.rows]
