"""From the composed configuration to a running runner: strategy, engine, venue, event store.

Used by the ``grekko-live`` command line and by tests; nothing here reads the network or
the clock except through the venue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from grekko_research.config.compose import config_id, engine_config, to_container
from grekko_research.config.schema import EngineSection, GrekkoConfig, RiskSection
from grekko_research.data.store import ParquetStore
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy, get_strategy
from live.events import EventStore
from live.runner import Runner, RunnerSpec, RunSummary
from live.runner.sleeves import SleeveSpec
from live.runner.spec import VolumeHistory
from live.venues.base import Venue
from live.venues.paper import PaperVenue, ReplayFeed

__all__ = ["KILL_FILE", "LivePlan", "live_limits_configured", "open_store", "plan_run", "run_plan"]

_MODES = ("paper", "live")
KILL_FILE = "KILL"
"""The kill switch's flag file in a run's state folder: its presence engages the switch."""


@dataclass(frozen=True)
class LivePlan:
    """Everything a live run needs, resolved from the configuration."""

    cfg: GrekkoConfig
    strategy: Strategy | None  # None: a portfolio (``spec.sleeves``)
    params: Any
    spec: RunnerSpec
    state_dir: Path
    events: str
    venue_name: str
    mode: str
    feed: str


def live_limits_configured(cfg: GrekkoConfig) -> list[str]:
    """The keys of the risk limits set in ``cfg.risk`` that bound exposure or losses (live
    trading needs at least one; see :attr:`grekko_research.risk.spec.RiskSpec.guarding`)."""
    return cfg.risk.spec.guarding


def plan_run(cfg: GrekkoConfig, *, replay: bool = False) -> LivePlan:
    """Resolve strategy, parameters, engine configuration, symbols, paths and venue choice.

    Raises
    ------
    ConfigError
        For an unknown mode, a live run without risk limits, or a configuration the live book
        cannot reproduce (see :func:`grekko_research.engine.book.check_live_config`).
    """
    from grekko_research.engine.book import check_live_config

    live = cfg.live
    if live.mode not in _MODES:
        raise ConfigError(f"live.mode must be one of {list(_MODES)}, got {live.mode!r}")
    if cfg.portfolio.strategies:
        return _plan_portfolio(cfg, replay=replay)
    if live.model:
        strategy, params, model = load_promoted_model(cfg)
    else:
        strategy = get_strategy(cfg.strategy.name)
        params = strategy.params(dict(cfg.strategy.params))
        model = {}
    engine = strategy.configure(engine_config(cfg), params)
    check_live_config(engine)
    symbols = _symbols(cfg)
    cid = config_id(cfg)
    venue_name, feed, mode = _where(cfg, replay=replay)
    base = f"{strategy.name}-{model['model_version']}" if model else f"{strategy.name}-{cid}"
    run_id = live.run_id or f"{base}-{'replay' if replay else venue_name}"
    state_dir = Path(live.state_dir) / run_id
    events = live.event_store or str(state_dir / "events.db")
    meta = {"mode": mode, "feed": feed, **_url_meta(cfg, replay), **model}
    what = _traded(cfg, strategy, params, engine, model)
    if "follow" in what:
        meta["execution"] = what["follow"].payload()
    spec = _spec(cfg, run_id, state_dir, symbols, cid, engine, meta=meta,
                 extras=_window_extras(cfg, [strategy]), **what)  # fmt: skip
    return LivePlan(cfg, strategy, params, spec, state_dir, events, venue_name, mode, feed)


def _traded(
    cfg: GrekkoConfig, strategy: Strategy, params: Any, engine: Any, model: dict[str, Any]
) -> dict[str, Any]:
    """What a one-strategy run trades: the strategy itself; or, with ``execution.algo``, the
    strategy on a sleeve of its own (its book, without the risk rules) that the account follows
    through parents (live.runner._follow), the run's risk engine checking each child."""
    tf_ms = parse_timeframe(cfg.live.timeframe or cfg.data.timeframe).ms
    follow = cfg.execution.follow_spec(tf_ms)
    if follow is None:
        return {"strategy": strategy, "params": params}
    from grekko_research.engine.follow import check_follow, intent_config
    from live.runner.sleeves import CoordinatorSpec

    check_follow(engine)
    sleeve = SleeveSpec(id=strategy.name, strategy=strategy, params=params,
                        engine=intent_config(engine), meta=model)  # fmt: skip
    return {"strategy": None, "params": None, "sleeves": (sleeve,),
            "coordinator": CoordinatorSpec(strategy.name), "follow": follow}  # fmt: skip


