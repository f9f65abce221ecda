"""Structured configs: the typed schema of ``conf/``, registered in Hydra's ConfigStore.

Hydra composes ``conf/config.yaml`` and the command-line overrides against
these dataclasses, so an unknown key or a value of the wrong type fails
before anything runs. :func:`~grekko_research.config.compose.compose_config`
then turns the result into these frozen objects; the library never sees an
OmegaConf node. No field holds a secret: credentials come from the
environment or a keyring only.

No mapping is free-form: every ``dict`` field names in its metadata (``typed_by``) the type
its keys belong to — a strategy's ``Params`` dataclass, or the risk / engine section a
portfolio sleeve overrides — and :func:`grekko_research.config._guard.check_config_tree`
checks each key against it, so an undeclared key (``passphrase``, ``api-key`` …) can never
enter a configuration, nor the ``config.yaml``, tearsheet and MLflow records made from it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from grekko_research.risk.spec import (
    DexRisk,
    MarketRisk,
    OpsRisk,
    OrderRisk,
    PortfolioRisk,
    RiskSpec,
)

__all__ = [
    "UNSET",
    "AmmSection",
    "DataConfig",
    "EngineSection",
    "ExchangeConfig",
    "ExperimentConfig",
    "GrekkoConfig",
    "LiveConfig",
    "LiveRiskSection",
    "OptimizeConfig",
    "PortfolioConfig",
    "PortfolioStrategyConfig",
    "PromoteConfig",
    "RiskSection",
    "RouteVenueConfig",
    "RoutingConfig",
    "StopPolicyConfig",
    "StrategyConfig",
    "SymbolAliasConfig",
    "TokenConfig",
    "TokensConfig",
]

# The types a ``dict`` field's keys belong to (see ``grekko_research.config._guard``).
_PARAMS = {"typed_by": "strategy_params"}  # the Params dataclass of the sibling ``name``
_RISK = {"typed_by": "risk_overrides"}  # RiskSection keys (``live``: LiveRiskSection keys)
_ENGINE = {"typed_by": "engine_overrides"}  # EngineSection keys
_FIXED = {"typed_by": "sweep_fixed"}  # the Params of the top-level ``strategy.name``


@dataclass(frozen=True)
class AmmSection:
    """How a DEX pool's asset fills (``grekko_research.dex.fill.AmmFillRule``, docs/dex.md);
    its price-impact limit is ``risk.dex.max_price_impact`` (live DEX runs use it too)."""

    # deprecated (one release): the limit is risk.dex.max_price_impact, the one risk spec's
    max_price_impact: float | None = None
    refuse: bool = False  # True: refuse an order over the limit; False: shrink it to the limit
    mev_haircut_bps: float = 0.0  # taken off each swap's output
    gas_quote: float = 0.0  # gas per swap, in the quote currency


@dataclass(frozen=True)
class DataConfig:
    """Which candles to load from the local store (or which DEX pool: ``pool``)."""

    symbol: str = "BTC/USDT"
    symbols: list[str] = field(default_factory=list)  # several symbols; overrides ``symbol``
    timeframe: str = "1h"
    exchange: str = "binance"
    market: str = "spot"
    start: str | None = None  # inclusive; a date, ISO time or epoch ms
    end: str | None = None  # exclusive
    gap_policy: str = "report"  # raise | report | fill
    funding: bool = False  # also load funding rates into Bars.extras["funding_rate"]
    store: str | None = None  # store folder; default GREKKO_DATA_DIR or ./data
    # a DEX pool (its per-minute pool state in the store): ``symbol`` is then base/quote
    pool: str | None = None  # [chain:]0x… address (prefix) of a stored pool
    base: str = "token1"  # which pool token the symbol's base is
    decimals0: int = 18
    decimals1: int = 18
    fee_pips: int = 3000  # the pool's fee tier (500 = 0.05 %)
    amm: AmmSection = field(default_factory=AmmSection)


@dataclass(frozen=True)
class StrategyConfig:
    """The strategy by registry name and its parameters (validated by the strategy's Params)."""

    name: str = "sma_cross"
    params: dict[str, Any] = field(default_factory=dict, metadata=_PARAMS)


@dataclass(frozen=True)
class EngineSection:
    """Engine options (see ``grekko_research.engine.EngineConfig`` and ``docs/engine.md``)."""

    init_cash: float = 10_000.0
    execution: str = "next_open"
    taker_fee: float = 0.001
    maker_fee: float = 0.001
    fixed_fee: float = 0.0
    slippage: str = "none"  # none | bps | range | volume
    slippage_value: float = 0.0
    sizing: str = "all"  # all | units | notional | percent | cash_percent | vol_target | kelly
    sizing_value: float = 1.0
    allow_short: bool = False
    leverage: float = 1.0

    def __post_init__(self) -> None:
        """Check the bounds of ``grekko_research.engine.EngineConfig`` here, naming the key.

        So ``engine.taker_fee=1.5`` is refused as ``engine.taker_fee`` when the config is
        composed (and a portfolio sleeve's engine override when it is applied), not later.
        """
        from grekko_research.engine.config import EngineConfig, Fees, Sizing, Slippage
        from grekko_research.errors import ConfigError

        try:
            EngineConfig(
                init_cash=self.init_cash,
                execution=self.execution,  # type: ignore[arg-type]
                fees=Fees(taker=self.taker_fee, maker=self.maker_fee, fixed=self.fixed_fee),
                slippage=Slippage(self.slippage, self.slippage_value),  # type: ignore[arg-type]
                sizing=Sizing(self.sizing, self.sizing_value),  # type: ignore[arg-type]
                allow_short=self.allow_short,
                leverage=self.leverage,
            )
        except ConfigError as exc:
            message = str(exc)
            for engine_name, key in _ENGINE_KEYS.items():
                message = message.replace(engine_name, f"engine.{key}")
            raise ConfigError(message) from None


# The engine's names for the EngineSection keys, as its error messages spell them.
_ENGINE_KEYS = {
    "EngineConfig.init_cash": "init_cash",
    "EngineConfig.execution": "execution",
    "EngineConfig.leverage": "leverage",
    "Fees.taker": "taker_fee",
    "Fees.maker": "maker_fee",
    "Fees.fixed": "fixed_fee",
    "Slippage.kind": "slippage",
    "Slippage.value": "slippage_value",
    "Sizing.kind": "sizing",
    "Sizing.value": "sizing_value",
}


UNSET = math.nan
"""The value of a deprecated ``risk.live`` number not given (``null`` is a value: off)."""
_UNSET_TEXT = "<unset>"  # the same for an action
_COUNTS = ("max_orders", "max_errors", "var_window", "vol_window", "move_window")


@dataclass(frozen=True)
class LiveRiskSection:
    """The keys of the deprecated ``risk.live`` block (one release more; see ``docs/risk.md``).

    Each key is now a key of :class:`~grekko_research.risk.spec.RiskSpec`
    (``risk.live.max_drawdown`` is ``risk.portfolio.drawdown.limit`` …). A key not given holds
    a marker (NaN, ``"<unset>"``, or ``null`` for ``check_precision``), so
    ``risk.live.max_clock_skew_ms=null`` (given: off) differs from leaving it out (the new key's
    value stands); :meth:`given` returns the keys given, checked later by their old names
    (:func:`~grekko_research.risk.spec.check_live_keys`). Counts are typed as numbers here and
    must be whole.
    """

    check_precision: bool | None = None
    min_order_notional: float | None = UNSET
    max_order_notional: float | None = UNSET
    max_position: float | None = UNSET
    max_gross_exposure: float | None = UNSET
    max_net_exposure: float | None = UNSET
    max_leverage: float | None = UNSET
    max_orders: float | None = UNSET
    order_window_s: float = UNSET
    price_band: float | None = UNSET
    max_drawdown: float | None = UNSET
    drawdown_action: str = _UNSET_TEXT
    daily_loss: float | None = UNSET
    daily_loss_action: str = _UNSET_TEXT
    var_limit: float | None = UNSET
    var_confidence: float = UNSET
    var_window: float = UNSET
    var_action: str = _UNSET_TEXT
    var_cooldown_s: float | None = UNSET
    vol_limit: float | None = UNSET
    vol_window: float = UNSET
    move_limit: float | None = UNSET
    move_window: float = UNSET
    breaker_cooldown_s: float = UNSET
    max_data_age_s: float | None = UNSET
    max_ws_down_s: float | None = UNSET
    max_errors: float | None = UNSET
    error_window_s: float = UNSET
    max_clock_skew_ms: float | None = UNSET
    ops_action: str = _UNSET_TEXT

    def given(self) -> dict[str, Any]:
        """The keys given, with their values (whole counts as integers)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "check_precision":
                continue
            if value == _UNSET_TEXT or (isinstance(value, float) and math.isnan(value)):
                continue
            if f.name in _COUNTS and isinstance(value, float) and value.is_integer():
                value = int(value)
            out[f.name] = value
        return out


@dataclass(frozen=True)
class RiskSection:
    """The run's risk spec (``conf/risk/``): one spec for backtests and live runs; null = off.

    ``order``, ``portfolio``, ``market`` and ``ops`` are the parts of
    :class:`~grekko_research.risk.spec.RiskSpec` (see ``docs/risk.md``); :attr:`spec` is the
    validated spec, the old keys applied. The top-level engine keys (``max_position`` …) and
    the ``live`` block are the shape before it, deprecated: they still load for one release,
    with a warning naming the new key, and two old keys that now mean one thing must agree.
    """

    order: OrderRisk = field(default_factory=OrderRisk)
    portfolio: PortfolioRisk = field(default_factory=PortfolioRisk)
    market: MarketRisk = field(default_factory=MarketRisk)
    ops: OpsRisk = field(default_factory=OpsRisk)
    dex: DexRisk = field(default_factory=DexRisk)
    # deprecated: risk.order.max_position, risk.order.max_leverage,
    # risk.portfolio.drawdown.flatten_at, risk.portfolio.daily_loss.limit,
    # risk.order.max_orders_per_day
    max_position: float | None = None
    max_gross_exposure: float | None = None
    max_drawdown: float | None = None
    daily_loss_limit: float | None = None
    max_orders_per_day: int | None = None
    live: LiveRiskSection = field(default_factory=LiveRiskSection)  # deprecated

    def __post_init__(self) -> None:
        """Build the spec now, so a bad or contradictory value fails at composition."""
        object.__setattr__(self, "_spec", _risk_spec(self))

    @property
    def spec(self) -> RiskSpec:
        """The validated :class:`~grekko_research.risk.spec.RiskSpec` of this section."""
        spec: RiskSpec = self.__dict__["_spec"]
        return spec

    def with_overrides(self, overrides: Mapping[str, Any], where: str = "risk") -> RiskSection:
        """This section with some keys replaced (a portfolio sleeve's ``risk``): nested
        mappings replace single keys (``{"order": {"max_orders": 5}}``).

        Raises
        ------
        ConfigError
            Naming an unknown key, or a value the spec refuses.
        """
        section: RiskSection = _with(self, overrides, where)
        return section


def _with(obj: Any, overrides: Mapping[str, Any], where: str) -> Any:
    from dataclasses import is_dataclass, replace

    from grekko_research.errors import ConfigError

    names = [f.name for f in fields(obj)]
    unknown = sorted(str(k) for k in overrides if k not in names)
    if unknown:
        raise ConfigError(f"unknown {where} key(s) {unknown}; known: {sorted(names)}")
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        current = getattr(obj, key)
        if is_dataclass(current) and isinstance(value, Mapping):
            changes[key] = _with(current, value, f"{where}.{key}")
        else:
            changes[key] = value
    return replace(obj, **changes)


def _risk_spec(section: RiskSection) -> RiskSpec:
    """The spec of a section: the new keys, then the deprecated ones (warned, checked)."""
    from grekko_research.risk.spec import TOP_KEYS, check_live_keys, spec_from_section

    live = section.live.given()
    check_live_keys(live)  # names risk.live.<key>
    top = {k: getattr(section, k) for k in TOP_KEYS if getattr(section, k) is not None}
    base = RiskSpec(section.order, section.portfolio, section.market, section.ops, section.dex)
    return spec_from_section(base, top, live) if top or live else base


@dataclass(frozen=True)
class ExchangeConfig:
    """Venue metadata; credentials are never configured here."""

    name: str = "binance"
    market: str = "spot"
    rest_url: str | None = None  # point the client at a local peer (tests)
    sandbox: bool = False


@dataclass(frozen=True)
class TokenConfig:
    """A token known to on-chain components: public facts only (never a key or a wallet)."""

    symbol: str = "???"  # OmegaConf's MISSING: required
    address: str | None = None  # contract (EVM, 0x + 40 hex) or mint (Solana, base58)
    decimals: int | None = None  # None: read from the chain
    name: str | None = None


@dataclass(frozen=True)
class TokensConfig:
    """Tokens known to on-chain components (DEX and Solana issues build on this)."""

    chain: str = "none"
    tokens: list[TokenConfig] = field(default_factory=list)


@dataclass(frozen=True)
class ExperimentConfig:
    """Where a run writes its results and how it is labelled."""

    name: str = "default"
    output_dir: str = "runs"
    tearsheet: bool = True
    track: bool = (
        True  # log to MLflow (tracking URI: $MLFLOW_TRACKING_URI or <output_dir>/mlruns.db)
    )
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OptimizeConfig:
    """A parameter sweep (``grekko sweep``): sampler, objective, validation, storage."""

    sampler: str = "tpe"  # tpe | random | grid | cmaes
    n_trials: int = 50  # per study: the full-sample study and each walk-forward fold
    objective: str = "sharpe_ratio"  # a metric name, or "package.module:function"
    direction: str = "maximize"
    objectives: list[str] = field(default_factory=list)  # several: a multi-objective study
    directions: list[str] = field(default_factory=list)
    pruner: str = "median"  # none | median (on the first half of the in-sample window)
    seed: int = 0
    validation: str = "walk_forward"  # none | walk_forward | purged_kfold | cpcv
    folds: int = 4  # walk-forward folds; k of purged k-fold; N blocks of CPCV
    anchored: bool = False  # in-sample windows start at the first bar (else they roll)
    oos_fraction: float = 0.4  # the last share of the bars, split into `folds` test windows
    test_groups: int = 2  # CPCV: blocks tested per split
    purge_bars: int | None = None  # train rows dropped before a test block (default: warm-up)
    embargo_fraction: float = 0.01  # train rows dropped after a test block, share of the bars
    storage: str | None = None  # default: a journal file runs/optuna.log; or an RDB URL
    study_name: str | None = None  # default: <strategy>-<id of everything but optimize>
    workers: int = 1
    timeout: float | None = None  # seconds per study
    # local: worker processes on this machine; ray: trials as Ray tasks on a cluster
    # (grekko_research/distributed; pip install grekko[ray]; needs an RDB storage URL).
    backend: str = "local"
    ray_address: str | None = None  # e.g. 10.0.0.5:6379; None: $RAY_ADDRESS or a local Ray
    # Robustness of the out-of-sample result (optimize/robustness.py; docs/promotion.md).
    robustness: bool = True  # Monte Carlo + random-entry test after the studies
    mc_draws: int = 1000  # trade shuffles, trade bootstraps, random-entry placements
    mc_input_draws: int = 20  # engine re-runs per input perturbation (prices, skipped bars)
    mc_price_noise: float = 0.5  # share of the way to the bar's high/low a price may move
    mc_skip_fraction: float = 0.02  # share of bars a skipped-bars draw drops
    mc_cost_stress: float = 2.0  # fee and slippage multiplier of the stress run
    parity: bool = True  # grekko sweep replays the best params through grekko-live
    # Parameters pinned while the others are searched (optimize.fixed.train=500): each name a
    # parameter of the strategy, each value inside its declared space; the study records them.
    fixed: dict[str, Any] = field(default_factory=dict, metadata=_FIXED)


@dataclass(frozen=True)
class PromoteConfig:
    """Gates a sweep must pass before ``grekko promote`` registers its strategy; null = not checked."""

    min_oos_sharpe: float | None = 0.5  # annualised Sharpe of the stitched out-of-sample equity
    min_deflated_sharpe: float | None = 0.95  # P(best Sharpe is not luck), effective trials
    max_pbo: float | None = 0.5  # probability of backtest overfitting
    max_drawdown: float | None = 0.35  # deepest out-of-sample drawdown allowed (a fraction)
    min_trades: int | None = 30  # trades of the best parameters in sample
    max_random_entry_pvalue: float | None = 0.05  # rule vs random entries, same exposure
    max_mc_drawdown: float | None = 0.5  # 95th percentile bootstrap drawdown (a fraction)
    require_parity: bool = True  # a passed live-replay parity check (grekko sweep records it)


@dataclass(frozen=True)
class StopPolicyConfig:
    """Where a live run's position stops live (``live.stop_policy``; ``live.orders.StopPolicy``
    checks and applies it): ``emulated`` (the runner fires them from the bars: the default, and
    what paper and replay runs always do), ``auto`` (native venue orders where the adapter sends
    that type, OCO where it has one; emulated otherwise, and after a venue refuses one) or
    ``native`` (a stop the venue cannot hold refuses the start; a refusal flattens and halts).
    ``stop_limit_offset``: a stop-loss sent as a stop-limit (Coinbase) limits this fraction
    beyond its trigger; ``stop_limit: true`` sends it so where the venue has stop-market orders
    too (Binance spot ``STOP_LOSS_LIMIT``; backtest it with ``Stops.stop_limit_offset``)."""

    mode: str = "emulated"  # emulated | auto | native
    stop_limit_offset: float = 0.005
    stop_limit: bool = False  # a native stop-loss as a stop-limit even beside stop-market


@dataclass(frozen=True)
class SymbolAliasConfig:
    """A run symbol (``run``) as one venue lists it (``venue``): ``BTC/USDT`` → ``BTC/USD``."""

    run: str = ""
    venue: str = ""


@dataclass(frozen=True)
class RouteVenueConfig:
    """One venue orders may be routed to: its taker fee (``taker_fee_bps``, or
    ``fee_from_venue`` to read the account's rate from the venue; one is required: an unknown
    fee never routes), the expected slippage beyond its book walk, and its names of the run's
    symbols."""

    name: str = ""
    taker_fee_bps: float | None = None
    fee_from_venue: bool = False  # the account's taker fee as the venue reports it (not a guess)
    slippage_bps: float = 0.0
    symbols: list[SymbolAliasConfig] = field(default_factory=list)
    # Where a run's routed orders reach it (live.venues.routed): the adapter (a Grekko adapter
    # or ccxt id; default: ``name``) and a base URL (a local simulator, a testnet; default:
    # the exchange's hosts). Credentials: GREKKO_<EXCHANGE>_API_KEY / _SECRET.
    exchange: str = ""
    url: str = ""


@dataclass(frozen=True)
class RoutingConfig:
    """Smart order routing across venues (``live.routing``; ``live.routing.RoutingSpec`` checks
    it, ``docs/execution.md`` "Smart order routing"): the ``venues`` (two or more; none: off)
    and the split and health thresholds."""

    venues: list[RouteVenueConfig] = field(default_factory=list)
    book_depth: int = 20
    split: bool = True
    split_slices: int = 20
    min_child_notional: float = 10.0
    balance_buffer: float = 0.01
    beyond_book_bps: float = 50.0
    max_errors: int = 3
    error_window_s: float = 60.0
    ban_window_s: float = 300.0
    max_quote_latency_ms: float = 2000.0
    avoid_stream_down: bool = True


@dataclass(frozen=True)
class LiveConfig:
    """How ``grekko-live`` runs a strategy (the ``live/`` group); never a credential.

    ``venue`` is where orders go: ``paper`` (simulated fills with the engine's model) or an
    exchange (``binance``, ``binanceusdm``, ``coinbase``, or another ccxt id, best effort).
    ``mode`` ``paper`` keeps orders off the exchange even when ``venue`` names one (its public
    feed drives a paper account); ``live`` sends real orders and needs explicit confirmation
    on the command line and at least one configured risk limit. ``feed`` is where a paper
    venue gets its bars: ``replay`` (the local data store, as fast as possible) or an exchange
    name (its public kline feed). ``venue_url`` points the exchange client at a local peer
    (the simulator); ``feed_url`` points the feed's client (default ``venue_url`` on a paper
    run; a DEX run's ``venue_url`` is its chain's RPC). Symbols and timeframe default to the
    ``data`` group's.
    """

    venue: str = "paper"
    mode: str = "paper"  # paper | live
    feed: str = "replay"  # replay | <exchange name>
    symbols: list[str] = field(default_factory=list)
    timeframe: str | None = None
    run_id: str | None = None  # default: <strategy>-<config_id>
    state_dir: str = "runs/live"
    event_store: str | None = (
        None  # path or postgresql:// URL; default <state_dir>/<run_id>/events.db
    )
    venue_url: str | None = None
    feed_url: str | None = None  # where live.feed's exchange is reached (default: its own host)
    grace_ms: int = 10_000  # "order not found" tolerated this long after submission
    reconcile_every_s: float = 60.0
    funding_interval_h: float = 8.0  # perpetuals' funding times (UTC multiples); 0: every bar
    quote_timeout_ms: int = 1_000  # book top read at each decision (arrival mid); 0: off
    max_bars: int | None = None  # stop after this many closed bars (rehearsals, tests)
    model: str | None = None  # models:/NAME@ALIAS: trade a promoted model (strategy + params)
    allow_code_drift: bool = False  # trade a model promoted from another code version
    stop_policy: StopPolicyConfig = field(default_factory=StopPolicyConfig)
    routing: RoutingConfig = field(default_factory=RoutingConfig)


@dataclass(frozen=True)
class PortfolioStrategyConfig:
    """One strategy of a portfolio (a *sleeve*): its own parameters, capital and limits.

    ``risk`` and ``engine`` override keys of the run's ``risk`` and ``engine`` sections for
    this sleeve only (``risk: {portfolio: {drawdown: {flatten_at: 0.1}}, order: {max_orders:
    5}}``). The sleeve's own live risk checks are only the keys its ``risk`` sets; the run's
    risk spec guards the account. ``capital`` is the sleeve's starting equity (default: see
    :class:`PortfolioConfig`).
    """

    name: str = (
        "sma_cross"  # registry name, or models:/NAME@ALIAS (a promoted model, gates checked)
    )
    id: str | None = None  # unique within the portfolio; default the strategy's name
    params: dict[str, Any] = field(default_factory=dict, metadata=_PARAMS)
    weight: float = 1.0
    capital: float | None = None
    risk: dict[str, Any] = field(default_factory=dict, metadata=_RISK)
    engine: dict[str, Any] = field(default_factory=dict, metadata=_ENGINE)
    symbols: list[str] = field(default_factory=list)  # some of the run's symbols (empty: all)


@dataclass(frozen=True)
class PortfolioConfig:
    """Several strategies traded by one ``grekko-live`` process (``portfolio/``; none: the
    ``strategy`` group alone).

    Each strategy decides on its own sleeve; the coordinator merges the sleeves' target
    positions by ``rule`` (``sum``, ``vote`` with ``quorum``, ``unanimous``; see
    :mod:`grekko_research.portfolio`) and caps the result (fractions of the account's equity).
    A sleeve's capital defaults to its weight's share of ``engine.init_cash`` under ``sum``, and
    to all of it under ``vote`` and ``unanimous`` (each sleeve then sizes for the whole account).
    Not part of ``config_id``.
    """

    name: str = "none"
    rule: str = "sum"  # sum | vote | unanimous
    quorum: float = 0.5  # vote: share of the total weight a side must exceed
    max_position: float | None = None  # |merged target| × price per symbol, fraction of equity
    max_gross: float | None = None  # Σ |merged target| × price, fraction of equity (null: leverage)
    strategies: list[PortfolioStrategyConfig] = field(default_factory=list)


@dataclass(frozen=True)
class CostsSection:
    """The fill model's costs (``conf/costs``; ``docs/execution.md``, "Calibrated cost models").

    ``model``: ``none`` (the engine's ``slippage`` keys) or ``calibrated``: the cost models of
    a fit logged to MLflow (``grekko-live calibrate``), found by ``run_id`` or, when that is
    empty, by ``name`` (the newest finished fit of that name), in ``tracking_uri`` (default:
    the runs' store). The run's symbols with a model fill by it; the others by the bar model.
    """

    model: str = "none"  # none | calibrated
    run_id: str = ""
    name: str = ""
    tracking_uri: str = ""

    def __post_init__(self) -> None:
        from grekko_research.errors import ConfigError

        if self.model not in ("none", "calibrated"):
            raise ConfigError(f"costs.model must be none or calibrated, got {self.model!r}")
        if self.model == "calibrated" and not (self.run_id or self.name):
            raise ConfigError(
                "costs=calibrated needs costs.run_id=<MLflow run id> or costs.name=<fit name> "
                "(grekko-live calibrate RUN --name NAME logs one)"
            )


@dataclass(frozen=True)
class ExecutionSection:
    """How the strategy's orders are worked (``conf/execution``; ``docs/execution.md``,
    "A strategy's orders through an algorithm").

    ``algo``: ``none`` (each order goes at once, the default) or ``twap`` / ``vwap``: the
    account follows the strategy's book, each move of it worked as a parent of ``slices``
    children ``every`` bars apart (or spread evenly ``over`` a duration such as ``4h``); a
    VWAP's volume profile comes from the ``profile_days`` before each parent's start (a
    manual VWAP's too).
    """

    algo: str = "none"  # none | twap | vwap
    slices: int = 1
    every: int = 1
    over: str = ""
    profile_days: int = 30

    def __post_init__(self) -> None:
        from grekko_research.engine.follow import MAX_PROFILE_DAYS
        from grekko_research.errors import ConfigError

        p = self.profile_days  # also a manual VWAP's (live.runner._algos)
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= MAX_PROFILE_DAYS:
            raise ConfigError(
                f"execution.profile_days must be an integer in [1, {MAX_PROFILE_DAYS}], got {p!r}"
            )
        if self.algo == "none":
            return
        if self.algo not in ("twap", "vwap"):
            raise ConfigError(
                f"execution.algo must be none, twap or vwap, got {self.algo!r} (an iceberg or "
                "a chaser works manual orders: grekko-live order enter --algo)"
            )
        if self.over and self.every != 1:
            raise ConfigError("execution: give every or over, not both")
        try:
            self.follow_spec(60_000 if not self.over else None)
        except ConfigError as exc:
            raise ConfigError(f"execution: {exc}") from None

    def follow_spec(self, tf_ms: int | None) -> Any:
        """The :class:`~grekko_research.engine.follow.FollowSpec` (None for ``none``) on bars
        of ``tf_ms`` (None: checked for shape only, ``over`` on one-minute bars)."""
        if self.algo == "none":
            return None
        from grekko_research.engine.follow import FollowSpec

        raw: dict[str, Any] = {"kind": self.algo, "slices": self.slices}
        if self.over:
            raw["over"] = self.over
        else:
            raw["every"] = self.every
        return FollowSpec.parse(raw, tf_ms or 60_000, self.profile_days)


@dataclass(frozen=True)
class GrekkoConfig:
    """The whole composed configuration."""

    data: DataConfig = field(default_factory=DataConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    engine: EngineSection = field(default_factory=EngineSection)
    risk: RiskSection = field(default_factory=RiskSection)
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    tokens: TokensConfig = field(default_factory=TokensConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    promote: PromoteConfig = field(default_factory=PromoteConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)
    costs: CostsSection = field(default_factory=CostsSection)
    execution: ExecutionSection = field(default_factory=ExecutionSection)

    def __post_init__(self) -> None:
        """Fold the deprecated ``data.amm.max_price_impact`` into ``risk.dex`` (one limit)."""
        old = self.data.amm.max_price_impact
        if old is not None:
            object.__setattr__(self, "risk", _moved_impact(self.risk, old))
            amm = replace(self.data.amm, max_price_impact=None)
            object.__setattr__(self, "data", replace(self.data, amm=amm))


def _moved_impact(risk: RiskSection, value: float) -> RiskSection:
    import warnings

    from grekko_research.errors import ConfigError
    from grekko_research.risk.spec import RiskConfigDeprecationWarning

    current = risk.dex.max_price_impact
    if current != DexRisk.max_price_impact and current != value:
        raise ConfigError(
            f"data.amm.max_price_impact={value!r} and risk.dex.max_price_impact={current!r} "
            "contradict each other: set risk.dex.max_price_impact only (one limit for the "
            "backtest on pools and the DEX venue)"
        )
    warnings.warn(
        "data.amm.max_price_impact is deprecated and will be removed in the next release: use "
        "risk.dex.max_price_impact (the one risk spec; the DEX venue applies it too)",
        RiskConfigDeprecationWarning,
        stacklevel=4,
    )
    return risk.with_overrides({"dex": {"max_price_impact": value}})
