"""Wyckoff phases, bull traps and capitulations as labelled events with their evidence.

Thin wrappers over :mod:`grekko_research.analysis.phases_nb`: they validate, call the
kernel on one symbol's 1-D bars and return pandas frames with named evidence columns and
the event times (``bar`` where it began, ``confirmed`` where it became knowable).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from grekko_research.analysis.phases_nb import bull_traps_nb, capitulations_nb, wyckoff_nb
from grekko_research.errors import ConfigError

__all__ = [
    "PHASE_NAMES",
    "CapitulationParams",
    "TrapParams",
    "WyckoffParams",
    "bull_traps",
    "capitulations",
    "wyckoff_phases",
]

PHASE_NAMES = ("range", "accumulation", "markup", "distribution", "markdown")
_WYCKOFF_EVENTS = ("selling_climax", "buying_climax", "spring", "upthrust")


@dataclass(frozen=True)
class WyckoffParams:
    """Rule-based Wyckoff phases (see :func:`~grekko_research.analysis.phases_nb.wyckoff_nb`)."""

    window: int = field(default=50, metadata={"bounds": (10, 500)})
    trend_z: float = field(default=1.0, metadata={"bounds": (0.25, 4.0)})
    climax_z: float = field(default=2.5, metadata={"bounds": (1.0, 6.0)})


@dataclass(frozen=True)
class TrapParams:
    """Bull traps (see :func:`~grekko_research.analysis.phases_nb.bull_traps_nb`)."""

    lookback: int = field(default=50, metadata={"bounds": (5, 500)})
    fail_within: int = field(default=5, metadata={"bounds": (1, 100)})
    max_volume_ratio: float = field(default=1.0, metadata={"bounds": (0.1, 10.0)})


@dataclass(frozen=True)
class CapitulationParams:
    """Capitulations (see :func:`~grekko_research.analysis.phases_nb.capitulations_nb`)."""

    window: int = field(default=60, metadata={"bounds": (10, 1000)})
    return_z: float = field(default=3.5, metadata={"bounds": (1.0, 10.0)})
    volume_z: float = field(default=2.0, metadata={"bounds": (0.0, 10.0)})
    recover_within: int = field(default=10, metadata={"bounds": (1, 500)})
    rebound: float = field(default=0.05, metadata={"bounds": (0.001, 1.0)})


def _series(func: str, **arrays: object) -> list[np.ndarray]:
    out = []
    shape = None
    for name, x in arrays.items():
        a = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
        if a.ndim != 1:
            raise ConfigError(f"{func}: {name} must be one symbol's 1-D array, got shape {a.shape}")
        if shape is not None and a.shape != shape:
            raise ConfigError(f"{func}: {name} has shape {a.shape}, expected {shape}")
        shape = a.shape
        out.append(a)
    return out


def _check_positive(func: str, params: object) -> None:
    for name, value in vars(params).items():
        if isinstance(value, int | float) and value <= 0 and name != "volume_z":
            raise ConfigError(f"{func}: {name} must be > 0, got {value}")


def _times(index: np.ndarray | None, rows: np.ndarray) -> pd.DatetimeIndex | np.ndarray:
    if index is None:
        return rows
    return pd.to_datetime(np.asarray(index)[rows], unit="ms", utc=True)


def wyckoff_phases(
    high: object,
    low: object,
    close: object,
    volume: object,
    params: WyckoffParams | None = None,
    index: np.ndarray | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """Return (phase code per bar, NaN in warm-up; events) for one symbol.

    Phase codes index :data:`PHASE_NAMES`. Events: ``kind`` (selling/buying climax,
    spring, upthrust), ``bar``, ``time`` (from ``index``, ms bar opens, when given),
    ``close``, ``volume_z``, ``support``, ``resistance``, ``trend_z``.
    """
    p = params or WyckoffParams()
    _check_positive("wyckoff_phases", p)
    h, lo, c, v = _series("wyckoff_phases", high=high, low=low, close=close, volume=volume)
    phase, ev = wyckoff_nb(h, lo, c, v, p.window, p.trend_z, p.climax_z)
    frame = pd.DataFrame(
        ev[:, 1:7], columns=["bar", "close", "volume_z", "support", "resistance", "trend_z"]
    )
    frame.insert(0, "kind", [_WYCKOFF_EVENTS[int(k)] for k in ev[:, 0]])
    frame["bar"] = frame["bar"].astype(np.int64)
    frame.insert(2, "time", _times(index, frame["bar"].to_numpy()))
    return phase, frame


def bull_traps(
    high: object,
    close: object,
    volume: object,
    params: TrapParams | None = None,
    index: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return the bull traps of one symbol, one row each, with the evidence.

    Columns: ``bar`` (the breakout), ``confirmed`` (the close back below the level),
    ``level`` (the resistance broken), ``breakout_close``, ``volume_ratio`` (breakout volume /
    prior mean), ``peak`` (highest high before the failure), ``fail_close``, ``bars``;
    ``time`` / ``confirmed_time`` from ``index`` when given.
    """
    p = params or TrapParams()
    _check_positive("bull_traps", p)
    h, c, v = _series("bull_traps", high=high, close=close, volume=volume)
    ev = bull_traps_nb(h, c, v, p.lookback, p.fail_within, p.max_volume_ratio)
    cols = [
        "bar",
        "confirmed",
        "level",
        "breakout_close",
        "volume_ratio",
        "peak",
        "fail_close",
        "bars",
    ]
    frame = pd.DataFrame(ev, columns=cols)
    for col in ("bar", "confirmed", "bars"):
        frame[col] = frame[col].astype(np.int64)
    frame["time"] = _times(index, frame["bar"].to_numpy())
    frame["confirmed_time"] = _times(index, frame["confirmed"].to_numpy())
    return frame


def capitulations(
    close: object,
    low: object,
    volume: object,
    params: CapitulationParams | None = None,
    index: np.ndarray | None = None,
) -> pd.DataFrame:
    """Return the capitulations of one symbol, one row each, with the evidence.

    Columns: ``bar`` (the crash bar), ``confirmed`` (the recovery close), ``return`` (log),
    ``return_z``, ``volume_z``, ``low`` (lowest low from the crash to the recovery),
    ``recovery_close``, ``rebound``; ``time`` / ``confirmed_time`` from ``index``.
    """
    p = params or CapitulationParams()
    _check_positive("capitulations", p)
    c, lo, v = _series("capitulations", close=close, low=low, volume=volume)
    ev = capitulations_nb(c, lo, v, p.window, p.return_z, p.volume_z, p.recover_within, p.rebound)
    cols = [
        "bar",
        "confirmed",
        "return",
        "return_z",
        "volume_z",
        "low",
        "recovery_close",
        "rebound",
    ]
    frame = pd.DataFrame(ev, columns=cols)
    for col in ("bar", "confirmed"):
        frame[col] = frame[col].astype(np.int64)
    frame["time"] = _times(index, frame["bar"].to_numpy())
    frame["confirmed_time"] = _times(index, frame["confirmed"].to_numpy())
    return frame
