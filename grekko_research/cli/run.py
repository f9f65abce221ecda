"""``grekko run``: the main job on embedded defaults.

Today the job brings the default market data into the store and prints its
data-quality report; later stages (backtest, sweep, tracking) are added as
the library grows. Data comes, in this order, from:

1. the local store, when it already covers the requested span;
2. Binance's public endpoints through ccxt (no key needed), when reachable;
3. the folder named by ``GREKKO_SAMPLE_DATA`` (files named like
   ``binance-spot_BTC-USDT_1h__source.csv.gz``), when offline;
4. otherwise the job stops with a message saying how to provide data.
"""

from __future__ import annotations

import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from grekko_research import paths
from grekko_research._atomic import atomic_write_text
from grekko_research.cli._compile_notice import compile_notice
from grekko_research.cli.render import console, err_console, print_json, quality_table
from grekko_research.data.download import Downloader, RetryPolicy
from grekko_research.data.exchanges import connect_public
from grekko_research.data.files import find_data_files, import_file
from grekko_research.data.load import load_bars, load_frame
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.timeframes import iso, parse_timeframe, to_ms
from grekko_research.errors import ConfigError, DataNotFoundError, GrekkoError

__all__ = ["MainJob", "MainJobResult", "run_command", "run_main_job"]


@dataclass(frozen=True)
class MainJob:
    """The main job's data: a pinned window, so every run is comparable with the last."""

    exchange: str = "binance"
    market: str = "spot"
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    timeframe: str = "1h"
    since: str = "2020-12-01"
    until: str = "2021-07-17T21:00"
    gap_policy: str = "report"
    reports_dir: Path = field(default_factory=lambda: paths.reports_dir())


def _covers(store: ParquetStore, key: SeriesKey, since: int, until: int) -> bool:
    span = store.span(key)
    if span is None:
        return False
    last_needed = until - parse_timeframe(key.timeframe or "1h").ms
    return span[0] <= since and span[1] >= last_needed


def _how_to_provide(key: SeriesKey, store: ParquetStore, why: str) -> str:
    tf = key.timeframe
    name = f"{key.exchange}-{key.market}_{key.symbol_dir}_{tf}__<source>.csv.gz"
    return (
        f"no data for {key.label()}: the store at {store.root} does not cover the span, "
        f"{why}, and GREKKO_SAMPLE_DATA names no folder with a file for it. Provide data "
        "in one of these ways:\n"
        f"  • go online and rerun 'grekko run' (downloads from {key.exchange}), or\n"
        f"  • grekko data download --exchange {key.exchange} --symbol {key.symbol} "
        f"--timeframe {tf} --since 2020-12-01, or\n"
        f"  • grekko data import FILE --exchange {key.exchange} --symbol {key.symbol} "
        f"--timeframe {tf}  (CSV: timestamp,open,high,low,close,volume; ms UTC), or\n"
        f"  • export GREKKO_SAMPLE_DATA=/folder/with/files/named/like/{name}"
    )


def run_main_job(
    job: MainJob,
    *,
    store: ParquetStore,
    rest_url: str | None = None,
    offline: bool = False,
) -> MainJobResult:
    """Run the job and return its summary (also written to ``reports/data-quality.json``)."""
    since, until = to_ms(job.since), to_ms(job.until)
    if since is None or until is None or since >= until:
        raise ConfigError(f"invalid main-job window {job.since} → {job.until}")
    keys = [SeriesKey.make(job.exchange, s, job.timeframe, market=job.market) for s in job.symbols]
    sources: dict[SeriesKey, str] = {}
    missing = [k for k in keys if not _covers(store, k, since, until)]
    for key in keys:
        if key not in missing:
            sources[key] = "store"
    client, why = (None, "offline mode") if offline else (None, "")
    if missing and not offline:
        with console.status(f"checking whether {job.exchange} is reachable…"):
            client, why = connect_public(
                job.exchange, job.market, rest_url=rest_url, timeout_ms=10_000
            )
        if client is None:
            console.print(f"[yellow]{why}[/yellow]: falling back to GREKKO_SAMPLE_DATA")
    sample_dir = str(paths.sample_data_dir() or "")
    for key in missing:
        if client is not None:
            downloader = Downloader(
                client, store, exchange=job.exchange, market=job.market, retry=RetryPolicy()
            )
            with console.status(f"downloading {key.label()}…"):
                downloader.download(key.symbol, key.timeframe, since_ms=since, until_ms=until)
            sources[key] = f"download from {client.id}"
            continue
        files = find_data_files(sample_dir, key) if sample_dir else []
        if not files:
            raise DataNotFoundError(_how_to_provide(key, store, why))
        import_file(files[0], key, store=store)
        sources[key] = f"sample {files[0].name}"
    rows = []
    for key in keys:
        _, report = load_frame(key, store=store, start=since, end=until, gap_policy="report")
        rows.append({"series": key.symbol, "source": sources[key], "report": report})
    bars = load_bars(
        list(job.symbols),
        job.timeframe,
        exchange=job.exchange,
        market=job.market,
        start=since,
        end=until,
        gap_policy=job.gap_policy,
        store=store,
    )
    result = MainJobResult(
        window=(since, until),
        store=str(store.root),
        rows=rows,
        symbols=bars.symbols,
        n_bars=bars.n_bars,
        filled=int(np.count_nonzero(bars.filled)),
        report_path=job.reports_dir / "data-quality.json",
    )
    atomic_write_text(result.report_path, json.dumps(result.to_dict(), indent=2) + "\n")
    return result


