"""The web console's research routes: backtest and sweep runs of a runs folder, their metrics and
config, a config diff, tearsheets, a sweep's promotion gates (read token).

Runs are read with the library's own readers (:func:`grekko_research.cli.compare.load_run_view`,
the reader of ``grekko compare``). A run or a sweep is named by its path inside the runs folder
and looked up among the folders the listing found: nothing the client sends is joined to a path,
so no request reaches outside the runs folder.

A tearsheet is a page of its own with inline plotly scripts; an ``<iframe>`` cannot send the
``Authorization`` header. So ``/research/frame_url`` (read token) mints a *frame ticket*: a random
name, valid :data:`TICKET_TTL_S` seconds, that opens that one folder's pages and nothing else
(``/research/frame/<ticket>/tearsheet.html`` and the ``plotly.min.js`` beside it). The ticket is
not the token: it reads one report for a few minutes. The frame is served with its own CSP
(its inline scripts allowed by hash, framing by this origin only) and the console sandboxes it
(``sandbox="allow-scripts"``: an opaque origin, so it cannot read the console's session).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field

from grekko_research.cli.compare import RunView, config_diff, latest_runs, load_run_view
from grekko_research.errors import GrekkoError
from grekko_research.paths import runs_dir as default_runs_dir
from grekko_research.tracking import TrackingError, list_tracked_runs, tracking_uri
from grekko_research.tracking._provenance import find_identity

__all__ = ["FRAME_PREFIX", "TICKET_TTL_S", "add_research_routes"]

FRAME_PREFIX = "/research/frame"
"""Where framed reports are served: ``/research/frame/<ticket>/<page>`` (the ticket is the key)."""
TICKET_TTL_S = 600.0
"""How long a frame ticket opens its folder's pages."""
MLFLOW_UI_ENV = "GREKKO_MLFLOW_UI_URL"
OPTUNA_DASHBOARD_ENV = "GREKKO_OPTUNA_DASHBOARD_URL"

_RUN_PAGES: tuple[str, ...] = ("tearsheet.html",)
_SWEEP_PAGES = ("oos_equity.html", "study.html")
_SCRIPTS = ("plotly.min.js",)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_MAX_RUNS = 5000
_NOT_FOUND: dict[str, Any] = {"description": "No such run or sweep in the runs folder"}
_STORE_ERROR: dict[str, Any] = {"description": "The MLflow store cannot be read"}


class ResearchRun(BaseModel):
    """A backtest run folder (``<strategy>/<time>-<config_id>``, or the best run of a sweep)."""

    id: str = Field(description="Its path inside the runs folder (how the other routes name it)")
    sweep: str | None = Field(description="The sweep folder it is the best run of, if any")
    strategy: str
    symbols: str
    timeframe: str
    start: str
    end: str
    bars: str
    config_id: str
    created: str = Field(description="The UTC time in its folder name (YYYYMMDDTHHMMSS)")
    metrics: dict[str, float | None]
    tearsheet: bool = Field(description="Whether it has a tearsheet.html")


class ResearchRunDetail(ResearchRun):
    config: dict[str, str] = Field(description="The resolved config, flattened (key → value)")


class DiffRow(BaseModel):
    key: str
    a: str
    b: str


class ConfigDiff(BaseModel):
    a: str
    b: str
    rows: list[DiffRow] = Field(description="The config keys whose values differ")
    equal: int = Field(description="How many keys both runs share with the same value")
    unshared: int = Field(description="How many keys only one run has (not compared)")


class GateRow(BaseModel):
    gate: str
    value: float | None
    rule: str
    ok: bool | None = Field(description="pass, fail, or null: not measured")
    why: str
    source: str


class ResearchSweep(BaseModel):
    """A sweep folder (``sweeps/<study>/<time>``) and its promotion gates."""

    id: str
    study: str
    created: str
    error: str | None = Field(
        default=None, description="Why its files cannot be read (then no more)"
    )
    strategy: str | None = None
    objective: str | None = None
    n_trials: int | None = None
    storage: str | None = Field(
        default=None, description="The Optuna storage (what optuna-dashboard opens)"
    )
    out_of_sample: dict[str, float | None] = Field(default_factory=dict)
    best_params: dict[str, Any] = Field(default_factory=dict)
    gates: list[GateRow] | None = Field(
        default=None, description="gates.json; null: written without gates"
    )
    gates_passed: bool | None = Field(
        default=None, description="All gates pass (null: no gate table)"
    )
    parity: dict[str, Any] | None = None
    robustness: dict[str, Any] | None = None
    best_run: str | None = Field(default=None, description="The id of its best run's folder")
    pages: list[str] = Field(
        default_factory=list, description="Its report pages (framed through /research/frame_url)"
    )


