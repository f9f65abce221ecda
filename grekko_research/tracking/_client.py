"""The seam to MLflow: client, experiments, batched logging, run lookup, errors.

mlflow is imported inside functions only, so importing
:mod:`grekko_research.tracking` costs nothing until something is logged.
Every call goes through an explicit :class:`mlflow.tracking.MlflowClient`
(never MLflow's global "active run"), so the library leaves no state behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grekko_research.errors import ConfigError, GrekkoError
from grekko_research.tracking._provenance import artifact_location, sqlite_path, tracking_uri
from grekko_research.tracking._seed import seed_sqlite_store

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

    from grekko_research.risk.spec import RiskSpec

__all__ = [
    "RunNotFoundError",
    "TrackingError",
    "download_artifact",
    "find_run",
    "runs_table_url",
]

# MLflow's limits (mlflow.utils.validation): entities per log_batch call and value lengths.
_BATCH_PARAMS_TAGS = 100
_BATCH_METRICS = 1000
_MAX_KEY = 250
_MAX_PARAM_VALUE = 6000
_MAX_TAG_VALUE = 8000
_BAD_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-. :/]+")

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
GIT_TAG = "mlflow.source.git.commit"
IDENTITY_TAG = "identity"  # config id + data hash + code version: equal means an identical rerun

# The key metrics as runs-table columns: a view MLflow's UI loads from the experiment tag
# ``mlflow.sharedViewState.<key>`` when the page's URL has ``?viewStateShareKey=<key>``.
VIEW_KEY = "grekko"
_KEY_METRICS = (
    "sharpe_ratio", "total_return", "max_drawdown", "final_equity", "n_trades",
    "oos.sharpe_ratio", "oos.total_return", "oos.max_drawdown",
    "overfitting.deflated_sharpe", "overfitting.pbo",
)  # fmt: skip
_VIEW = {
    "selectedColumns": [f"metrics.`{m}`" for m in _KEY_METRICS]
    + ["tags.`config_id`", "tags.`data_hash`", "tags.`git_commit`"],
}

# MLflow 3's UI opens an experiment without this tag on its GenAI (traces) page; model
# development opens on the runs table.
EXPERIMENT_TAGS = {
    f"mlflow.sharedViewState.{VIEW_KEY}": json.dumps(_VIEW, separators=(",", ":")),
    "mlflow.experimentKind": "custom_model_development",
    "mlflow.note.content": (
        "Grekko runs. Key metrics: sharpe_ratio, total_return, max_drawdown, final_equity, "
        "n_trades (backtests); oos.sharpe_ratio, oos.total_return, overfitting.deflated_sharpe, "
        "overfitting.pbo (sweeps). Tags: config_id, data_hash, git_commit, identity."
    ),
}


class TrackingError(GrekkoError, RuntimeError):
    """The tracking store failed or refused a request (message names the store)."""


class RunNotFoundError(TrackingError, LookupError):
    """The tracking store has no such run, or the run has no such artifact."""


_quieted = False


def _quiet_mlflow() -> None:
    """Turn MLflow's INFO chatter (database migrations, run links) down to warnings.

    Warnings and errors still show; ``MLFLOW_LOGGING_LEVEL`` set by the user wins.
    """
    global _quieted
    if _quieted:
        return
    _quieted = True
    if not os.environ.get("MLFLOW_LOGGING_LEVEL"):
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def client(uri: str | None = None) -> tuple[MlflowClient, str]:
    """Return an MLflow client on ``uri`` (default :func:`tracking_uri`) and the URI."""
    uri = uri or tracking_uri()
    db = sqlite_path(uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not the folder
        seed_sqlite_store(db)  # a new store: a copy of the migrated empty one (see _seed)
    from mlflow.tracking import MlflowClient

    _quiet_mlflow()
    with warnings.catch_warnings():
        # Opening a SQL store configures SQLAlchemy mappers, which warns about MLflow's own
        # use of deprecated loader options: nothing the caller can act on.
        warnings.simplefilter("ignore", DeprecationWarning)
        return MlflowClient(tracking_uri=uri), uri


@contextlib.contextmanager
def translated(uri: str, what: str) -> Iterator[None]:
    """Re-raise MLflow's exceptions as :class:`TrackingError` naming the store and the step."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        cls = RunNotFoundError if code == "RESOURCE_DOES_NOT_EXIST" else TrackingError
        raise cls(f"{what} failed on {uri}: {exc.message}") from exc


def experiment_id(mlc: MlflowClient, uri: str, name: str) -> str:
    """Return the id of experiment ``name``, creating it (with a local artifact root) if new."""
    from mlflow.exceptions import MlflowException

    found = mlc.get_experiment_by_name(name)
    if found is None:
        try:
            return str(
                mlc.create_experiment(
                    name, artifact_location=artifact_location(uri, name), tags=EXPERIMENT_TAGS
                )
            )
        except MlflowException:
            found = mlc.get_experiment_by_name(name)  # created meanwhile by another process
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise ConfigError(
            f"MLflow experiment {name!r} on {uri} is deleted; restore it "
            f"(`mlflow experiments restore --experiment-id {found.experiment_id}`) "
            "or log to another experiment"
        )
    for tag, value in EXPERIMENT_TAGS.items():  # experiments created before these tags
        if tag not in found.tags:
            mlc.set_experiment_tag(found.experiment_id, tag, value)
    return str(found.experiment_id)


