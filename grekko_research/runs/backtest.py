"""One backtest from a composed configuration, and the run directory it leaves behind.

:func:`run_backtest` loads the bars the config names from the local store,
computes the strategy's signals and backtests them; :func:`write_run` writes

* ``config.yaml`` — the resolved configuration, its ``config_id`` in a comment;
* ``metrics.json`` — every metric plus the final equity, trade count, data span
  and ``config_id``: a pure function of the configuration and the data, so two
  runs of the same config write identical files;
* ``trades.parquet``, ``equity.parquet`` — the trade records and the equity,
  cash and position series;
* ``provenance.json`` — config id, data hash, code version: what makes a rerun identical;
* ``tearsheet.html`` / ``tearsheet.png`` — see :mod:`grekko_research.reports`; the page
  loads ``plotly.min.js`` beside it, a hard link to the runs folder's one copy.

The directory appears whole or not at all: it is written under a temporary
name and renamed when complete.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grekko_research._atomic import atomic_dir, json_strict
from grekko_research.config import GrekkoConfig, config_id, engine_config, to_container
from grekko_research.data.bars import Bars
from grekko_research.data.load import load_bars, load_frame
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.ticks import TickStore
from grekko_research.data.timeframes import iso, parse_timeframe, to_ms
from grekko_research.engine import BacktestResult, backtest
from grekko_research.errors import ConfigError, DataNotFoundError
from grekko_research.strategy import Strategy, get_strategy, params_to_mapping

if TYPE_CHECKING:
    from grekko_research.dex.series import PoolSeries

__all__ = [
    "BacktestRun",
    "find_identical_run",
    "load_pool_bars",
    "load_run_bars",
    "run_backtest",
    "run_identity",
    "write_run",
    "write_run_tearsheet",
]


@dataclass(frozen=True)
class BacktestRun:
    """What a backtest run produced, before anything is written."""

    config: GrekkoConfig
    config_id: str
    strategy: Strategy
    params: Any
    bars: Bars
    result: BacktestResult
    follow: Any = None
    """With ``execution.algo``: the :class:`~grekko_research.engine.follow.FollowResult`
    (the strategy's own book, the parents; ``result`` is the account's)."""

    def metrics_document(self) -> dict[str, Any]:
        """Return the content of ``metrics.json`` (NaN and infinities become null)."""
        doc: dict[str, Any] = {
            "config_id": self.config_id,
            "strategy": self.strategy.name,
            "params": params_to_mapping(self.params),
            "symbols": list(self.bars.symbols),
            "timeframe": self.bars.timeframe,
            "start": iso(int(self.bars.index[0])),
            "end": iso(int(self.bars.index[-1])),
            "bars": self.bars.n_bars,
            "final_equity": self.result.final_equity,
            "n_trades": self.result.n_trades,
            "metrics": self.result.metrics,
        }
        return json_strict(doc)


def _hint(key: SeriesKey) -> str:
    name = f"{key.exchange}-{key.market}_{(key.symbol or '').replace('/', '-')}"
    return (
        f"import it first, e.g. `grekko data import <file>` with a file named like "
        f"{name}_{key.timeframe or 'funding'}__<source>.csv.gz, or `grekko data download`"
    )


def load_run_bars(
    cfg: GrekkoConfig,
    strategy: Strategy,
    store: ParquetStore | None = None,
    *,
    ticks: TickStore | None = None,
) -> Bars:
    """Load the bars ``cfg.data`` names, with funding rates when asked or required, and the
    ``analysis.*`` features the strategy requires (docs/analysis.md) computed on the trades and
    depth of ``ticks`` — by default the store's own; a live run's recording
    (``<state dir>/ticks``) to backtest on what the run read."""
    d = cfg.data
    if d.pool:  # a pool's bars come with the pool state its fills need: load_pool_bars
        raise ConfigError(
            f"data.pool={d.pool}: DEX pools run through grekko backtest and grekko-live's DEX "
            "paper venue (sweeps and strategy samples do not quote pools yet)"
        )
    store = store or (ParquetStore(d.store) if d.store else ParquetStore())
    symbols = list(d.symbols) or [d.symbol]
    if len(symbols) < strategy.min_assets:
        raise ConfigError(
            f"strategy {strategy.name!r} needs at least {strategy.min_assets} symbols; "
            f"data has {symbols} (set data.symbols or pick data=perps_1h)"
        )
    try:
        bars = load_bars(
            symbols,
            d.timeframe,
            exchange=d.exchange,
            market=d.market,
            start=d.start,
            end=d.end,
            gap_policy=d.gap_policy,
            store=store,
        )
    except DataNotFoundError as exc:
        key = SeriesKey.make(d.exchange, symbols[0], d.timeframe, market=d.market)
        raise DataNotFoundError(f"{exc}; {_hint(key)}") from None
    if bars.n_bars == 0:
        raise DataNotFoundError(f"no bars of {symbols} {d.timeframe} between {d.start} and {d.end}")
    if d.funding or "funding_rate" in strategy.requires:
        from grekko_research.engine.api import _funding_matrix

        frames = {}
        for symbol in bars.symbols:
            key = SeriesKey.make(d.exchange, symbol, None, market=d.market, kind="funding")
            try:
                frames[symbol], _ = load_frame(key, store=store)
            except DataNotFoundError as exc:
                raise DataNotFoundError(f"{exc}; {_hint(key)}") from None
        bars = bars.with_extras(funding_rate=_funding_matrix(frames, bars))
    if any(name.startswith("alpha.") for name in strategy.requires):
        from grekko_research.alpha.features import AlphaLoader

        # alternative data beside the market data, aligned point-in-time (docs/alpha.md)
        loader = AlphaLoader.for_requires(str(store.root), strategy.requires)
        bars = loader(bars) if loader is not None else bars
    if any(name.startswith("analysis.") for name in strategy.requires):
        from grekko_research.analysis.extras import with_analysis

        # order book and trade features from the tick series, as the live feed computes them
        ticks = ticks or TickStore(store.root)
        bars = with_analysis(bars, strategy.requires, ticks, d.exchange, d.market)
    missing = [name for name in strategy.requires if name not in bars.extras]
    if missing:
        raise ConfigError(f"strategy {strategy.name!r} needs {missing}, which the data lacks")
    return bars


def load_pool_bars(cfg: GrekkoConfig) -> tuple[Bars, dict[str, PoolSeries]]:
    """Bars of the DEX pool ``cfg.data.pool`` from its stored pool state, and its pool rows."""
    from grekko_research.dex.fill import AmmFillRule
    from grekko_research.dex.series import poolstate_bars
    from grekko_research.dex.store import PoolStore

    d = cfg.data
    assert d.pool is not None
    store = PoolStore(Path(d.store) if d.store else None)
    key = store.find(d.pool)
    frame = store.read_poolstate(key)
    ts = frame["timestamp"].to_numpy()
    keep = np.ones(len(frame), dtype=bool)
    if d.start is not None:
        keep &= ts >= to_ms(d.start)
    if d.end is not None:
        keep &= ts < to_ms(d.end)
    frame = frame[keep].reset_index(drop=True)
    if len(frame) == 0:
        raise DataNotFoundError(f"no pool state of {key.label()} between {d.start} and {d.end}")
    a = d.amm
    # the price-impact limit is the run's risk spec's (the DEX venue refuses by the same number)
    impact = cfg.risk.spec.dex.max_price_impact
    rule = AmmFillRule(impact, a.refuse, a.mev_haircut_bps, a.gas_quote)
    bars, series = poolstate_bars(
        frame, d.symbol, base=d.base, decimals0=d.decimals0, decimals1=d.decimals1,
        fee_pips=d.fee_pips, timeframe=d.timeframe, rule=rule, exchange=d.exchange,
    )  # fmt: skip
    return bars, {d.symbol: series}


def run_backtest(
    cfg: GrekkoConfig,
    *,
    store: ParquetStore | None = None,
    ticks: TickStore | None = None,
    chosen: tuple[Strategy, Any] | None = None,
) -> BacktestRun:
    """Compose nothing, load the data, compute the signals, backtest; return the run
    (``ticks``: where the ``analysis.*`` features' trades and depth come from, see
    :func:`load_run_bars`; ``chosen``: the strategy and parameters to run instead of
    ``cfg.strategy``'s, e.g. a promoted model's)."""
    if chosen is not None:
        strategy, params = chosen
    else:
        strategy = get_strategy(cfg.strategy.name)
        params = strategy.params(dict(cfg.strategy.params))
    pools = None
    if cfg.data.pool:
        bars, pools = load_pool_bars(cfg)
    else:
        bars = load_run_bars(cfg, strategy, store, ticks=ticks)
    warm = strategy.warmup(params)
    if bars.n_bars <= warm:
        raise DataNotFoundError(
            f"{bars.n_bars} bars are not enough: {strategy.name} needs {warm} bars of warm-up"
        )
    engine = strategy.configure(engine_config(cfg), params)
    signals = strategy.signals(bars, params)
    follow = cfg.execution.follow_spec(parse_timeframe(bars.timeframe).ms)
    followed = None
    if follow is None:
        result = backtest(bars, signals, engine, pools=pools)
    elif pools is not None:
        raise ConfigError("execution.algo works orders on candles, not swaps on pools: drop it")
    else:  # the account follows the strategy's book through parents (docs/execution.md)
        from grekko_research.engine.follow import follow_backtest

        before = None
        if follow.algo.kind == "vwap":
            before = _stored_before(cfg, bars, store, follow.profile_days)
        followed = follow_backtest(bars, signals, engine, follow, before=before)
        result = followed.account
    return BacktestRun(cfg, config_id(cfg), strategy, params, bars, result, followed)


def _stored_before(
    cfg: GrekkoConfig, bars: Bars, store: ParquetStore | None, days: int
) -> list[tuple[np.ndarray, np.ndarray] | None]:
    """Per symbol, the store's candles (open times, volumes) of the ``days`` before the first
    bar: a VWAP parent's profile reads them as the live runner reads the store."""
    from grekko_research.data.store import default_data_dir
    from grekko_research.engine.follow import stored_volumes

    store = store or ParquetStore(cfg.data.store or default_data_dir())
    first = int(bars.index[0])
    d = cfg.data
    return [stored_volumes(store, d.exchange, d.market, s, bars.timeframe, first, days)
            for s in bars.symbols]  # fmt: skip