class ResearchLinks(BaseModel):
    runs_dir: str
    mlflow_ui: str = Field(description=f"MLflow's UI ({MLFLOW_UI_ENV}, else mlflow ui's default)")
    optuna_dashboard: str = Field(
        description=f"optuna-dashboard ({OPTUNA_DASHBOARD_ENV}, else its default)"
    )


class TrackedRun(BaseModel):
    """A top-level run of the MLflow store beside the runs folder (a backtest or a sweep)."""

    run_id: str
    experiment: str
    name: str | None
    status: str
    start_ms: int | None
    strategy: str | None
    config_id: str | None
    metrics: dict[str, float]
    folder: str | None = Field(description="The id of the run folder it was logged from, if here")
    url: str = Field(description="The run in MLflow's UI")


class FrameUrl(BaseModel):
    url: str = Field(description="Open this in an iframe (same origin; no token needed)")
    expires_s: float


@dataclass
class _Tickets:
    """Frame tickets: random names → (folder, pages, expiry on the monotonic clock)."""

    ttl_s: float = TICKET_TTL_S
    issued: dict[str, tuple[Path, tuple[str, ...], float]] = field(default_factory=dict)

    def issue(self, folder: Path, pages: tuple[str, ...]) -> str:
        now = time.monotonic()
        self.issued = {k: v for k, v in self.issued.items() if v[2] > now}
        ticket = secrets.token_urlsafe(24)
        self.issued[ticket] = (folder, pages, now + self.ttl_s)
        return ticket

    def file(self, ticket: str, name: str) -> Path:
        held = self.issued.get(ticket)
        if held is None or held[2] <= time.monotonic():
            raise HTTPException(404, "no such frame (its ticket is unknown or expired)")
        folder, pages, _ = held
        if name not in pages and name not in _SCRIPTS:  # a name of the set, never a path
            raise HTTPException(404, "no such page")
        path = folder / name
        if not path.is_file():
            raise HTTPException(404, f"{name} was not written for this run")
        return path


def _created(folder: Path) -> str:
    return folder.name.split("-", 1)[0]


def _run_row(view: RunView, rid: str, folder: Path, sweep: str | None) -> dict[str, Any]:
    info = view.info
    return {
        "id": rid,
        "sweep": sweep,
        "strategy": info["strategy"],
        "symbols": info["symbols"],
        "timeframe": info["timeframe"],
        "start": info["start"],
        "end": info["end"],
        "bars": info["bars"],
        "config_id": info["config_id"],
        "created": _created(folder),
        "metrics": view.metrics,
        "tearsheet": (folder / "tearsheet.html").is_file(),
    }


def _sweep_folders(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.glob("sweeps/*/*/summary.json"))


def _run_folders(root: Path) -> dict[str, tuple[Path, str | None]]:
    """Every run folder of ``root`` (top-level backtests and sweeps' best runs) by id."""
    found: dict[str, tuple[Path, str | None]] = {}
    if not root.is_dir():
        return found
    for folder in latest_runs(root, _MAX_RUNS):
        if folder.parent.name != "sweeps":
            found[folder.relative_to(root).as_posix()] = (folder, None)
    for sweep in _sweep_folders(root):
        sid = sweep.relative_to(root).as_posix()
        for folder in latest_runs(sweep, _MAX_RUNS):
            found[folder.relative_to(root).as_posix()] = (folder, sid)
    return found


def _read_json(path: Path) -> Any:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path.name} is not JSON: {exc}") from exc


def _floats(values: Any) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for k, v in (values or {}).items():
        if v is None or isinstance(v, int | float):
            out[str(k)] = None if v is None else float(v)
    return out


def _sweep(root: Path, folder: Path, runs: dict[str, tuple[Path, str | None]]) -> ResearchSweep:
    sid = folder.relative_to(root).as_posix()
    try:
        return _read_sweep(sid, folder, runs)
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        # One damaged sweep is listed with what is wrong, not a failed page.
        why = str(exc).splitlines()[0]
        return ResearchSweep(id=sid, study=folder.parent.name, created=folder.name, error=why)


