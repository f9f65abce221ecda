"""``grekko compare RUN RUN...``: backtests side by side, their metrics and what differs in their config.

A RUN is a run folder written by ``grekko backtest`` (``runs/<strategy>/<time>-<config_id>``,
given as a path, as a path inside the runs folder, or as its last part alone) or an MLflow
run id (32 hex digits) in the tracking store of the runs folder; ``--last N`` adds the N
newest run folders.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from grekko_research.cli.render import console, err_console, print_json
from grekko_research.errors import ConfigError, GrekkoError

__all__ = ["RunView", "compare_command", "config_diff", "latest_runs", "load_run_view"]

_MLFLOW_ID = re.compile(r"[0-9a-f]{32}")
_NUMBER = re.compile(r"-?\d+(\.\d*)?([eE][-+]?\d+)?")
# MLflow's data.* params are the bars used (shown under "runs"), not the requested window.
_USED_DATA = ("data.start", "data.end", "data.symbols", "data.bars")
# Shown first, in this order; other metrics the runs share follow (--all).
_KEY_METRICS = (
    "final_equity",
    "total_return",
    "annual_return",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "max_drawdown_duration",
    "exposure",
    "n_trades",
    "win_rate",
    "profit_factor",
    "best_trade",
    "worst_trade",
)
_INFO = ("source", "strategy", "symbols", "timeframe", "start", "end", "bars", "config_id")


@dataclass(frozen=True)
class RunView:
    """What compare shows of one run, whatever its source."""

    label: str
    info: dict[str, str]
    metrics: dict[str, float | None]
    config: dict[str, str] = field(default_factory=dict)


def _flat(tree: Any, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            out.update(_flat(value, f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = _text(tree)
    return out


def _text(value: Any) -> str:
    """One spelling per value, so ``10000`` (YAML) equals ``10000.0`` (an MLflow param)."""
    if value is None or value == "None":
        return "null"
    if isinstance(value, bool) or value in ("True", "False"):
        return str(value).lower()
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        return f"{float(value):.10g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    return str(value)


def _count(value: Any) -> str:
    number = _number(value)
    return "" if number is None else f"{number:,.0f}"


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _config_key(key: str) -> str:
    """Name a config key as MLflow's params do, so folders and MLflow runs line up."""
    if key.startswith("strategy.params."):
        return "params." + key.removeprefix("strategy.params.")
    return "strategy" if key == "strategy.name" else key


def _from_folder(folder: Path, label: str) -> RunView:
    import yaml  # type: ignore[import-untyped]

    metrics_file, config_file = folder / "metrics.json", folder / "config.yaml"
    if not metrics_file.is_file():
        raise ConfigError(f"{folder} is not a run folder: it has no metrics.json")
    try:
        doc = json.loads(metrics_file.read_text(encoding="utf-8"))
        tree = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{folder}: cannot read the run ({exc})") from None
    config = {_config_key(k): v for k, v in _flat(tree).items()}
    metrics = {k: _number(v) for k, v in (doc.get("metrics") or {}).items()}
    metrics["final_equity"] = _number(doc.get("final_equity"))
    metrics["n_trades"] = _number(doc.get("n_trades"))
    info = {
        "source": str(folder),
        "strategy": str(doc.get("strategy", "")),
        "symbols": ", ".join(doc.get("symbols") or []),
        "timeframe": str(doc.get("timeframe", "")),
        "start": str(doc.get("start", "")),
        "end": str(doc.get("end", "")),
        "bars": _count(doc.get("bars")),
        "config_id": str(doc.get("config_id", "")),
    }
    return RunView(label, info, metrics, config)


def _from_mlflow(run_id: str, label: str, uri: str) -> RunView:
    from grekko_research.tracking import find_run

    run = find_run(run_id, uri=uri)
    params, tags = run["params"], run["tags"]
    info = {
        "source": f"MLflow {run['experiment_name']}/{run_id}",
        "strategy": params.get("strategy", tags.get("strategy", "")),
        "symbols": params.get("data.symbols", ""),
        "timeframe": params.get("data.timeframe", ""),
        "start": params.get("data.start", ""),
        "end": params.get("data.end", ""),
        "bars": _count(params.get("data.bars")),
        "config_id": tags.get("config_id", ""),
    }
    metrics = {k: _number(v) for k, v in run["metrics"].items()}
    config = {k: _text(v) for k, v in params.items() if k not in _USED_DATA}
    return RunView(label, info, metrics, config)


