"""Finding runs: the event logs under a state folder, what each one recorded, which one a
command means.

``grekko-live status|orders|positions|reconcile|…`` read a run that exists; they never create
a log (opening a missing SQLite file would create an empty one: a "phantom" run). A run is
named by its log (``--events``), its id (``--run``), or found among the runs of a venue when
it is the only one; otherwise the error lists the candidates.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError

__all__ = [
    "RunInfo",
    "check_venue_url",
    "events_exist",
    "find_run",
    "list_runs",
    "read_run",
    "recorded_overrides",
    "recorded_risk",
]

LOG_NAME = "events.db"
_STATE_KINDS = ("run_started", "halted", "resumed", "kill_switch", "risk_state")


@dataclass(frozen=True)
class RunInfo:
    """One run as its log tells it (``started`` / ``last_event``: ms since the epoch, UTC;
    ``state``: ``ACTIVE``, ``REDUCING``, ``HALTED``, or ``EMPTY`` for a log without a start)."""

    run_id: str
    events: str
    venue: str | None
    feed: str | None
    mode: str | None
    strategy: str | None
    started: int | None
    last_event: int | None
    state: str
    reason: str | None
    started_payload: dict[str, Any]

    @property
    def where(self) -> str:
        """The market the run traded on: the venue, or the feed of a paper account."""
        if self.venue == "paper" and self.feed and self.feed != "replay":
            return f"paper on {self.feed}"
        return str(self.venue or "?")

    def matches_venue(self, venue: str) -> bool:
        """Whether ``venue`` (``--venue``) names this run's venue or its paper feed."""
        return venue in (self.venue, self.feed) or self.run_id.endswith(f"-{venue}")


def events_exist(target: str) -> bool:
    """Whether the log ``target`` exists (a database URL is taken to: its server decides)."""
    if target.startswith("sqlite:///"):
        return Path(target.removeprefix("sqlite:///")).is_file()
    return "://" in target or Path(target).is_file()


def read_run(target: str, *, run_id: str | None = None) -> RunInfo:
    """What the log at ``target`` (which must exist) says about its run: its start, its last
    event and its risk state (read from the few events that set it)."""
    from live.events import EventStore
    from live.state import RunFold

    if not events_exist(target):
        raise ConfigError(f"no event log at {target}")
    fold = RunFold()
    with EventStore.open(target) as store:
        for e in store.read(kinds=_STATE_KINDS):
            fold.apply(e)
        head = store.head()
    started = fold.run
    state, reason = fold.risk() if started else ("EMPTY", "no run_started event")
    return RunInfo(
        run_id=str(started.get("run_id") or run_id or Path(target).parent.name),
        events=target,
        venue=started.get("venue"),
        feed=started.get("feed"),
        mode=started.get("mode"),
        strategy=_strategy_text(started),
        started=fold.started_ts_ms,
        last_event=None if head is None else head.ts_ms,
        state=state,
        reason=reason,
        started_payload=dict(started),
    )


def _strategy_text(started: dict[str, Any]) -> str | None:
    if started.get("strategies"):
        names = [str(s.get("id")) for s in started["strategies"]]
        return "portfolio: " + ", ".join(names)
    return None if started.get("strategy") is None else str(started["strategy"])


def list_runs(state_dir: Path, *, venue: str | None = None) -> list[RunInfo]:
    """Every run with a log under ``state_dir`` (``<state_dir>/<run_id>/events.db``), of
    ``venue`` only when given, the most recently active first. Reading never creates a log."""
    if not state_dir.is_dir():
        return []
    runs = [
        read_run(str(log), run_id=log.parent.name)
        for log in sorted(state_dir.glob(f"*/{LOG_NAME}"))
        if log.is_file()
    ]
    if venue is not None:
        runs = [r for r in runs if r.matches_venue(venue)]
    return sorted(runs, key=lambda r: -(r.last_event or 0))