def _series_frame(run: BacktestRun) -> pd.DataFrame:
    res = run.result
    frame = pd.DataFrame({"equity": res.equity, "cash": res.cash}, index=run.bars.datetime_index)
    for j, symbol in enumerate(run.bars.symbols):
        frame[f"position[{symbol}]"] = res.positions[:, j]
    return frame.reset_index()


def run_identity(run: BacktestRun) -> str | None:
    """What makes two runs identical: config id, data hash and code version (``None``: unknown)."""
    from grekko_research.tracking._provenance import code_version, data_hash, identity_hash

    tearsheet = run.config.experiment.tearsheet
    return identity_hash(run.config_id, data_hash(run.bars), code_version(), tearsheet)


def _provenance(run: BacktestRun) -> dict[str, Any]:
    from grekko_research import __version__
    from grekko_research.tracking._provenance import code_version, data_hash

    return {
        "config_id": run.config_id,
        "data_hash": data_hash(run.bars),
        "code_version": code_version(),
        "grekko_version": __version__,
        "identity": run_identity(run),
    }


def find_identical_run(run: BacktestRun, root: str | os.PathLike[str]) -> Path | None:
    """Return the newest run folder under ``root`` written by an identical run, if any."""
    from grekko_research.tracking._provenance import find_identity

    # an unknown code version (identity None) makes nothing identical
    folders = sorted((Path(root) / run.strategy.name).glob(f"*-{run.config_id}*"), reverse=True)
    return find_identity(folders, run_identity(run))