def _spec(
    cfg: GrekkoConfig,
    run_id: str,
    state_dir: Path,
    symbols: tuple[str, ...],
    cid: str,
    engine: Any,
    **what: Any,
) -> RunnerSpec:
    """The runner spec of a plan: ``what`` says what it trades (a strategy and its parameters,
    or sleeves and a coordinator) and its ``meta``; the rest comes from ``cfg.live``."""
    from live.orders import StopPolicy
    from live.risk import risk_spec

    live = cfg.live
    return RunnerSpec(
        run_id=run_id,
        engine=engine,
        symbols=symbols,
        timeframe=live.timeframe or cfg.data.timeframe,
        config_id=cid,
        grace_ms=live.grace_ms,
        reconcile_every_ms=int(live.reconcile_every_s * 1000),
        funding_interval_ms=int(live.funding_interval_h * 3_600_000),
        quote_timeout_ms=live.quote_timeout_ms,
        max_bars=live.max_bars,
        kill_file=state_dir / KILL_FILE,
        risk=risk_spec(cfg),
        stop_policy=StopPolicy.from_config(asdict(live.stop_policy), "live.stop_policy"),
        volume_history=_volume_history(cfg),
        **what,
    )


def _volume_history(cfg: GrekkoConfig) -> VolumeHistory:
    """A VWAP parent's volume profile: the store ``data.store`` names (the backtest's), the
    ``execution.profile_days`` before its start."""
    from grekko_research.data.store import default_data_dir

    root = cfg.data.store or str(default_data_dir())
    days = cfg.execution.profile_days  # the same days a strategy's VWAP parents read
    return VolumeHistory(root, cfg.data.exchange, cfg.data.market, days=days)


def _window_extras(cfg: GrekkoConfig, strategies: Sequence[Strategy]) -> Any:
    """The window hook adding the alternative-data and analysis features the strategies
    require (computed from the store ``data.store`` names as the backtest's loader does, or,
    for analysis features while trading, from the venue's market feed), or None."""
    from grekko_research.data.store import default_data_dir

    requires = [name for s in strategies for name in s.requires]
    root = cfg.data.store or str(default_data_dir())
    alpha = None
    if any(name.startswith("alpha.") for name in requires):
        from grekko_research.alpha.features import AlphaLoader

        alpha = AlphaLoader.for_requires(root, requires)
    if not any(name.startswith("analysis.") for name in requires):
        return alpha
    from live.analysis_window import analysis_window

    # the order-book and trade features: the live feed's while trading, the stored ticks' on a replay
    d = cfg.data
    return analysis_window(requires, _symbols(cfg), root, d.exchange, d.market, alpha)


def _url_meta(cfg: GrekkoConfig, replay: bool) -> dict[str, Any]:
    """What the run's record needs for ``grekko-live reconcile`` to act as the run did: its
    ``risk`` spec, and ``venue_url``, where its venue (or paper feed) was reached, so that
    reconcile goes back there (a local peer), never to the exchange's own host unless asked.
    Credentials in the URL (``user:pass@``) are not recorded."""
    from urllib.parse import urlsplit, urlunsplit

    url = cfg.live.venue_url
    # The limits it ran under (reconcile plans with them), as the validated spec: a run
    # configured with the deprecated keys records their meaning, not the old shape.
    risk = {"risk": asdict(cfg.risk.spec)}
    if replay or not url:
        return risk
    parts = urlsplit(url)
    if parts.username or parts.password:
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        url = urlunsplit(parts._replace(netloc=netloc))
    return {"venue_url": url, **risk}


def _symbols(cfg: GrekkoConfig) -> tuple[str, ...]:
    """The run's symbols (each strategy's need is checked by :class:`RunnerSpec`)."""
    return tuple(cfg.live.symbols or cfg.data.symbols or [cfg.data.symbol])


def _where(cfg: GrekkoConfig, *, replay: bool) -> tuple[str, str, str]:
    """Venue, feed and mode of a run, after the checks a live run must pass."""
    live = cfg.live
    venue_name = "paper" if replay else live.venue
    feed = "replay" if replay else live.feed
    mode = "paper" if replay else live.mode
    if mode == "live" and venue_name == "paper":
        raise ConfigError("live.mode=live needs a real venue (live.venue=binance, …), not paper")
    if mode == "live" and not live_limits_configured(cfg):
        raise ConfigError(
            "live trading needs at least one risk limit: set risk.order.max_position, "
            "risk.order.max_leverage, risk.portfolio.drawdown.limit, "
            "risk.portfolio.daily_loss.limit or another (docs/risk.md), or pick "
            "risk=conservative"
        )
    return venue_name, feed, mode