def find_run(
    state_dir: Path,
    *,
    events: str | None = None,
    run_id: str | None = None,
    venue: str | None = None,
    planned: str | None = None,
) -> str:
    """The log of the run a command means, which must exist.

    In order: ``events`` (a log path or URL); ``run_id`` (``<state_dir>/<run_id>/events.db``);
    ``planned`` (the log the given configuration would write, when it exists); else the only
    run under ``state_dir`` (of ``venue``, when given).

    Raises
    ------
    ConfigError
        Naming the missing log, or listing the runs to choose from with ``--run``.
    """
    if events is not None:
        if not events_exist(events):
            raise ConfigError(f"no event log at {events}")
        return events
    if run_id is not None:
        log = state_dir / run_id / LOG_NAME
        if log.is_file():
            return str(log)
        known = [r.run_id for r in list_runs(state_dir)]
        close = difflib.get_close_matches(run_id, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else _listing(known, state_dir)
        raise ConfigError(f"no run {run_id!r} in {state_dir}{hint}")
    if planned is not None and events_exist(planned):
        return planned
    runs = list_runs(state_dir, venue=venue)
    of = f" of venue {venue!r}" if venue else ""
    if len(runs) == 1:
        return runs[0].events
    if not runs:
        also = f" (the configuration's would be {planned})" if planned else ""
        raise ConfigError(
            f"no run{of} in {state_dir}{also}: start one with `grekko-live run`, "
            "or pass --state-dir / --events"
        )
    raise ConfigError(
        f"{len(runs)} runs{of} in {state_dir}: pick one with --run ID"
        + _listing([r.run_id for r in runs], state_dir)
    )


def _listing(ids: Sequence[str] | Iterable[str], state_dir: Path) -> str:
    ids = list(ids)
    if not ids:
        return f" (no runs in {state_dir})"
    return ":\n  " + "\n  ".join(ids) + "\n(grekko-live runs lists them)"


# -- acting on a recorded run (grekko-live reconcile) -------------------------------------------

_VENUE_GROUPS = ("binance", "binanceusdm", "coinbase", "paper")


def recorded_overrides(
    info: RunInfo,
    given: Sequence[str],
    *,
    state_dir: Path | None = None,
    venue_url: str | None = None,
) -> list[str]:
    """Hydra overrides that configure the recorded run again: what its ``run_started`` says
    (strategy and parameters, symbols, timeframe, venue, mode, id, log, risk limits, venue URL)
    for each key the command line (``given``, appended last) does not set itself. The risk
    limits are given in the spec's shape (``risk.order.max_position=0.25``), also for a log that
    recorded the deprecated shape (see :func:`recorded_risk`).

    Raises
    ------
    ConfigError
        For a portfolio run without ``--portfolio`` (its record names its strategies, not the
        ``conf/portfolio`` option).
    """
    p = info.started_payload
    keys = {g.split("=", 1)[0].lstrip("+~") for g in given}
    out: list[str] = []

    def add(key: str, value: Any) -> None:
        if key not in keys and value is not None:
            out.append(f"{key}={value if isinstance(value, str) else json.dumps(value)}")

    chosen = keys & {"strategy", "portfolio", "live.model"} or any(
        k.startswith("strategy.params.") for k in keys
    )
    if not chosen:
        if p.get("strategies"):
            raise ConfigError(f"run {info.run_id} is a portfolio: name it with --portfolio")
        if p.get("model"):
            add("live.model", p["model"])
        else:
            add("strategy", p.get("strategy"))
            out += [
                f"strategy.params.{k}={json.dumps(v)}" for k, v in (p.get("params") or {}).items()
            ]
    if not keys & {"live", "live.venue"}:
        market = info.feed if info.venue == "paper" else info.venue
        market = "paper" if market in (None, "replay") else str(market)
        group = market in _VENUE_GROUPS
        out += [f"live={market}"] if group else [f"live.venue={market}", f"live.feed={market}"]
    symbols = p.get("symbols") or []
    if symbols and "live.symbols" not in keys:
        listed = ",".join(symbols)
        out += [f"live.symbols=[{listed}]", f"data.symbols=[{listed}]"]
    add("live.timeframe", p.get("timeframe"))
    add("live.mode", p.get("mode"))
    add("live.run_id", info.run_id)
    if state_dir is None and "://" not in info.events:
        add("live.state_dir", str(Path(info.events).parent.parent))
    add("live.event_store", info.events)
    if not any(k == "risk" or k.startswith("risk.") for k in keys):
        out += _flat("risk", recorded_risk(p.get("risk"), info.run_id))
    if venue_url is None:
        add("live.venue_url", p.get("venue_url"))
    return out + list(given)


def recorded_risk(recorded: Mapping[str, Any] | None, run_id: str = "?") -> dict[str, Any]:
    """The risk spec a run recorded, in the spec's shape (``{"order": {…}, "portfolio": …}``).

    A run records its validated spec. A log written before that holds the ``risk`` section as
    configured, perhaps in the deprecated shape (top-level engine keys, a ``risk.live`` block):
    it is converted here, once and without a warning (the operator acting on the run did not
    write those keys), so the run is configured again with the spec's keys only.

    Raises
    ------
    ConfigError
        Naming the run, when a recorded value is not a valid limit.
    """
    from dataclasses import asdict

    from grekko_research.config.schema import RiskSection
    from grekko_research.risk.spec import TOP_KEYS, check_live_keys, spec_from_section

    values = dict(recorded or {})
    old_top = {k: values.pop(k) for k in TOP_KEYS if k in values}
    old_live = values.pop("live", None)
    if not old_top and old_live is None:
        return values  # the spec's shape already
    try:
        base = RiskSection().with_overrides(values).spec  # the new keys it had beside the old
        live = dict(old_live or {})
        check_live_keys(live)
        top = {k: v for k, v in old_top.items() if v is not None}
        spec = spec_from_section(base, top, live, warn=False)
    except (ConfigError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"run {run_id} recorded a risk section that is not valid: {exc}"
        ) from None
    return asdict(spec)


def _flat(prefix: str, values: dict[str, Any]) -> list[str]:
    """``risk.ops.max_errors=10`` … for every value (nested sections flattened; ``null``
    too: a check the run had off stays off)."""
    out: list[str] = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _flat(f"{prefix}.{key}", value)
        else:
            out.append(f"{prefix}.{key}={json.dumps(value)}")
    return out


def check_venue_url(plan: Any, info: RunInfo, *, allow_real_venue: bool) -> None:
    """Fail closed: acting on a recorded run reaches no exchange host the run did not reach.
    A run against a local peer recorded its URL; one without a URL reached the exchange's own
    host, where only ``allow_real_venue`` goes.

    Raises
    ------
    ConfigError
        When the plan would reach an exchange's own host without ``allow_real_venue``.
    """
    offline = plan.venue_name == "paper" and plan.feed == "replay"
    if offline or plan.cfg.live.venue_url or allow_real_venue:
        return
    name = plan.feed if plan.venue_name == "paper" else plan.venue_name
    raise ConfigError(
        f"run {info.run_id} recorded no venue URL: reconciling it would reach {name}'s own "
        "host. Pass --venue-url URL (a local peer), or --allow-real-venue to reach the exchange"
    )
