"""One declarative risk spec for backtests and live runs, composed from ``conf/risk/``.

``null`` switches a limit off — the only meaning of "off". The spec has five parts:

=================  ===========================================================================
``order``          per-order checks: notional, notional per UTC day, position, exposure,
                   leverage, price band, order rate, precision (an order that fits by shrinking
                   is shrunk)
``portfolio``      breakers on the account's equity: drawdown, daily loss, VaR (each with its
                   ``action``, ``halt`` or ``reduce``, and how it lifts)
``market``         breakers on a symbol's closes: volatility, price move (``reduce`` by default:
                   no new entries for ``cooldown_s``)
``ops``            operational checks, **live only** (a backtest has no websocket, error rate,
                   clock skew or stale feed): data age, websocket down, error rate, clock skew
``dex``            DEX swap bounds: price impact (the AMM fill rule, backtest and live), gas
                   over notional, slippage, deadline, pending swaps (live)
=================  ===========================================================================

Each part is a frozen dataclass whose bounds are checked on construction, with a
:class:`~grekko_research.errors.ConfigError` naming the key (``risk.order.max_notional``).
Backtests and live runs evaluate it with the same pure functions
(:mod:`grekko_research.risk.evaluate`, :mod:`grekko_research.risk.breakers`; the backtest
kernel through ``engine/_risk.py``); two rules act on the engine's account itself, in the
backtest kernel and the live book (:meth:`RiskSpec.engine_limits`: the drawdown flatten and
the orders per day).

The shape before this one — engine keys at the top of ``risk`` (``risk.max_drawdown`` …) and
a ``risk.live`` block — still loads for one release (:func:`spec_from_section`), with a
:class:`RiskConfigDeprecationWarning` naming the new key of each old one; two old keys that now
mean one thing and disagree are refused.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from grekko_research.errors import ConfigError

if TYPE_CHECKING:
    from grekko_research.risk.rules import RiskLimits

__all__ = [
    "ACTIONS",
    "DailyLossBreaker",
    "DexRisk",
    "DrawdownBreaker",
    "MarketRisk",
    "OpsRisk",
    "OrderLimits",
    "OrderRisk",
    "PortfolioRisk",
    "PriceMoveBreaker",
    "RiskConfigDeprecationWarning",
    "RiskSpec",
    "VarBreaker",
    "VolatilityBreaker",
    "check_live_keys",
    "spec_from_live_keys",
    "spec_from_section",
]

ACTIONS = ("halt", "reduce")


class RiskConfigDeprecationWarning(FutureWarning):
    """A risk key of the shape before :class:`RiskSpec` (shown to users: a FutureWarning)."""


# -- validation helpers ---------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(obj: Any, key: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and not (_number(value) and value > 0):
            raise ConfigError(f"{key}.{name} must be a positive number or null, got {value!r}")


def _fraction(obj: Any, key: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is not None and not (_number(value) and 0 < value < 1):
            raise ConfigError(f"{key}.{name} is a fraction in (0, 1) or null, got {value!r}")


def _cooldown(obj: Any, key: str, name: str = "cooldown_s", nullable: bool = True) -> None:
    value = getattr(obj, name)
    if value is None and nullable:
        return
    if not (_number(value) and value >= 0):
        what = "a non-negative number or null" if nullable else "a non-negative number"
        raise ConfigError(f"{key}.{name} must be {what}, got {value!r}")


def _action(obj: Any, key: str, name: str = "action") -> None:
    value = getattr(obj, name)
    if value not in ACTIONS:
        raise ConfigError(f"{key}.{name} must be 'halt' or 'reduce', got {value!r}")


def _window(obj: Any, key: str, name: str, least: int) -> None:
    value = getattr(obj, name)
    if not (_integer(value) and value >= least):
        raise ConfigError(f"{key}.{name} must be an integer of at least {least}, got {value!r}")


# -- the parts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRisk:
    """Per-order checks (``risk.order``), in the order they run; null = off.

    ``max_orders_per_day`` is the engine's rule (the backtest kernel and the live book count
    the orders filled in a UTC day); the others are checked by
    :func:`~grekko_research.risk.evaluate.decide_order` in backtests and live.
    """

    KEY: ClassVar[str] = "risk.order"

    precision: bool = False  # qty on the venue's lot (else rounded down), limit price on its tick
    min_notional: float | None = None  # quote; the venue's own minimum applies too (rejects)
    max_notional: float | None = None  # quote; larger orders are shrunk
    # quote per UTC day: notional of the orders adding exposure let through (shrinks, then
    # refuses: rule max_notional_per_day); a daily budget (the Solana sniper's, in SOL)
    max_notional_per_day: float | None = None
    max_position: float | None = None  # |position value| per symbol, fraction of equity
    max_leverage: float | None = None  # Σ |position values| / equity
    max_gross_exposure: float | None = None  # Σ |position values|, quote
    max_net_exposure: float | None = None  # |Σ position values|, quote (hedges pass)
    price_band: float | None = None  # |limit price / last trade − 1|
    max_orders: int | None = None  # orders let through in any order_window_s seconds
    order_window_s: float = 60.0
    max_orders_per_day: int | None = None  # orders per UTC day (backtest engine and live book)

    def __post_init__(self) -> None:
        key = self.KEY
        if not isinstance(self.precision, bool):
            raise ConfigError(f"{key}.precision must be true or false, got {self.precision!r}")
        _positive(self, key, "min_notional", "max_notional", "max_position", "max_leverage")
        _positive(self, key, "max_notional_per_day")
        _positive(self, key, "max_gross_exposure", "max_net_exposure", "price_band")
        for name in ("max_orders", "max_orders_per_day"):
            value = getattr(self, name)
            if value is not None and not (_integer(value) and value >= 1):
                raise ConfigError(
                    f"{key}.{name} must be an integer of at least 1 or null, got {value!r}"
                )
        if not (_number(self.order_window_s) and self.order_window_s > 0):
            raise ConfigError(
                f"{key}.order_window_s must be a positive number, got {self.order_window_s!r}"
            )


@dataclass(frozen=True)
class DrawdownBreaker:
    """Fall from the peak equity (``risk.portfolio.drawdown``).

    Above ``limit`` the run holds at ``action``: until ``resume`` (``cooldown_s`` null) or, with
    a cool-down, until ``cooldown_s`` has passed and the drawdown is back within the limit.
    Above ``flatten_at`` the engine (backtest, and the live book) closes every position and
    stops trading.
    """

    KEY: ClassVar[str] = "risk.portfolio.drawdown"

    limit: float | None = None
    action: str = "halt"
    cooldown_s: float | None = None
    flatten_at: float | None = None

    def __post_init__(self) -> None:
        _fraction(self, self.KEY, "limit", "flatten_at")
        _action(self, self.KEY)
        _cooldown(self, self.KEY)


@dataclass(frozen=True)
class DailyLossBreaker:
    """Fall from the UTC day's starting equity (``risk.portfolio.daily_loss``); holds at
    ``action`` until the next UTC day."""

    KEY: ClassVar[str] = "risk.portfolio.daily_loss"

    limit: float | None = None
    action: str = "halt"

    def __post_init__(self) -> None:
        _fraction(self, self.KEY, "limit")
        _action(self, self.KEY)


@dataclass(frozen=True)
class VarBreaker:
    """Historical VaR of per-bar equity returns (``risk.portfolio.var``, a loss fraction).

    Holds at ``action`` until ``cooldown_s`` after it is back under the limit (null: until
    ``resume``).
    """

    KEY: ClassVar[str] = "risk.portfolio.var"

    limit: float | None = None
    confidence: float = 0.99
    window: int = 500  # returns
    action: str = "reduce"
    cooldown_s: float | None = 0.0

    def __post_init__(self) -> None:
        _positive(self, self.KEY, "limit")
        if not (_number(self.confidence) and 0 < self.confidence < 1):
            raise ConfigError(f"{self.KEY}.confidence must be in (0, 1), got {self.confidence!r}")
        _window(self, self.KEY, "window", 2)
        _action(self, self.KEY)
        _cooldown(self, self.KEY)


@dataclass(frozen=True)
class PortfolioRisk:
    """Breakers on the account's equity (``risk.portfolio``), evaluated at each bar (drawdown
    and daily loss also at each live tick)."""

    drawdown: DrawdownBreaker = field(default_factory=DrawdownBreaker)
    daily_loss: DailyLossBreaker = field(default_factory=DailyLossBreaker)
    var: VarBreaker = field(default_factory=VarBreaker)


@dataclass(frozen=True)
class VolatilityBreaker:
    """Annualised realised volatility of a symbol's last ``window`` log returns
    (``risk.market.volatility``); holds at ``action`` for ``cooldown_s`` and until clear."""

    KEY: ClassVar[str] = "risk.market.volatility"
    LEAST: ClassVar[int] = 2

    limit: float | None = None
    window: int = 24  # bars
    action: str = "reduce"
    cooldown_s: float = 3600.0

    def __post_init__(self) -> None:
        _positive(self, self.KEY, "limit")
        _window(self, self.KEY, "window", self.LEAST)
        _action(self, self.KEY)
        _cooldown(self, self.KEY, nullable=False)


@dataclass(frozen=True)
class PriceMoveBreaker(VolatilityBreaker):
    """\\|close / close ``window`` bars earlier − 1\\| of a symbol (``risk.market.price_move``);
    holds at ``action`` for ``cooldown_s`` and until clear."""

    KEY: ClassVar[str] = "risk.market.price_move"
    LEAST: ClassVar[int] = 1

    window: int = 12


@dataclass(frozen=True)
class MarketRisk:
    """Breakers on each symbol's closes (``risk.market``), evaluated at each bar (the price
    move also at each live tick)."""

    volatility: VolatilityBreaker = field(default_factory=VolatilityBreaker)
    price_move: PriceMoveBreaker = field(default_factory=PriceMoveBreaker)


@dataclass(frozen=True)
class OpsRisk:
    """Operational checks (``risk.ops``) — **live only**; each holds at ``action`` while it
    fails and lifts when it clears."""

    KEY: ClassVar[str] = "risk.ops"

    max_data_age_s: float | None = None  # age of the last bar or tick
    max_ws_down_s: float | None = None
    max_errors: int | None = None  # errors in any error_window_s seconds
    error_window_s: float = 300.0
    max_clock_skew_ms: float | None = None
    action: str = "halt"

    def __post_init__(self) -> None:
        _positive(self, self.KEY, "max_data_age_s", "max_ws_down_s", "max_clock_skew_ms")
        if self.max_errors is not None and not (_integer(self.max_errors) and self.max_errors >= 0):
            raise ConfigError(
                f"{self.KEY}.max_errors must be a non-negative integer or null, got {self.max_errors!r}"
            )
        if not (_number(self.error_window_s) and self.error_window_s > 0):
            raise ConfigError(
                f"{self.KEY}.error_window_s must be a positive number, got {self.error_window_s!r}"
            )
        _action(self, self.KEY)


@dataclass(frozen=True)
class DexRisk:
    """Bounds of every DEX swap (``risk.dex``), in a backtest on pools and on a chain.

    Unlike the other parts these are on by default: a swap cannot go out without a slippage
    bound and a deadline, and the AMM fill model without a price-impact limit.

    ``max_price_impact`` is the AMM fill rule's limit (:class:`~grekko_research.dex.fill.AmmFillRule`):
    a backtest on pools shrinks (or, ``data.amm.refuse``, refuses) a larger order, the DEX venue
    refuses it. ``max_gas_to_notional`` bounds the worst-case gas cost over the swap's notional
    (live; the backtest's gas is ``data.amm.gas_quote``). ``slippage_bps`` sets a swap's
    ``minOut`` below the exact quote, ``deadline_s`` its deadline after the latest block: the age
    at which a pending swap of ours is void on chain. ``max_pending_swaps`` caps our own swaps
    sent and not yet final (a new one is refused); ``pending_swap_impact`` refuses to trade into a
    pending swap of someone else (the mempool monitor) moving the pool's price more than that.
    """

    KEY: ClassVar[str] = "risk.dex"

    max_price_impact: float = 0.01  # fraction of the price, LP fee included
    max_gas_to_notional: float | None = 0.05
    slippage_bps: float = 30.0
    deadline_s: int = 120
    max_pending_swaps: int | None = None
    pending_swap_impact: float | None = None

    def __post_init__(self) -> None:
        key = self.KEY
        if not (_number(self.max_price_impact) and 0 < self.max_price_impact < 1):
            raise ConfigError(
                f"{key}.max_price_impact is a fraction in (0, 1), got {self.max_price_impact!r}"
            )
        _positive(self, key, "max_gas_to_notional")
        _fraction(self, key, "pending_swap_impact")
        if not (_number(self.slippage_bps) and 0 < self.slippage_bps < 5000):
            raise ConfigError(f"{key}.slippage_bps must be in (0, 5000), got {self.slippage_bps!r}")
        _window(self, key, "deadline_s", 1)
        value = self.max_pending_swaps
        if value is not None and not (_integer(value) and value >= 1):
            raise ConfigError(
                f"{key}.max_pending_swaps must be an integer of at least 1 or null, got {value!r}"
            )


class OrderLimits(NamedTuple):
    """The order checks as numbers for the pure decision (NaN = off); see
    :func:`grekko_research.risk.evaluate.decide_order`."""

    precision: bool
    min_notional: float
    max_notional: float
    max_position: float
    max_gross_exposure: float
    max_net_exposure: float
    max_leverage: float
    price_band: float
    max_orders: float
    order_window_s: float
    max_notional_per_day: float


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class RiskSpec:
    """The whole risk configuration of a run: order checks, portfolio and market breakers,
    operational checks, DEX swap bounds. ``RiskSpec()`` switches everything off but the DEX
    swap bounds (:class:`DexRisk`: a swap needs them)."""

    order: OrderRisk = field(default_factory=OrderRisk)
    portfolio: PortfolioRisk = field(default_factory=PortfolioRisk)
    market: MarketRisk = field(default_factory=MarketRisk)
    ops: OpsRisk = field(default_factory=OpsRisk)
    dex: DexRisk = field(default_factory=DexRisk)

    def engine_limits(self) -> RiskLimits:
        """The engine's own two rules (``portfolio.drawdown.flatten_at`` and
        ``order.max_orders_per_day``), which the backtest kernel and the live book apply to
        the account; everything else of the spec runs through :mod:`~grekko_research.risk.evaluate`
        in backtests (``engine/_risk.py``) and live (``live/risk``)."""
        from grekko_research.risk.rules import RiskLimits  # numba: only when needed

        return RiskLimits(
            max_drawdown=self.portfolio.drawdown.flatten_at,
            max_orders_per_day=self.order.max_orders_per_day,
        )

    def to_array(self) -> Any:
        """The engine rules' float64 vector (``risk.rules.LIM_*``; NaN = off)."""
        return self.engine_limits().to_array()

    def engine_identity(self) -> dict[str, Any]:
        """What of the spec enters ``config_id``: all of it, every key changing what a
        backtest computes or a live run refuses.

        The five keys ``config_id`` hashed before the spec come first, under their old names
        (so a run that sets no other key keeps its id and its ``grekko regress`` baseline),
        then every other key whose value differs from the default (``order.price_band``,
        ``market.volatility.window`` …).
        """
        o, p = self.order, self.portfolio
        out: dict[str, Any] = {
            "max_position": o.max_position,
            "max_gross_exposure": o.max_leverage,
            "max_drawdown": p.drawdown.flatten_at,
            "daily_loss_limit": p.daily_loss.limit,
            "max_orders_per_day": o.max_orders_per_day,
        }
        covered = {"order.max_position", "order.max_leverage", "portfolio.drawdown.flatten_at",
                   "portfolio.daily_loss.limit", "order.max_orders_per_day"}  # fmt: skip
        default = _flat(asdict(RiskSpec()))
        for key, value in _flat(asdict(self)).items():
            if key not in covered and value != default[key]:
                out[key] = value
        return out

    def order_limits(self) -> OrderLimits:
        """The order checks as the numbers :func:`~grekko_research.risk.evaluate.decide_order`
        reads (NaN = off)."""
        o = self.order
        return OrderLimits(
            bool(o.precision),
            _nan(o.min_notional),
            _nan(o.max_notional),
            _nan(o.max_position),
            _nan(o.max_gross_exposure),
            _nan(o.max_net_exposure),
            _nan(o.max_leverage),
            _nan(o.price_band),
            _nan(o.max_orders),
            float(o.order_window_s),
            _nan(o.max_notional_per_day),
        )

    @property
    def enabled(self) -> list[str]:
        """The keys of the limits switched on (``order.max_position``, ``ops.max_errors`` …)."""
        on = ["order.precision"] if self.order.precision else []
        skip = {"precision", "order_window_s", "error_window_s", "action"}
        on += [
            f"order.{f.name}"
            for f in fields(self.order)
            if f.name not in skip and getattr(self.order, f.name) is not None
        ]
        for path in (
            "portfolio.drawdown.limit",
            "portfolio.drawdown.flatten_at",
            "portfolio.daily_loss.limit",
            "portfolio.var.limit",
            "market.volatility.limit",
            "market.price_move.limit",
        ):
            if _get(self, path) is not None:
                on.append(path)
        on += [
            f"ops.{f.name}"
            for f in fields(self.ops)
            if f.name not in skip and getattr(self.ops, f.name) is not None
        ]
        return on

    @property
    def guarding(self) -> list[str]:
        """The keys switched on that bound exposure or losses (a live run needs one): order
        caps and rate limits, and the portfolio breakers."""
        keys = (
            "order.max_notional", "order.max_notional_per_day", "order.max_position",
            "order.max_leverage",
            "order.max_gross_exposure", "order.max_net_exposure", "order.max_orders",
            "order.max_orders_per_day", "portfolio.drawdown.limit",
            "portfolio.drawdown.flatten_at", "portfolio.daily_loss.limit", "portfolio.var.limit",
        )  # fmt: skip
        on = set(self.enabled)
        return [k for k in keys if k in on]

    @property
    def history_len(self) -> int:
        """Bar equities the VaR breaker needs (0 when it is off)."""
        var = self.portfolio.var
        return var.window + 1 if var.limit is not None else 0

    @property
    def closes_len(self) -> int:
        """Closes per symbol the market breakers need (0 when both are off): a live run keeps
        at least this many bars in its window."""
        m = self.market
        return max(
            m.volatility.window + 1 if m.volatility.limit is not None else 0,
            m.price_move.window + 1 if m.price_move.limit is not None else 0,
        )


