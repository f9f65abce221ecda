"""``grekko regress [NAMES...]``: re-run the pinned experiments in ``experiments/`` and compare."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from grekko_research.cli.render import console, err_console, print_json

if TYPE_CHECKING:
    from rich.console import Console

    from grekko_research.data.store import ParquetStore
    from grekko_research.regress import BaselineUpdate, Check, Experiment, RegressResult, Value

__all__ = ["regress_command"]


_ISO = re.compile(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d):00Z")


def _cell(value: Value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        short = _ISO.sub(r"\1 \2", value)
        return short if len(short) <= 20 else short[:12] + "…"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.10g}"


def _diff(check: Check) -> str:
    d = check.diff
    if d is not None:
        return "0" if d == 0 else f"{d:+.3g}"
    return "" if check.baseline == check.actual else "changed"


def _summary_table(results: list[RegressResult], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("experiment", no_wrap=True)
    table.add_column("final equity", justify="right")
    table.add_column("trades", justify="right")
    table.add_column("checks", justify="right")
    table.add_column("secs", justify="right")
    table.add_column("result", no_wrap=True)
    for r in results:
        values = r.observation.values
        equity = values.get("final_equity")
        n_bad = len(r.drifted)
        table.add_row(
            r.experiment.name,
            "—" if equity is None else f"{equity:,.2f}",
            f"{values.get('n_trades', 0):,}",
            str(len(r.checks)),
            f"{r.observation.seconds:.2f}",
            "[green]ok[/green]" if r.ok else f"[bold red]{n_bad} drift[/bold red]",
        )
    return table


def _checks_table(result: RegressResult, *, every: bool) -> Table:
    what = "every check" if every else "drifting values"
    table = Table(title=f"{result.experiment.name}: {what}", title_justify="left")
    table.add_column("metric", no_wrap=True)
    table.add_column("baseline", justify="right", no_wrap=True)
    table.add_column("actual", justify="right", no_wrap=True)
    table.add_column("diff", justify="right", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    for check in result.checks:
        if every or not check.ok:
            table.add_row(
                check.name,
                _cell(check.baseline),
                _cell(check.actual),
                _diff(check),
                "[green]ok[/green]" if check.ok else "[bold red]DRIFT[/bold red]",
                style=None if check.ok else "red",
            )
    return table


def _changes_table(updates: list[BaselineUpdate]) -> Table:
    table = Table(title="re-pinned baseline values", title_justify="left")
    table.add_column("experiment", overflow="fold")
    table.add_column("value", no_wrap=True)
    table.add_column("old", justify="right", no_wrap=True)
    table.add_column("new", justify="right", no_wrap=True)
    table.add_column("was", no_wrap=True)
    for update in updates:
        for i, change in enumerate(update.changes):
            if change.first_pin:
                was = "new"
            else:
                was = "within tolerance" if change.within_tolerance else "[red]drift[/red]"
            table.add_row(
                update.experiment.name if i == 0 else "",
                change.name,
                _cell(change.old),
                _cell(change.new),
                was,
                end_section=i == len(update.changes) - 1,
            )
    return table


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _names(changes: list[str], limit: int = 8) -> str:
    shown = ", ".join(changes[:limit])
    return shown + (f" and {len(changes) - limit} more" if len(changes) > limit else "")


def _covers(store: ParquetStore, key: Any, relative: str) -> bool:
    """Whether the stored series spans the shared file ``relative`` (True when that file is
    not at hand: nothing to compare with, the run says which bars are missing)."""
    import pandas as pd

    from grekko_research.paths import shared_file

    path = shared_file(relative)
    span = store.span(key)
    if path is None:
        return True
    if span is None:
        return False
    stamps = pd.read_csv(path, usecols=["timestamp"])["timestamp"]
    return span[0] <= int(stamps.iloc[0]) and span[1] >= int(stamps.iloc[-1])


def import_missing(
    specs: list[Experiment], store: ParquetStore, *, fetch: bool = True
) -> list[tuple[str, str]]:
    """Import every ``data_files`` entry of ``specs`` whose series the store lacks, or holds
    without that file's span (merged in).

    Returns ``(experiment, file)`` pairs of what was imported. With ``fetch`` False, or
    when the shared data folder lacks a file, raises a DataNotFoundError naming the
    experiment and the exact ``grekko data import`` command of each missing file.
    """
    from grekko_research.data.files import import_file, parse_data_filename
    from grekko_research.errors import ConfigError, DataNotFoundError
    from grekko_research.paths import ensure_series, import_command, shared_file

    imported: list[tuple[str, str]] = []
    missing: list[str] = []
    for spec in specs:
        for i, relative in enumerate(spec.data_files):
            parsed = parse_data_filename(relative)
            if parsed is None:
                raise ConfigError(
                    f"{spec.path}: key 'data_files[{i}]': cannot tell the series from the "
                    f"name {relative!r} (expected e.g. binance-spot_BTC-USDT_1h__source.csv.gz)"
                )
            partial = store.exists(parsed.key)
            if partial and _covers(store, parsed.key, relative):
                continue
            if partial and fetch and (pinned := shared_file(relative)) is not None:
                # The series is there but not over this file's span (e.g. a 4h series
                # resampled from recent 1h bars): merge the pinned file in.
                import_file(pinned, parsed.key, store=store)
                imported.append((spec.name, str(pinned)))
                continue
            if not fetch:
                missing.append(f"{spec.name}: {import_command(relative, store.root)}")
                continue
            try:
                path = ensure_series(parsed.key, store, files=[relative])
            except DataNotFoundError as exc:
                raise DataNotFoundError(f"experiment {spec.name} ({spec.path}): {exc}") from None
            if path is not None:
                imported.append((spec.name, path))
    if missing:
        raise DataNotFoundError(
            f"the store at {store.root} lacks series the experiments read; import them with:\n  "
            + "\n  ".join(missing)
        )
    return imported


def regress_command(
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Experiments to run (spec file names without .yaml); all when none given.",
            show_default=False,
        ),
    ] = None,
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Re-pin the baselines to this run's results (rewrites only the 'baseline:' "
            "block of each file) and say which values changed.",
        ),
    ] = False,
    experiments: Annotated[
        Path | None,
        typer.Option("--experiments", help="Folder of experiment specs (default ./experiments)."),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Store folder [env GREKKO_DATA_DIR; default: the checkout's data/].",
        ),
    ] = None,
    fetch: Annotated[
        bool,
        typer.Option(
            "--import/--no-import",
            help="Import series the store lacks from the shared data folder "
            "(GREKKO_SHARED_DATA); --no-import prints the commands instead.",
        ),
    ] = True,
    show_all: Annotated[
        bool,
        typer.Option("--all", help="List every check, not only the drifting ones."),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the results as JSON on standard output (tables go to stderr)."
        ),
    ] = False,
) -> None:
    """Re-run the pinned regression backtests in experiments/ and compare them with their baselines.

    Exits 0 when every pinned value is reproduced within its tolerance and 1
    when any drifts; the drift table and the last line name each drifting value.
    Series an experiment reads (its data_files) that the store lacks are first
    imported from the shared data folder.
    """
    from grekko_research.data.store import ParquetStore
    from grekko_research.regress import compare, load_experiments, observe, update_baselines

    specs = load_experiments(experiments, names)
    folder = specs[0].path.parent
    store = ParquetStore(data_dir) if data_dir is not None else ParquetStore()
    out = err_console if as_json else console
    for name, path in import_missing(specs, store, fetch=fetch):
        out.print(f"{name}: imported {path} into {store.root}", highlight=False, soft_wrap=True)
    results = []
    for i, spec in enumerate(specs, 1):
        with out.status(f"[{i}/{len(specs)}] {spec.name}…"):
            results.append(compare(spec, observe(spec, store)))
    payload: dict[str, Any] = {"experiments_dir": str(folder)}

    if update:
        updates = update_baselines(results)
        written = [u for u in updates if u.written]
        results = [
            compare(u.experiment, r.observation) for u, r in zip(updates, results, strict=True)
        ]
        payload["updated"] = [u.to_dict() for u in written]

    n_checks = sum(len(r.checks) for r in results)
    counts = f"{_n(len(results), 'experiment')}, {_n(n_checks, 'check')}"
    title = f"regression backtests in {folder}: {counts}"
    out.print(_summary_table(results, title))
    ok = all(r.ok for r in results)
    for result in results:
        if show_all or not result.ok:
            out.print(_checks_table(result, every=show_all))

    if update:
        _print_updates(out, updates, written)
    elif ok:
        seconds = sum(r.observation.seconds for r in results)
        out.print(
            f"[green]all {_n(n_checks, 'check')} of {_n(len(results), 'experiment')} "
            f"pass[/green] ({seconds:.1f} s)"
        )
    else:
        _print_drift(out, results)

    payload["ok"] = ok
    payload["experiments"] = [r.to_dict() for r in results]
    if as_json:
        print_json(payload)
    if not ok:
        raise typer.Exit(1)


def _print_updates(
    out: Console, updates: list[BaselineUpdate], written: list[BaselineUpdate]
) -> None:
    """What ``--update`` re-pinned: the changed values and each rewritten file."""
    if not written:
        out.print(f"{_n(len(updates), 'baseline')} already current; no file rewritten")
        return
    out.print(_changes_table(written))
    for u in written:
        out.print(
            f"re-pinned {u.experiment.name}: {_names([c.name for c in u.changes])} "
            f"({u.experiment.path})",
            highlight=False,
            soft_wrap=True,
        )


def _print_drift(out: Console, results: list[RegressResult]) -> None:
    """Name each drifting value, and what to do about it."""
    drifting = [r for r in results if not r.ok]
    if any(n.startswith("data.") for r in drifting for n in r.drifted):
        out.print(
            "the data differs from the baseline's: the store must hold the files listed in "
            "experiments/README.md",
            soft_wrap=True,
        )
    out.print(
        "if the change is deliberate, re-pin with `grekko regress --update` and commit the "
        "experiment files",
        soft_wrap=True,
    )
    named = "; ".join(f"{r.experiment.name}: {', '.join(r.drifted)}" for r in drifting)
    of = _n(len(results), "experiment")
    out.print(
        f"[bold red]drift[/bold red] in {len(drifting)} of {of} — {named}",
        highlight=False,
        soft_wrap=True,
    )
