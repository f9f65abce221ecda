"""``grekko strategies list`` and ``grekko strategies new NAME``: the strategies Grekko can run.

Strategies are found through the entry-point group ``grekko.strategies`` (see
:mod:`grekko_research.strategy.registry`); ``new`` writes a package that declares one.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.cli.render import console, err_console, fmt_number, new_table, print_json
from grekko_research.errors import ConfigError, GrekkoError

__all__ = ["app", "describe_strategies", "new_strategy_package"]

app = typer.Typer(
    help="List the strategies Grekko can run, or start a package for a new one.",
    no_args_is_help=True,
    add_completion=False,
)

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,48}$")


def _package_of(name: str) -> str:
    """Return the distribution (and module) that provides ``name``."""
    from importlib.metadata import entry_points

    from grekko_research.strategy.registry import GROUP

    found = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not found:
        return "(registered in process)"
    ep = found[0]
    dist = ep.dist.name if ep.dist is not None else "?"
    return f"{dist} ({ep.module})"


def _bounds(spec: Any) -> str:
    if spec.choices == (False, True):
        return "(true/false)"
    if spec.choices is not None:
        return "{" + ", ".join(fmt_number(c) for c in spec.choices) + "}"
    scale = ", log" if spec.log else ""
    step = f", step {fmt_number(spec.step)}" if spec.step else ""
    low, high = (fmt_number(v).replace(",", "") for v in (spec.low, spec.high))
    return f"[{low}, {high}{step}{scale}]"


def describe_strategies() -> list[dict[str, Any]]:
    """Return one JSON-ready record per registered strategy (a plugin that fails says why)."""
    from grekko_research.strategy import available_strategies, get_strategy

    out: list[dict[str, Any]] = []
    for name in available_strategies():
        record: dict[str, Any] = {"name": name, "package": _package_of(name)}
        try:
            strategy = get_strategy(name)
            defaults = strategy.Params()
            record["summary"] = strategy.summary
            record["warmup_bars"] = int(strategy.warmup(defaults))
            record["min_assets"] = strategy.min_assets
            record["requires"] = list(strategy.requires)
            record["params"] = [
                {
                    "name": spec.name,
                    "default": spec.default,
                    "low": spec.low,
                    "high": spec.high,
                    "step": spec.step,
                    "log": spec.log,
                    "choices": None if spec.choices is None else list(spec.choices),
                    "doc": spec.doc,
                    "bounds": _bounds(spec),
                }
                for spec in strategy.search_space().values()
            ]
        except Exception as exc:  # a broken plugin is listed, not fatal to the listing
            record["error"] = str(exc)
        out.append(record)
    return out


@app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List every registered strategy: package, parameters with default and bounds, warm-up.

    Any of them runs with grekko backtest strategy=NAME (its declared defaults when
    no YAML file configures it).
    """
    records = describe_strategies()
    if as_json:
        print_json(records)
        return
    console.print(f"{len(records)} strategies (entry-point group grekko.strategies)")
    table = new_table()
    table.add_column("strategy (package)", overflow="fold", max_width=28)
    table.add_column("parameter = default [bounds]", overflow="fold")
    table.add_column("warm-up", justify="right", no_wrap=True)
    for i, r in enumerate(records):
        if i and not console.is_terminal:
            table.add_row("", "", "")  # a blank line between strategies where no rule is drawn
        who = f"[bold]{r['name']}[/bold]\n[dim]{r['package'].split(' (')[0]}[/dim]"
        if "error" in r:
            table.add_row(who, f"[red]failed to load: {r['error']}[/red]", "—")
            table.add_section()
            continue
        params = "\n".join(
            f"{p['name']} = {fmt_number(p['default'])} {p['bounds']}" for p in r["params"]
        )
        needs = []
        if r["min_assets"] > 1:
            needs.append(f"needs ≥{r['min_assets']} symbols")
        needs += [f"needs {x}" for x in r["requires"]]
        extra = f"\n[dim]{'; '.join(needs)}[/dim]" if needs else ""
        table.add_row(who + extra, params or "[dim](none)[/dim]", f"{r['warmup_bars']:,} bars")
        table.add_section()
    console.print(table)
    console.print(
        "Run one with grekko backtest strategy=NAME; --json lists modules and docs.",
        highlight=False,
    )


def new_strategy_package(name: str, parent: Path) -> Path:
    """Write the template package for strategy ``name`` into ``parent/name``; return that folder.

    Raises
    ------
    ConfigError
        When ``name`` is not a lowercase Python identifier, is already a
        registered strategy, or the folder exists (nothing is overwritten).
    """
    from grekko_research.cli._strategy_template import FILES
    from grekko_research.strategy import available_strategies

    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"strategy name {name!r} must be a lowercase Python identifier of 2-49 characters "
            "(letters, digits, _; starting with a letter), e.g. my_trend"
        )
    if name in available_strategies():
        raise ConfigError(f"a strategy named {name!r} is already registered; pick another name")
    root = parent / name
    if root.exists():
        raise ConfigError(f"{root} already exists; nothing was written (pick --dir or a name)")
    cls = "".join(part.capitalize() for part in name.split("_"))
    values = {"name": name, "cls": cls, "dist": "grekko-strategy-" + name.replace("_", "-")}
    staged = parent / f".{name}.partial"
    try:
        for rel, template in FILES.items():
            path = staged / rel.format(**values)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(template.format(**values))
        staged.rename(root)  # all files or none
    except BaseException:
        import shutil

        shutil.rmtree(staged, ignore_errors=True)
        raise
    return root


@app.command("new")
def new_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Strategy name, e.g. my_trend.")],
    directory: Annotated[
        Path,
        typer.Option("--dir", help="Folder to create the package in."),
    ] = Path("."),
) -> None:
    """Create a strategy package: parameters with bounds, signals, a conformance test, README.

    The package declares the entry point that makes grekko backtest strategy=NAME work
    once it is installed (pip install -e DIR/NAME).
    """
    try:
        root = new_strategy_package(name, directory)
    except GrekkoError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        console.print(f"  wrote {path}", highlight=False, soft_wrap=True)
    console.print(
        "next:\n"
        f"  pip install -e {root}       # into the environment that runs grekko\n"
        f"  grekko backtest strategy={name}\n"
        f"  pytest {root / 'tests'}     # the conformance check (needs BTC/USDT 1h in the store)",
        highlight=False,
        soft_wrap=True,
    )