def _flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"order": {"max_orders": 20}}`` as ``{"order.max_orders": 20}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


# -- the shape before RiskSpec ----------------------------------------------------------------

# risk.<old top-level key> -> (new key, how the value maps)
_TOP = {
    "max_position": "order.max_position",
    "max_gross_exposure": "order.max_leverage",
    "max_drawdown": "portfolio.drawdown.flatten_at",
    "daily_loss_limit": "portfolio.daily_loss.limit",
    "max_orders_per_day": "order.max_orders_per_day",
}
# risk.live.<old key> -> new keys (breaker_cooldown_s set both market breakers' cool-downs)
_LIVE = {
    "check_precision": ("order.precision",),
    "min_order_notional": ("order.min_notional",),
    "max_order_notional": ("order.max_notional",),
    "max_position": ("order.max_position",),
    "max_gross_exposure": ("order.max_gross_exposure",),
    "max_net_exposure": ("order.max_net_exposure",),
    "max_leverage": ("order.max_leverage",),
    "max_orders": ("order.max_orders",),
    "order_window_s": ("order.order_window_s",),
    "price_band": ("order.price_band",),
    "max_drawdown": ("portfolio.drawdown.limit",),
    "drawdown_action": ("portfolio.drawdown.action",),
    "daily_loss": ("portfolio.daily_loss.limit",),
    "daily_loss_action": ("portfolio.daily_loss.action",),
    "var_limit": ("portfolio.var.limit",),
    "var_confidence": ("portfolio.var.confidence",),
    "var_window": ("portfolio.var.window",),
    "var_action": ("portfolio.var.action",),
    "var_cooldown_s": ("portfolio.var.cooldown_s",),
    "vol_limit": ("market.volatility.limit",),
    "vol_window": ("market.volatility.window",),
    "move_limit": ("market.price_move.limit",),
    "move_window": ("market.price_move.window",),
    "breaker_cooldown_s": ("market.volatility.cooldown_s", "market.price_move.cooldown_s"),
    "max_data_age_s": ("ops.max_data_age_s",),
    "max_ws_down_s": ("ops.max_ws_down_s",),
    "max_errors": ("ops.max_errors",),
    "error_window_s": ("ops.error_window_s",),
    "max_clock_skew_ms": ("ops.max_clock_skew_ms",),
    "ops_action": ("ops.action",),
}
LIVE_KEYS = tuple(_LIVE)
TOP_KEYS = tuple(_TOP)
# The old block's defaults (a key it does not give keeps the new shape's value instead).
LIVE_DEFAULTS: dict[str, Any] = {
    "check_precision": False,
    "order_window_s": 60.0,
    "drawdown_action": "halt",
    "daily_loss_action": "halt",
    "var_confidence": 0.99,
    "var_window": 500,
    "var_action": "reduce",
    "var_cooldown_s": 0.0,
    "vol_window": 24,
    "move_window": 12,
    "breaker_cooldown_s": 3600.0,
    "error_window_s": 300.0,
    "ops_action": "halt",
}
_L_POSITIVE = (
    "min_order_notional", "max_order_notional", "max_position", "max_gross_exposure",
    "max_net_exposure", "max_leverage", "price_band", "var_limit", "vol_limit", "move_limit",
    "max_data_age_s", "max_ws_down_s", "max_clock_skew_ms",
)  # fmt: skip
_L_BARS = {"var_window": 2, "vol_window": 2, "move_window": 1}