def load_run_view(ref: str, runs_dir: Path, uri: str | None = None) -> RunView:
    """Find ``ref`` (a run folder, a path inside ``runs_dir``, a folder name, an MLflow id)."""
    path = Path(ref).expanduser()
    for candidate in (path, runs_dir / ref):
        if candidate.is_dir():
            return _from_folder(candidate.resolve(), ref)
    if "/" not in ref and runs_dir.is_dir():
        found = sorted(p for p in runs_dir.glob(f"*/{ref}") if p.is_dir())
        if len(found) > 1:
            raise ConfigError(f"{ref!r} names {len(found)} run folders in {runs_dir}: give a path")
        if found:
            return _from_folder(found[0], ref)
    if _MLFLOW_ID.fullmatch(ref):
        from grekko_research.tracking import tracking_uri

        uri = uri or tracking_uri(runs_dir)
        db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
        if db is not None and not db.is_file():  # MLflow would create an empty store there
            raise ConfigError(
                f"no run {ref!r}: there is no MLflow store at {db} (pass --runs-dir, or set "
                "GREKKO_RUNS_DIR or MLFLOW_TRACKING_URI)"
            )
        return _from_mlflow(ref, ref, uri)
    raise ConfigError(
        f"no run {ref!r}: not a run folder, nor one in {runs_dir} (runs/<strategy>/<time>-<id>), "
        "nor an MLflow run id (32 hex digits)"
    )


def latest_runs(runs_dir: Path, count: int, strategy: str | None = None) -> list[Path]:
    """Return the ``count`` newest run folders of ``runs_dir`` (of one strategy), oldest first."""
    pattern = f"{strategy}/*/metrics.json" if strategy else "*/*/metrics.json"
    # Folder names start with the UTC time of the run (to the second); then by creation.
    found = sorted(
        (p.parent for p in runs_dir.glob(pattern)),
        key=lambda p: (p.name.split("-", 1)[0], p.stat().st_mtime_ns),
    )
    return found[-count:] if count > 0 else []


def config_diff(runs: list[RunView]) -> tuple[list[tuple[str, list[str]]], int, int]:
    """Return the keys whose values differ (with each run's value), how many keys are equal,
    and how many keys only some runs have (not compared: a folder and an MLflow run record
    different sets)."""
    shared = set.intersection(*(set(r.config) for r in runs))
    some = set.union(*(set(r.config) for r in runs)) - shared
    rows = []
    for key in sorted(shared):
        values = [r.config[key] for r in runs]
        if len(set(values)) > 1:
            rows.append((key, values))
    return rows, len(shared) - len(rows), len(some)


def _fmt(name: str, value: float | None, timeframe: str | None) -> str:
    from grekko_research.reports import format_metric

    if value is None:
        return "n/a"
    if name == "final_equity":
        return f"{value:,.2f}"
    if name in ("n_trades", "trade_count"):
        return f"{value:,.0f}"
    if name in ("max_drawdown_duration", "average_trade_duration") and timeframe:
        from grekko_research.data.timeframes import parse_timeframe

        try:
            tf = parse_timeframe(timeframe)
        except GrekkoError:
            tf = None
        if tf is not None and not tf.is_calendar:
            days = value * tf.ms / 86_400_000
            return f"{days:,.1f} days" if days >= 2 else f"{days * 24:,.1f} hours"
    return format_metric(name, value)


def _metric_names(runs: list[RunView], every: bool) -> list[str]:
    names = [n for n in _KEY_METRICS if any(n in r.metrics for r in runs)]
    if every:
        rest = sorted(set.union(*(set(r.metrics) for r in runs)) - set(names))
        names += rest
    return names


