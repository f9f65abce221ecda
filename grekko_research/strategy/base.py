"""The strategy contract: what every strategy — ours or a user's — declares and provides."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, NamedTuple

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Orders, Signals, TargetPositions
from grekko_research.strategy.params import params_from_mapping, search_space

__all__ = ["FittedModel", "SignalForm", "Strategy"]

SignalForm = Signals | TargetPositions | Orders


class FittedModel(NamedTuple):
    """One model a strategy fitted on the bars: the symbol, its fit bar's open time (ms), the
    estimator (see :meth:`Strategy.fitted_models`)."""

    symbol: str
    fit_ms: int
    model: Any


class Strategy:
    """Base class of a strategy: signal code only, no I/O, no clock, no state.

    A subclass sets

    ``name``
        The registry name (``grekko backtest strategy=<name>``).
    ``Params``
        A frozen dataclass whose fields are declared with
        :func:`~grekko_research.strategy.params.param`: defaults plus bounds or
        choices, which are also its Optuna search space.
    ``summary``
        One line saying what it trades on.
    ``requires``
        Names of the ``Bars.extras`` series it reads (e.g. ``"funding_rate"``).
    ``min_assets``
        How many symbols it needs at least (cross-sectional strategies need 2+).

    and implements :meth:`warmup` and :meth:`signals`; it may override
    :meth:`configure` to set engine options its rules depend on (ATR stops,
    shorting). ``signals`` must be causal — its decision at bar ``t`` may use
    rows ``<= t`` only — and must not modify ``bars``;
    :func:`~grekko_research.strategy.conformance.check_strategy` verifies
    both, and more, on real data.
    """

    name: ClassVar[str] = ""
    Params: ClassVar[type] = type(None)
    summary: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    min_assets: ClassVar[int] = 1
    fits_models: ClassVar[bool] = False  # fitted_models() has models to give (promote logs them)

    def warmup(self, params: Any) -> int:
        """Bars of history needed before the first decision can be trusted."""
        raise NotImplementedError

    def signals(self, bars: Bars, params: Any) -> SignalForm:
        """Return the decisions taken at each bar's close, in one of the engine's signal forms."""
        raise NotImplementedError

    def configure(self, config: EngineConfig, params: Any) -> EngineConfig:
        """Return the engine configuration this strategy runs under (default: unchanged)."""
        return config

    def fitted_models(self, bars: Bars, params: Any) -> list[FittedModel]:
        """Return the models fitted on ``bars`` that its signals came from (default: none).

        A strategy that learns (a walk-forward model) sets ``fits_models`` and returns each
        window's fitted model, so ``grekko promote`` logs them with the registered model and
        the promoted signals can be reproduced from the registry alone (promote loads the
        sweep's data for it only when ``fits_models`` is set).
        """
        return []

    def signals_from_models(
        self, bars: Bars, params: Any, models: Mapping[str, Mapping[int, Any]]
    ) -> SignalForm:
        """Return the signals with the given window models (``{symbol: {fit time ms: model}}``,
        as :meth:`fitted_models` gives them) instead of fitting any: a strategy that sets
        ``fits_models`` implements it, so a promoted model trades its registry's models."""
        raise NotImplementedError(f"strategy {self.name!r} cannot trade given window models")

    # -- helpers -------------------------------------------------------------------

    def params(self, values: dict[str, Any] | None = None, **overrides: Any) -> Any:
        """Build validated parameters from defaults, a mapping and keyword overrides."""
        return params_from_mapping(self.Params, {**(values or {}), **overrides})

    def search_space(self) -> dict[str, Any]:
        """Return the declared search space (``{name: ParamSpec}``)."""
        return search_space(self.Params)

    def __repr__(self) -> str:
        return f"<strategy {self.name}: {self.summary}>"
