"""Calibrated cost models: the fitted parameters the engine's ``FILL_CALIBRATED`` model reads.

A :class:`CostModel` is one venue/symbol's fitted costs (``grekko_research.costs`` fits it
from the execution-quality rows of our own runs, or from an L2 capture for a cold start;
``docs/execution.md``, "Calibrated cost models"):

* taker slippage, in basis points against the trader on the bar model's price::

      slippage_bps = min(a + b · sqrt(|size| / volume) + c · σ, max_bps)

  ``volume``: the bar's volume (base units) and ``σ``: the standard deviation of the
  close-to-close log returns over ``vol_window`` bars, in bps per bar — both as of the bar
  the order was decided on (the bar before its fill at the open). ``a, b, c ≥ 0``: a fixed
  half-spread-like cost, the square-root impact of the order's share of the volume, and the
  part that grows with volatility;
* resting (maker) limit fills: ``P(fill) = 1 / (1 + exp(-(fill_a + fill_b · x)))``, ``x`` how
  far the bar traded through the limit in bps; ``fill_a = inf`` (the default): always filled,
  the bar model's rule. The engine fills the expected share ``P(fill)`` of the order.

``EngineConfig(costs=(model, ...))`` selects the model for the symbols named; the engine reads
:meth:`CostModel.fill_state` (the ``CAL_*`` columns of ``engine/layout.py``). Pure data: the
MLflow record of a fitted model is written and read by ``grekko_research.tracking``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from grekko_research.engine import layout as L
from grekko_research.errors import ConfigError

if TYPE_CHECKING:
    from grekko_research.data.bars import Bars
    from grekko_research.engine._state import Market, Rules
    from grekko_research.engine.config import EngineConfig

__all__ = [
    "COST_MODEL_FORMAT",
    "CostModel",
    "calibrated_fill_arrays",
    "cost_features",
    "with_cost_models",
]

COST_MODEL_FORMAT = "grekko.cost_model.v1"
MAX_COST_BPS = 1_000.0  # as Slippage(kind="bps"): a larger cost is a unit error, not a market


def _num(owner: str, name: str, value: object, low: float, high: float) -> float:
    ok = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    if ok:
        x = float(value)  # type: ignore[arg-type]
        ok = low <= x <= high
    if not ok:
        raise ConfigError(f"{owner}.{name} must be a number in [{low:g}, {high:g}], got {value!r}")
    return x


@dataclass(frozen=True, slots=True)
class CostModel:
    """One venue/symbol's fitted costs (see the module docstring for the formula).

    Attributes
    ----------
    symbol, venue
        What the model was fitted on; the engine applies it to the bars' asset ``symbol``.
    a, b, c
        Slippage coefficients (bps; bps per unit of sqrt(participation); bps per bps of σ).
    vol_window
        Bars of returns in σ.
    max_bps
        The cap of the slippage.
    fill_a, fill_b
        Logistic fill probability of resting limits (``fill_a = inf``: always filled).
    n_orders, r2, source
        Provenance: orders fitted on, the fit's R², where the rows came from.
    """

    symbol: str
    venue: str = ""
    a: float = 0.0
    b: float = 0.0
    c: float = 0.0
    vol_window: int = 20
    max_bps: float = 100.0
    fill_a: float = math.inf
    fill_b: float = 0.0
    n_orders: int = 0
    r2: float = math.nan
    source: str = ""
    notes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.symbol, str) or not self.symbol:
            raise ConfigError(f"CostModel.symbol must be a market symbol, got {self.symbol!r}")
        for name in ("a", "b", "c"):
            _num("CostModel", name, getattr(self, name), 0.0, MAX_COST_BPS)
        _num("CostModel", "max_bps", self.max_bps, 0.0, MAX_COST_BPS)
        if isinstance(self.vol_window, bool) or not (
            isinstance(self.vol_window, int) and 2 <= self.vol_window <= 10_000
        ):
            raise ConfigError(
                f"CostModel.vol_window must be an integer in [2, 10000], got {self.vol_window!r}"
            )
        if not (self.fill_a == math.inf or math.isfinite(self.fill_a)):
            raise ConfigError(f"CostModel.fill_a must be finite or +inf, got {self.fill_a!r}")
        _num("CostModel", "fill_b", self.fill_b, 0.0, 1e6)

    def slippage_bps(self, share: float, sigma_bps: float) -> float:
        """The taker cost in bps of an order worth ``share`` of the bar's volume at a
        volatility of ``sigma_bps`` per bar (the engine's formula, for reports and tests)."""
        bps = self.a + self.b * math.sqrt(max(share, 0.0)) + self.c * max(sigma_bps, 0.0)
        return min(max(bps, 0.0), self.max_bps)

    def fill_probability(self, through_bps: float) -> float:
        """P(fill) of a resting limit the bar traded ``through_bps`` through."""
        if self.fill_a == math.inf:
            return 1.0
        z = self.fill_a + self.fill_b * max(through_bps, 0.0)
        return 1.0 / (1.0 + math.exp(-z))

    def fill_state(self) -> np.ndarray:
        """The asset's row of ``Rules.fill_state`` (``CAL_*`` columns)."""
        row = np.zeros(L.N_CAL_STATE)
        row[L.CAL_A], row[L.CAL_B], row[L.CAL_C] = self.a, self.b, self.c
        row[L.CAL_VOL_WINDOW] = self.vol_window
        row[L.CAL_MAX_BPS] = self.max_bps
        row[L.CAL_FILL_A], row[L.CAL_FILL_B] = self.fill_a, self.fill_b
        return row

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready document (``inf`` as the string ``"inf"``, NaN as None)."""
        doc = asdict(self)
        doc["fill_a"] = "inf" if self.fill_a == math.inf else self.fill_a
        doc["r2"] = None if math.isnan(self.r2) else self.r2
        return {"format": COST_MODEL_FORMAT, **doc}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any], *, where: str = "cost model") -> CostModel:
        """Read :meth:`to_dict`'s document; a wrong format or key names ``where``."""
        if doc.get("format") != COST_MODEL_FORMAT:
            raise ConfigError(f"{where}: format {doc.get('format')!r} is not {COST_MODEL_FORMAT!r}")
        body = {k: v for k, v in doc.items() if k != "format"}
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(body) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}")
        if body.get("fill_a") == "inf":
            body["fill_a"] = math.inf
        if body.get("r2") is None:
            body["r2"] = math.nan
        try:
            return cls(**body)
        except TypeError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def calibrated_fill_arrays(
    config: EngineConfig,
    symbols: Sequence[str],
    fill_model: np.ndarray,
    fill_state: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(fill_model (k,), fill_state (k, m))`` with ``config.costs``' symbols set to
    ``FILL_CALIBRATED`` and their ``CAL_*`` rows (``m`` widened as needed; the other assets
    keep their model and row). A model for a symbol not among ``symbols`` (the bars' or the
    live run's), or for a DEX asset, is refused by name."""
    symbols = list(symbols)
    model = np.array(fill_model, dtype=np.int64, copy=True)
    width = max(fill_state.shape[1], L.N_CAL_STATE)
    state = np.zeros((len(symbols), width))
    state[:, : fill_state.shape[1]] = fill_state
    for cost in config.costs:
        if cost.symbol not in symbols:
            raise ConfigError(
                f"EngineConfig.costs has a model for {cost.symbol!r}, which is not among the "
                f"bars' symbols {symbols}"
            )
        j = symbols.index(cost.symbol)
        if model[j] != L.FILL_OHLC:
            raise ConfigError(
                f"{cost.symbol!r} fills at a DEX pool's quote: a calibrated cost model "
                "cannot replace it"
            )
        model[j] = L.FILL_CALIBRATED
        state[j] = 0.0
        state[j, : L.N_CAL_STATE] = cost.fill_state()
    return model, state


def with_cost_models(
    rules: Rules, market: Market, config: EngineConfig, bars: Bars
) -> tuple[Rules, Market]:
    """Return ``rules`` and ``market`` with ``config.costs``' assets filled by their calibrated
    model: their ``fill_state`` rows and their per-bar features in ``market.pool`` (widened
    beside any DEX pool's rows); the same ``rules`` and ``market`` without cost models."""
    if not config.costs:
        return rules, market
    from grekko_research.engine._fills import calibrated_bar_features_nb

    model, state = calibrated_fill_arrays(config, bars.symbols, rules.fill_model, rules.fill_state)
    old = market.pool
    n, k = bars.n_bars, bars.n_assets
    pool = np.zeros((n, k, max(old.shape[2] if old.shape[0] else 0, L.N_CAL_BAR)))
    if old.shape[0]:
        pool[:, :, : old.shape[2]] = old
    close = np.ascontiguousarray(bars.close, dtype=np.float64)
    volume = np.ascontiguousarray(bars.volume, dtype=np.float64)
    for cost in config.costs:
        j = bars.symbols.index(cost.symbol)
        pool[:, j, :] = 0.0
        calibrated_bar_features_nb(close, volume, j, cost.vol_window, pool)
    return rules._replace(fill_model=model, fill_state=state), market._replace(pool=pool)


def cost_features(
    config: EngineConfig, symbols: Sequence[str], close: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    """The calibrated models' features for an order sent after the last of these bars (a live
    decision on it): ``(1, k, N_CAL_BAR)``, each model's symbol with the last bar's volume and
    the volatility of the closes up to it over the model's ``vol_window`` — the row the
    backtest's :func:`with_cost_models` writes for the bar after them. ``close`` and ``volume``
    are ``(n, k)`` (the run's window: at least ``vol_window + 1`` bars for the backtest's
    value); zeros without cost models."""
    from grekko_research.engine._fills import bar_volatility_bps_nb

    symbols = list(symbols)
    out = np.zeros((1, len(symbols), L.N_CAL_BAR))
    c = np.ascontiguousarray(close, dtype=np.float64)
    v = np.ascontiguousarray(volume, dtype=np.float64)
    n = c.shape[0]
    if n == 0:
        return out
    for cost in config.costs:
        if cost.symbol in symbols:
            j = symbols.index(cost.symbol)
            out[0, j, L.CAL_BAR_VOLUME] = v[n - 1, j]
            out[0, j, L.CAL_BAR_SIGMA] = bar_volatility_bps_nb(c, n - 1, j, cost.vol_window)
    return out