def _read_sweep(sid: str, folder: Path, runs: dict[str, tuple[Path, str | None]]) -> ResearchSweep:
    summary = _read_json(folder / "summary.json") or {}
    gates = _read_json(folder / "gates.json")
    best = sorted(rid for rid, (_, s) in runs.items() if s == sid)
    rows = None if gates is None else [GateRow(**g) for g in gates]
    return ResearchSweep(
        id=sid,
        study=folder.parent.name,
        strategy=summary.get("strategy"),
        objective=summary.get("objective"),
        created=folder.name,
        n_trials=summary.get("n_trials"),
        storage=summary.get("storage"),
        out_of_sample=_floats(summary.get("out_of_sample")),
        best_params=summary.get("best_params") or {},
        gates=rows,
        gates_passed=None if rows is None else all(g.ok is True for g in rows),
        parity=summary.get("parity"),
        robustness=summary.get("robustness"),
        best_run=best[-1] if best else None,
        pages=[p for p in _SWEEP_PAGES if (folder / p).is_file()],
    )


def _mlflow_ui() -> str:
    return os.environ.get(MLFLOW_UI_ENV, "http://127.0.0.1:5000")


def _frame_csp(html: bytes) -> str:
    """The framed page's policy: this origin's scripts and its own inline ones (by hash)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode() + "'"
        for m in _INLINE_SCRIPT.finditer(html)
    )
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src 'self' {hashes}".strip(),
            "style-src 'self' 'unsafe-inline'",  # plotly styles its own elements
            "img-src 'self' data: blob:",
            "font-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'self'",  # the console only
        ]
    )


class _Folder:
    """The runs folder's readers (blocking: the routes call them in a thread)."""

    def __init__(self, runs_dir: Path | None) -> None:
        self.runs_dir = runs_dir
        self.tickets = _Tickets()

    def root(self) -> Path:
        return (self.runs_dir if self.runs_dir is not None else default_runs_dir()).resolve()

    def view(self, rid: str) -> tuple[RunView, Path, str | None]:
        base = self.root()
        held = _run_folders(base).get(rid)
        if held is None:
            raise HTTPException(404, f"no run {rid!r} in the runs folder")
        try:
            return load_run_view(str(held[0]), base), held[0], held[1]
        except GrekkoError as exc:
            raise HTTPException(500, str(exc)) from None

    def runs(self, strategy: str | None) -> list[ResearchRun]:
        base = self.root()
        out = []
        for rid, (folder, sweep) in _run_folders(base).items():
            try:
                v = load_run_view(str(folder), base)
            except GrekkoError:
                continue  # a folder being written or broken: the detail route says why
            if strategy is None or v.info["strategy"] == strategy:
                out.append(ResearchRun(**_run_row(v, rid, folder, sweep)))
        return sorted(out, key=lambda r: r.created, reverse=True)

    def sweeps(self) -> list[ResearchSweep]:
        base = self.root()
        if not base.is_dir():
            return []
        runs = _run_folders(base)
        found = [_sweep(base, f, runs) for f in _sweep_folders(base)]
        return sorted(found, key=lambda s: s.created, reverse=True)

    def tracked(self, mlflow_ui: str) -> list[TrackedRun]:
        base = self.root()
        # The store of this runs folder, as `grekko` finds it (MLFLOW_TRACKING_URI wins).
        uri = tracking_uri(base) if self.runs_dir is None else (
            os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{(base / 'mlruns.db').as_posix()}"
        )  # fmt: skip
        try:
            runs = list_tracked_runs(uri)
        except TrackingError as exc:
            raise HTTPException(502, str(exc)) from None
        folders = {f: rid for rid, (f, _) in _run_folders(base).items()}
        newest = sorted(folders, key=lambda f: f.name, reverse=True)
        out = []
        for r in runs:
            if r["parent_run_id"] is not None:
                continue  # a sweep's trials: MLflow's UI shows them under their sweep
            found = find_identity(newest, r["identity"])
            out.append(
                TrackedRun(
                    run_id=r["run_id"],
                    experiment=r["experiment_name"],
                    name=r["run_name"],
                    status=r["status"],
                    start_ms=r["start_time"],
                    strategy=r["tags"].get("strategy") or r["params"].get("strategy"),
                    config_id=r["tags"].get("config_id"),
                    metrics=r["metrics"],
                    folder=None if found is None else folders[found],
                    url=f"{mlflow_ui.rstrip('/')}/#/experiments/{r['experiment_id']}/runs/"
                    f"{r['run_id']}",
                )
            )
        return out

    def frame(self, kind: str, rid: str, page: str) -> FrameUrl:
        base = self.root()
        folder: Path | None
        if kind == "run":
            held = _run_folders(base).get(rid)
            folder, pages = (None if held is None else held[0]), _RUN_PAGES
        else:
            ids = {f.relative_to(base).as_posix(): f for f in _sweep_folders(base)}
            folder, pages = ids.get(rid), _SWEEP_PAGES
        if folder is None:
            raise HTTPException(404, f"no {kind} {rid!r} in the runs folder")
        if page not in pages or not (folder / page).is_file():
            raise HTTPException(404, f"{kind} {rid!r} has no {page}")
        ticket = self.tickets.issue(folder, pages)
        return FrameUrl(url=f"{FRAME_PREFIX}/{ticket}/{page}", expires_s=self.tickets.ttl_s)