def local_artifact_dir(artifact_uri: str) -> Path | None:
    """Return the folder of a ``file:`` (or plain path) artifact URI; ``None`` for remote stores."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):  # C:\...
        return Path(artifact_uri)
    return None


def log_folder(
    mlc: MlflowClient,
    run_id: str,
    folder: Path,
    artifact_path: str | None = None,
    *,
    recursive: bool = True,
) -> None:
    """Log the files of ``folder`` as artifacts of ``run_id`` (under ``artifact_path``).

    ``recursive=False`` logs the top-level files only.

    A local artifact store gets hard links to the files, so a run folder and
    its MLflow copy hold the same bytes once on disk (a copy where linking
    fails, e.g. across file systems); a remote store gets an upload.
    """
    files = sorted(p for p in Path(folder).glob("**/*" if recursive else "*") if p.is_file())
    local = local_artifact_dir(str(mlc.get_run(run_id).info.artifact_uri))
    if local is None:
        if recursive:
            mlc.log_artifacts(run_id, str(folder), artifact_path)
        for src in [] if recursive else files:
            mlc.log_artifact(run_id, str(src), artifact_path)
        return
    dest = local / artifact_path if artifact_path else local
    for src in files:
        target = dest / src.relative_to(folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)


def find_identical(
    mlc: MlflowClient, uri: str, experiment: str, identity: str | None
) -> str | None:
    """Return the newest FINISHED top-level run of ``experiment`` tagged ``identity``, if any."""
    if identity is None:
        return None
    found = mlc.get_experiment_by_name(experiment)
    if found is None or found.lifecycle_stage != "active":
        return None
    with translated(uri, f"searching experiment {experiment!r}"):
        runs = mlc.search_runs(
            [found.experiment_id],
            filter_string=f"tags.{IDENTITY_TAG} = '{identity}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=10,
        )
    for run in runs:
        if PARENT_TAG not in run.data.tags:
            return str(run.info.run_id)
    return None


def now_ms() -> int:
    """Return the wall-clock time in ms: MLflow stamps every metric (bookkeeping, not results)."""
    return int(time.time() * 1000)


def key(text: str) -> str:
    """Return ``text`` as a valid MLflow param/metric/tag key (bad characters become ``_``)."""
    return _BAD_KEY_CHARS.sub("_", str(text))[:_MAX_KEY] or "_"


def param_value(value: Any) -> str:
    """Return a parameter value as MLflow stores it (a string within the length limit)."""
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(str(v) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= _MAX_PARAM_VALUE else text[: _MAX_PARAM_VALUE - 1] + "…"


def finite_metrics(values: Mapping[str, Any]) -> dict[str, float]:
    """Keep the real, finite numbers of ``values`` (bools, NaN and infinities are dropped)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        if isinstance(value, bool) or value is None:
            continue
        try:
            f = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[key(name)] = f
    return out


def log_batch(
    mlc: MlflowClient,
    run_id: str,
    *,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    tags: Mapping[str, Any] | None = None,
    step: int = 0,
) -> None:
    """Log params, metrics and tags in as few round trips as MLflow's batch limits allow."""
    from mlflow.entities import Metric, Param, RunTag

    stamp = now_ms()
    ps = [Param(key(k), param_value(v)) for k, v in (params or {}).items()]
    ms = [Metric(key(k), float(v), stamp, step) for k, v in (metrics or {}).items()]
    ts = [RunTag(key(k), str(v)[:_MAX_TAG_VALUE]) for k, v in (tags or {}).items()]
    while ps or ms or ts:
        p, ps = ps[:_BATCH_PARAMS_TAGS], ps[_BATCH_PARAMS_TAGS:]
        t, ts = ts[: _BATCH_PARAMS_TAGS - len(p)], ts[_BATCH_PARAMS_TAGS - len(p) :]
        room = _BATCH_METRICS - len(p) - len(t)
        m, ms = ms[:room], ms[room:]
        mlc.log_batch(run_id, metrics=m, params=p, tags=t, synchronous=True)


