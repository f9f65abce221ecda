"""The conformance suite: checks every strategy must pass, runnable on a user's own strategy.

    from grekko_research.strategy import check_strategy
    report = check_strategy(MyStrategy(), [bars_1h, bars_1d])
    print(report)                 # one line per check
    report.raise_for_failures()   # ConformanceError listing what is wrong

Checks (each a line of the report):

``search_space``
    The parameter dataclass is frozen, every field has a default inside its
    bounds or choices, and the defaults validate.
``params_roundtrip``
    Parameters survive a trip through a plain mapping, JSON and OmegaConf
    (what Hydra does with them) unchanged.
``deterministic``
    Two calls on the same bars give identical signals.
``no_mutation``
    ``signals`` leaves its input bars (prices, volume, extras) untouched and
    does not try to write to them.
``causal``
    At random cut points ``t`` the signals computed on ``bars[:t]`` equal the
    full run's first ``t`` rows, and so do the signals computed after every
    price from row ``t`` on is multiplied (or divided) by 3: no decision uses
    a later bar, not even the next one.
``warmup``
    ``warmup(params)`` is a whole number of bars and suffices: started at a
    random later bar, the strategy reproduces the full run's signals from
    ``warmup`` bars on.
``runs[<timeframe>]``
    On each sample the signals backtest without error under the strategy's
    engine configuration.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grekko_research.data.bars import FIELDS, Bars
from grekko_research.engine import EngineConfig, backtest
from grekko_research.errors import GrekkoError
from grekko_research.strategy.base import SignalForm, Strategy
from grekko_research.strategy.params import (
    params_from_mapping,
    params_to_mapping,
    search_space,
    validate_params,
)

__all__ = ["Check", "ConformanceError", "ConformanceReport", "check_strategy", "rewrite_future"]


class ConformanceError(GrekkoError):
    """A strategy broke the contract; the message lists every failed check."""


@dataclass(frozen=True)
class Check:
    """One check's outcome."""

    name: str
    ok: bool
    message: str


