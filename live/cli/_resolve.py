"""From command-line options to a run: Hydra overrides, the run's plan, its log and its state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError
from live.cli._app import err_console

__all__ = ["find_log", "load_state", "make_plan", "run_log", "state_folder", "to_overrides"]

# --venue values that are live config groups (conf/live/<name>.yaml); any other is a ccxt id.
_VENUE_GROUPS = ("binance", "binanceusdm", "coinbase", "paper", "dex_paper", "dex")


def to_overrides(
    overrides: list[str] | None,
    *,
    strategy: str | None = None,
    params: list[str] | None = None,
    venue: str | None = None,
    symbols: str | None = None,
    timeframe: str | None = None,
    mode: str | None = None,
    venue_url: str | None = None,
    state_dir: Path | None = None,
    max_bars: int | None = None,
    run_id: str | None = None,
    portfolio: str | None = None,
) -> list[str]:
    """Return the Hydra overrides the options stand for, then the given ``overrides`` (which
    win: Hydra applies the last one of a key)."""
    out = [f"portfolio={portfolio}"] if portfolio is not None else []
    out += _venue(venue) + _strategy(strategy, params) + _market(symbols, timeframe)
    live = {
        "mode": mode, "venue_url": venue_url, "state_dir": state_dir, "max_bars": max_bars,
        "run_id": run_id,
    }  # fmt: skip
    out += [f"live.{key}={value}" for key, value in live.items() if value is not None]
    return out + list(overrides or [])


def _venue(venue: str | None) -> list[str]:
    if venue is None:
        return []
    if venue in _VENUE_GROUPS:
        return [f"live={venue}"]
    if venue == "dex-paper":  # the DEX paper venue's name is its group's
        return ["live=dex_paper"]
    if venue.startswith("dex:"):  # a chain: conf/exchange/dex/<name>.yaml (its feed: the group's)
        return ["live=dex", f"live.venue={venue}"]
    return [f"live.venue={venue}", f"live.feed={venue}"]


def _strategy(strategy: str | None, params: list[str] | None) -> list[str]:
    out = []
    if strategy is not None:  # an MLflow model is a strategy too
        out.append(
            f"live.model={strategy}" if strategy.startswith("models:/") else f"strategy={strategy}"
        )
    for item in params or []:
        if "=" not in item:
            raise ConfigError(f"--params takes NAME=VALUE, got {item!r}")
        out.append(f"strategy.params.{item}")
    return out


def _market(symbols: str | None, timeframe: str | None) -> list[str]:
    out = []
    if symbols is not None:
        listed = ",".join(s.strip() for s in symbols.split(",") if s.strip())
        out += [f"live.symbols=[{listed}]", f"data.symbols=[{listed}]"]
    if timeframe is not None:
        out += [f"live.timeframe={timeframe}", f"data.timeframe={timeframe}"]
    return out


def make_plan(args: list[str], *, replay: bool = False) -> Any:
    """The run the overrides configure (composed with Hydra), not started."""
    from grekko_research.config import compose_config
    from live.app import plan_run

    return plan_run(compose_config(args), replay=replay)


def state_folder(state_dir: Path | None, overrides: list[str] | None) -> Path:
    """Where run logs are: --state-dir, else the configuration's ``live.state_dir``."""
    if state_dir is not None:
        return state_dir
    from grekko_research.config import compose_config

    return Path(compose_config(list(overrides or [])).live.state_dir)


def run_folder(target: str, state_dir: Path | None, overrides: list[str] | None) -> Path:
    """The folder of the run whose log is ``target``: a SQLite log's own folder; a database
    log's is ``<state folder>/<run id>`` (the id its ``run_started`` recorded), as the runner
    keeps it (kill flag, paper account, checkpoints)."""
    if "://" not in target or target.lower().startswith("sqlite:///"):
        return Path(target.removeprefix("sqlite:///")).parent
    from live.runs import read_run

    return state_folder(state_dir, overrides) / read_run(target).run_id


def run_log(run: str | None, events: str | None, venue: str | None, state_dir: Path | None) -> str:
    """The log a ``RUN`` argument names: a path or URL as itself, an id through
    :func:`find_log` (with ``--events`` / ``--venue`` / ``--state-dir``)."""
    if run is not None and events is None and ("/" in run or run.endswith(".db")):
        events, run = run, None
    return find_log(None, events, venue, run, state_dir)


def find_log(
    overrides: list[str] | None,
    events: str | None,
    venue: str | None,
    run: str | None = None,
    state_dir: Path | None = None,
    *,
    configured: list[str] | None = None,
) -> str:
    """The log of an existing run (never created here): by --events, --run, the run the
    overrides (or ``configured``, complete overrides) configure, or the only run (of --venue)
    under the state folder."""
    from live.runs import find_run

    if events is not None:
        return find_run(Path(), events=events)
    planned = None
    if configured is None and overrides:
        configured = to_overrides(overrides, venue=venue, state_dir=state_dir)
    if configured and run is None:  # a configuration names a run: its log, if it exists
        planned = str(make_plan(configured).events)
    found = find_run(state_folder(state_dir, overrides), run_id=run, venue=venue, planned=planned)
    if planned is not None and found != planned:  # say which run is read instead
        err_console.print(
            f"no run at {planned} (what the options configure); reading the only run"
            f"{f' of {venue}' if venue else ''} there: {Path(found).parent.name}",
            soft_wrap=True,
        )
    return found


def load_state(path: str) -> Any:
    """The state of the run whose log is at ``path``, folded from its events."""
    from live.events import EventStore
    from live.runs import events_exist
    from live.state import fold_run

    if not events_exist(path):
        raise ConfigError(f"no event log at {path} (run grekko-live run first, or pass --events)")
    with EventStore.open(path) as store:
        return fold_run(store.read())