def _plan_portfolio(cfg: GrekkoConfig, *, replay: bool) -> LivePlan:
    """A run of several strategies (``portfolio``): one sleeve each, merged by its rule."""
    import hashlib
    import json

    from grekko_research.engine.book import check_live_config
    from grekko_research.portfolio import check_merge_rule
    from grekko_research.risk.spec import RiskSpec
    from live.runner.sleeves import CoordinatorSpec

    p, live = cfg.portfolio, cfg.live
    if live.model:
        raise ConfigError("live.model and portfolio.strategies exclude each other: pick one")
    check_merge_rule(p.rule, p.quorum, np.array([s.weight for s in p.strategies]))
    total = sum(s.weight for s in p.strategies)
    sleeves = tuple(_sleeve(cfg, i, total) for i in range(len(p.strategies)))
    symbols = _symbols(cfg)
    cid = config_id(cfg)
    digest = json.dumps([cid, to_container(cfg)["portfolio"]], sort_keys=True).encode()
    pid = hashlib.sha256(digest).hexdigest()[:12]
    venue_name, feed, mode = _where(cfg, replay=replay)
    run_id = live.run_id or f"{p.name}-{pid}-{'replay' if replay else venue_name}"
    state_dir = Path(live.state_dir) / run_id
    # The account's own book only marks and books real fills: its limits are the live risk
    # engine's (the run's risk spec) and the coordinator's caps; each sleeve keeps the engine's.
    engine = replace(engine_config(cfg), risk=RiskSpec())
    check_live_config(engine)
    spec = _spec(
        cfg, run_id, state_dir, symbols, cid, engine,
        strategy=None, params=None,
        meta={"mode": mode, "feed": feed, "portfolio_id": pid, **_url_meta(cfg, replay)},
        sleeves=sleeves,
        coordinator=CoordinatorSpec(p.name, p.rule, p.quorum, p.max_position, p.max_gross),
        extras=_window_extras(cfg, [s.strategy for s in sleeves]),
    )  # fmt: skip
    events = live.event_store or str(state_dir / "events.db")
    return LivePlan(cfg, None, None, spec, state_dir, events, venue_name, mode, feed)


