"""Regression backtests: experiment specs with pinned baselines, re-run and compared.

An experiment is one YAML file in ``experiments/`` (the format is documented
in ``experiments/README.md``)::

    name: sma_cross_btc_1h              # equal to the file name without .yaml
    description: SMA cross on BTC/USDT spot, hourly.
    overrides: [strategy=sma_cross, data=btc_1h, data.start=2020-12-01, data.end=2021-07-17]
    data_files: [ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz]   # optional; shared-data files
    baseline:                           # written by update_baselines()
      config_id: "d67fb8d767fb"
      trades_hash: "9c0…"
      data: {bars: 5461, start: "…", end: "…", hash: "…"}
      metrics:
        final_equity: {value: 12422.511113985229, rel: 1.0e-09, abs: 1.0e-12}
        n_trades: {value: 69}

:func:`run_experiments` composes each spec's overrides with
:func:`~grekko_research.config.compose_config`, backtests it on the local
store and compares what it observes with the baseline: one :class:`Check`
per pinned value. :func:`update_baselines` re-pins the baselines of a run,
rewriting only the ``baseline:`` block of each file (atomically), so the
rest of the file, comments included, stays as it was.

What is compared
----------------
* ``config_id`` — the resolved configuration; it changes when ``conf/``
  defaults or the schema change, even if the results do not.
* ``trades_hash`` — SHA-256 of :func:`canonical_trades`: every trade record,
  integer fields exactly and float fields rounded to
  :data:`SIGNIFICANT_DIGITS` significant digits. The engine is deterministic,
  but numba compiles for the host CPU and math functions (``exp``, ``log``,
  ``pow``; numpy's SIMD loops, SVML when installed) may differ in the last
  ulp between machines; 10 digits ignore that noise and still catch any
  change of a trade's bar, size, price, fee or P&L.
* ``data.bars``, ``data.start``, ``data.end``, ``data.hash`` — the bars the
  run read (exact bytes of the index, OHLCV, filled flags and extras such as
  funding rates): a drift here means the store differs, not the code.
* metrics — ``final_equity``, ``n_trades`` and any of
  :data:`~grekko_research.metrics.METRIC_NAMES`, each with a tolerance:
  counts exactly, other values within ``max(abs, rel × |baseline|)``
  (default ``rel=1e-9, abs=1e-12``). ``null`` pins NaN/undefined.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grekko_research._atomic import atomic_write_text
from grekko_research.errors import ConfigError, DataNotFoundError
from grekko_research.metrics import METRIC_NAMES

if TYPE_CHECKING:
    from grekko_research.data.bars import Bars
    from grekko_research.data.store import ParquetStore

__all__ = [
    "COUNT_METRICS",
    "DEFAULT_METRICS",
    "DEFAULT_TOLERANCE",
    "METRICS",
    "SIGNIFICANT_DIGITS",
    "Baseline",
    "BaselineChange",
    "BaselineUpdate",
    "Check",
    "DataFingerprint",
    "Experiment",
    "Observation",
    "PinnedValue",
    "RegressResult",
    "Tolerance",
    "Value",
    "baseline_block",
    "canonical_trades",
    "compare",
    "data_hash",
    "default_tolerance",
    "experiments_dir",
    "load_experiment",
    "load_experiments",
    "observe",
    "run_experiments",
    "trades_hash",
    "update_baselines",
]

SIGNIFICANT_DIGITS = 10
"""Significant digits of the float fields of :func:`canonical_trades`."""

METRICS: tuple[str, ...] = ("final_equity", "n_trades", *METRIC_NAMES)
"""Every value a baseline may pin."""

DEFAULT_METRICS: tuple[str, ...] = (
    "final_equity",
    "n_trades",
    "total_return",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "max_drawdown_duration",
    "exposure",
    "turnover",
    "win_rate",
    "profit_factor",
)
"""The values a new baseline pins."""

COUNT_METRICS = frozenset({"n_trades", "trade_count", "max_drawdown_duration"})
"""Values compared exactly by default (counts of trades or bars)."""

_README_HINT = "the files the experiments read are listed in experiments/README.md"
_TOP_KEYS = ("name", "description", "overrides", "data_files", "baseline")
_BASELINE_KEYS = ("config_id", "trades_hash", "data", "metrics")
_DATA_KEYS = ("bars", "start", "end", "hash")
_BLOCK_COMMENT = (
    "  # Pinned by `grekko regress --update`: edit the tolerances here; re-pin the values "
    "with --update.\n"
)

Value = float | int | str | None


@dataclass(frozen=True)
class Tolerance:
    """How far an observed value may be from its baseline: ``max(abs, rel × |baseline|)``."""

    rel: float = 0.0
    abs: float = 0.0

    @property
    def exact(self) -> bool:
        """True when no difference at all is allowed."""
        return self.rel == 0.0 and self.abs == 0.0

    def allows(self, baseline: Value, actual: Value) -> bool:
        """Return whether ``actual`` matches ``baseline`` (``None`` only matches ``None``)."""
        if baseline is None or actual is None:
            return baseline is None and actual is None
        if isinstance(baseline, str) or isinstance(actual, str):
            return baseline == actual
        if self.exact:
            return baseline == actual
        return abs(actual - baseline) <= max(self.abs, self.rel * abs(baseline))

    def to_dict(self) -> dict[str, float]:
        """Return the non-zero bounds (``{}`` when exact)."""
        out = {}
        if self.rel:
            out["rel"] = self.rel
        if self.abs:
            out["abs"] = self.abs
        return out

    def __str__(self) -> str:
        if self.exact:
            return "exact"
        return ", ".join(f"{k} {v:g}" for k, v in self.to_dict().items())


DEFAULT_TOLERANCE = Tolerance(rel=1e-9, abs=1e-12)
"""The tolerance of non-count values unless the spec says otherwise."""

EXACT = Tolerance()


def default_tolerance(name: str) -> Tolerance:
    """Return the default tolerance of a pinned value: exact for counts, else rel 1e-9."""
    return EXACT if name in COUNT_METRICS else DEFAULT_TOLERANCE


@dataclass(frozen=True)
class PinnedValue:
    """A baseline value and how closely it must be reproduced."""

    value: float | int | None
    tolerance: Tolerance


@dataclass(frozen=True)
class DataFingerprint:
    """What a run read: bar count, first and last bar (ISO UTC), hash of the arrays."""

    bars: int
    start: str
    end: str
    hash: str


@dataclass(frozen=True)
class Baseline:
    """The pinned results of one experiment."""

    config_id: str
    trades_hash: str
    data: DataFingerprint
    metrics: Mapping[str, PinnedValue]


@dataclass(frozen=True)
class Experiment:
    """One experiment spec file."""

    name: str
    description: str
    overrides: tuple[str, ...]
    path: Path
    baseline: Baseline | None = None
    data_files: tuple[str, ...] = ()  # shared-data files it reads, imported when missing


@dataclass(frozen=True)
class Observation:
    """What one run of an experiment produced (NaN metrics are ``None``)."""

    config_id: str
    trades_hash: str
    data: DataFingerprint
    values: Mapping[str, float | int | None]
    seconds: float = 0.0


@dataclass(frozen=True)
class Check:
    """One pinned value compared with the observed one."""

    name: str
    baseline: Value
    actual: Value
    tolerance: Tolerance
    ok: bool

    @property
    def diff(self) -> float | None:
        """``actual − baseline`` for numbers, else None."""
        b, a = self.baseline, self.actual
        if isinstance(b, int | float) and isinstance(a, int | float):
            return float(a) - float(b)
        return None

    def to_dict(self) -> dict[str, Any]:
        """Return the check as JSON-ready values."""
        return {
            "name": self.name,
            "baseline": self.baseline,
            "actual": self.actual,
            "diff": self.diff,
            "tolerance": self.tolerance.to_dict(),
            "ok": self.ok,
        }


@dataclass(frozen=True)
class RegressResult:
    """An experiment, what its run observed and the checks against its baseline."""

    experiment: Experiment
    observation: Observation
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """True when every check passes."""
        return all(c.ok for c in self.checks)

    @property
    def drifted(self) -> list[str]:
        """Names of the checks that fail."""
        return [c.name for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready values."""
        return {
            "name": self.experiment.name,
            "file": str(self.experiment.path),
            "ok": self.ok,
            "drifted": self.drifted,
            "config_id": self.observation.config_id,
            "seconds": round(self.observation.seconds, 3),
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class BaselineChange:
    """One value :func:`update_baselines` re-pinned; ``within_tolerance`` if it was not drift."""

    name: str
    old: Value
    new: Value
    within_tolerance: bool
    first_pin: bool = False  # the value was not pinned before


@dataclass(frozen=True)
class BaselineUpdate:
    """The re-pinning of one experiment file (``written`` is False when nothing changed)."""

    experiment: Experiment
    changes: tuple[BaselineChange, ...] = field(default_factory=tuple)
    written: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the update as JSON-ready values."""
        return {
            "name": self.experiment.name,
            "file": str(self.experiment.path),
            "written": self.written,
            "changes": [
                {
                    "name": c.name,
                    "old": c.old,
                    "new": c.new,
                    "within_tolerance": c.within_tolerance,
                    "first_pin": c.first_pin,
                }
                for c in self.changes
            ],
        }


# -- fingerprints -------------------------------------------------------------------


def _float_text(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    text = f"{x:.{SIGNIFICANT_DIGITS}g}"
    return "0" if float(text) == 0.0 else text  # -0.0 and 0.0 are the same trade


def canonical_trades(trade_records: np.ndarray) -> str:
    """Return the trades as the text :func:`trades_hash` hashes.

    A header of the field names, then one line per trade: integer fields
    (asset, direction, bars, exit kind, open flag) as integers, float fields
    rounded to :data:`SIGNIFICANT_DIGITS` significant digits.
    """
    from grekko_research.engine import layout as L

    ints = {
        L.T_ASSET,
        L.T_DIRECTION,
        L.T_ENTRY_BAR,
        L.T_EXIT_BAR,
        L.T_EXIT_KIND,
        L.T_IS_OPEN,
    }
    rec = np.asarray(trade_records, dtype=np.float64).reshape(-1, len(L.TRADE_FIELDS))
    lines = [",".join(L.TRADE_FIELDS)]
    for row in rec.tolist():
        lines.append(
            ",".join(str(int(v)) if j in ints else _float_text(v) for j, v in enumerate(row))
        )
    return "\n".join(lines) + "\n"


def trades_hash(trade_records: np.ndarray) -> str:
    """Return the SHA-256 (hex) of :func:`canonical_trades`."""
    return hashlib.sha256(canonical_trades(trade_records).encode()).hexdigest()


def data_hash(bars: Bars) -> str:
    """Return the SHA-256 (hex) of the bars' exact contents: index, OHLCV, filled, extras."""
    digest = hashlib.sha256()
    digest.update(json.dumps([bars.timeframe, list(bars.symbols)]).encode())

    def add(name: str, values: np.ndarray, dtype: str) -> None:
        arr = np.array(values, dtype=dtype, copy=True, order="C")
        if arr.dtype.kind == "f":
            arr[np.isnan(arr)] = np.nan  # one NaN bit pattern
        digest.update(f"{name}:{arr.shape}".encode())
        digest.update(arr.tobytes())

    add("index", bars.index, "<i8")
    for name in ("open", "high", "low", "close", "volume"):
        add(name, getattr(bars, name), "<f8")
    add("filled", bars.filled, "u1")
    for name in sorted(bars.extras):
        add(f"extras.{name}", bars.extras[name], "<f8")
    return digest.hexdigest()


# -- spec files ---------------------------------------------------------------------


def experiments_dir() -> Path:
    """Return ``./experiments`` when it exists, else the checkout's ``experiments/``."""
    here = Path.cwd() / "experiments"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[1] / "experiments"


class _Spec:
    """Validation helpers that name the file and the key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str | None, problem: str) -> ConfigError:
        where = f"key {key!r}: " if key else ""
        return ConfigError(f"{self.path}: {where}{problem}")

    def mapping(self, value: Any, key: str, allowed: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key or None, f"must be a mapping, got {_kind(value)}")
        for name in value:
            if name not in allowed:
                full = f"{key}.{name}" if key else str(name)
                raise self.error(full, f"unknown key (expected one of {', '.join(allowed)})")
        return value

    def required(self, tree: Mapping[str, Any], key: str, prefix: str = "") -> Any:
        if key not in tree:
            raise self.error(prefix + key, "missing")
        return tree[key]

    def string(self, value: Any, key: str, *, pattern: str | None = None) -> str:
        if not isinstance(value, str):
            raise self.error(key, f"must be a string (quote it), got {_kind(value)}")
        if pattern is not None and not re.fullmatch(pattern, value):
            raise self.error(key, f"{value!r} is not of the form {pattern}")
        return value

    def number(self, value: Any, key: str, *, nullable: bool = False) -> float | int | None:
        if value is None and nullable:
            return None
        if isinstance(value, str):  # YAML 1.1 reads 1e-9 (no dot) as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            what = "a number or null" if nullable else "a number"
            raise self.error(key, f"must be {what}, got {_kind(value)}")
        if not math.isfinite(value):
            raise self.error(key, "must be finite (write null for an undefined metric)")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def _parse(text: str, path: Path) -> Experiment:
    import yaml  # type: ignore[import-untyped]

    spec = _Spec(path)
    try:
        tree = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    tree = spec.mapping(tree, "", _TOP_KEYS)
    name = spec.string(spec.required(tree, "name"), "name")
    if name != path.stem:
        raise spec.error("name", f"{name!r} must equal the file name without .yaml ({path.stem!r})")
    description = spec.string(spec.required(tree, "description"), "description").strip()
    raw = spec.required(tree, "overrides")
    if not isinstance(raw, list):
        raise spec.error("overrides", f"must be a list of Hydra overrides, got {_kind(raw)}")
    overrides = tuple(spec.string(v, f"overrides[{i}]") for i, v in enumerate(raw))
    files = tree.get("data_files") or []
    if not isinstance(files, list):
        raise spec.error("data_files", f"must be a list of file paths, got {_kind(files)}")
    data_files = tuple(spec.string(v, f"data_files[{i}]") for i, v in enumerate(files))
    baseline = None
    if tree.get("baseline") is not None:
        baseline = _parse_baseline(spec, tree["baseline"])
    return Experiment(name, description, overrides, path, baseline, data_files)


def _parse_baseline(spec: _Spec, raw: Any) -> Baseline:
    tree = spec.mapping(raw, "baseline", _BASELINE_KEYS)
    hexa = "[0-9a-f]+"
    cid = spec.string(
        spec.required(tree, "config_id", "baseline."), "baseline.config_id", pattern=hexa
    )
    th = spec.string(
        spec.required(tree, "trades_hash", "baseline."), "baseline.trades_hash", pattern=hexa
    )
    data = spec.mapping(spec.required(tree, "data", "baseline."), "baseline.data", _DATA_KEYS)
    bars = spec.number(spec.required(data, "bars", "baseline.data."), "baseline.data.bars")
    if not isinstance(bars, int) or bars < 0:
        raise spec.error("baseline.data.bars", f"must be a non-negative integer, got {bars!r}")
    fingerprint = DataFingerprint(
        bars=bars,
        start=spec.string(spec.required(data, "start", "baseline.data."), "baseline.data.start"),
        end=spec.string(spec.required(data, "end", "baseline.data."), "baseline.data.end"),
        hash=spec.string(
            spec.required(data, "hash", "baseline.data."), "baseline.data.hash", pattern=hexa
        ),
    )
    raw_metrics = spec.required(tree, "metrics", "baseline.")
    metrics_tree = spec.mapping(raw_metrics, "baseline.metrics", METRICS)
    metrics: dict[str, PinnedValue] = {}
    for name, entry in metrics_tree.items():
        key = f"baseline.metrics.{name}"
        if not isinstance(entry, dict):  # a bare value: the default tolerance
            value = spec.number(entry, key, nullable=True)
            metrics[name] = PinnedValue(value, default_tolerance(name))
            continue
        spec.mapping(entry, key, ("value", "rel", "abs"))
        value = spec.number(spec.required(entry, "value", key + "."), key + ".value", nullable=True)
        bounds = {}
        for bound in ("rel", "abs"):
            b = spec.number(entry.get(bound, 0.0), f"{key}.{bound}")
            assert b is not None
            if b < 0:
                raise spec.error(f"{key}.{bound}", f"must not be negative, got {b!r}")
            bounds[bound] = float(b)
        metrics[name] = PinnedValue(value, Tolerance(**bounds))
    return Baseline(cid, th, fingerprint, metrics)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate one spec file; errors name the file and the key."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the experiment spec ({exc.strerror})") from None
    return _parse(text, path)


def load_experiments(
    folder: str | Path | None = None, names: Iterable[str] | None = None
) -> list[Experiment]:
    """Load the specs in ``folder`` (default :func:`experiments_dir`), all or the named ones."""
    root = Path(folder) if folder is not None else experiments_dir()
    if not root.is_dir():
        raise ConfigError(f"no experiments folder at {root}")
    paths = {p.stem: p for p in sorted(root.glob("*.yaml"))}
    if not paths:
        raise ConfigError(f"no experiment specs (*.yaml) in {root}")
    wanted = list(dict.fromkeys(names or ()))
    unknown = [n for n in wanted if n not in paths]
    if unknown:
        raise ConfigError(
            f"no experiment named {', '.join(map(repr, unknown))} in {root} "
            f"(have: {', '.join(paths)})"
        )
    return [load_experiment(paths[n]) for n in (wanted or list(paths))]


# -- running and comparing ----------------------------------------------------------


def _clean(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    f = float(value)
    return f if math.isfinite(f) else None


def observe(experiment: Experiment, store: ParquetStore | None = None) -> Observation:
    """Run one experiment on ``store`` (default: :func:`grekko_research.paths.data_dir`)."""
    from grekko_research.config import compose_config
    from grekko_research.data.timeframes import iso
    from grekko_research.runs import run_backtest

    where = f"experiment {experiment.name} ({experiment.path})"
    began = time.perf_counter()
    try:
        cfg = compose_config(list(experiment.overrides))
        run = run_backtest(cfg, store=store)
    except DataNotFoundError as exc:
        raise DataNotFoundError(f"{where}: {exc}; {_README_HINT}") from None
    except ConfigError as exc:
        raise ConfigError(f"{where}: key 'overrides': {exc}") from None
    result = run.result
    values: dict[str, float | int | None] = {
        "final_equity": _clean(result.final_equity),
        "n_trades": int(result.n_trades),
    }
    for name, value in result.metrics.items():
        clean = _clean(value)
        if name in COUNT_METRICS and isinstance(clean, float) and clean.is_integer():
            clean = int(clean)
        values[name] = clean
    bars = run.bars
    data = DataFingerprint(
        bars=bars.n_bars,
        start=str(iso(int(bars.index[0]))),
        end=str(iso(int(bars.index[-1]))),
        hash=data_hash(bars),
    )
    return Observation(
        config_id=run.config_id,
        trades_hash=trades_hash(result.trade_records),
        data=data,
        values=values,
        seconds=time.perf_counter() - began,
    )


def compare(experiment: Experiment, observation: Observation) -> RegressResult:
    """Compare an observation with the experiment's baseline (no baseline: one failing check)."""
    base = experiment.baseline
    if base is None:
        check = Check("baseline", "missing", "not pinned", EXACT, False)
        return RegressResult(experiment, observation, (check,))
    checks = [
        _exact("config_id", base.config_id, observation.config_id),
        _exact("trades_hash", base.trades_hash, observation.trades_hash),
    ]
    for key in _DATA_KEYS:
        checks.append(
            _exact(f"data.{key}", getattr(base.data, key), getattr(observation.data, key))
        )
    for name, pinned in base.metrics.items():
        actual = observation.values.get(name)
        ok = pinned.tolerance.allows(pinned.value, actual)
        checks.append(Check(name, pinned.value, actual, pinned.tolerance, ok))
    return RegressResult(experiment, observation, tuple(checks))


def _exact(name: str, baseline: Value, actual: Value) -> Check:
    return Check(name, baseline, actual, EXACT, baseline == actual)


def run_experiments(
    experiments: Sequence[Experiment], store: ParquetStore | None = None
) -> list[RegressResult]:
    """Run every experiment and compare it with its baseline, in order."""
    return [compare(e, observe(e, store)) for e in experiments]


# -- re-pinning ---------------------------------------------------------------------


def _yaml_scalar(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a YAML double-quoted scalar
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = repr(float(value))
    mantissa, _, exponent = text.partition("e")
    if exponent:  # YAML 1.1 floats need a dot in the mantissa and a sign in the exponent
        if "." not in mantissa:
            mantissa += ".0"
        if exponent[0] not in "+-":
            exponent = "+" + exponent
        return f"{mantissa}e{exponent}"
    return text


def _pinned_text(pinned: PinnedValue) -> str:
    parts = [f"value: {_yaml_scalar(pinned.value)}"]
    parts += [f"{k}: {_yaml_scalar(v)}" for k, v in pinned.tolerance.to_dict().items()]
    return "{" + ", ".join(parts) + "}"


def baseline_block(baseline: Baseline) -> str:
    """Return the ``baseline:`` block of a spec file (YAML, ending with a newline)."""
    d = baseline.data
    lines = [
        "baseline:\n",
        _BLOCK_COMMENT,
        f"  config_id: {_yaml_scalar(baseline.config_id)}\n",
        f"  trades_hash: {_yaml_scalar(baseline.trades_hash)}\n",
        "  data:\n",
        f"    bars: {d.bars}\n",
        f"    start: {_yaml_scalar(d.start)}\n",
        f"    end: {_yaml_scalar(d.end)}\n",
        f"    hash: {_yaml_scalar(d.hash)}\n",
        "  metrics:\n",
    ]
    lines += [f"    {name}: {_pinned_text(p)}\n" for name, p in baseline.metrics.items()]
    return "".join(lines)


_TOP_LEVEL = re.compile(r"^[^\s#]")


def _replace_block(text: str, key: str, block: str) -> str:
    """Replace the top-level ``key:`` block of a YAML text (append it when absent)."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*:", line)]
    if not starts:
        sep = "" if not text or text.endswith("\n") else "\n"
        return text + sep + block
    start = starts[0]
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL.match(lines[i])), len(lines))
    # Comments and blank lines at column 0 before the next key belong to that key.
    while end > start + 1 and (not lines[end - 1].strip() or lines[end - 1].startswith("#")):
        end -= 1
    return "".join(lines[:start]) + block + "".join(lines[end:])


def _repin(result: RegressResult) -> Baseline:
    old = result.experiment.baseline
    obs = result.observation
    if old is not None:
        tolerances = {n: p.tolerance for n, p in old.metrics.items()}
    else:
        tolerances = {n: default_tolerance(n) for n in DEFAULT_METRICS}
    metrics = {n: PinnedValue(obs.values.get(n), t) for n, t in tolerances.items()}
    return Baseline(obs.config_id, obs.trades_hash, obs.data, metrics)


def _changes(result: RegressResult, new: Baseline) -> list[BaselineChange]:
    old = result.experiment.baseline
    flat_old = {} if old is None else _flatten(old)
    verdicts = {c.name: c.ok for c in result.checks}
    out = []
    for name, value in _flatten(new).items():
        if name in flat_old and flat_old[name] == value:
            continue
        first = name not in flat_old
        within = verdicts.get(name, False) and not first
        out.append(BaselineChange(name, flat_old.get(name), value, within, first_pin=first))
    return out


def _flatten(baseline: Baseline) -> dict[str, Value]:
    flat: dict[str, Value] = {
        "config_id": baseline.config_id,
        "trades_hash": baseline.trades_hash,
    }
    for key in _DATA_KEYS:
        flat[f"data.{key}"] = getattr(baseline.data, key)
    for name, pinned in baseline.metrics.items():
        flat[name] = pinned.value
    return flat


def update_baselines(results: Sequence[RegressResult]) -> list[BaselineUpdate]:
    """Re-pin each experiment's baseline to what its run observed; return what changed.

    Only the ``baseline:`` block of a file is rewritten, atomically, and only
    when a value differs; the pinned metrics and their tolerances are kept
    (a new baseline pins :data:`DEFAULT_METRICS`). Comments inside the block
    are replaced by the standard one; everything outside it is kept.
    """
    updates = []
    for result in results:
        exp = result.experiment
        new = _repin(result)
        changes = _changes(result, new)
        if not changes:
            updates.append(BaselineUpdate(exp))
            continue
        text = exp.path.read_text(encoding="utf-8")
        rewritten = _replace_block(text, "baseline", baseline_block(new))
        check = _parse(rewritten, exp.path)  # never write a file that reads back differently
        if check.baseline != new or replace(check, baseline=None) != replace(exp, baseline=None):
            raise ConfigError(
                f"{exp.path}: could not rewrite the baseline block in place; "
                "move 'baseline:' to the end of the file and retry"
            )
        atomic_write_text(exp.path, rewritten)
        updates.append(BaselineUpdate(replace(exp, baseline=new), tuple(changes), written=True))
    return updates