@contextlib.contextmanager
def open_run(
    mlc: MlflowClient,
    uri: str,
    experiment: str,
    *,
    run_name: str,
    tags: Mapping[str, Any],
    exp_id: str | None = None,
) -> Iterator[str]:
    """Create a run, yield its id, end it FINISHED — or FAILED/KILLED if the body raises.

    A run is never left RUNNING by an exception: the body's exception
    propagates unchanged (translated to :class:`TrackingError` when it came
    from MLflow), and a failure to mark the run is attached to it as a note.
    """
    with translated(uri, f"creating a run in experiment {experiment!r}"):
        exp = exp_id or experiment_id(mlc, uri, experiment)
        run = mlc.create_run(exp, tags={key(k): str(v) for k, v in tags.items()}, run_name=run_name)
    run_id = str(run.info.run_id)
    try:
        with translated(uri, f"logging run {run_id}"):
            yield run_id
    except BaseException as exc:
        status = "KILLED" if isinstance(exc, KeyboardInterrupt | SystemExit) else "FAILED"
        try:
            mlc.set_terminated(run_id, status)
        except Exception as mark:
            exc.add_note(f"(MLflow run {run_id} could not be marked {status}: {mark})")
        raise
    with translated(uri, f"ending run {run_id}"):
        mlc.set_terminated(run_id, "FINISHED")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into ``a.b.c`` keys (lists stay values)."""
    out: dict[str, Any] = {}
    for name, value in tree.items():
        here = f"{prefix}{name}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, here + "."))
        else:
            out[here] = value
    return out


def risk_params(spec: RiskSpec) -> dict[str, Any]:
    """Return a run's risk spec as scalar params, one per limit (``risk.order.max_position``,
    ``risk.portfolio.drawdown.limit``, ``None`` = off).

    The validated spec is logged, not the section as written: a run configured in the
    deprecated shape (``risk.max_drawdown``, ``risk.live.*``) logs the same params as the
    same limits in the new shape, so runs compare and filter by one set of keys. ``ops`` is
    live only (a backtest has no feed, websocket or venue errors) and is left out.
    """
    from dataclasses import asdict

    parts = {k: v for k, v in asdict(spec).items() if k != "ops"}
    return flatten(parts, "risk.")


def runs_table_url(run_id: str, *, uri: str | None = None) -> str:
    """Return the address of the runs table (key metrics as columns) of ``run_id``'s experiment.

    A tracking server's own address, or ``http://127.0.0.1:5000`` where ``mlflow ui``
    serves a local store by default.
    """
    mlc, uri = client(uri)
    with translated(uri, f"reading run {run_id!r}"):
        exp = mlc.get_run(run_id).info.experiment_id
    base = uri.rstrip("/") if uri.startswith(("http://", "https://")) else "http://127.0.0.1:5000"
    return f"{base}/#/experiments/{exp}/runs?viewStateShareKey={VIEW_KEY}"


def find_run(run_id: str, *, uri: str | None = None) -> dict[str, Any]:
    """Return what the store holds about a run, as plain data.

    Keys: ``run_id``, ``run_name``, ``experiment_id``, ``experiment_name``,
    ``status``, ``start_time``/``end_time`` (ms since the epoch),
    ``artifact_uri``, ``params`` (str → str), ``metrics`` (str → latest
    float), ``tags`` (str → str, MLflow's own ``mlflow.*`` tags included),
    ``parent_run_id`` (or ``None``). Raise :class:`RunNotFoundError` for an
    unknown id.
    """
    mlc, uri = client(uri)
    with translated(uri, f"reading run {run_id!r}"):
        run = mlc.get_run(run_id)
        exp = mlc.get_experiment(run.info.experiment_id)
    tags = dict(run.data.tags)
    return {
        "run_id": run.info.run_id,
        "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "experiment_name": exp.name,
        "status": run.info.status,
        "start_time": run.info.start_time,
        "end_time": run.info.end_time,
        "artifact_uri": run.info.artifact_uri,
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
        "tags": tags,
        "parent_run_id": tags.get(PARENT_TAG),
    }


def download_artifact(
    run_id: str, path: str, dst: str | os.PathLike[str], *, uri: str | None = None
) -> Path:
    """Copy artifact ``path`` (a file or folder) of run ``run_id`` into folder ``dst``.

    Return the local path of the copy (``dst/<path>``). Raise
    :class:`RunNotFoundError` when the run or the artifact does not exist.
    """
    mlc, uri = client(uri)
    folder = Path(dst)
    folder.mkdir(parents=True, exist_ok=True)
    import mlflow.artifacts

    with translated(uri, f"reading run {run_id!r}"):
        mlc.get_run(run_id)
    with translated(uri, f"downloading artifact {path!r} of run {run_id}"):
        parent, _, name = path.strip("/").rpartition("/")
        listing = {f.path for f in mlc.list_artifacts(run_id, parent or None)}
        if path.strip("/") not in listing and name:
            known = ", ".join(sorted(listing)) or "none"
            raise RunNotFoundError(
                f"run {run_id} has no artifact {path!r} (artifacts in {parent or '/'}: {known})"
            )
        with _env_default("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"):  # no tqdm bar
            local = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path=path, dst_path=str(folder), tracking_uri=uri
            )
    return Path(local)


@contextlib.contextmanager
def _env_default(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the block unless the user has set it."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        os.environ.pop(name, None)


def as_strings(values: Iterable[Any]) -> str:
    """Join values with commas (symbols, labels) for a param or tag."""
    return ",".join(str(v) for v in values)
