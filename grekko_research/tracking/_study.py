"""Log a parameter sweep: one parent run, the full trial table, child runs for the best trials."""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grekko_research.errors import ConfigError
from grekko_research.tracking import _client as mc
from grekko_research.tracking._provenance import git_commit

if TYPE_CHECKING:
    import pandas as pd

    from grekko_research.config import GrekkoConfig

__all__ = ["DEFAULT_SWEEP_EXPERIMENT", "log_trials", "start_study_run"]

DEFAULT_SWEEP_EXPERIMENT = "grekko-sweeps"
_PARAM_PREFIX = "params_"
_ATTR_PREFIX = "user_attrs_"
_SKIPPED = {"number", "state"}


@contextlib.contextmanager
def start_study_run(
    study_name: str,
    cfg: GrekkoConfig,
    *,
    experiment: str = DEFAULT_SWEEP_EXPERIMENT,
    tags: Mapping[str, Any] | None = None,
    uri: str | None = None,
) -> Iterator[str]:
    """Open the parent MLflow run of a sweep; yield its run id.

    The run is named ``study_name``; its params are the whole resolved
    configuration flattened (``data.symbol``, ``optimize.n_trials``, ...; the
    ``risk`` section as its validated spec, ``risk.order.max_position`` ...),
    its tags ``study_name``, ``config_id``, ``strategy``, ``grekko_version``,
    ``git_commit`` and then ``tags``; ``config.yaml`` is attached. Leaving
    the block ends the run FINISHED; an exception ends it FAILED (KILLED on
    Ctrl-C) and propagates. Pass the id to :func:`log_trials`, and as
    ``parent_run_id`` to :func:`log_backtest` for a re-run of the best
    parameters.

    Examples
    --------
    >>> with start_study_run("sma_cross-1a2b", cfg) as parent:  # doctest: +SKIP
    ...     result = run_sweep(cfg)
    ...     log_trials(parent, result.trials, objective_name=cfg.optimize.objective)
    """
    from grekko_research import __version__
    from grekko_research.config import config_id, to_container

    tree = to_container(cfg)
    all_tags: dict[str, Any] = {
        "study_name": study_name,
        "config_id": config_id(cfg),
        "strategy": cfg.strategy.name,
        "grekko_version": __version__,
    }
    commit = git_commit()
    if commit is not None:
        all_tags.update({"git_commit": commit, mc.GIT_TAG: commit})
    all_tags.update(tags or {})
    mlc, uri = mc.client(uri)
    with mc.open_run(mlc, uri, experiment, run_name=study_name, tags=all_tags) as run_id:
        # The risk section as its validated spec (the deprecated keys it may hold applied).
        rest = mc.flatten({k: v for k, v in tree.items() if k != "risk"})
        mc.log_batch(mlc, run_id, params={**rest, **mc.risk_params(cfg.risk.spec)})
        mlc.log_dict(run_id, tree, "config.yaml")
        yield run_id


def _objective_column(frame: pd.DataFrame, objective_name: str) -> str:
    # Optuna names the value columns after the study's metric names when it has them.
    candidates = (objective_name, f"value_{objective_name}", f"values_{objective_name}",
                  "value", "values_0", f"{_ATTR_PREFIX}{objective_name}")  # fmt: skip
    for name in candidates:
        if name in frame.columns:
            return name
    raise ConfigError(
        f"the trial table has no objective column ({objective_name!r}, 'value' or 'values_0'); "
        f"columns: {list(frame.columns)}"
    )


def _metric_columns(frame: pd.DataFrame, objective: str, objective_name: str) -> dict[str, str]:
    """Map numeric columns of the trial table to metric names for the child runs."""
    import pandas as pd

    out: dict[str, str] = {objective: objective_name}  # the objective's name wins a clash
    for col in frame.columns:
        name = str(col)
        if name in _SKIPPED or name == objective or name.startswith(_PARAM_PREFIX):
            continue
        series = frame[col]
        if pd.api.types.is_timedelta64_dtype(series):
            out[name] = f"{name}_s"
        elif pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            metric = name.removeprefix(_ATTR_PREFIX)
            if name.startswith("values_"):
                metric = "value_" + name.removeprefix("values_")
            if metric not in out.values():
                out[name] = metric
    return out


def _metric_value(value: Any) -> float | None:
    import pandas as pd

    if isinstance(value, pd.Timedelta):
        value = value.total_seconds()
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _write_table(frame: pd.DataFrame, folder: Path) -> None:
    """Write ``trials.parquet`` and ``trials.csv``; object columns Arrow cannot type become text."""
    import pyarrow as pa

    try:
        frame.to_parquet(folder / "trials.parquet")
    except (pa.ArrowException, TypeError, ValueError):
        textual = frame.copy()
        for col in textual.columns:
            if textual[col].dtype == object:
                textual[col] = textual[col].map(lambda v: None if v is None else str(v))
        textual.to_parquet(folder / "trials.parquet")
    frame.to_csv(folder / "trials.csv", index=not _plain_index(frame))


def _plain_index(frame: pd.DataFrame) -> bool:
    import pandas as pd

    idx = frame.index
    return isinstance(idx, pd.RangeIndex) and idx.start == 0 and idx.step == 1


def _write_figures(figures: Mapping[str, Any], folder: Path) -> None:
    for name, fig in figures.items():
        path = folder / f"{mc.key(name).replace('/', '_').replace(' ', '_')}.html"
        if isinstance(fig, str):
            path.write_text(fig, encoding="utf-8")  # already rendered HTML
        elif hasattr(fig, "write_html"):
            fig.write_html(str(path), include_plotlyjs=True, full_html=True)  # works offline
        else:
            raise ConfigError(f"figure {name!r} is a {type(fig).__name__}, not a plotly figure")