@dataclass(frozen=True)
class MainJobResult:
    """What the main job did: per-series sources and reports, and the aligned bars' shape."""

    window: tuple[int, int]
    store: str
    rows: list[dict[str, Any]]
    symbols: tuple[str, ...]
    n_bars: int
    filled: int
    report_path: Path

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary."""
        return {
            "job": "data",
            "window": {"start": iso(self.window[0]), "end": iso(self.window[1])},
            "store": self.store,
            "series": [
                {
                    "series": r["series"],
                    "source": r["source"],
                    **{k: v for k, v in r["report"].to_dict().items() if k != "source"},
                }
                for r in self.rows
            ],
            "bars": {"symbols": list(self.symbols), "n_bars": self.n_bars, "filled": self.filled},
            "report_path": str(self.report_path),
        }


RESEARCH_OVERRIDES = (
    "strategy=sma_cross",
    "data=btc_1h",
    "data.start=2020-12-01",
    "data.end=2021-07-17T21:00",
    "optimize.n_trials=30",
    "optimize.folds=3",
)
"""The research half of the main job: the default strategy on the job's window, a short sweep."""


def run_research(store: ParquetStore, runs_dir: Path, say: Any) -> dict[str, Any]:
    """Backtest → walk-forward sweep → MLflow → tearsheet → promotion-gate verdict.

    Returns a JSON-ready summary with the paths and the commands to browse the results.
    """
    from grekko_research.cli._finish import tracking_lock
    from grekko_research.cli.sweep import check_sweep_parity, track_sweep, write_sweep
    from grekko_research.config import compose_config
    from grekko_research.optimize import run_sweep
    from grekko_research.promote import evaluate_gates
    from grekko_research.runs import run_backtest, write_run
    from grekko_research.tracking import log_backtest, tracking_uri

    args = [*RESEARCH_OVERRIDES, f"experiment.output_dir={runs_dir}", f"data.store={store.root}"]
    cfg = compose_config(args)
    uri = tracking_uri(runs_dir)
    say("backtest: sma_cross on BTC/USDT 1h")
    run = run_backtest(cfg, store=store)
    # An identical rerun (same config, data and code) reuses its folders and MLflow runs.
    folder = write_run(run, runs_dir, reuse=True)
    with tracking_lock(uri):  # a background finish of `grekko backtest` may be logging
        backtest_id = log_backtest(run, folder, uri=uri, reuse=True)
    say(f"walk-forward sweep: {cfg.optimize.n_trials} trials per study, {cfg.optimize.folds} folds")
    result = run_sweep(cfg, store=store)
    check_sweep_parity(cfg, result, args, say=say)  # grekko-live replays the best params
    sweep_folder = write_sweep(result, runs_dir, reuse=True)
    summary = result.summary()
    sweep_id = track_sweep(cfg, result, summary, sweep_folder, store, reuse=True)
    gates = evaluate_gates(summary, cfg.promote)
    db = uri.removeprefix("sqlite:///")
    promotable = all(g.ok for g in gates)
    return {
        "backtest": {
            "folder": str(folder),
            "tearsheet": str(folder / "tearsheet.html"),
            "mlflow_run_id": backtest_id,
            "final_equity": run.result.final_equity,
            "sharpe_ratio": run.result.metrics["sharpe_ratio"],
        },
        "sweep": {
            "folder": str(sweep_folder),
            "mlflow_run_id": sweep_id,
            "best_params": summary["best_params"],
            "out_of_sample": summary["out_of_sample"],
            "overfitting": summary["overfitting"],
        },
        "gates": [{"gate": g.name, "value": g.value, "rule": g.rule, "ok": g.ok} for g in gates],
        "verdict": "promotable" if promotable else "not promotable",
        "commands": research_commands(
            uri=uri,
            storage=str(result.storage),
            sweep_id=sweep_id,
            runs_dir=runs_dir,
            promotable=promotable,
        ),
        "mlflow_db": db,
    }