def _table(title: str, first: str, runs: list[RunView]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first, overflow="fold", ratio=2)
    for i, _ in enumerate(runs, 1):
        table.add_column(f"#{i}", justify="right", overflow="fold", ratio=1)
    return table


def _short_time(text: str) -> str:
    return re.sub(r"T(\d\d:\d\d)(:00)?Z?$", r" \1", text)


def compare_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Run folders (runs/<strategy>/<time>-<id>, or just <time>-<id>) and/or "
            "MLflow run ids.",
            show_default=False,
        ),
    ] = None,
    last: Annotated[
        int,
        typer.Option(
            "--last", help="Add the N newest run folders of the runs folder.", show_default=False
        ),
    ] = 0,
    strategy: Annotated[
        str | None, typer.Option("--strategy", help="With --last: only this strategy's runs.")
    ] = None,
    runs_dir: Annotated[
        Path | None,
        typer.Option("--runs-dir", help="Runs folder [env GREKKO_RUNS_DIR; the checkout's runs/]."),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Every metric, not only the key ones.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare backtests side by side: what they ran on, their metrics, their config differences."""
    from grekko_research.cli._finish import report_unfinished
    from grekko_research.paths import runs_dir as default_runs_dir

    folder = runs_dir if runs_dir is not None else default_runs_dir()
    report_unfinished(folder)  # a run whose tearsheet or MLflow record failed in the background
    views = _load_views(folder, runs or [], last, strategy)
    diff, n_same, n_partial = config_diff(views)
    if as_json:
        print_json(
            {
                "runs": [
                    {"ref": v.label, **v.info, "metrics": v.metrics, "config": v.config}
                    for v in views
                ],
                "config_diff": {key: values for key, values in diff},
                "config_equal_keys": n_same,
            }
        )
        return
    for i, view in enumerate(views, 1):
        console.print(f"#{i} {view.info['source']}", highlight=False, soft_wrap=True)
    console.print(_info_table(views))
    console.print(_metrics_table(views, every))
    if len(views) >= 2:
        _print_config_diff(views, diff, n_same, n_partial)


def _load_views(folder: Path, refs: list[str], last: int, strategy: str | None) -> list[RunView]:
    """The runs named on the command line, then the ``last`` newest; exit 1 (with why) on none
    or on a run that cannot be read."""
    refs = refs + [str(p) for p in latest_runs(folder, last, strategy)]
    if not refs:
        where = f" of {strategy}" if strategy and last else ""
        err_console.print(
            f"[bold red]error:[/bold red] no runs to compare{where} in {folder}: give run "
            "folders or MLflow run ids, or --last N",
            highlight=False,
        )
        raise typer.Exit(1)
    try:
        return [load_run_view(ref, folder) for ref in refs]
    except GrekkoError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None


def _info_table(views: list[RunView]) -> Table:
    info = _table("runs", "", views)
    for key in _INFO[1:]:
        values = [v.info.get(key, "") for v in views]
        if key in ("start", "end"):
            values = [_short_time(x) for x in values]
        info.add_row(key, *values)
    return info


def _metrics_table(views: list[RunView], every: bool) -> Table:
    metrics = _table("metrics", "metric", views)
    timeframes = [v.info.get("timeframe") or None for v in views]
    for name in _metric_names(views, every):
        cells = [
            "—" if name not in v.metrics else _fmt(name, v.metrics[name], tf)
            for v, tf in zip(views, timeframes, strict=True)
        ]
        metrics.add_row(name.replace("_", " "), *cells)
    return metrics


def _print_config_diff(
    views: list[RunView], diff: list[tuple[str, list[str]]], n_same: int, n_partial: int
) -> None:
    if diff:
        table = _table(f"config: {len(diff)} keys differ", "key", views)
        for key, values in diff:
            table.add_row(key, *values)
        console.print(table)
    note = f"{n_same} config keys are equal"
    if n_partial:
        note += f"; {n_partial} keys recorded by only some runs are not compared"
    if not diff:
        note = "the configs are identical: " + note
    console.print(note, highlight=False)
