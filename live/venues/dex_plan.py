"""From a run's configuration to its DEX venue: paper on replayed pool state, or a chain.

``grekko-live`` picks a DEX venue in two ways (docs/dex_live.md):

* **paper on replayed pool state** — a data group with a ``pool`` (``data=polygon_weth_usdc_dex``)
  on a paper run (``grekko-live replay``, or ``run`` with ``live=dex_paper``): the pool's stored
  state becomes bars and pool rows exactly as ``grekko backtest`` loads them
  (:func:`grekko_research.runs.backtest.load_pool_bars`), and :class:`~live.venues.dex_paper.DexPaperVenue`
  fills by the engine's AMM fill. Nothing touches a chain.
* **live on a chain** — ``live.venue=dex:<name>`` with ``live.mode=live`` (confirmed on the command
  line, as for any live venue): ``conf/exchange/dex/<name>.yaml`` (or the same path under a
  ``GREKKO_CONF_DIR`` folder; chain, RPC from its environment variable or ``live.venue_url``,
  executor, markets), the hot key from the environment or keyring, the nonce log beside the
  run's log, the swap limits from the run's risk spec (``risk.dex``), bars from ``live.feed``
  (an exchange's public klines, reached at ``live.feed_url``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from grekko_research.errors import ConfigError

if TYPE_CHECKING:
    from live.app import LivePlan
    from live.venues.base import Venue

__all__ = ["DEX_PAPER", "dex_conf_name", "is_dex_plan", "make_dex_venue"]

DEX_PAPER = "dex-paper"  # live.venue of the paper account on replayed pool state
_PREFIX = "dex:"  # live.venue=dex:<conf/exchange/dex name>


def dex_conf_name(venue: str) -> str | None:
    """``uniswap_polygon`` of ``dex:uniswap_polygon`` (``None``: not a chain venue)."""
    if not venue.startswith(_PREFIX):
        return None
    name = venue[len(_PREFIX) :]
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(
            f"live.venue={venue!r}: name a file of conf/exchange/dex, e.g. dex:uniswap_polygon"
        )
    return name


def is_dex_plan(plan: LivePlan) -> bool:
    """Whether the plan trades a DEX: a pool data group, the DEX paper venue or ``dex:<name>``."""
    return (
        bool(plan.cfg.data.pool)
        or plan.venue_name == DEX_PAPER
        or (dex_conf_name(plan.venue_name) is not None)
    )


def make_dex_venue(
    plan: LivePlan, *, clock: Any = None, conf_dirs: tuple[Path, Path] | None = None
) -> Venue:
    """The plan's DEX venue (see the module docstring); a configuration that does not say
    which pool or chain, or asks for what is not built, is refused by name. ``conf_dirs``:
    ``(exchange dir, tokens dir)`` instead of ``conf/exchange/dex`` and ``conf/tokens``."""
    name = dex_conf_name(plan.venue_name)
    if plan.mode == "live":
        if name is None:
            raise ConfigError(
                f"live.mode=live on a DEX needs live.venue=dex:<conf/exchange/dex name>, "
                f"not {plan.venue_name!r}"
            )
        return _chain_venue(plan, name, clock, conf_dirs)
    if plan.feed != "replay":
        raise ConfigError(
            f"the DEX paper venue replays stored pool state (live.feed=replay), not "
            f"{plan.feed!r}: paper trading on a live pool's state is not built"
        )
    return _paper_venue(plan)


def _paper_venue(plan: LivePlan) -> Venue:
    from grekko_research.runs.backtest import load_pool_bars
    from live.venues.dex_paper import DexPaperVenue

    cfg = plan.cfg
    if not cfg.data.pool:
        raise ConfigError(
            "the DEX paper venue replays a pool: pick a data group with a pool "
            "(data=polygon_weth_usdc_dex, after grekko data import of its pool-state file)"
        )
    if plan.strategy is None:
        raise ConfigError("the DEX paper venue trades one strategy (a portfolio is not built)")
    bars, pools = load_pool_bars(cfg)
    if list(plan.spec.symbols) != list(bars.symbols):
        raise ConfigError(
            f"the pool {cfg.data.pool} trades {list(bars.symbols)}, live.symbols are "
            f"{list(plan.spec.symbols)}"
        )
    if plan.spec.timeframe != bars.timeframe:
        raise ConfigError(f"pool bars are {bars.timeframe}, the run asks for {plan.spec.timeframe}")
    return DexPaperVenue.from_replay(
        plan.spec.engine, bars, pools, state_path=Path(plan.state_dir) / "dex-paper.json"
    )


def _conf_dirs(name: str) -> tuple[Path, Path]:
    """Where ``<name>.yaml`` and its chain's token list are: the first folder of
    ``GREKKO_CONF_DIR`` holding ``exchange/dex/<name>.yaml`` (with its own ``tokens/`` if it has
    one), else the framework's ``conf/``."""
    from grekko_research.config._search import conf_folders
    from live.chain.dex_conf import EXCHANGE_DIR, TOKENS_DIR

    primary, extra = conf_folders()
    for folder in (*extra, primary):
        if (folder / "exchange" / "dex" / f"{name}.yaml").is_file():
            tokens = folder / "tokens"
            return folder / "exchange" / "dex", tokens if tokens.is_dir() else TOKENS_DIR
    return EXCHANGE_DIR, TOKENS_DIR


def _chain_venue(
    plan: LivePlan, name: str, clock: Any, conf_dirs: tuple[Path, Path] | None
) -> Venue:
    import time

    from live.chain.dex_conf import load_dex_venue
    from live.chain.keys import load_signer
    from live.venues.dex import DexVenue

    live = plan.cfg.live
    overrides = {"rpc_url": live.venue_url} if live.venue_url else None
    exchange, tokens = conf_dirs or _conf_dirs(name)
    config = load_dex_venue(name, overrides=overrides, conf_dir=exchange, tokens_dir=tokens)
    missing = [s for s in plan.spec.symbols if s not in {m.symbol for m in config.markets}]
    if missing:
        raise ConfigError(f"conf/exchange/dex/{name}.yaml has no market for {missing}")
    if live.feed == "replay":
        raise ConfigError(
            f"a live DEX run needs bars from an exchange's public feed: live.feed=<exchange> "
            f"(the pools' own swaps as bars are not built), not replay on {name}"
        )
    from live.venues.registry import make_venue

    # the feed's own URL (live.feed_url): live.venue_url is the chain's RPC on a DEX run
    feed = make_venue(live.feed, urls=live.feed_url, credentials=None, require=("fetch_ohlcv",))
    signer = load_signer(key_env=config.key_env, keyring_user=config.keyring_user,
                         what=f"DEX hot key of {name}")  # fmt: skip
    Path(plan.state_dir).mkdir(parents=True, exist_ok=True)
    # a path: the venue opens its nonce log and closes it with itself
    nonces = Path(plan.state_dir) / f"{name}-nonces.sqlite"
    return DexVenue(config, signer, nonces, risk=plan.spec.risk, feed=feed,
                    clock=clock or (lambda: int(time.time() * 1000)))  # fmt: skip