@dataclass
class ConformanceReport:
    """Every check run on one strategy."""

    strategy: str
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(c.ok for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        """The failed checks."""
        return [c for c in self.checks if not c.ok]

    def raise_for_failures(self) -> None:
        """Raise :class:`ConformanceError` naming every failed check, if any."""
        if not self.ok:
            lines = [f"  {c.name}: {c.message}" for c in self.failures]
            raise ConformanceError(
                f"strategy {self.strategy!r} fails {len(lines)} conformance check(s):\n"
                + "\n".join(lines)
            )

    def __str__(self) -> str:
        lines = [f"conformance of {self.strategy!r}: {'ok' if self.ok else 'FAILED'}"]
        lines += [f"  [{'ok' if c.ok else 'FAIL'}] {c.name}: {c.message}" for c in self.checks]
        return "\n".join(lines)


def _arrays(form: SignalForm, bars: Bars) -> dict[str, np.ndarray]:
    """The signal form as the engine sees it: named ``(n, k)`` arrays."""
    from grekko_research.engine.api import _kernel_inputs

    inputs = _kernel_inputs(bars, form)
    return {
        k: v
        for k, v in inputs.items()
        if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[0] == bars.n_bars
    }


def _first_difference(
    a: dict[str, np.ndarray], b: dict[str, np.ndarray], rows: slice, offset: int = 0
) -> tuple[str, int] | None:
    """Return ``(array name, row of a)`` of the first difference of ``a[rows]`` and ``b``, or None.

    ``b`` is compared from its row 0 (``offset`` shifts ``b``'s rows: row
    ``r`` of ``a`` matches row ``r - offset`` of ``b``). Floats compare equal
    when both are NaN or within 1e-9 relative.
    """
    for name in a:
        x = a[name][rows]
        start = rows.start or 0
        y = b[name][start - offset : start - offset + x.shape[0]]
        if x.dtype.kind == "f":
            same = (x == y) | (np.isnan(x) & np.isnan(y)) | np.isclose(x, y, rtol=1e-9, atol=0.0)
        else:
            same = x == y
        if not same.all():
            row = int(np.argwhere(~same)[0][0])
            return name, start + row
    return None


def _copy_bars(bars: Bars) -> Bars:
    return Bars(
        index=bars.index.copy(),
        symbols=bars.symbols,
        timeframe=bars.timeframe,
        open=bars.open.copy(),
        high=bars.high.copy(),
        low=bars.low.copy(),
        close=bars.close.copy(),
        volume=bars.volume.copy(),
        filled=bars.filled.copy(),
        exchange=bars.exchange,
        market=bars.market,
        extras={k: v.copy() for k, v in bars.extras.items()},
    )


def rewrite_future(bars: Bars, t: int, factor: float) -> Bars:
    """Return a copy of ``bars`` with every price, volume and extra from row ``t`` on scaled by ``factor``.

    The lookahead check's probe: anything computed for rows before ``t`` must not change when
    the future is rewritten. Public because feature checks (:mod:`grekko_research.analysis.features`)
    run the same probe on non-strategy series.
    """

    def scaled(x: np.ndarray) -> np.ndarray:
        out = x.copy()
        out[t:] *= factor
        return out

    return Bars(
        index=bars.index,
        symbols=bars.symbols,
        timeframe=bars.timeframe,
        filled=bars.filled,
        exchange=bars.exchange,
        market=bars.market,
        extras={k: scaled(v) for k, v in bars.extras.items()},
        **{f: scaled(getattr(bars, f)) for f in FIELDS},
    )


def _when(bars: Bars, row: int) -> str:
    return f"row {row} ({bars.datetime_index[row]:%Y-%m-%d %H:%M})"


def check_strategy(
    strategy: Strategy,
    samples: Bars | Sequence[Bars],
    *,
    params: Any = None,
    cuts: int = 8,
    seed: int = 0,
    config: EngineConfig | None = None,
) -> ConformanceReport:
    """Run every conformance check on ``strategy`` with ``params`` (default: its defaults).

    ``samples`` are real bars, e.g. one per shipped timeframe; the causality,
    warm-up, determinism and mutation checks use the first, every sample is
    backtested. Each sample must be longer than the warm-up plus a few bars.
    Never raises for a broken strategy: failures are in the report (see
    :meth:`ConformanceReport.raise_for_failures`).
    """
    bars_list = [samples] if isinstance(samples, Bars) else list(samples)
    name = getattr(strategy, "name", "") or type(strategy).__name__
    report = ConformanceReport(strategy=name)
    add = report.checks.append
    if not bars_list:
        add(Check("samples", False, "no bars to check on"))
        return report

    # -- parameters ------------------------------------------------------------------
    check, params = _check_params(strategy, params)
    add(check)
    if not check.ok:
        return report
    add(_check_roundtrip(strategy, params))
    bars = bars_list[0]
    warmup, problem = _warmup_of(strategy, params)
    if problem is not None:
        add(problem)
    if warmup >= 0 and bars.n_bars < warmup + 10:
        add(Check("samples", False, f"{bars.n_bars} bars cannot test a warm-up of {warmup}"))
        return report

    # -- determinism and mutation --------------------------------------------------------
    full, checks = _check_no_mutation(strategy, bars, params)
    report.checks.extend(checks)
    if full is None:
        return report
    again = _arrays(strategy.signals(bars, params), bars)
    diff = _first_difference(full, again, slice(0, bars.n_bars))
    add(
        Check(
            "deterministic",
            diff is None,
            "two runs agree"
            if diff is None
            else f"two runs on the same bars differ in {diff[0]} at {_when(bars, diff[1])}",
        )
    )

    # -- causality and warm-up (one random stream, in this order) --------------------------
    rng = np.random.default_rng(seed)
    add(_check_causal(strategy, bars, params, full, rng, warmup, cuts))
    if warmup >= 0:
        add(_check_warmup(strategy, bars, params, full, rng, warmup, cuts))

    # -- runs on every sample -------------------------------------------------------------
    report.checks.extend(_check_runs(strategy, bars_list, params, config or EngineConfig()))
    return report


def _check_params(strategy: Strategy, params: Any) -> tuple[Check, Any]:
    """The ``search_space`` check, and the parameters to run with (the defaults if ``None``)."""
    try:
        space = search_space(strategy.Params)
        if params is None:
            params = strategy.Params()
        validate_params(params)
    except Exception as exc:
        return Check("search_space", False, str(exc)), params
    return Check("search_space", True, f"{len(space)} parameter(s): {', '.join(space)}"), params


def _check_roundtrip(strategy: Strategy, params: Any) -> Check:
    """Parameters survive a plain mapping, JSON and OmegaConf unchanged."""
    try:
        from omegaconf import OmegaConf

        mapping = params_to_mapping(params)
        via_json: Any = params_from_mapping(strategy.Params, json.loads(json.dumps(mapping)))
        node = OmegaConf.create(mapping)
        via_omegaconf: Any = params_from_mapping(
            strategy.Params,
            OmegaConf.to_container(node, resolve=True),  # type: ignore[arg-type]
        )
        if via_json != params or via_omegaconf != params:
            raise ValueError(f"{params!r} came back as {via_json!r} / {via_omegaconf!r}")
    except Exception as exc:
        return Check("params_roundtrip", False, f"parameters do not round-trip: {exc}")
    return Check("params_roundtrip", True, "mapping, JSON and OmegaConf give the same params")


def _warmup_of(strategy: Strategy, params: Any) -> tuple[int, Check | None]:
    """``warmup(params)`` as an int, or ``-1`` and the failed ``warmup`` check."""
    try:
        warmup = strategy.warmup(params)
        if isinstance(warmup, bool) or not isinstance(warmup, int | np.integer) or warmup < 0:
            raise ValueError(f"warmup() returned {warmup!r}, not a whole number of bars >= 0")
    except Exception as exc:
        return -1, Check("warmup", False, str(exc))
    return int(warmup), None


def _check_no_mutation(
    strategy: Strategy, bars: Bars, params: Any
) -> tuple[dict[str, np.ndarray] | None, list[Check]]:
    """Run the signals on a private copy of ``bars``: the full run's arrays (``None`` when the
    suite must stop) and the checks it decided (``no_mutation``, or a failed ``runs``)."""
    private = _copy_bars(bars)
    before = {f: getattr(private, f).copy() for f in (*FIELDS, "filled", "index")}
    before.update({f"extras[{k}]": v.copy() for k, v in private.extras.items()})
    try:
        full = _arrays(strategy.signals(private, params), private)
    except ValueError as exc:
        if "read-only" in str(exc):
            msg = f"signals() tried to write into its input bars: {exc}"
            return None, [Check("no_mutation", False, msg)]
        return None, [Check("runs", False, f"signals() failed: {type(exc).__name__}: {exc}")]
    except Exception as exc:
        return None, [Check("runs", False, f"signals() failed: {type(exc).__name__}: {exc}")]
    after = {f: getattr(private, f) for f in (*FIELDS, "filled", "index")}
    after.update({f"extras[{k}]": v for k, v in private.extras.items()})
    changed = [f for f in before if not np.array_equal(before[f], after[f], equal_nan=True)]
    if changed:
        msg = f"signals() modified its input bars: {', '.join(changed)}"
        return None, [Check("no_mutation", False, msg)]
    return full, [Check("no_mutation", True, "input bars unchanged")]


def _check_causal(
    strategy: Strategy,
    bars: Bars,
    params: Any,
    full: dict[str, np.ndarray],
    rng: np.random.Generator,
    warmup: int,
    cuts: int,
) -> Check:
    """Signals on ``bars[:t]``, and with the future rewritten, equal the full run's up to ``t``."""
    lo = max(warmup, 1) + 2
    points = (
        sorted(set(rng.integers(lo, bars.n_bars, size=cuts).tolist())) if lo < bars.n_bars else []
    )
    problem = None
    for i, t in enumerate(points):
        part = _arrays(strategy.signals(bars[:t], params), bars[:t])
        diff = _first_difference(full, part, slice(0, t))
        if diff is not None:
            problem = (
                f"{diff[0]} at {_when(bars, diff[1])} differs when computed on bars[:{t}] "
                f"instead of all {bars.n_bars} bars: the strategy looks ahead"
            )
            break
        # A lookahead of a bar or two shows only where a decision flips: rewrite the future
        # (prices from row t on multiplied by 3, or divided by 3) so that it would flip.
        factor = 3.0 if i % 2 == 0 else 1.0 / 3.0
        rewritten = rewrite_future(bars, t, factor)
        moved = _arrays(strategy.signals(rewritten, params), rewritten)
        diff = _first_difference(full, moved, slice(0, t))
        if diff is not None:
            problem = (
                f"{diff[0]} at {_when(bars, diff[1])} changes when the prices from row {t} on "
                f"are multiplied by {factor:.3g}: the strategy looks ahead"
            )
            break
    return Check("causal", problem is None, problem or f"{len(points)} cut points agree")


def _check_warmup(
    strategy: Strategy,
    bars: Bars,
    params: Any,
    full: dict[str, np.ndarray],
    rng: np.random.Generator,
    warmup: int,
    cuts: int,
) -> Check:
    """Started at random later bars, the signals equal the full run's from ``warmup`` bars on."""
    problem = None
    span = bars.n_bars - warmup - 2
    starts = sorted(set(rng.integers(1, span, size=max(cuts // 2, 2)).tolist())) if span > 1 else []
    for s in starts:
        part = _arrays(strategy.signals(bars[s:], params), bars[s:])
        diff = _first_difference(full, part, slice(s + warmup, bars.n_bars), offset=s)
        if diff is not None:
            problem = (
                f"started at row {s}, {diff[0]} differs from the full run at "
                f"{_when(bars, diff[1])}, {diff[1] - s} bars in, although warmup() says "
                f"{warmup} bars suffice"
            )
            break
    return Check(
        "warmup",
        problem is None,
        problem or f"{warmup} bars suffice from {len(starts)} starts",
    )


def _check_runs(
    strategy: Strategy, bars_list: list[Bars], params: Any, base: EngineConfig
) -> list[Check]:
    """Each sample backtests under the strategy's engine configuration, to a finite equity."""
    checks = []
    for sample in bars_list:
        label = f"runs[{sample.timeframe} {'/'.join(sample.symbols)}]"
        try:
            cfg = strategy.configure(base, params)
            result = backtest(sample, strategy.signals(sample, params), cfg)
            value = result.final_equity
            if not math.isfinite(value):
                raise ValueError(f"final equity is {value}")
            checks.append(Check(label, True, f"{sample.n_bars} bars, {result.n_trades} trades"))
        except Exception as exc:
            checks.append(Check(label, False, f"{type(exc).__name__}: {exc}"))
    return checks
