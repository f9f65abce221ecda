"""The engine's Python API: ``backtest(bars, signals, config) -> BacktestResult``.

A thin wrapper: it checks shapes, turns the signal form and configuration
into the kernel's arrays, runs :func:`~grekko_research.engine.nb.simulate_nb`
and wraps the records. Pandas views are built only when asked for, and pandas
itself is imported only then (``import grekko_research.engine`` stays without it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import layout as L
from grekko_research.engine._records import record_table
from grekko_research.engine._risk import EV_STATE, EVENT_ACTION_NAMES, EVENT_RULE_NAMES, risk_rules
from grekko_research.engine._state import Decisions, Market, make_rules
from grekko_research.engine.analysis import result_metrics_into
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.costs import with_cost_models
from grekko_research.engine.nb import simulate_nb
from grekko_research.engine.nb_fast import no_stop_scan, simulate_simple_nb
from grekko_research.errors import ConfigError, DataError
from grekko_research.indicators.volatility import atr_nb, rolling_volatility_nb
from grekko_research.metrics.performance import METRIC_NAMES, N_METRICS
from grekko_research.risk.rules import N_LIMITS

STATE_NAMES = ("ACTIVE", "REDUCING", "HALTED")  # risk.state codes

if TYPE_CHECKING:
    import pandas as pd

    from grekko_research.dex.series import PoolSeries

__all__ = ["BacktestResult", "KernelChoice", "Orders", "Signals", "TargetPositions", "backtest"]

KernelChoice = Literal["auto", "general", "lean"]

_EMPTY_B = np.zeros((0, 0), dtype=np.bool_)
_EMPTY_F = np.zeros((0, 0))
_EMPTY_I = np.zeros((0, 0), dtype=np.int8)
_EMPTY_1D = np.zeros(0)


def _is_pandas(values: Any, *kinds: str) -> bool:
    """Return True when ``values`` is one of the pandas ``kinds`` (without importing pandas)."""
    pd = sys.modules.get("pandas")  # not loaded: values cannot be a pandas object
    return pd is not None and isinstance(values, tuple(getattr(pd, k) for k in kinds))


def _isna(arr: np.ndarray) -> np.ndarray:
    """Return ``pd.isna(arr)``; pandas is imported only for object arrays (None, NaT, pd.NA)."""
    if arr.dtype.kind == "O":
        import pandas as pd

        mask: np.ndarray = np.asarray(pd.isna(arr))
    elif arr.dtype.kind in "fc":
        mask = np.isnan(arr)
    elif arr.dtype.kind in "mM":
        mask = np.isnat(arr)
    else:
        mask = np.zeros(arr.shape, dtype=np.bool_)
    return mask


def _matrix(values: Any, bars: Bars, name: str, dtype: type) -> np.ndarray:
    """Return ``values`` as a C-contiguous ``(n, k)`` array, checking its shape and labels."""
    if _is_pandas(values, "DataFrame"):
        missing = [s for s in bars.symbols if s not in values.columns]
        if missing:
            raise ConfigError(f"{name} has no column for {missing}")
        if len(values) != bars.n_bars:
            raise ConfigError(f"{name} has {len(values)} rows, bars have {bars.n_bars}")
        values = values[list(bars.symbols)].to_numpy()
    elif _is_pandas(values, "Series"):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape != (bars.n_bars, bars.n_assets):
        raise ConfigError(
            f"{name} has shape {arr.shape}; expected ({bars.n_bars}, {bars.n_assets}) "
            "(one row per bar, one column per symbol)"
        )
    if dtype is np.bool_ and arr.dtype != np.bool_:
        if not np.isin(arr[~_isna(arr)], (0, 1)).all():
            raise ConfigError(f"{name} must be boolean")
        arr = np.nan_to_num(arr.astype(np.float64)).astype(np.bool_)
    out: np.ndarray = np.ascontiguousarray(arr, dtype=dtype)
    # Read-only input (pandas 3 hands out read-only views, Bars.extras are frozen) would be
    # another array type to numba: a second compilation of the kernels, in every cache.
    return out if out.flags.writeable else out.copy()


@dataclass(frozen=True)
class Signals:
    """Entry/exit booleans, ``(n, k)`` or ``(n,)``; True on the bar whose close decided it.

    ``entries`` opens (or reverses into) a long, ``exits`` closes it;
    ``short_entries``/``short_exits`` likewise for shorts (``allow_short``).
    """

    entries: Any
    exits: Any = None
    short_entries: Any = None
    short_exits: Any = None


@dataclass(frozen=True)
class TargetPositions:
    """Target position per bar, ``(n, k)`` or ``(n,)``; NaN keeps the position.

    ``kind``: ``"percent"`` (signed fraction of equity), ``"units"`` or
    ``"notional"`` (signed quote currency).
    """

    target: Any
    kind: Literal["percent", "units", "notional"] = "percent"


@dataclass(frozen=True)
class Orders:
    """Explicit orders decided at a bar's close, one per asset and bar at most.

    ``kind`` per cell: ``"market"``, ``"limit"``, ``"stop"``, ``"stop_limit"``,
    ``"cancel"`` (the asset's pending order) or empty/None; ``size`` signed
    units (+ buy, − sell); ``price`` the limit price; ``stop`` the trigger
    price. A new limit/stop order replaces the asset's pending one.
    """

    kind: Any
    size: Any
    price: Any = None
    stop: Any = None


_ORDER_KINDS = {
    "market": L.KIND_MARKET,
    "limit": L.KIND_LIMIT,
    "stop": L.KIND_STOP,
    "stop_limit": L.KIND_STOP_LIMIT,
    "cancel": L.KIND_CANCEL,
}


def _order_kinds(values: Any, bars: Bars) -> np.ndarray:
    raw = values.to_numpy() if _is_pandas(values, "DataFrame", "Series") else np.asarray(values)
    if raw.dtype.kind in "iu":
        return _matrix(raw, bars, "Orders.kind", np.int8)
    lookup = np.vectorize(
        lambda v: 0 if v is None or v == "" or v != v else _ORDER_KINDS.get(v, 99)
    )
    codes = lookup(raw.astype(object)) if raw.size else raw.astype(np.int8)
    if np.any(codes == 99):
        bad = sorted({str(v) for v in raw.ravel() if v and v == v and v not in _ORDER_KINDS})
        raise ConfigError(f"unknown order kinds {bad}; expected {sorted(_ORDER_KINDS)}")
    return _matrix(codes, bars, "Orders.kind", np.int8)


def _funding_matrix(funding: Any, bars: Bars) -> np.ndarray:
    """Map funding events onto bars: each rate lands on the bar whose span contains its time."""
    if isinstance(funding, np.ndarray):
        return _matrix(funding, bars, "funding", np.float64)
    if not isinstance(funding, Mapping):
        raise ConfigError("funding must be an (n, k) array or a mapping symbol -> frame")
    out = np.zeros((bars.n_bars, bars.n_assets))
    for symbol, frame in funding.items():
        if symbol not in bars.symbols:
            raise ConfigError(f"funding given for {symbol!r}, which is not in the bars")
        j = bars.symbols.index(symbol)
        ts = np.asarray(frame["timestamp"], dtype=np.int64)
        rate = np.asarray(frame["funding_rate"], dtype=np.float64)
        rows = np.searchsorted(bars.index, ts, side="right") - 1
        inside = rows >= 0
        if bars.n_bars:
            end = int(parse_timeframe(bars.timeframe).next_open(bars.index[-1:])[0])
            inside &= ts < end
        np.add.at(out[:, j], rows[inside], rate[inside])
    return out


class BacktestResult:
    """Records and series of one backtest; pandas views are built on demand.

    Attributes
    ----------
    equity
        ``(n,)`` portfolio value at each bar's close.
    order_records, trade_records, event_records, funding_records
        Raw float64 records (columns ``ORDER_FIELDS``, ``TRADE_FIELDS``,
        ``EVENT_FIELDS``, ``FUNDING_FIELDS`` in :mod:`grekko_research.engine.layout`).
        Cash and positions per bar are rebuilt from them on demand, so the
        kernel writes one series only. The kernels' structured records are kept
        and converted to these tables on first access.

    A run of the lean kernel first produces only what every caller needs —
    the order records, the trades without their excursions and the final
    equity — and touches the prices only on bars that trade. The first
    access to :attr:`equity` or :attr:`trade_records` replays the run with
    the per-bar series (the kernel is deterministic, so the records are the
    same); ``final_equity``, ``n_trades`` and the order records never need it.
    """

    def __init__(
        self,
        bars: Bars,
        config: EngineConfig,
        equity: np.ndarray | None,
        order_records: np.ndarray,
        trade_records: np.ndarray,
        event_records: np.ndarray,
        funding_records: np.ndarray | None = None,
        extra: dict[str, Any] | None = None,
        *,
        final_equity: float | None = None,
        complete: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
        kernel: str = "general",
        kernel_reason: str = "",
    ) -> None:
        if equity is None and (complete is None or final_equity is None):
            raise ValueError("a result without equity needs final_equity and complete")
        self.bars = bars
        self.config = config
        # Structured (the kernels') or float64 tables; tables are made on first access.
        self._records = {
            "orders": order_records,
            "events": event_records,
            "funding": np.zeros((0, len(L.FUNDING_FIELDS)))
            if funding_records is None
            else funding_records,
        }
        self.extra = {} if extra is None else extra
        self._equity = equity
        self._trade_records = trade_records
        self._final_equity = final_equity
        self._complete = complete
        self.kernel = kernel
        """Which kernel ran: ``"general"`` (``engine/nb.py``) or ``"lean"`` (``engine/nb_fast.py``)."""
        self.kernel_reason = kernel_reason
        """Why that kernel ran (the choice of ``backtest(..., kernel=...)``)."""

    def _ensure_complete(self) -> None:
        if self._complete is not None:
            self._equity, self._trade_records = self._complete()
            self._complete = None

    def _table(self, name: str) -> np.ndarray:
        table = record_table(self._records[name])
        self._records[name] = table
        return table

    @property
    def order_records(self) -> np.ndarray:
        """Raw order records, ``ORDER_FIELDS`` columns."""
        return self._table("orders")

    @property
    def event_records(self) -> np.ndarray:
        """Raw risk-event records, ``EVENT_FIELDS`` columns."""
        return self._table("events")

    @property
    def funding_records(self) -> np.ndarray:
        """Raw funding records, ``FUNDING_FIELDS`` columns."""
        return self._table("funding")

    @property
    def equity(self) -> np.ndarray:
        """``(n,)`` portfolio value at each bar's close."""
        self._ensure_complete()
        assert self._equity is not None
        return self._equity

    @property
    def trade_records(self) -> np.ndarray:
        """Raw trade records, ``TRADE_FIELDS`` columns, MAE/MFE included."""
        self._ensure_complete()
        self._trade_records = record_table(self._trade_records)
        return self._trade_records

    @cached_property
    def positions(self) -> np.ndarray:
        """``(n, k)`` units held at each bar's close."""
        rec = self.order_records[self.order_records[:, L.O_STATUS] == L.STATUS_FILLED]
        delta = np.zeros((self.bars.n_bars, self.bars.n_assets))
        np.add.at(
            delta,
            (rec[:, L.O_BAR].astype(np.int64), rec[:, L.O_ASSET].astype(np.int64)),
            rec[:, L.O_SIDE] * rec[:, L.O_SIZE],
        )
        return np.cumsum(delta, axis=0)

    @cached_property
    def cash(self) -> np.ndarray:
        """``(n,)`` cash at each bar's close."""
        rec = self.order_records[self.order_records[:, L.O_STATUS] == L.STATUS_FILLED]
        flow = np.zeros(self.bars.n_bars)
        spend = rec[:, L.O_SIDE] * rec[:, L.O_SIZE] * rec[:, L.O_PRICE] + rec[:, L.O_FEE]
        np.add.at(flow, rec[:, L.O_BAR].astype(np.int64), -spend)
        fund = self.funding_records
        np.add.at(flow, fund[:, L.F_BAR].astype(np.int64), fund[:, L.F_AMOUNT])
        return self.config.init_cash + np.cumsum(flow)

    @cached_property
    def metrics(self) -> dict[str, float]:
        """Performance statistics (see :mod:`grekko_research.metrics`) of this backtest."""
        out = np.full(N_METRICS, np.nan)
        result_metrics_into(
            out, self.equity, self.order_records, self.trade_records, self.bars.close,
            self.bars.filled, _periods_per_year(self.bars.timeframe),
        )  # fmt: skip
        return dict(zip(METRIC_NAMES, out.tolist(), strict=True))

    @property
    def final_equity(self) -> float:
        """Equity at the last bar's close."""
        if self._final_equity is not None:
            return float(self._final_equity)
        return float(self.equity[-1]) if len(self.equity) else self.config.init_cash

    @property
    def n_trades(self) -> int:
        """Number of trades, open ones included (the convention of vectorbt)."""
        return len(self._trade_records)

    @property
    def n_closed_trades(self) -> int:
        """Number of closed trades."""
        rec = self._trade_records
        is_open = rec["is_open"] if rec.dtype.names else rec[:, L.T_IS_OPEN] > 0
        return int(rec.shape[0] - np.count_nonzero(is_open))

    def _times(self, bars: np.ndarray) -> pd.Index:
        import pandas as pd

        idx = np.asarray(bars, dtype=np.int64)
        ok = idx >= 0
        ts = np.full(len(idx), np.iinfo(np.int64).min)
        ts[ok] = self.bars.index[idx[ok]]
        return pd.DatetimeIndex(pd.to_datetime(np.where(ok, ts, 0), unit="ms", utc=True)).where(ok)

    @cached_property
    def orders(self) -> pd.DataFrame:
        """One row per order event: fills, rejections, cancellations, expiries."""
        import pandas as pd

        rec = self.order_records
        frame = pd.DataFrame(rec, columns=list(L.ORDER_FIELDS))
        frame.insert(0, "time", self._times(rec[:, L.O_BAR]))
        frame["symbol"] = [self.bars.symbols[int(a)] for a in rec[:, L.O_ASSET]]
        frame["kind"] = [L.KIND_NAMES.get(int(v), str(int(v))) for v in rec[:, L.O_KIND]]
        frame["status"] = [L.STATUS_NAMES[int(v)] for v in rec[:, L.O_STATUS]]
        frame["rule"] = [EVENT_RULE_NAMES.get(int(v), "") for v in rec[:, L.O_RULE]]
        return frame.astype({"bar": np.int64, "asset": np.int64, "side": np.int64})

    @cached_property
    def trades(self) -> pd.DataFrame:
        """One row per round trip (flat → flat, or up to a reversal); open trades last."""
        import pandas as pd

        rec = self.trade_records
        frame = pd.DataFrame(rec, columns=list(L.TRADE_FIELDS))
        frame.insert(0, "entry_time", self._times(rec[:, L.T_ENTRY_BAR]))
        frame.insert(1, "exit_time", self._times(rec[:, L.T_EXIT_BAR]))
        frame["symbol"] = [self.bars.symbols[int(a)] for a in rec[:, L.T_ASSET]]
        frame["exit_kind"] = [L.KIND_NAMES.get(int(v), "open") for v in rec[:, L.T_EXIT_KIND]]
        frame["is_open"] = rec[:, L.T_IS_OPEN] > 0
        return frame.astype({"entry_bar": np.int64, "exit_bar": np.int64, "direction": np.int64})

    @cached_property
    def events(self) -> pd.DataFrame:
        """Risk events: bar, asset (−1 for the portfolio), rule, value, limit, action.

        The risk spec's refusals and reductions of orders (action ``reject`` / ``shrink``),
        breaker breaches (``halt`` / ``reduce``) and trading-state changes (rule ``state``,
        columns ``state`` and ``previous``: ``ACTIVE``, ``REDUCING``, ``HALTED``, their codes
        in value and limit; action ``halt`` / ``reduce`` / ``resume``), as ``grekko-live``'s
        risk engine records them; the engine's own rules (``max_drawdown`` flatten,
        ``liquidation``).
        """
        import pandas as pd

        rec = self.event_records
        frame = pd.DataFrame(rec, columns=list(L.EVENT_FIELDS))
        frame.insert(0, "time", self._times(rec[:, L.E_BAR]))
        frame["rule"] = [EVENT_RULE_NAMES.get(int(v), str(int(v))) for v in rec[:, L.E_RULE]]
        frame["action"] = [EVENT_ACTION_NAMES[int(v)] for v in rec[:, L.E_ACTION]]
        is_state = (rec[:, L.E_RULE] == EV_STATE).tolist()
        for col, i in (("state", L.E_VALUE), ("previous", L.E_LIMIT)):
            frame[col] = [
                STATE_NAMES[int(r[i])] if s else "" for r, s in zip(rec, is_state, strict=True)
            ]
        return frame.astype({"bar": np.int64, "asset": np.int64})

    def equity_series(self) -> pd.Series:
        """Equity at each bar's close, indexed by time."""
        import pandas as pd

        return pd.Series(self.equity, index=self.bars.datetime_index, name="equity")

    def cash_series(self) -> pd.Series:
        """Cash at each bar's close, indexed by time."""
        import pandas as pd

        return pd.Series(self.cash, index=self.bars.datetime_index, name="cash")

    def positions_frame(self) -> pd.DataFrame:
        """Units held per symbol at each bar's close."""
        import pandas as pd

        return pd.DataFrame(
            self.positions, index=self.bars.datetime_index, columns=list(self.bars.symbols)
        )

    def __repr__(self) -> str:
        from grekko_research.engine._summary import result_repr

        return result_repr(self)

    def stats(self) -> pd.Series:
        """Return the run's statistics as a labelled Series, like vectorbt's ``pf.stats()``.

        Start, end, period, start and end value, total and benchmark (buy-and-hold) return,
        drawdown, exposure, fees, trades, win rate, best/worst trade, profit factor, Sharpe,
        Sortino, Calmar, ...; percentages in ``[%]`` rows, durations as Timedeltas.
        """
        from grekko_research.engine._summary import result_stats

        return result_stats(self)

    def plot(self, *, title: str | None = None, benchmark: Any = None) -> Any:
        """Return the tearsheet's main panels as one plotly Figure (shown inline in Jupyter).

        Equity against buy-and-hold (and ``benchmark``, a series of prices or values, one
        per bar), the drawdown, and for one symbol the closes with the trades.
        :func:`grekko_research.reports.write_tearsheet` writes the full page.
        """
        from grekko_research.reports import tearsheet_data
        from grekko_research.reports.overview import overview_figure

        return overview_figure(tearsheet_data(self, benchmark=benchmark), title=title)


def _kernel_inputs(bars: Bars, signal: Signals | TargetPositions | Orders) -> dict[str, Any]:
    n, k = bars.n_bars, bars.n_assets
    inputs: dict[str, Any] = {
        "entries": _EMPTY_B,
        "exits": _EMPTY_B,
        "short_entries": _EMPTY_B,
        "short_exits": _EMPTY_B,
        "target": _EMPTY_F,
        "ord_kind": _EMPTY_I,
        "ord_size": _EMPTY_F,
        "ord_price": _EMPTY_F,
        "ord_stop": _EMPTY_F,
    }
    if isinstance(signal, Signals):
        none = np.zeros((n, k), dtype=np.bool_)
        for name in ("entries", "exits", "short_entries", "short_exits"):
            value = getattr(signal, name)
            inputs[name] = (
                none if value is None else _matrix(value, bars, f"Signals.{name}", np.bool_)
            )
        inputs["mode"] = L.MODE_SIGNALS
        inputs["target_kind"] = L.TARGET_PERCENT
    elif isinstance(signal, TargetPositions):
        inputs["target"] = _matrix(signal.target, bars, "TargetPositions.target", np.float64)
        if np.isinf(inputs["target"]).any():
            raise ConfigError("TargetPositions.target has infinite values")
        kinds = {
            "percent": L.TARGET_PERCENT,
            "units": L.TARGET_UNITS,
            "notional": L.TARGET_NOTIONAL,
        }
        if signal.kind not in kinds:
            raise ConfigError(f"TargetPositions.kind must be one of {sorted(kinds)}")
        inputs["mode"] = L.MODE_TARGET
        inputs["target_kind"] = kinds[signal.kind]
    elif isinstance(signal, Orders):
        kind = _order_kinds(signal.kind, bars)
        size = _matrix(signal.size, bars, "Orders.size", np.float64)
        nan = np.full((n, k), np.nan)
        price = (
            nan if signal.price is None else _matrix(signal.price, bars, "Orders.price", np.float64)
        )
        stop = nan if signal.stop is None else _matrix(signal.stop, bars, "Orders.stop", np.float64)
        active = (kind != 0) & (kind != L.KIND_CANCEL)
        bad = active & ~np.isfinite(size)
        if bad.any():
            t, j = np.argwhere(bad)[0]
            raise ConfigError(f"Orders.size is missing at bar {t}, asset {bars.symbols[j]}")
        for code, arr, label in (
            (L.KIND_LIMIT, price, "price"),
            (L.KIND_STOP_LIMIT, price, "price"),
            (L.KIND_STOP, stop, "stop"),
            (L.KIND_STOP_LIMIT, stop, "stop"),
        ):
            bad = (kind == code) & ~(np.isfinite(arr) & (arr > 0))
            if bad.any():
                t, j = np.argwhere(bad)[0]
                raise ConfigError(
                    f"Orders.{label} is missing or not positive for a "
                    f"{L.KIND_NAMES[code]} order at bar {t}, asset {bars.symbols[j]}"
                )
        inputs.update(ord_kind=kind, ord_size=size, ord_price=price, ord_stop=stop)
        inputs["mode"] = L.MODE_ORDERS
        inputs["target_kind"] = L.TARGET_PERCENT
    else:
        raise ConfigError(
            f"signals must be Signals, TargetPositions or Orders, not {type(signal).__name__}"
        )
    return inputs


def backtest(
    bars: Bars,
    signals: Signals | TargetPositions | Orders,
    config: EngineConfig | None = None,
    *,
    funding: Mapping[str, pd.DataFrame] | np.ndarray | None = None,
    kernel: KernelChoice = "auto",
    pools: Mapping[str, PoolSeries] | None = None,
) -> BacktestResult:
    """Simulate ``signals`` on ``bars`` under ``config`` and return the result.

    Parameters
    ----------
    bars
        Candles; bars flagged ``filled`` (or with NaN prices) have no market:
        nothing fills on them.
    signals
        Decisions taken at each bar's close (see ``docs/engine.md`` for when
        each fills). They can only be executed after the bar that decided
        them closes, so a signal cannot act on prices it has not seen.
    funding
        Perpetual funding: per symbol a frame with ``timestamp`` (ms) and
        ``funding_rate`` columns, or an ``(n, k)`` array of rates per bar.
        A long position pays ``position × open × rate`` at the open of the
        bar containing each funding time (a short receives it). Default:
        ``bars.extras["funding_rate"]`` when the bars carry it (perpetuals
        loaded with their funding), else none.
    kernel
        ``"auto"`` (default): the lean kernel when the run is in its scope
        (``docs/engine.md``, "Two kernels"), else the general one;
        ``"general"``: always the general kernel; ``"lean"``: the lean kernel,
        a :class:`ConfigError` naming what is out of its scope otherwise. Both
        give the same records; ``result.kernel`` and ``result.kernel_reason``
        say which ran and why (a lean run that meets a sale whose fees the
        cash cannot pay is handed to the general kernel, which refuses it).
    pools
        DEX assets: symbol → :class:`~grekko_research.dex.series.PoolSeries`
        (its pool state per bar and fill rule; ``dex.series.poolstate_bars``
        builds both). Those assets fill at the pool's quote for their size
        (price impact, LP fee, gas, MEV haircut, the price-impact limit:
        ``docs/dex.md``); the general kernel runs them.
    """
    config = config or EngineConfig()
    if funding is None and "funding_rate" in bars.extras:
        funding = bars.extras["funding_rate"]
    if bars.n_bars == 0:
        raise DataError("no bars to backtest")
    inputs = _kernel_inputs(bars, signals)
    if (
        inputs["mode"] == L.MODE_SIGNALS
        and not config.allow_short
        and isinstance(signals, Signals)
        and signals.short_entries is not None
        and inputs["short_entries"].any()
    ):
        raise ConfigError("Signals.short_entries given but EngineConfig.allow_short is False")
    cfg = config.to_array(inputs.pop("mode"), inputs.pop("target_kind"))
    atr = _EMPTY_F
    if config.stops.needs_atr:
        atr = atr_nb(bars.high, bars.low, bars.close, config.stops.atr_window)
    vol = _EMPTY_F
    if config.sizing.kind == "vol_target":
        ppy = _periods_per_year(bars.timeframe)
        vol = rolling_volatility_nb(bars.close, config.sizing.vol_window, ppy)
    lot, tick, min_notional = config.market.arrays(bars.n_assets)
    funding_arr = _EMPTY_F if funding is None else _funding_matrix(funding, bars)
    amm = None if not pools else _amm_arrays(pools, bars, config)
    if kernel not in ("auto", "general", "lean"):
        raise ConfigError(f"kernel must be 'auto', 'general' or 'lean', not {kernel!r}")
    reason = "requested (kernel='general')"
    if kernel != "general":
        out_of_scope = _lean_scope(
            config, inputs, atr, vol, funding is not None, bars, dex=amm is not None,
            market_rules=(lot, tick, min_notional),
        )  # fmt: skip
        if out_of_scope is None:
            lean = _lean_backtest(bars, inputs["entries"], inputs["exits"], cfg, config)
            if lean is not None:
                lean.kernel_reason = (
                    "requested (kernel='lean')" if kernel == "lean" else "auto: " + _LEAN_SCOPE
                )
                return lean
            reason = (
                "the lean kernel met a sale whose fees the cash cannot pay (only the general "
                "kernel refuses it)"
            )
        elif kernel == "lean":
            raise ConfigError(f"kernel='lean' cannot run this backtest: {out_of_scope}")
        else:
            reason = f"auto: outside the lean kernel's scope ({out_of_scope})"
    equity = np.empty(bars.n_bars)
    market = Market(bars.index, bars.open, bars.high, bars.low, bars.close, bars.volume,
                    bars.filled, funding_arr)  # fmt: skip
    dec = Decisions(
        inputs["entries"], inputs["exits"], inputs["short_entries"], inputs["short_exits"],
        inputs["target"], inputs["ord_kind"], inputs["ord_size"], inputs["ord_price"],
        inputs["ord_stop"], atr, vol,
    )  # fmt: skip
    risk = risk_rules(config.risk, _periods_per_year(bars.timeframe), bars.index)
    rules = make_rules(cfg, config.risk.to_array(), lot, tick, min_notional, risk)
    if amm is not None:  # the DEX assets' fill model, its fixed data and its pool per bar
        model, state, pool = amm
        rules = rules._replace(fill_model=model, fill_state=state)
        market = market._replace(pool=pool)
    rules, market = with_cost_models(rules, market, config, bars)  # engine/costs.py, if any
    orders, trades, events, fundings = simulate_nb(market, dec, rules, equity)
    return BacktestResult(
        bars=bars,
        config=config,
        equity=equity,
        order_records=orders,
        trade_records=trades,
        event_records=events,
        funding_records=fundings,
        kernel="general",
        kernel_reason=reason,
    )


def _amm_arrays(
    pools: Mapping[str, PoolSeries], bars: Bars, config: EngineConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(fill_model (k,), fill_state (k, N_AMM_STATE), pool (n, k, width))`` for
    the DEX assets of ``pools``; the other assets keep the OHLC bar model."""
    unknown = [s for s in pools if s not in bars.symbols]
    if unknown:
        raise ConfigError(f"pools name {unknown}, which are not among the bars' symbols "
                          f"{list(bars.symbols)}")  # fmt: skip
    if config.sizing.kind == "all":
        raise ConfigError(
            "sizing 'all' cannot trade a DEX pool: a swap's price depends on its size, which "
            "'all' leaves to the fill; use sizing percent (1.0 = all the equity), cash_percent, "
            "notional or units"
        )
    n, k = bars.n_bars, bars.n_assets
    width = max(p.rows.shape[1] for p in pools.values())
    model = np.full(k, L.FILL_OHLC, dtype=np.int64)
    state = np.zeros((k, L.N_AMM_STATE))
    pool = np.zeros((n, k, width))
    for symbol, series in pools.items():
        j = bars.symbols.index(symbol)
        if series.rows.shape[0] != n:
            raise ConfigError(f"pools[{symbol!r}] has {series.rows.shape[0]} rows, bars have {n}")
        model[j] = L.FILL_AMM
        state[j] = series.fill_state()
        w = (series.rows.shape[1] - L.POOL_WINDOW) // 3  # its windows into the common width
        ww = (width - L.POOL_WINDOW) // 3
        pool[:, j, : L.POOL_WINDOW] = series.rows[:, : L.POOL_WINDOW]
        for part in range(3):
            src = series.rows[:, L.POOL_WINDOW + part * w : L.POOL_WINDOW + (part + 1) * w]
            pool[:, j, L.POOL_WINDOW + part * ww : L.POOL_WINDOW + part * ww + w] = src
    return model, state, pool


def _lean_backtest(
    bars: Bars, entries: np.ndarray, exits: np.ndarray, cfg: np.ndarray, config: EngineConfig
) -> BacktestResult | None:
    """Run the lean kernel for the records only; the series are replayed on first access.

    Return None when the run left the lean kernel's scope (a refused sale).
    """
    n, k = bars.n_bars, bars.n_assets
    # One asset sizes its buffers from its signal rows (see simulate_simple_nb).
    counts = (0, 0) if k == 1 else (int(np.count_nonzero(entries)), int(np.count_nonzero(exits)))
    market = Market(bars.index, bars.open, bars.high, bars.low, bars.close, bars.volume,
                    bars.filled, _EMPTY_F)  # fmt: skip
    dec = Decisions(entries, exits, _EMPTY_B, _EMPTY_B, _EMPTY_F, _EMPTY_I, _EMPTY_F, _EMPTY_F,
                    _EMPTY_F, _EMPTY_F, _EMPTY_F)  # fmt: skip
    rules = make_rules(cfg, np.full(N_LIMITS, np.nan), np.zeros(k), np.zeros(k), np.zeros(k))
    scan = _stop_scan(bars, cfg)
    orders, trades, final = simulate_simple_nb(market, dec, rules, _EMPTY_1D, False, counts, scan)
    if np.isnan(final):  # a sale the cash cannot pay: only the general kernel refuses it
        return None
    trades["mae"] = np.nan  # not tracked in this pass: the replay fills them
    trades["mfe"] = np.nan

    def complete() -> tuple[np.ndarray, np.ndarray]:
        equity = np.empty(n)
        _, full_trades, _ = simulate_simple_nb(market, dec, rules, equity, True, counts, scan)
        return equity, full_trades

    return BacktestResult(
        bars=bars,
        config=config,
        equity=None,
        order_records=orders,
        trade_records=trades,
        event_records=np.zeros(0, dtype=L.EVENT_DTYPE),
        final_equity=final,
        complete=complete,
        kernel="lean",
    )


def _stop_scan(bars: Bars, cfg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lean kernel's one-asset stop scan: ``Bars.block_range`` and the asset's
    ``Bars.ohlc_rows``, or three empty tables (several assets, or no position stops:
    nothing would read them, and the kernel then reads the four price arrays)."""
    if bars.n_assets != 1 or (cfg[L.CFG_SL_KIND] == 0 and cfg[L.CFG_TP_KIND] == 0):
        return no_stop_scan(bars.close)
    lo, hi = bars.block_range
    return lo, hi, bars.ohlc_rows[0]


_LEAN_SCOPE = (
    "in the lean kernel's scope (signals, long only, no leverage, slippage, market rules, "
    "risk limits, trailing, ATR or venue-held stops, funding, DEX assets or bars without a "
    "market)"
)


def _lean_config_scope(
    config: EngineConfig, bars: Bars, market_rules: Sequence[np.ndarray] | None = None
) -> str | None:
    """Return what puts the configuration or bars out of the lean kernel's scope, or None.

    ``market_rules``: ``config.market.arrays(bars.n_assets)`` when the caller has them.
    """
    st = config.stops
    if market_rules is None:
        market_rules = config.market.arrays(bars.n_assets)
    checks = (
        (config.allow_short, "shorting"),
        (config.leverage > 1.0, "leverage"),
        (config.slippage.kind != "none", "slippage"),
        (
            config.sizing.kind not in ("all", "units", "notional", "percent", "cash_percent"),
            f"{config.sizing.kind} sizing",
        ),
        (st.trailing is not None, "a trailing stop"),
        (st.trigger != "bar", "stops held by the venue (Stops.trigger)"),
        ("atr" in (st.stop_loss_kind, st.take_profit_kind), "ATR stops"),
        (any(np.any(a) for a in market_rules), "market rules"),
        (risk_rules(config.risk).on or not np.isnan(config.risk.to_array()).all(), "risk rules"),
        (bars.has_filled, "bars without a market"),
        (bool(config.costs), "a calibrated cost model"),
    )
    for out, what in checks:
        if out:
            return what
    return None


def _lean_config(config: EngineConfig, bars: Bars) -> bool:
    """Return True when the configuration and bars are in the lean kernel's scope."""
    return _lean_config_scope(config, bars) is None


def _lean_scope(
    config: EngineConfig,
    inputs: dict[str, Any],
    atr: np.ndarray,
    vol: np.ndarray,
    has_funding: bool,
    bars: Bars,
    *,
    dex: bool = False,
    market_rules: Sequence[np.ndarray] | None = None,
) -> str | None:
    """Return what puts this run out of the lean kernel's scope (see ``nb_fast``), or None."""
    if dex:
        return "a DEX asset (fills at a pool's quote)"
    if inputs["entries"].shape[0] == 0:
        return "decisions are not entry/exit signals"
    if has_funding:
        return "funding"
    if atr.shape[0] or vol.shape[0]:
        return "ATR stops" if atr.shape[0] else "volatility-target sizing"
    return _lean_config_scope(config, bars, market_rules)


def _periods_per_year(timeframe: str) -> float:
    from grekko_research.calendar import periods_per_year  # the one calendar convention

    return periods_per_year(timeframe)
