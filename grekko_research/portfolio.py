"""Merging several strategies' target positions into one account's (the coordinator's rules).

Each strategy of a portfolio runs on its own book (its *sleeve*: its own capital, sizing and
risk rules) and ends every decision with a target position per symbol, in units. The account
trades one merged target per symbol, chosen by a rule:

``sum``
    The sum of the targets: each sleeve trades its own capital, and opposite wishes net out
    inside the account instead of crossing the spread twice.
``vote``
    A weighted vote on the direction: long when the sleeves holding long positions carry more
    than ``quorum`` of the total weight, short likewise, flat otherwise (a flat sleeve votes
    for neither side but still counts in the total). The size is the weighted mean of the
    targets on the winning side (under a quorum below one half both sides can pass it: the
    heavier one wins, a tie stays flat).
``unanimous``
    Trade only what every sleeve agrees on: when all targets are long (or all short), the
    smallest of them; flat otherwise.

A NaN target is an abstention: the sleeve does not trade that symbol (a strategy of a
portfolio may trade some of its symbols only). It adds nothing to a sum, and its weight counts
in no vote on that symbol; a symbol no sleeve trades has the target 0.

Then the caps, with every rule: ``max_position`` bounds each symbol's ``|target| × price`` by a
fraction of the account's equity, and ``max_gross`` scales every target down by one factor
until ``Σ |target| × price`` is within its fraction of equity. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from grekko_research.errors import ConfigError

__all__ = ["MERGE_RULES", "Merge", "check_merge_rule", "merge_targets"]

MERGE_RULES = ("sum", "vote", "unanimous")


@dataclass(frozen=True)
class Merge:
    """A merged target per symbol (units), the rule's result before the caps, and which
    symbols a cap cut (``"position"``, ``"gross"`` or ``None``)."""

    target: np.ndarray
    raw: np.ndarray
    capped: tuple[str | None, ...]


def check_merge_rule(rule: str, quorum: float, weights: np.ndarray) -> None:
    """Refuse an unknown rule, a quorum outside ``[0, 1)`` or a negative or all-zero weight.

    Raises
    ------
    ConfigError
        Naming the value that is wrong.
    """
    if rule not in MERGE_RULES:
        raise ConfigError(f"portfolio.rule must be one of {list(MERGE_RULES)}, got {rule!r}")
    if not (0.0 <= quorum < 1.0):
        raise ConfigError(f"portfolio.quorum must be in [0, 1), got {quorum!r}")
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ConfigError(
            f"portfolio weights must be finite, non-negative and not all zero, got {w.tolist()}"
        )


def merge_targets(
    targets: np.ndarray,
    weights: np.ndarray,
    prices: np.ndarray,
    equity: float,
    *,
    rule: str = "sum",
    quorum: float = 0.5,
    max_position: float | None = None,
    max_gross: float | None = None,
) -> Merge:
    """Merge ``targets`` (sleeves × symbols, signed units) into one target per symbol.

    ``weights`` (one per sleeve) count in ``vote`` only; a NaN target abstains. ``prices`` value the targets for the
    caps (a NaN price leaves that symbol's target uncapped and out of the gross sum);
    ``equity`` is the account's. See the module docstring for the rules.
    """
    t = np.asarray(targets, dtype=np.float64)
    if t.ndim != 2:
        raise ValueError(f"targets must be sleeves × symbols, got shape {t.shape}")
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != t.shape[0]:
        raise ValueError(f"{w.shape[0]} weights for {t.shape[0]} sleeves")
    check_merge_rule(rule, quorum, w)
    px = np.asarray(prices, dtype=np.float64).reshape(t.shape[1])
    return _capped(_merge_raw(t, w, rule, quorum), px, equity, max_position, max_gross)


def _merge_raw(t: np.ndarray, w: np.ndarray, rule: str, quorum: float) -> np.ndarray:
    """The rule's merged target per symbol, before the caps (NaN targets abstain)."""
    k = t.shape[1]
    voting = ~np.isnan(t)
    sign = np.sign(np.where(voting, t, 0.0))
    if rule == "sum":
        return np.where(voting, t, 0.0).sum(axis=0)
    raw = np.zeros(k)
    if rule == "vote":
        for j in range(k):
            total = w[voting[:, j]].sum()
            longs, shorts = w[sign[:, j] > 0].sum(), w[sign[:, j] < 0].sum()
            if total == 0 or max(longs, shorts) <= quorum * total or longs == shorts:
                continue  # no side carries the quorum (or, under a low quorum, a tie)
            agree = sign[:, j] == (1.0 if longs > shorts else -1.0)
            raw[j] = float(np.dot(w[agree], t[agree, j]) / w[agree].sum())
    else:  # unanimous
        for j in range(k):
            col = t[voting[:, j], j]
            if col.size and np.all(col > 0):
                raw[j] = col.min()
            elif col.size and np.all(col < 0):
                raw[j] = col.max()
    return raw


def _capped(
    raw: np.ndarray,
    px: np.ndarray,
    equity: float,
    max_position: float | None,
    max_gross: float | None,
) -> Merge:
    """Apply the position and gross caps to ``raw`` at prices ``px`` and ``equity``."""
    k = raw.shape[0]
    out = raw.copy()
    capped: list[str | None] = [None] * k
    priced = np.isfinite(px) & (px > 0)
    if not math.isfinite(equity) or equity <= 0:
        # Nothing to size against: no new exposure at all.
        if max_position is not None or max_gross is not None:
            return Merge(np.zeros(k), raw, tuple("position" if x else None for x in raw != 0))
        return Merge(out, raw, tuple(capped))
    if max_position is not None:
        _cap_positions(out, capped, px, priced, max_position * equity)
    if max_gross is not None:
        _cap_gross(out, capped, px, priced, max_gross * equity)
    return Merge(out, raw, tuple(capped))
    if max_position is not None:
        _cap_positions(out, capped, px, priced, max_position * equity)
    if max_gross is not None:
        _cap_gross(out, capped, px, priced, max_gross * equity)
    return Merge(out, raw, tuple(capped))


def _cap_positions(
    out: np.ndarray, capped: list[str | None], px: np.ndarray, priced: np.ndarray, limit: float
) -> None:
    """Bound each priced symbol's ``|out| × px`` by ``limit`` (in place), marking ``"position"``."""
    for j in np.flatnonzero(priced).tolist():
        units = limit / px[j]
        if abs(out[j]) > units:
            out[j] = math.copysign(units, out[j])
            capped[j] = "position"


def _cap_gross(
    out: np.ndarray, capped: list[str | None], px: np.ndarray, priced: np.ndarray, limit: float
) -> None:
    """Scale every priced target by one factor until ``Σ |out| × px <= limit`` (in place)."""
    gross = float(np.sum(np.abs(out[priced]) * px[priced]))
    if gross > limit:
        factor = limit / gross
        for j in np.flatnonzero(priced & (out != 0)).tolist():
            out[j] *= factor
            capped[j] = "gross"
