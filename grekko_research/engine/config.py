"""Engine configuration: frozen, validated dataclasses that become the kernel's float vector."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from grekko_research.engine import layout as L
from grekko_research.engine.costs import CostModel
from grekko_research.errors import ConfigError
from grekko_research.risk.rules import RiskLimits
from grekko_research.risk.spec import RiskSpec

__all__ = [
    "BOUNDS",
    "EngineConfig",
    "Fees",
    "MarketRules",
    "Sizing",
    "Slippage",
    "Stops",
]

StopKind = Literal["pct", "abs", "atr"]
_SIZE_KINDS = ("all", "units", "notional", "percent", "vol_target", "cash_percent", "kelly")
SizeKind = Literal["all", "units", "notional", "percent", "vol_target", "cash_percent", "kelly"]


# Documented bounds (docs/engine.md, "Configuration bounds"): a value outside is a typo or a
# unit error (150 % instead of 0.15 %), never a market, and is refused before anything runs.
MAX_FEE_RATE = 0.10  # taker and maker fees: at most 10 % of the notional per fill
MAX_SLIPPAGE = {"none": math.inf, "bps": 1_000.0, "range": 1.0, "volume": 10.0}
MAX_LEVERAGE = 125.0  # the largest leverage a major venue offers
MAX_INIT_CASH = 1e15
MAX_VOL_TARGET = 10.0  # annualised volatility target (1000 %)
BOUNDS: dict[str, str] = {
    "Fees.taker": f"[0, {MAX_FEE_RATE}] (a fraction of the notional)",
    "Fees.maker": f"[0, {MAX_FEE_RATE}]",
    "Fees.fixed": "[0, EngineConfig.init_cash)",
    "Slippage.value": "bps [0, 1000]; range [0, 1]; volume [0, 10]",
    "Sizing.value": (
        "units, notional > 0; percent (0, leverage]; cash_percent (0, 1]; "
        f"vol_target (0, {MAX_VOL_TARGET}]; kelly (0, 1]; all: ignored"
    ),
    "Sizing.kelly_cap": "(0, leverage]",
    "Sizing.kelly_warmup": "[0, 1]",
    "EngineConfig.init_cash": f"(0, {MAX_INIT_CASH:g}]",
    "EngineConfig.leverage": f"(0, {MAX_LEVERAGE:g}]",
}


def _plain(value: object) -> str:
    """Return a value as the user typed it (``-5.0``, not ``np.float64(-5.0)``)."""
    if isinstance(value, bool):
        return repr(value)
    if isinstance(value, int | float | np.number):
        return repr(float(value)) if isinstance(value, float | np.floating) else str(int(value))
    return repr(value)


def _number(value: object) -> bool:
    return (
        isinstance(value, int | float | np.number)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _in_range(
    owner: str, name: str, value: object, low: float, high: float, *, open_low: bool = False
) -> None:
    """Raise a ConfigError naming ``owner.name`` and its bounds unless ``low ≤ value ≤ high``."""
    ok = False
    if _number(value):
        x = float(value)  # type: ignore[arg-type]
        ok = (x > low if open_low else x >= low) and x <= high
    if not ok:
        left = "(" if open_low else "["
        raise ConfigError(
            f"{owner}.{name} must be in {left}{low:g}, {high:g}], got {_plain(value)}"
        )


def _non_negative(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not (_number(value) and value >= 0):
            raise ConfigError(f"{owner}.{name} must be a non-negative number, got {_plain(value)}")


@dataclass(frozen=True, slots=True)
class Fees:
    """Trading fees.

    Attributes
    ----------
    taker
        Fraction of notional paid by market, stop, stop-loss, trailing-stop,
        take-profit and liquidation fills, and by limit orders filled at the
        open because the open crossed their price.
    maker
        Fraction paid by limit orders filled at their limit price inside a bar.
    fixed
        Amount in quote currency paid per fill.
    """

    taker: float = 0.001
    maker: float = 0.0
    fixed: float = 0.0

    def __post_init__(self) -> None:
        _in_range("Fees", "taker", self.taker, 0.0, MAX_FEE_RATE)
        _in_range("Fees", "maker", self.maker, 0.0, MAX_FEE_RATE)
        _non_negative("Fees", fixed=self.fixed)


@dataclass(frozen=True, slots=True)
class Slippage:
    """Price impact of taker fills (limit fills at their price have none).

    ``kind``: ``"none"``; ``"bps"`` (``value`` basis points against the
    trader); ``"range"`` (``value`` × the bar's high − low); ``"volume"``
    (``value`` × order size / bar volume, as a fraction of price). The result
    is rounded to the tick against the trader and kept inside the bar's
    low–high range.
    """

    kind: Literal["none", "bps", "range", "volume"] = "none"
    value: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("none", "bps", "range", "volume"):
            raise ConfigError(
                f"Slippage.kind must be none, bps, range or volume, got {self.kind!r}"
            )
        _in_range("Slippage", "value", self.value, 0.0, MAX_SLIPPAGE[self.kind])


# Sizing kinds whose value is bounded, by (0, upper bound]; "percent"'s bound is the
# leverage (EngineConfig checks it against the run's leverage).
_SIZE_VALUE_HIGH: dict[str, float] = {
    "units": math.inf,
    "notional": math.inf,
    "cash_percent": 1.0,
    "vol_target": MAX_VOL_TARGET,
    "percent": MAX_LEVERAGE,
}


@dataclass(frozen=True, slots=True)
class Sizing:
    """How a signal entry (``Signals`` form) is sized.

    ``kind``: ``"all"`` (all the buying power); ``"units"``; ``"notional"``
    (quote currency); ``"percent"`` (``value`` × current equity);
    ``"vol_target"`` (notional = equity × ``value`` / the asset's annualised
    volatility over ``vol_window`` bars, measured up to the decision bar);
    ``"cash_percent"`` (spend ``value`` × the cash at the time of the order,
    fees included — what vectorbt calls ``percent``); ``"kelly"`` (fractional
    Kelly: notional = equity × f, ``f = value × (p·b − (1 − p)) / b`` clipped
    to ``[0, kelly_cap]``, with ``p`` = ``kelly_win_rate`` and ``b`` =
    ``kelly_payoff`` when both are given, else the win rate and payoff ratio
    (mean winning / mean losing trade return) of the run's closed trades once
    ``kelly_min_trades`` have closed — before that an entry takes
    ``kelly_warmup`` × equity).
    Every size is then capped by buying power and risk limits and rounded
    down to the lot size. The arithmetic lives in :mod:`grekko_research.risk.sizing`,
    shared with live runs.
    """

    kind: SizeKind = "all"
    value: float = 1.0
    vol_window: int = 30
    kelly_win_rate: float | None = None
    kelly_payoff: float | None = None
    kelly_min_trades: int = 20
    kelly_cap: float = 1.0
    kelly_warmup: float = 0.05

    def __post_init__(self) -> None:
        if self.kind not in _SIZE_KINDS:
            raise ConfigError(f"Sizing.kind {self.kind!r} is not one of {', '.join(_SIZE_KINDS)}")
        _non_negative("Sizing", value=self.value)
        _in_range("Sizing", "kelly_warmup", self.kelly_warmup, 0.0, 1.0)
        high = _SIZE_VALUE_HIGH.get(self.kind)
        if high is not None:
            _in_range("Sizing", "value", self.value, 0.0, high, open_low=True)
        if self.vol_window < 2:
            raise ConfigError("Sizing.vol_window must be at least 2")
        if (self.kelly_win_rate is None) != (self.kelly_payoff is None):
            raise ConfigError(
                "Sizing.kelly_win_rate and Sizing.kelly_payoff are given together "
                "(or both left out to estimate them from the run's trades)"
            )
        if self.kelly_win_rate is not None and not (
            math.isfinite(self.kelly_win_rate) and 0 <= self.kelly_win_rate <= 1
        ):
            raise ConfigError(
                f"Sizing.kelly_win_rate must be in [0, 1], got {self.kelly_win_rate!r}"
            )
        if self.kelly_payoff is not None and not (
            math.isfinite(self.kelly_payoff) and self.kelly_payoff > 0
        ):
            raise ConfigError(f"Sizing.kelly_payoff must be positive, got {self.kelly_payoff!r}")
        if not (isinstance(self.kelly_min_trades, int) and self.kelly_min_trades >= 1):
            raise ConfigError(
                f"Sizing.kelly_min_trades must be an integer of at least 1, "
                f"got {self.kelly_min_trades!r}"
            )
        if not (math.isfinite(self.kelly_cap) and self.kelly_cap > 0):
            raise ConfigError(f"Sizing.kelly_cap must be positive, got {self.kelly_cap!r}")
        if self.kind == "kelly" and not 0 < self.value <= 1:
            raise ConfigError(
                f"Sizing.value is the Kelly fraction: in (0, 1], got {_plain(self.value)}"
            )


@dataclass(frozen=True, slots=True)
class Stops:
    """Stop-loss, take-profit and trailing stop attached to every position.

    Each is off (``None``) or a distance from the position's average entry
    price: ``"pct"`` (fraction of the entry price), ``"abs"`` (price units) or
    ``"atr"`` (multiple of the ATR over ``atr_window`` bars at the decision
    bar). The trailing stop trails the best price since entry by its
    distance. ``both_touch`` decides a bar whose range reaches both the stop
    and the take-profit: ``"pessimistic"`` (stop first, the default) or
    ``"optimistic"``. ``on_entry_bar``: a position opened at a bar's open is
    checked inside that bar. ``skip_signals_on_exit_bar``: a stop exit drops
    the asset's signals decided on the same bar (one order per asset and
    bar, as vectorbt does). ``trigger``: ``"bar"`` (the default, the engine's
    bar model) or ``"venue"``: the stops are held as a venue holds native stop
    orders (the Binance spot simulator's rules for the runner's OCO list;
    docs/engine.md, "Stops held by the venue"), so a backtest equals a live run
    with ``live.stop_policy.mode=native``. ``stop_limit_offset`` (with ``trigger="venue"``):
    the venue holds the stop-loss as a stop-limit order whose limit lies this fraction beyond
    the stop (``live.stop_policy.stop_limit``): triggered by a gap past its limit it rests at
    the limit and fills only when a later bar trades through it; ``None`` (the default): a
    stop-market. ``trigger="usdm"``: the stops are held as Binance USD-M holds the runner's
    native orders (``live/sim/_usdm_algo.py``; docs/engine.md, "Stops held by the venue"):
    separate algo orders, no OCO, triggered in placement order (stop-loss, take-profit,
    trailing stop), the trailing stop as ``TRAILING_STOP_MARKET`` (``pct`` only, 0.1 % to
    10 %: its ``callbackRate``). ``trigger="coinbase"``: both held as one Coinbase
    ``trigger_bracket_gtc`` order (``live/sim/_coinbase_book.py``): the stop leg first, limited
    5 % beyond its trigger; the take-profit filled at its price, as a maker, when a bar trades
    through it.
    """

    stop_loss: float | None = None
    stop_loss_kind: StopKind = "pct"
    take_profit: float | None = None
    take_profit_kind: StopKind = "pct"
    trailing: float | None = None
    trailing_kind: StopKind = "pct"
    atr_window: int = 14
    both_touch: Literal["pessimistic", "optimistic"] = "pessimistic"
    on_entry_bar: bool = True
    skip_signals_on_exit_bar: bool = False
    trigger: Literal["bar", "venue", "usdm", "coinbase"] = "bar"
    stop_limit_offset: float | None = None

    def __post_init__(self) -> None:
        for name in ("stop_loss", "take_profit", "trailing"):
            value = getattr(self, name)
            kind = getattr(self, f"{name}_kind")
            if kind not in ("pct", "abs", "atr"):
                raise ConfigError(f"Stops.{name}_kind must be pct, abs or atr, got {kind!r}")
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"Stops.{name} must be a positive number, got {value!r}")
            if value is not None and kind == "pct" and name != "take_profit" and value >= 1:
                raise ConfigError(f"Stops.{name} as pct is a fraction below 1, got {value!r}")
        if self.both_touch not in ("pessimistic", "optimistic"):
            raise ConfigError("Stops.both_touch must be pessimistic or optimistic")
        if self.atr_window < 1:
            raise ConfigError("Stops.atr_window must be at least 1")
        self._check_trigger()

    def _check_trigger(self) -> None:
        if self.trigger not in ("bar", "venue", "usdm", "coinbase"):
            raise ConfigError(
                f"Stops.trigger must be bar, venue, usdm or coinbase, got {self.trigger!r}"
            )
        if self.trigger == "coinbase":
            self._check_coinbase()
        if self.trigger == "venue" and self.trailing is not None:
            raise ConfigError(
                "Stops.trigger='venue' models Binance spot's stop-loss / take-profit OCO list, "
                "which has no trailing stop: use trigger='bar' (the runner emulates it) or "
                "'usdm' (Binance USD-M's TRAILING_STOP_MARKET)"
            )
        trail = self.trailing
        if (
            self.trigger == "usdm"
            and trail is not None
            and not (self.trailing_kind == "pct" and 0.001 <= trail <= 0.1)
        ):
            raise ConfigError(
                "Stops.trigger='usdm' models USD-M's TRAILING_STOP_MARKET: the trailing "
                "stop must be pct within 0.001..0.1 (callbackRate 0.1 % to 10 %), got "
                f"{trail!r} {self.trailing_kind}"
            )
        off = self.stop_limit_offset
        if off is not None:
            if self.trigger == "bar":
                raise ConfigError(
                    "Stops.stop_limit_offset models the venue's stop-limit order: it needs "
                    "trigger='venue' or 'usdm'"
                )
            if isinstance(off, bool) or not (isinstance(off, int | float) and 0 <= off < 1):
                raise ConfigError(
                    f"Stops.stop_limit_offset must be a fraction in [0, 1), got {off!r}"
                )

    def _check_coinbase(self) -> None:
        if self.stop_loss is None or self.take_profit is None or self.trailing is not None:
            raise ConfigError(
                "Stops.trigger='coinbase' models Coinbase's trigger_bracket_gtc bracket: it "
                "needs a stop_loss and a take_profit and no trailing stop (the runner emulates "
                "a trailing stop; a lone stop goes as a stop-limit: use trigger='venue' with "
                "stop_limit_offset)"
            )
        if self.stop_limit_offset is not None:
            raise ConfigError(
                "Stops.stop_limit_offset does not apply to trigger='coinbase': the bracket's "
                "stop leg limits 5 % beyond its trigger, whatever the policy's offset"
            )

    @property
    def needs_atr(self) -> bool:
        """True when any stop is measured in ATRs."""
        return any(
            getattr(self, n) is not None and getattr(self, f"{n}_kind") == "atr"
            for n in ("stop_loss", "take_profit", "trailing")
        )


@dataclass(frozen=True)
class MarketRules:
    """Exchange rules per asset (one value for all, or one per asset).

    ``lot_size`` rounds order sizes down, ``tick_size`` rounds prices,
    ``min_notional`` rejects smaller orders that add exposure (orders that
    close or shrink a position are never rejected for size).
    """

    lot_size: float | Sequence[float] = 0.0
    tick_size: float | Sequence[float] = 0.0
    min_notional: float | Sequence[float] = 0.0

    def arrays(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(lot, tick, min_notional)`` as ``(k,)`` float64 arrays."""
        out = []
        for name in ("lot_size", "tick_size", "min_notional"):
            value = getattr(self, name)
            if isinstance(value, (int, float)):  # the common case, without numpy's overhead
                ok = math.isfinite(value) and value >= 0
                arr = np.full(k, float(value))
            else:
                arr = np.broadcast_to(np.asarray(value, dtype=np.float64), (k,)).copy()
                ok = bool(np.all(np.isfinite(arr))) and not np.any(arr < 0)
            if not ok:
                raise ConfigError(f"MarketRules.{name} must be non-negative numbers")
            out.append(arr)
        return out[0], out[1], out[2]


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine needs besides bars and signals.

    Attributes
    ----------
    init_cash
        Starting cash in quote currency.
    execution
        ``"next_open"`` (default): a decision made on bar t's close fills at
        bar t+1's open. ``"close"``: it fills at bar t's close (optimistic:
        assumes the decision and the fill happen at the same price).
    allow_short
        Whether entries may open short positions.
    leverage
        Cap on gross exposure as a multiple of equity (1 = no borrowing).
    maintenance_margin
        With shorts or leverage, all positions are liquidated when equity at
        a bar's worst prices falls to this fraction of gross exposure.
    order_valid_bars
        Pending limit/stop orders expire after this many bars (0 = good till
        cancelled).
    risk
        The run's :class:`~grekko_research.risk.spec.RiskSpec` (``docs/risk.md``): evaluated
        in the backtest as ``grekko-live``'s risk engine does. A deprecated
        :class:`~grekko_research.risk.rules.RiskLimits` is turned into its spec.
    costs
        Calibrated cost models (:class:`~grekko_research.engine.costs.CostModel`), one per
        symbol at most: those symbols fill by the fitted model (``FILL_CALIBRATED``,
        ``docs/execution.md``) instead of ``slippage``; the general kernel runs them.
    """

    init_cash: float = 10_000.0
    execution: Literal["next_open", "close"] = "next_open"
    fees: Fees = field(default_factory=Fees)
    slippage: Slippage = field(default_factory=Slippage)
    sizing: Sizing = field(default_factory=Sizing)
    stops: Stops = field(default_factory=Stops)
    market: MarketRules = field(default_factory=MarketRules)
    risk: RiskSpec = field(default_factory=RiskSpec)
    allow_short: bool = False
    leverage: float = 1.0
    maintenance_margin: float = 0.005
    order_valid_bars: int = 0
    costs: tuple[CostModel, ...] = ()

    def __post_init__(self) -> None:
        self._check_costs()
        if isinstance(self.risk, RiskLimits):  # the shape before the spec (docs/risk.md)
            object.__setattr__(self, "risk", self.risk.to_spec())
        if not isinstance(self.risk, RiskSpec):
            raise ConfigError(
                f"EngineConfig.risk must be a RiskSpec, got {type(self.risk).__name__}"
            )
        _in_range("EngineConfig", "init_cash", self.init_cash, 0.0, MAX_INIT_CASH, open_low=True)
        if self.execution not in ("next_open", "close"):
            raise ConfigError(
                f"EngineConfig.execution must be next_open or close, got {self.execution!r}"
            )
        _in_range("EngineConfig", "leverage", self.leverage, 0.0, MAX_LEVERAGE, open_low=True)
        if self.fees.fixed >= self.init_cash:
            raise ConfigError(
                f"Fees.fixed must be below EngineConfig.init_cash ({_plain(self.init_cash)}): "
                f"a fee of {_plain(self.fees.fixed)} per fill leaves nothing to trade"
            )
        if self.sizing.kind == "percent" and self.sizing.value > self.leverage:
            raise ConfigError(
                f"Sizing.value as percent of equity must be in (0, leverage = "
                f"{_plain(self.leverage)}], got {_plain(self.sizing.value)}"
            )
        if self.sizing.kind == "kelly" and self.sizing.kelly_cap > self.leverage:
            raise ConfigError(
                f"Sizing.kelly_cap must be in (0, leverage = {_plain(self.leverage)}], "
                f"got {_plain(self.sizing.kelly_cap)}"
            )
        if not 0 <= self.maintenance_margin < 1:
            raise ConfigError("EngineConfig.maintenance_margin must be in [0, 1)")
        if self.order_valid_bars < 0:
            raise ConfigError("EngineConfig.order_valid_bars must be 0 (GTC) or positive")
        if self.stops.trigger != "bar" and self.execution != "next_open":
            raise ConfigError(
                f"Stops.trigger={self.stops.trigger!r} needs EngineConfig.execution='next_open' (the runner "
                "places a position's native stops in the bar its entry fills at the open)"
            )

    def _check_costs(self) -> None:
        costs = tuple(self.costs)
        object.__setattr__(self, "costs", costs)
        bad = [type(m).__name__ for m in costs if not isinstance(m, CostModel)]
        if bad:
            raise ConfigError(f"EngineConfig.costs must hold CostModel objects, got {bad}")
        symbols = [m.symbol for m in costs]
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"EngineConfig.costs has two models for one symbol: {symbols}")
        if costs and self.sizing.kind == "all":
            raise ConfigError(
                "sizing 'all' cannot use a calibrated cost model: its cost depends on the "
                "order's size, which 'all' leaves to the fill; use sizing percent (1.0 = all "
                "the equity), cash_percent, notional or units"
            )

    def to_array(self, mode: int, target_kind: int = L.TARGET_PERCENT) -> np.ndarray:
        """Return the kernel's configuration vector for a signal ``mode``."""
        cfg = np.zeros(L.N_CFG)
        cfg[L.CFG_INIT_CASH] = self.init_cash
        cfg[L.CFG_EXEC_CLOSE] = 1.0 if self.execution == "close" else 0.0
        cfg[L.CFG_FEE_TAKER] = self.fees.taker
        cfg[L.CFG_FEE_MAKER] = self.fees.maker
        cfg[L.CFG_FEE_FIXED] = self.fees.fixed
        cfg[L.CFG_SLIP_KIND] = ("none", "bps", "range", "volume").index(self.slippage.kind)
        cfg[L.CFG_SLIP_VALUE] = self.slippage.value
        cfg[L.CFG_SIZE_KIND] = _SIZE_KINDS.index(self.sizing.kind)
        cfg[L.CFG_SIZE_VALUE] = self.sizing.value
        sz = self.sizing
        cfg[L.CFG_KELLY_WIN_RATE] = np.nan if sz.kelly_win_rate is None else sz.kelly_win_rate
        cfg[L.CFG_KELLY_PAYOFF] = np.nan if sz.kelly_payoff is None else sz.kelly_payoff
        cfg[L.CFG_KELLY_CAP] = sz.kelly_cap
        cfg[L.CFG_KELLY_MIN_TRADES] = sz.kelly_min_trades
        cfg[L.CFG_KELLY_WARMUP] = sz.kelly_warmup
        cfg[L.CFG_ALLOW_SHORT] = 1.0 if self.allow_short else 0.0
        cfg[L.CFG_LEVERAGE] = self.leverage
        cfg[L.CFG_MAINT_MARGIN] = self.maintenance_margin
        kinds = {"pct": L.STOP_PCT, "abs": L.STOP_ABS, "atr": L.STOP_ATR}
        st = self.stops
        for value, kind, i_kind, i_value in (
            (st.stop_loss, st.stop_loss_kind, L.CFG_SL_KIND, L.CFG_SL_VALUE),
            (st.take_profit, st.take_profit_kind, L.CFG_TP_KIND, L.CFG_TP_VALUE),
            (st.trailing, st.trailing_kind, L.CFG_TRAIL_KIND, L.CFG_TRAIL_VALUE),
        ):
            cfg[i_kind] = L.STOP_OFF if value is None else kinds[kind]
            cfg[i_value] = 0.0 if value is None else value
        cfg[L.CFG_BOTH_TOUCH] = 0.0 if st.both_touch == "pessimistic" else 1.0
        cfg[L.CFG_STOPS_ON_ENTRY_BAR] = 1.0 if st.on_entry_bar else 0.0
        cfg[L.CFG_SKIP_SIGNALS_ON_STOP] = 1.0 if st.skip_signals_on_exit_bar else 0.0
        cfg[L.CFG_STOP_TRIGGER] = {"bar": 0.0, "venue": L.TRIGGER_BINANCE_OCO,
                                   "usdm": L.TRIGGER_USDM,
                                   "coinbase": L.TRIGGER_COINBASE}[st.trigger]  # fmt: skip
        off = st.stop_limit_offset
        cfg[L.CFG_STOP_LIMIT_OFFSET] = np.nan if off is None else float(off)
        cfg[L.CFG_VALID_BARS] = self.order_valid_bars
        cfg[L.CFG_SIGNAL_MODE] = mode
        cfg[L.CFG_TARGET_KIND] = target_kind
        return cfg