def write_run(
    run: BacktestRun,
    root: str | os.PathLike[str] | None = None,
    *,
    reuse: bool = False,
    tearsheet: bool = True,
) -> Path:
    """Write the run directory under ``root`` (default ``experiment.output_dir``); return its path.

    The name is ``<strategy>/<UTC time>-<config_id>``; the directory is
    complete when it appears. ``provenance.json`` records the config id, the
    data hash and the code version. With ``reuse``, an existing folder of an
    identical run (same three, see :func:`run_identity`) is returned instead
    of writing another. The tearsheet shares the runs folder's plotly.js
    (``plotly.min.js``, a hard link: see :mod:`grekko_research.reports.plotlyjs`).
    ``tearsheet=False`` leaves it out (whatever ``experiment.tearsheet`` says) for a
    caller that adds it later with :func:`write_run_tearsheet`.
    """
    from omegaconf import OmegaConf

    base = Path(root if root is not None else run.config.experiment.output_dir)
    if reuse:
        found = find_identical_run(run, base)
        if found is not None:
            return found
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    final = base / run.strategy.name / f"{stamp}-{run.config_id}"
    n = 1
    while final.exists():
        n += 1
        final = base / run.strategy.name / f"{stamp}-{run.config_id}-{n}"
    with atomic_dir(final) as tmp:
        tree = to_container(run.config)
        text = f"# config_id: {run.config_id}\n" + OmegaConf.to_yaml(
            OmegaConf.create(tree), sort_keys=True
        )
        (tmp / "config.yaml").write_text(text, encoding="utf-8")
        doc = run.metrics_document()
        (tmp / "metrics.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (tmp / "provenance.json").write_text(
            json.dumps(_provenance(run), indent=2) + "\n", encoding="utf-8"
        )
        run.result.trades.to_parquet(tmp / "trades.parquet", index=False)
        _series_frame(run).to_parquet(tmp / "equity.parquet", index=False)
        if tearsheet and run.config.experiment.tearsheet:
            write_run_tearsheet(run, tmp, base)
    return final


def write_run_tearsheet(run: BacktestRun, folder: Path, root: str | os.PathLike[str]) -> None:
    """Write ``tearsheet.html``, ``tearsheet.png`` and ``plotly.min.js`` into ``folder``.

    Each file appears whole (atomic writes); ``root`` is the folder ``write_run`` wrote under.
    """
    from grekko_research.reports import write_tearsheet
    from grekko_research.reports.plotlyjs import shared_plotly_js

    write_tearsheet(
        run.result,
        folder / "tearsheet.html",
        png_path=folder / "tearsheet.png",
        title=f"{run.strategy.name} {'/'.join(run.bars.symbols)} {run.bars.timeframe}"
        f" — {run.config_id}",
        config=to_container(run.config),
        plotly_js=shared_plotly_js(_runs_root(run, Path(root))),
    )


def _runs_root(run: BacktestRun, base: Path) -> Path:
    """The runs folder holding ``base`` (one plotly.js for all its runs), else ``base``."""
    output = Path(run.config.experiment.output_dir).resolve()
    here = base.resolve()
    return output if here == output or output in here.parents else base