def _sleeve(cfg: GrekkoConfig, i: int, total_weight: float) -> SleeveSpec:
    """The ``i``-th strategy of ``cfg.portfolio``, with its overrides of ``risk`` and ``engine``
    and its capital, checked as a single run's strategy would be.

    The sleeve's book keeps the run's engine risk rules (``risk.portfolio.drawdown.flatten_at``
    …) unless its entry overrides them, so it books what ``grekko backtest`` of that strategy
    would. Its own live risk engine has only the checks its entry sets (``risk: {order:
    {max_orders: 10}}``): the run's risk engine guards the whole account's orders.
    """
    from grekko_research.engine.book import check_live_config
    from grekko_research.risk.spec import TOP_KEYS

    entry = cfg.portfolio.strategies[i]
    where = f"portfolio.strategies[{i}] ({entry.id or entry.name})"
    try:
        risk_over = dict(entry.risk)
        # The sleeve's own risk engine checks only what its entry sets (the run's risk engine
        # guards the account); the old top-level keys were its book's only.
        own = RiskSection().with_overrides(
            {k: v for k, v in risk_over.items() if k not in TOP_KEYS}
        )
        _known(dict(entry.engine), EngineSection, "engine")
        share = entry.weight / total_weight if cfg.portfolio.rule == "sum" else 1.0
        capital = entry.capital if entry.capital is not None else cfg.engine.init_cash * share
        if not capital > 0:
            raise ConfigError(f"capital must be positive, got {capital}")
        sub = replace(
            cfg,
            risk=cfg.risk.with_overrides(risk_over),
            engine=replace(cfg.engine, **{**dict(entry.engine), "init_cash": float(capital)}),
        )
        meta: dict[str, Any] = {}
        if entry.name.startswith("models:/"):
            if entry.params:
                raise ConfigError("a promoted model trades its own parameters: drop params")
            strategy, params, meta = load_promoted_model(
                replace(cfg, live=replace(cfg.live, model=entry.name)),
                symbols=tuple(entry.symbols) or _symbols(cfg),
            )
        else:
            strategy = get_strategy(entry.name)
            params = strategy.params(dict(entry.params))
        engine = strategy.configure(engine_config(sub), params)
        check_live_config(engine)
        return SleeveSpec(
            id=entry.id or (strategy.name if meta else entry.name),
            strategy=strategy,
            params=params,
            engine=engine,
            weight=float(entry.weight),
            risk=own.spec,
            meta=meta,
            symbols=tuple(entry.symbols),
        )
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _known(overrides: dict[str, Any], section: type, name: str) -> None:
    names = {f.name for f in fields(section)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown {name} key(s) {unknown}; known: {sorted(names)}")


def load_promoted_model(
    cfg: GrekkoConfig, *, symbols: Sequence[str] | None = None
) -> tuple[Strategy, Any, dict[str, Any]]:
    """Load ``live.model`` (``models:/NAME@ALIAS``) from the MLflow registry: exactly the
    strategy and parameters that were promoted, after checking that every promotion gate
    configured in ``promote`` is recorded as passed on that model version, and that this code
    is the code it was promoted from (unless ``live.allow_code_drift``).

    A strategy that fits models (``ml_lgbm``, ``ml_online``) comes bound to the window models
    promoted with it, for ``symbols`` (default: the run's): it trades them and fits none
    (:mod:`grekko_research.ml.promoted`); ``meta["window_models"]`` lists them for the log.

    Raises
    ------
    ConfigError
        Naming each gate the model version lacks, or the code versions that differ, or a
        learning strategy promoted without window models for a traded symbol.
    TrackingError
        The registry unreachable, or a window model that cannot be loaded.
    """
    from grekko_research.promote import evaluate_gates, gate_tag
    from grekko_research.tracking import git_commit, load_strategy, model_version, tracking_uri

    model_uri = str(cfg.live.model)
    uri = tracking_uri(cfg.experiment.output_dir)
    info = model_version(model_uri, uri=uri)
    required = [g.name for g in evaluate_gates({}, cfg.promote)]
    missing = [name for name in required if info["tags"].get(gate_tag(name)) != "pass"]
    if missing:
        raise ConfigError(
            f"{model_uri} (version {info['version']}) has not passed the promotion gate(s) "
            + ", ".join(repr(m) for m in missing)
            + ": promote it with `grekko promote` (which checks and records every gate)"
        )
    strategy, params, spec = load_strategy(model_uri, uri=uri)
    promoted_from = str(spec.get("code_version") or "")
    here = git_commit() or ""
    if promoted_from != here and not cfg.live.allow_code_drift:
        raise ConfigError(
            f"{model_uri} was promoted from code {promoted_from or 'of unknown version'}, this is "
            f"{here or 'not a git checkout'}: check out that commit, or set "
            "live.allow_code_drift=true to trade it with this code"
        )
    meta = {
        "model": model_uri,
        "model_version": info["version"],
        "model_code_version": promoted_from,
        "model_source_run": spec.get("source_run"),
    }
    if strategy.fits_models:  # its trained models, from the registry: never refitted live
        from grekko_research.ml.promoted import promoted_strategy

        where = f"{model_uri} (version {info['version']}, run {spec.get('source_run')})"
        strategy, index = promoted_strategy(
            strategy, spec, where=where, symbols=symbols or _symbols(cfg), uri=uri
        )
        meta["window_models"] = index
    return strategy, params, meta


def open_store(plan: LivePlan) -> EventStore:
    """Open the run's event store (creating its folder) with the log key, created if there is
    none (see :func:`live.events.load_log_key`); its checkpoints go beside a SQLite log, or
    into the state folder for a PostgreSQL one."""
    from live.events import default_checkpoints, open_run_log

    if "://" not in plan.events:
        Path(plan.events).parent.mkdir(parents=True, exist_ok=True)
    checkpoints = default_checkpoints(plan.events)
    if checkpoints is None:
        plan.state_dir.mkdir(parents=True, exist_ok=True)
        checkpoints = plan.state_dir / "events.checkpoints"
    return open_run_log(plan.events, create_key=True, checkpoints=checkpoints)


def make_plan_venue(plan: LivePlan, *, store: ParquetStore | None = None) -> Venue:
    """The venue of a plan: paper on replayed history or on a public feed, or a real venue."""
    from live.venues.dex_plan import is_dex_plan, make_dex_venue

    if is_dex_plan(plan):  # paper on replayed pool state, or a chain (live.venue=dex:<name>)
        return make_dex_venue(plan)
    live = plan.cfg.live
    if plan.venue_name == "paper" or plan.mode == "paper":
        if plan.feed == "replay":
            from grekko_research.runs import load_run_bars

            strategies = (
                [plan.strategy] if plan.strategy else [s.strategy for s in plan.spec.sleeves]
            )
            bars = load_run_bars(plan.cfg, max(strategies, key=lambda s: s.min_assets), store)
            missing = [s for s in plan.spec.symbols if s not in bars.symbols]
            if missing:
                raise ConfigError(f"replay bars lack {missing}: set data.symbols like live.symbols")
            if list(bars.symbols) != list(plan.spec.symbols):
                raise ConfigError(
                    f"replay bars are {list(bars.symbols)}, live.symbols {list(plan.spec.symbols)}:"
                    " give them in the same order"
                )
            source: ReplayFeed | Venue = ReplayFeed(bars)
        else:
            from live.venues.registry import make_venue

            # a public data feed: only its bars are used (the paper account trades)
            source = make_venue(
                plan.feed,
                urls=live.feed_url or live.venue_url,
                credentials=None,
                require=("fetch_ohlcv",),
            )
        return PaperVenue(
            plan.spec.engine, plan.spec.symbols, source, state_path=plan.state_dir / "paper.json"
        )
    from live.routing import routing_spec
    from live.venues.registry import load_credentials, make_venue

    routing = routing_spec(asdict(live.routing))
    if routing is not None:  # every order routed across the venues (live.venues.routed)
        return make_routed_venue(plan, routing)
    return make_venue(
        plan.venue_name, urls=live.venue_url, credentials=load_credentials(plan.venue_name)
    )


def make_routed_venue(plan: LivePlan, routing: Any) -> Venue:
    """The run's account over ``live.routing``'s venues: each built from its ``exchange`` and
    ``url`` with its exchange's credentials, the routes logged in ``routes.db`` beside the
    run's log (with the run's log key), the children checked by a fail-closed risk engine
    (the run's own checked each order). ``live.venue`` is the venue whose bars the run follows."""
    from live.events import open_run_log
    from live.risk import RiskEngine
    from live.routing import SmartRouter
    from live.venues.registry import load_credentials, make_venue
    from live.venues.routed import RoutedVenue

    names = [v.name for v in plan.cfg.live.routing.venues]
    if plan.venue_name not in names:
        raise ConfigError(
            f"live.venue={plan.venue_name!r} must be one of live.routing.venues {names}: the "
            "run follows that venue's bars"
        )
    venues: dict[str, Venue] = {}
    for v in plan.cfg.live.routing.venues:
        exchange = v.exchange or v.name
        venues[v.name] = make_venue(
            exchange, urls=v.url or None, credentials=load_credentials(exchange)
        )
    plan.state_dir.mkdir(parents=True, exist_ok=True)
    store = open_run_log(plan.state_dir / "routes.db", create_key=True)
    router = SmartRouter(
        routing, venues, store, RiskEngine(None), run_id=plan.spec.run_id,
        clock=venues[plan.venue_name].now_ms, grace_ms=plan.spec.grace_ms,
    )  # fmt: skip
    return RoutedVenue(plan.venue_name, router, owns_store=True)


def run_plan(
    plan: LivePlan,
    *,
    venue: Venue | None = None,
    store: ParquetStore | None = None,
    hook: Callable[[str], None] | None = None,
    accept_log: str | None = None,
) -> RunSummary:
    """Run the plan to the end of its feed (or ``live.max_bars``) and return the summary.

    A log that fails verification is refused unless ``accept_log`` gives the operator's reason
    to run on it anyway (see :class:`~live.runner.Runner`)."""
    from live.compliance.policy import check_plan

    check_plan(plan)  # the deployment's venue/jurisdiction policy (conf/compliance/policy.yaml)
    events = open_store(plan)

    async def main() -> RunSummary:
        from live.analysis_window import feeding

        v = venue or make_plan_venue(plan, store=store)
        try:
            async with feeding(plan, v):  # the analysis features' tables, when required
                return await Runner(plan.spec, v, events, hook=hook, accept_log=accept_log).run()
        finally:
            await v.close()

    try:
        return asyncio.run(main())
    finally:
        events.close()
