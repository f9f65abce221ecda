"""A promoted model's window models, traded as they are: the registry's models decide, nothing
is refitted.

``grekko promote`` logs every model a learning strategy (``fits_models``: ``ml_lgbm``,
``ml_online``) fitted on the sweep's data and records their index in the registered spec
(``window_models``: symbol, fit time, model URI). :func:`promoted_strategy` loads them and
returns the strategy *bound* to them (:func:`bind_window_models`): its ``signals`` are its
``signals_from_models`` with those models. Every driver calls that one function — the live
runner on its rolling window, the backtest of the same promoted model (``grekko-live parity
--strategy models:/NAME@ALIAS``) on the whole history — so they decide alike, and no driver
fits a model.

Which model scores a bar (:class:`~grekko_research.ml.walkforward.HeldModels`):

* a window inside the span of the logged ones: its own logged model (what the sweep fitted);
* a window after the last logged one — every live bar once the promotion's data ends: the last
  logged model, held until a newer version is promoted. ``ml_lgbm`` scores with it;
  ``ml_online`` starts each retrain of its cadence again from the last logged initial model and
  applies the same per-bar updates until the next retrain, exactly as the backtest does after
  every retrain (its state stays a function of the window: a restarted process decides the
  same; carrying the updates on across retrains would make it depend on every bar since the
  promotion);
* a window inside the span without a logged model: an error, so the strategy halts.

Fail closed: a spec without its window models, a traded symbol without any, a model that cannot
be loaded (registry unreachable, artefact deleted) — each refuses the start, naming the model,
its version and the run the models were logged in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from grekko_research.data.bars import Bars
from grekko_research.errors import ConfigError
from grekko_research.ml.walkforward import HeldModels
from grekko_research.strategy import Strategy
from grekko_research.strategy.base import SignalForm

__all__ = ["bind_window_models", "promoted_strategy"]


def bind_window_models(strategy: Strategy, models: Mapping[str, Mapping[int, Any]]) -> Strategy:
    """``strategy`` trading ``models`` (``{symbol: {fit time ms: model}}``, e.g.
    :func:`~grekko_research.tracking.load_window_models`'s): the same name, parameters,
    warm-up and engine options, its ``signals`` from those models, each symbol's last one held
    after their span (see the module notes). It fits nothing (``fits_models`` is off)."""
    base = type(strategy)
    if not strategy.fits_models:
        raise ConfigError(f"strategy {strategy.name!r} fits no models: it has none to be given")
    held = {str(symbol): HeldModels(fits) for symbol, fits in models.items()}

    def signals(self: Strategy, bars: Bars, params: Any) -> SignalForm:
        return base.signals_from_models(self, bars, params, held)

    cls = type(
        f"{base.__name__}FromRegistry",
        (base,),
        {
            "__module__": __name__,
            "__doc__": f"{base.__name__} trading given window models (no fit).",
            "signals": signals,
            "fits_models": False,
            "window_models": held,
        },
    )
    return cast(Strategy, cls())


def promoted_strategy(
    strategy: Strategy,
    spec: Mapping[str, Any],
    *,
    where: str,
    symbols: Sequence[str],
    uri: str | None = None,
) -> tuple[Strategy, list[dict[str, Any]]]:
    """Load a promoted spec's window models from the tracking store ``uri`` and bind
    ``strategy`` to them; return it and the models' index (what the run's log records).

    ``where`` names the model in errors (``models:/NAME@ALIAS (version 3, run <id>)``);
    ``symbols`` are the ones the run trades: each needs its models.

    Raises
    ------
    ConfigError
        The spec has no window models, or none for a traded symbol.
    TrackingError
        A model could not be loaded (the store unreachable, an artefact missing).
    """
    from grekko_research.tracking import TrackingError, load_window_models

    index = list(spec.get("window_models") or [])
    if not index:
        raise ConfigError(
            f"{where}: {strategy.name} trades fitted models, but none were promoted with it "
            "(spec has no window_models): promote the sweep again with `grekko promote`, which "
            "logs them; refusing to start rather than refit on the live window"
        )
    have = sorted({str(e.get("symbol")) for e in index})
    missing = [s for s in symbols if s not in have]
    if missing:
        raise ConfigError(
            f"{where} has window models for {have}, none for {missing}: trade the symbols it "
            "was promoted on (live.symbols), or promote a sweep over these"
        )
    wanted = [e for e in index if str(e.get("symbol")) in symbols]
    try:
        models = load_window_models(wanted, uri=uri)
    except Exception as exc:  # whatever the store or the artefact says: do not trade
        failed = _first_missing(wanted, uri)
        raise TrackingError(
            f"{where}: its window models could not be loaded from {uri or 'the tracking store'}"
            f"{f' ({failed})' if failed else ''}: {type(exc).__name__}: {exc}; refusing to start"
        ) from exc
    return bind_window_models(strategy, models), wanted


def _first_missing(index: Sequence[Mapping[str, Any]], uri: str | None) -> str:
    """The first entry of ``index`` that does not load alone, as ``symbol window model_uri``."""
    from grekko_research.tracking import load_window_models

    for e in index:
        try:
            load_window_models([e], uri=uri)
        except Exception:
            return f"{e.get('symbol')} window {e.get('window_end')}: {e.get('model_uri')}"
    return ""
