"""The coordinator's merge rules: sum, weighted vote, unanimous, and the caps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from grekko_research.errors import ConfigError
from grekko_research.portfolio import merge_targets

finite = st.floats(-50, 50, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 3))


@st.composite
def books(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 5))
    k = draw(st.integers(1, 4))
    targets = draw(arrays(np.float64, (n, k), elements=finite))
    weights = draw(arrays(np.float64, n, elements=st.floats(0.1, 5).map(lambda x: round(x, 2))))
    prices = draw(arrays(np.float64, k, elements=st.floats(0.5, 1000).map(lambda x: round(x, 2))))
    return targets, weights, prices


@given(books())
@settings(max_examples=200, deadline=None)
def test_sum_without_caps_is_the_column_sum(book: tuple[np.ndarray, ...]) -> None:
    t, w, p = book
    m = merge_targets(t, w, p, 1e6, rule="sum")
    np.testing.assert_allclose(m.target, t.sum(axis=0))
    assert m.capped == (None,) * t.shape[1]


@given(
    books(), st.floats(0.01, 2), st.floats(0.01, 3), st.sampled_from(["sum", "vote", "unanimous"])
)
@settings(max_examples=300, deadline=None)
def test_caps_hold_and_keep_direction(
    book: tuple[np.ndarray, ...], max_position: float, max_gross: float, rule: str
) -> None:
    t, w, p = book
    equity = 10_000.0
    m = merge_targets(t, w, p, equity, rule=rule, max_position=max_position, max_gross=max_gross)
    value = np.abs(m.target) * p
    assert np.all(value <= max_position * equity * (1 + 1e-9))
    assert value.sum() <= max_gross * equity * (1 + 1e-9)
    assert np.all(np.abs(m.target) <= np.abs(m.raw) + 1e-12)  # caps only shrink
    assert np.all(np.sign(m.target) * np.sign(m.raw) >= 0)  # … and never flip a side
    for j, cap in enumerate(m.capped):
        if cap is None:
            assert m.target[j] == m.raw[j]


@given(books())
@settings(max_examples=300, deadline=None)
def test_unanimous_trades_only_the_common_part(book: tuple[np.ndarray, ...]) -> None:
    t, w, p = book
    m = merge_targets(t, w, p, 1e6, rule="unanimous")
    for j in range(t.shape[1]):
        col = t[:, j]
        if np.all(col > 0):
            assert m.target[j] == col.min()
        elif np.all(col < 0):
            assert m.target[j] == col.max()
        else:
            assert m.target[j] == 0.0


@given(books(), st.floats(0.0, 0.99))
@settings(max_examples=300, deadline=None)
def test_vote_follows_the_weighted_majority(book: tuple[np.ndarray, ...], quorum: float) -> None:
    t, w, p = book
    m = merge_targets(t, w, p, 1e6, rule="vote", quorum=quorum)
    for j in range(t.shape[1]):
        longs, shorts = w[t[:, j] > 0].sum(), w[t[:, j] < 0].sum()
        wins_long = longs > quorum * w.sum() and longs > shorts
        wins_short = shorts > quorum * w.sum() and shorts > longs
        if wins_long:
            side = t[t[:, j] > 0, j]
            assert side.min() - 1e-9 <= m.target[j] <= side.max() + 1e-9  # a weighted mean
            assert m.target[j] == pytest.approx(np.dot(w[t[:, j] > 0], side) / w[t[:, j] > 0].sum())
        elif wins_short:
            side = t[t[:, j] < 0, j]
            assert side.min() - 1e-9 <= m.target[j] <= side.max() + 1e-9
        else:
            assert m.target[j] == 0.0


def test_one_sleeve_is_the_same_under_every_rule() -> None:
    t = np.array([[1.5, -2.0, 0.0]])
    for rule in ("sum", "vote", "unanimous"):
        got = merge_targets(t, np.array([1.0]), np.ones(3), 1e6, rule=rule).target
        np.testing.assert_array_equal(got, t[0])


def test_examples() -> None:
    t = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, -1.0]])
    w = np.array([1.0, 1.0, 2.0])
    px = np.array([100.0, 10.0])
    assert merge_targets(t, w, px, 1e6, rule="sum").target.tolist() == [4.0, 0.0]
    # vote: BTC long weight 2/4 (not > 0.5) → flat; ETH short weight 3/4 → mean of -1, -1
    assert merge_targets(t, w, px, 1e6, rule="vote").target.tolist() == [0.0, -1.0]
    assert merge_targets(t, w, px, 1e6, rule="vote", quorum=0.4).target.tolist() == [2.0, -1.0]
    assert merge_targets(t, w, px, 1e6, rule="unanimous").target.tolist() == [0.0, 0.0]
    capped = merge_targets(t, w, px, 1000.0, rule="sum", max_position=0.2)
    assert capped.target.tolist() == [2.0, 0.0] and capped.capped == ("position", None)
    gross = merge_targets(np.array([[4.0, 40.0]]), [1.0], px, 1000.0, max_gross=0.4)
    assert gross.target.tolist() == pytest.approx([2.0, 20.0])  # 800 → 400: halved
    nothing = merge_targets(t, w, px, 0.0, rule="sum", max_gross=1.0)
    assert nothing.target.tolist() == [0.0, 0.0]  # no equity: no exposure


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"rule": "mean"}, "portfolio.rule"),
        ({"quorum": 1.0}, "portfolio.quorum"),
        ({"quorum": -0.1}, "portfolio.quorum"),
        ({"weights": np.array([0.0, 0.0])}, "weights"),
        ({"weights": np.array([1.0, -1.0])}, "weights"),
        ({"weights": np.array([1.0, np.nan])}, "weights"),
    ],
)
def test_bad_rules_are_refused(kw: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"weights": np.array([1.0, 1.0])} | kw
    weights = args.pop("weights")
    with pytest.raises(ConfigError, match=match):
        merge_targets(np.ones((2, 1)), weights, np.ones(1), 1.0, **args)  # type: ignore[arg-type]


def test_a_nan_target_abstains() -> None:
    """A sleeve that does not trade a symbol neither adds to it nor votes on it."""
    nan = np.nan
    t = np.array([[1.0, nan], [nan, -2.0], [3.0, nan]])
    w = np.array([1.0, 5.0, 1.0])
    px = np.ones(2)
    assert merge_targets(t, w, px, 1e6, rule="sum").target.tolist() == [4.0, -2.0]
    # BTC: only sleeves 0 and 2 vote (both long): the heavy abstainer does not dilute them.
    assert merge_targets(t, w, px, 1e6, rule="vote").target.tolist() == [2.0, -2.0]
    assert merge_targets(t, w, px, 1e6, rule="unanimous").target.tolist() == [1.0, -2.0]
    nobody = np.array([[nan], [nan]])
    for rule in ("sum", "vote", "unanimous"):
        assert merge_targets(nobody, [1.0, 1.0], [1.0], 1e6, rule=rule).target.tolist() == [0.0]