def log_trials(
    parent_run_id: str,
    trials_frame: pd.DataFrame,
    *,
    top_k: int = 10,
    objective_name: str = "sharpe_ratio",
    direction: str = "maximize",
    figures: Mapping[str, Any] | None = None,
    uri: str | None = None,
) -> list[str]:
    """Log a sweep's trials under its parent run; return the child run ids, best first.

    * the whole table as artifacts ``trials.parquet`` and ``trials.csv`` —
      one file each however many trials there are;
    * one nested child run per trial among the ``top_k`` best: its
      parameters (``params_<name>`` columns → ``params.<name>``), its numeric
      columns as metrics (the objective as ``objective_name``,
      ``user_attrs_<x>`` as ``x``, ``duration`` in seconds), tags
      ``trial_number`` and ``rank``;
    * on the parent: metrics ``n_trials`` (rows), ``n_complete`` (rows with a
      finite objective, state COMPLETE when there is a state column) and
      ``best_value``; tags ``objective``, ``direction``,
      ``best_trial_number``, ``best_run_id`` and ``best_params.<name>``;
    * ``figures`` (name → plotly figure, or HTML text) as
      ``figures/<name>.html``, self-contained so they open offline.

    The table is the one ``optuna.Study.trials_dataframe()`` returns
    (``number``, ``state``, ``value`` or ``values_<i>``, ``params_<name>``,
    ``user_attrs_<name>``, ``duration``); the objective column is
    ``objective_name`` if present, else ``value``, else ``values_0`` (a
    multi-objective study is ranked by its first objective), else
    ``user_attrs_<objective_name>``. Cost does not
    grow with the number of trials beyond writing the table: only ``top_k``
    runs are created.
    """
    import pandas as pd

    if top_k < 0:
        raise ConfigError(f"top_k must be >= 0, got {top_k}")
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"direction must be 'maximize' or 'minimize', got {direction!r}")
    objective = _objective_column(trials_frame, objective_name)
    values = pd.to_numeric(trials_frame[objective], errors="coerce").to_numpy(dtype=float)
    usable = np.isfinite(values)
    if "state" in trials_frame.columns:
        state = trials_frame["state"].astype(str).str.upper()
        # Optuna writes "COMPLETE"; str(TrialState.COMPLETE) is "TrialState.COMPLETE".
        usable &= state.str.endswith("COMPLETE").to_numpy(dtype=bool)
    numbers = (
        pd.to_numeric(trials_frame["number"]).to_numpy()
        if "number" in trials_frame.columns
        else np.arange(len(trials_frame))
    )
    # Rows by position (the table's index may be anything), best first, ties by trial number.
    pos = np.flatnonzero(usable)
    sign = -1.0 if direction == "maximize" else 1.0
    order = pos[np.lexsort((numbers[pos], sign * values[pos]))]
    best_rows = [int(i) for i in order[:top_k]]
    metric_cols = _metric_columns(trials_frame, objective, objective_name)
    param_cols = [c for c in trials_frame.columns if str(c).startswith(_PARAM_PREFIX)]

    mlc, uri = mc.client(uri)
    with mc.translated(uri, f"reading parent run {parent_run_id!r}"):
        parent = mlc.get_run(parent_run_id)
    exp_id = str(parent.info.experiment_id)
    exp_name = mlc.get_experiment(exp_id).name

    with mc.translated(uri, f"logging trials to run {parent_run_id}"):
        with tempfile.TemporaryDirectory(prefix="grekko-trials-") as tmp:
            folder = Path(tmp)
            _write_table(trials_frame, folder)
            if figures:
                (folder / "figures").mkdir()
                _write_figures(figures, folder / "figures")
            mlc.log_artifacts(parent_run_id, str(folder))

        child_ids: list[str] = []
        for rank, row in enumerate(best_rows, start=1):
            record = trials_frame.iloc[row]
            number = int(numbers[row])
            params = {
                "params." + str(c).removeprefix(_PARAM_PREFIX): record[c]
                for c in param_cols
                if not _missing(record[c])
            }
            metrics: dict[str, float] = {}
            for col, metric in metric_cols.items():
                v = _metric_value(record[col])
                if v is not None:
                    metrics[metric] = v
            tags = {mc.PARENT_TAG: parent_run_id, "trial_number": number, "rank": rank}
            with mc.open_run(
                mlc, uri, exp_name, run_name=f"trial-{number}", tags=tags, exp_id=exp_id
            ) as child:
                mc.log_batch(mlc, child, params=params, metrics=metrics)
            child_ids.append(child)

        summary: dict[str, float] = {
            "n_trials": float(len(trials_frame)),
            "n_complete": float(int(usable.sum())),
        }
        parent_tags: dict[str, Any] = {"objective": objective_name, "direction": direction}
        if len(order):
            first = int(order[0])
            summary["best_value"] = float(values[first])
            parent_tags["best_trial_number"] = int(numbers[first])
            for c in param_cols:
                name = "best_params." + str(c).removeprefix(_PARAM_PREFIX)
                parent_tags[name] = trials_frame[c].iloc[first]
        if child_ids:
            parent_tags["best_run_id"] = child_ids[0]
        mc.log_batch(mlc, parent_run_id, metrics=summary, tags=parent_tags)
    return child_ids


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like values
        return False