def _set(spec: Any, path: str, value: Any) -> Any:
    """``spec`` with the value at ``path`` (``portfolio.var.window``) replaced (and validated)."""
    head, _, rest = path.partition(".")
    new = _set(getattr(spec, head), rest, value) if rest else value
    return replace(spec, **{head: new})


def _get(spec: Any, path: str) -> Any:
    for part in path.split("."):
        spec = getattr(spec, part)
    return spec


def spec_from_live_keys(values: Mapping[str, Any], base: RiskSpec | None = None) -> RiskSpec:
    """``base`` (default: all off) with the keys of the old ``risk.live`` block applied.

    The values must already be valid (``live.risk.LiveRiskConfig`` checks them by their old
    names); a key absent from ``values`` keeps ``base``'s value.
    """
    spec = base or RiskSpec()
    for old, value in values.items():
        for new in _LIVE[old]:
            spec = _set(spec, new, value)
    return spec


def spec_from_section(
    spec: RiskSpec,
    top: Mapping[str, Any],
    live: Mapping[str, Any],
    *,
    warn: bool = True,
) -> RiskSpec:
    """Apply the old shape's keys to ``spec`` (the new shape as composed).

    Parameters
    ----------
    spec
        The spec from the new keys (``risk.order`` …).
    top
        Old top-level engine keys that are set (``{"max_drawdown": 0.25}``; null = not set).
    live
        The old ``risk.live`` block's keys, as given (already validated by their old rules).
    warn
        Emit a :class:`RiskConfigDeprecationWarning` per old key, naming its new key.

    An old key replaces the new key's value (so ``risk=conservative risk.live.max_drawdown=0.1``
    still sets the live drawdown limit). Two old keys that now mean the same thing —
    ``risk.max_position`` and ``risk.live.max_position``, ``risk.max_gross_exposure`` and
    ``risk.live.max_leverage``, ``risk.daily_loss_limit`` and ``risk.live.daily_loss`` — must
    agree.

    Raises
    ------
    ConfigError
        Naming both old keys and the new one, when they disagree.
    """
    set_by: dict[str, tuple[str, Any]] = {}
    used: list[tuple[str, str, Any]] = []  # (old key, new key, value), for the warnings
    for old, value in live.items():
        for new in _LIVE[old]:
            set_by[new] = (f"risk.live.{old}", value)
            used.append((f"risk.live.{old}", new, value))
    for old, value in top.items():
        new = _TOP[old]
        other = set_by.get(new)
        if other is not None and other[1] != value:
            raise ConfigError(
                f"risk.{old}={value!r} and {other[0]}={other[1]!r} contradict each other: both "
                f"are now risk.{new} (one limit for backtests and live runs); set risk.{new} "
                f"only, and drop the old keys"
            )
        set_by[new] = (f"risk.{old}", value)
        used.append((f"risk.{old}", new, value))
    if "daily_loss_limit" in top and not {"daily_loss", "daily_loss_action"} & set(live):
        # The engine's daily loss only ever blocked new exposure: the reduce action.
        set_by["portfolio.daily_loss.action"] = ("risk.daily_loss_limit", "reduce")
    if warn:
        for old, new, value in used:
            before = _get(spec, new)
            note = f" (it replaces {before!r})" if before is not None and before != value else ""
            warnings.warn(
                f"{old} is deprecated and will be removed in the next release: use "
                f"risk.{new}{note}; see docs/risk.md",
                RiskConfigDeprecationWarning,
                stacklevel=3,
            )
    for new, (_, value) in set_by.items():
        spec = _set(spec, new, value)
    return spec