def research_commands(
    *, uri: str, storage: str, sweep_id: str | None, runs_dir: Path, promotable: bool
) -> dict[str, str | None]:
    """Return the commands that browse (and, if every gate passes, promote) a research run.

    Each is runnable as printed: the environment's scripts by path, arguments quoted.
    """
    return {
        "mlflow": f"{venv_tool('mlflow')} ui --backend-store-uri {shlex.quote(uri)}"
        if uri.startswith("sqlite")
        else uri,
        "optuna": f"{venv_tool('optuna-dashboard')} {shlex.quote(storage)}",
        # a sweep that fails a gate cannot be promoted: no hint that would only be refused
        "promote": f"{venv_tool('grekko')} promote {sweep_id} --name sma_cross_btc "
        f"--runs-dir {shlex.quote(str(runs_dir))}"
        if promotable
        else None,
    }


def venv_tool(name: str) -> str:
    """Return a runnable path to ``name`` in this interpreter's environment (no activation).

    ``.venv/bin/mlflow`` when the environment is below the current folder, else the
    absolute path; the bare name when the environment has no such script.
    """
    exe = Path(sys.executable).parent / name
    if not exe.is_file():
        return name
    try:
        return shlex.quote(str(exe.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(exe))


def run_command(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir", help="Store folder [env GREKKO_DATA_DIR; the checkout's data/]."
        ),
    ] = None,
    offline: Annotated[
        bool, typer.Option(help="Do not try the exchange; use the store or GREKKO_SAMPLE_DATA.")
    ] = False,
    rest_url: Annotated[
        str | None, typer.Option("--rest-url", envvar="GREKKO_REST_URL", hidden=True)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    data_only: Annotated[
        bool, typer.Option("--data-only", help="Stop after the data and its quality report.")
    ] = False,
    runs_dir: Annotated[
        Path | None,
        typer.Option("--runs-dir", help="Runs folder [env GREKKO_RUNS_DIR; the checkout's runs/]."),
    ] = None,
) -> None:
    """Run the main job: real data into the store and its quality report, then the research run.

    The research run backtests the default strategy, sweeps its parameters
    walk-forward, logs everything to MLflow, writes the tearsheet and says
    whether the sweep passes the promotion gates.
    """
    store = ParquetStore(data_dir) if data_dir is not None else ParquetStore()
    job = MainJob()
    runs = runs_dir or paths.runs_dir()
    try:
        result = run_main_job(job, store=store, rest_url=rest_url, offline=offline)
        research = None
        if not data_only:
            say = err_console.print if as_json else console.print
            with compile_notice(err_console):
                research = run_research(store, runs, say)
    except GrekkoError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        print_json({**result.to_dict(), "research": research})
        return
    console.print(
        quality_table(
            result.rows,
            f"data quality — {job.exchange} {job.market} {job.timeframe}, "
            f"{job.since} → {job.until} UTC",
        )
    )
    console.print(
        f"Loaded {result.n_bars:,} aligned bars × {len(result.symbols)} symbols "
        f"({result.filled:,} synthesised, flagged). Store: {store.root}. "
        f"Report: {result.report_path}"
    )
    if research is not None:
        _render_research(research)


def _render_research(research: dict[str, Any]) -> None:
    from grekko_research.cli.render import fmt_number, fmt_params, new_table

    oos = research["sweep"]["out_of_sample"] or {}
    bt = research["backtest"]
    nan = float("nan")
    console.print(
        f"Backtest sma_cross: final equity {bt['final_equity']:,.2f}, Sharpe "
        f"{bt['sharpe_ratio']:.2f}",
        highlight=False,
    )
    console.print(f"  tearsheet {bt['tearsheet']}", highlight=False, soft_wrap=True)
    console.print(
        f"Sweep best params {fmt_params(research['sweep']['best_params'] or {})}; "
        f"out-of-sample Sharpe {oos.get('sharpe_ratio', nan):.2f}, total return "
        f"{oos.get('total_return', nan):.2%}",
        highlight=False,
    )
    table = new_table(title=f"promotion gates: {research['verdict']}")
    for col in ("gate", "value", "rule", ""):
        table.add_column(col)
    for g in research["gates"]:
        value = "not measured" if g["value"] is None else fmt_number(g["value"])
        table.add_row(g["gate"], value, g["rule"], "pass" if g["ok"] else "FAIL")
    console.print(table)
    cmds = research["commands"]
    console.print("Browse (copy-paste, no venv activation needed):", highlight=False)
    for key in ("mlflow", "optuna"):
        console.print(f"  {cmds[key]}", highlight=False, soft_wrap=True)
    if cmds.get("promote"):
        console.print("Promote (every gate passes):", highlight=False)
        console.print(f"  {cmds['promote']}", highlight=False, soft_wrap=True)
    else:
        failed = ", ".join(g["gate"] for g in research["gates"] if not g["ok"])
        console.print(
            f"Not promotable: {failed} failed, so grekko promote would refuse this sweep; "
            "change the strategy or the gates (conf/promote/) and sweep again.",
            highlight=False,
        )
