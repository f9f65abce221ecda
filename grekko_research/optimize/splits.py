"""Validation windows: walk-forward folds and combinatorial purged cross-validation splits.

Pure index arithmetic over rows ``[start, n)`` of the bars; windows are
half-open row ranges ``(start, end)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from grekko_research.errors import ConfigError

__all__ = ["Fold", "cv_splits", "walk_forward_folds"]


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: in-sample rows ``[is_start, is_end)``, out-of-sample ``[is_end, oos_end)``."""

    k: int
    is_start: int
    is_end: int
    oos_end: int


def walk_forward_folds(
    n: int, warmup: int, folds: int, oos_fraction: float, anchored: bool
) -> list[Fold]:
    """Split ``n`` bars: the last ``oos_fraction`` into ``folds`` test windows, each after its training.

    Rolling (default): every in-sample window has the length of the first,
    which runs from the first bar after the warm-up to the first test window.
    Anchored: every in-sample window starts there.
    """
    if folds < 1:
        raise ConfigError(f"optimize.folds must be >= 1, got {folds}")
    if not 0.0 < oos_fraction < 1.0:
        raise ConfigError(f"optimize.oos_fraction must be in (0, 1), got {oos_fraction}")
    start = warmup
    usable = n - start
    test = int(usable * oos_fraction) // folds
    first_test = n - test * folds
    train = first_test - start
    if test < 2 or train < 2 * folds:
        raise ConfigError(
            f"{n} bars with a warm-up of {warmup} are too few for {folds} walk-forward folds"
        )
    out = []
    for k in range(folds):
        is_end = first_test + k * test
        is_start = start if anchored else is_end - train
        out.append(Fold(k, is_start, is_end, is_end + test))
    return out


def _blocks(n: int, start: int, k: int) -> list[tuple[int, int]]:
    """``k`` contiguous blocks of rows ``[start, n)`` (the first ones one row longer when uneven)."""
    edges = np.linspace(start, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(edges)]


def _train_segments(
    blocks: Sequence[tuple[int, int]], test: Sequence[int], purge: int, embargo: int
) -> tuple[tuple[int, int], ...]:
    """The blocks not in ``test``, minus ``purge`` rows before and ``embargo`` rows after each test block."""
    out: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(blocks):
        if i in test:
            continue
        if i + 1 in test:
            b -= purge  # rows just before a test block: their trades would run into it
        if i - 1 in test:
            a += embargo  # rows just after a test block: still correlated with it
        if b - a >= 2:
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)  # neighbours merge into one window
            else:
                out.append((a, b))
    return tuple(out)


def cv_splits(
    n: int, start: int, groups: int, test_groups: int, purge: int, embargo: int
) -> list[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]]:
    """Combinatorial purged cross-validation splits (López de Prado): every choice of test blocks.

    Rows ``[start, n)`` are cut into ``groups`` blocks; each split tests
    ``test_groups`` of them and trains on the rest, purged and embargoed
    around every test block. ``test_groups=1`` is purged k-fold.
    Returns ``(test block ids, train segments)`` per split.
    """
    from itertools import combinations

    if not 1 <= test_groups < groups:
        raise ConfigError(
            f"optimize.test_groups must be between 1 and folds - 1, got {test_groups} of {groups}"
        )
    blocks = _blocks(n, start, groups)
    if min(b - a for a, b in blocks) < max(2 * purge, 4):
        raise ConfigError(
            f"{n - start} bars are too few for {groups} blocks with a purge of {purge}"
        )
    out = []
    for test in combinations(range(groups), test_groups):
        out.append((test, _train_segments(blocks, test, purge, embargo)))
    return out


def _first_half(segments: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    if len(segments) > 1:
        return tuple(segments[: max(len(segments) // 2, 1)])
    start, end = segments[0]
    return ((start, start + (end - start) // 2),)