def _old_attribute(old: str, path: str) -> property:
    def get(self: RiskSpec) -> Any:
        warnings.warn(
            f"RiskSpec.{old} (a LiveRiskConfig name) is deprecated: read RiskSpec.{path}",
            DeprecationWarning,
            stacklevel=2,
        )
        return _get(self, path)

    return property(get, doc=f"Deprecated: ``{path}``.")


# One release more, a RiskSpec reads like the flat LiveRiskConfig it replaces (spec.max_orders).
for _old, _paths in _LIVE.items():
    setattr(RiskSpec, _old, _old_attribute(_old, _paths[0]))


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _opt(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or test(v)


def _pos(v: Any) -> bool:
    return _number(v) and v > 0


def _frac(v: Any) -> bool:
    return _number(v) and 0 < v < 1


def _at_least(n: int) -> Callable[[Any], bool]:
    return lambda v: _integer(v) and v >= n


def _non_negative(v: Any) -> bool:
    return _number(v) and v >= 0


# risk.live.<key>: (valid?, what the message says)
_L_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{k: (_opt(_pos), "must be a positive number or null") for k in _L_POSITIVE},
    "check_precision": (_is_bool, "must be true or false"),
    "max_drawdown": (_opt(_frac), "is a fraction in (0, 1) or null"),
    "daily_loss": (_opt(_frac), "is a fraction in (0, 1) or null"),
    "order_window_s": (_pos, "must be a positive number"),
    "error_window_s": (_pos, "must be a positive number"),
    **{k: (_at_least(n), f"must be an integer of at least {n}") for k, n in _L_BARS.items()},
    "max_orders": (_opt(_at_least(1)), "must be an integer of at least 1 or null"),
    "max_errors": (_opt(_at_least(0)), "must be an integer of at least 0 or null"),
    "var_confidence": (_frac, "must be in (0, 1)"),
    "breaker_cooldown_s": (_non_negative, "must be a non-negative number"),
    "var_cooldown_s": (_opt(_non_negative), "must be a non-negative number"),
    **{
        k: (lambda v: v in ACTIONS, "must be 'halt' or 'reduce'")
        for k in _LIVE
        if k.endswith("_action")
    },
}


def check_live_keys(values: Mapping[str, Any], prefix: str = "risk.live") -> None:
    """Check the keys and values of an old ``risk.live`` block under their old names.

    Raises
    ------
    ConfigError
        Naming ``<prefix>.<key>``: an unknown key or a value out of its bounds.
    """
    unknown = sorted(str(k) for k in values if k not in _LIVE)
    if unknown:
        raise ConfigError(
            f"{prefix}: unknown key(s) {unknown}; known: {sorted(_LIVE)} (a deprecated block: "
            "the keys are now under risk.order, risk.portfolio, risk.market and risk.ops)"
        )
    for name, value in values.items():
        valid, what = _L_RULES[name]
        if not valid(value):
            raise ConfigError(f"{prefix}.{name} {what}, got {value!r}")