def add_research_routes(
    app: FastAPI, read: list[Any], errors: dict[int | str, dict[str, Any]], runs_dir: Path | None
) -> str:
    """Add ``/research/*`` (read token) and the framed pages; return the frames' public prefix.

    ``runs_dir``: the runs folder; ``None``: grekko's (``GREKKO_RUNS_DIR``), read per request.
    """
    reader = _Folder(runs_dir)

    @app.get("/research/runs", dependencies=read, responses=errors)
    async def research_runs(strategy: str | None = None) -> list[ResearchRun]:
        """The backtest runs of the runs folder (and each sweep's best run), newest first."""
        return await asyncio.to_thread(reader.runs, strategy)

    @app.get("/research/run", dependencies=read, responses={**errors, 404: _NOT_FOUND})
    async def research_run(
        run: Annotated[str, Query(description="A run's id (from /research/runs)")],
    ) -> ResearchRunDetail:
        """One run: its metrics and its resolved config, flattened."""
        v, folder, sweep = await asyncio.to_thread(reader.view, run)
        return ResearchRunDetail(**_run_row(v, run, folder, sweep), config=v.config)

    @app.get("/research/diff", dependencies=read, responses={**errors, 404: _NOT_FOUND})
    async def research_diff(
        a: Annotated[str, Query(description="A run's id")],
        b: Annotated[str, Query(description="Another run's id")],
    ) -> ConfigDiff:
        """What differs in the configs of two runs (``grekko compare``'s diff)."""
        va, _, _ = await asyncio.to_thread(reader.view, a)
        vb, _, _ = await asyncio.to_thread(reader.view, b)
        rows, equal, unshared = config_diff([va, vb])
        return ConfigDiff(
            a=a,
            b=b,
            rows=[DiffRow(key=k, a=x, b=y) for k, (x, y) in rows],
            equal=equal,
            unshared=unshared,
        )

    @app.get("/research/sweeps", dependencies=read, responses=errors)
    async def research_sweeps() -> list[ResearchSweep]:
        """The sweeps of the runs folder with their promotion gates, newest first."""
        return await asyncio.to_thread(reader.sweeps)

    @app.get("/research/links", dependencies=read, responses=errors)
    async def research_links() -> ResearchLinks:
        """Where the runs folder is, and where MLflow's UI and optuna-dashboard are served."""
        return ResearchLinks(
            runs_dir=str(reader.root()),
            mlflow_ui=_mlflow_ui(),
            optuna_dashboard=os.environ.get(OPTUNA_DASHBOARD_ENV, "http://127.0.0.1:8080"),
        )

    @app.get("/research/mlflow", dependencies=read, responses={**errors, 502: _STORE_ERROR})
    async def research_mlflow() -> list[TrackedRun]:
        """The top-level runs of the MLflow store of the runs folder (backtests and sweeps),
        newest first, each with the run folder it was logged from and its MLflow address."""
        return await asyncio.to_thread(reader.tracked, _mlflow_ui())

    @app.get("/research/frame_url", dependencies=read, responses={**errors, 404: _NOT_FOUND})
    async def research_frame_url(
        id: Annotated[str, Query(description="A run's or a sweep's id")],
        kind: Annotated[Literal["run", "sweep"], Query()] = "run",
        page: Annotated[str, Query(description="tearsheet.html; a sweep's: its pages")] = (
            "tearsheet.html"
        ),
    ) -> FrameUrl:
        """A same-origin address that frames one report page for a few minutes (an iframe
        cannot send the token): the page and its plotly.js, nothing else."""
        return await asyncio.to_thread(reader.frame, kind, id, page)

    @app.get(FRAME_PREFIX + "/{ticket}/{name}", include_in_schema=False)
    async def research_frame(ticket: str, name: str) -> Any:
        path = reader.tickets.file(ticket, name)
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "X-Frame-Options": "SAMEORIGIN",
            "Cache-Control": "no-store",
        }
        if path.suffix == ".html":
            body = await asyncio.to_thread(path.read_bytes)
            headers["Content-Security-Policy"] = _frame_csp(body)
            return HTMLResponse(body, headers=headers)
        return FileResponse(path, media_type="text/javascript", headers=headers)

    return FRAME_PREFIX + "/"
