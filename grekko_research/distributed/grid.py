"""A parameter grid across Ray workers: :func:`~grekko_research.engine.grid.run_grid` per chunk.

The bars and the engine settings are put in the object store once; the parameter table is
cut into contiguous chunks of rows, each chunk one Ray task that runs the local
:func:`run_grid` (one semantic, one implementation) on the worker's copy of the bars. The
chunks come back in any order and are placed by their position, so the table equals the
local one row for row. A chunk is pure, so Ray re-runs it when its worker dies
(``max_retries``): a row is never lost or counted twice.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.distributed._ray import cluster_cpus, connect
from grekko_research.distributed._ray import writable_copy as _writable
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.grid import _param_table, run_grid
from grekko_research.errors import GrekkoError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_grid_ray"]

_local: dict[str, Any] = {}  # per worker process: the writable copy of the current grid's bars


def _grid_chunk(
    token: str,
    data: tuple[Bars, EngineConfig],
    kernel: Callable[..., None],
    rows: np.ndarray,
    names: list[str],
    metrics: Literal["all", "trades"],
) -> pd.DataFrame:
    """Run one chunk of the grid in a Ray worker."""
    if token not in _local:
        _local.clear()
        # The object store's arrays are read-only; numba would compile other kernels for them.
        _local[token] = _writable(data)
    bars, config = _local[token]
    return run_grid(bars, kernel, rows, config, param_names=names, metrics=metrics, n_jobs=1)


def run_grid_ray(
    bars: Bars,
    signal_kernel: Callable[..., None],
    params: np.ndarray | Sequence[Sequence[float]],
    config: EngineConfig | None = None,
    *,
    param_names: Sequence[str] | None = None,
    metrics: Literal["all", "trades"] = "all",
    address: str | None = None,
    chunk_rows: int | None = None,
    max_retries: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Backtest every row of ``params`` on a Ray cluster; return :func:`run_grid`'s table.

    Parameters
    ----------
    bars, signal_kernel, params, config, param_names, metrics
        As :func:`~grekko_research.engine.grid.run_grid`; the kernel must be importable
        by the workers (a module-level ``@njit`` function of an installed package).
    address
        The cluster's head (``host:port``); ``None``: ``$RAY_ADDRESS`` or a private local Ray.
    chunk_rows
        Rows per task; default: about four chunks per CPU of the cluster.
    max_retries
        Re-runs of a chunk whose worker dies before the grid fails.
    progress
        Called with (rows done, rows in all) after each chunk.

    Raises
    ------
    grekko_research.errors.ConfigError
        A bad table or setting (checked here before anything is sent), or what the grid
        raises in a worker (e.g. short signals with ``allow_short`` off).
    grekko_research.errors.GrekkoError
        A chunk whose worker died more than ``max_retries`` times.
    """
    import pandas as pd

    config = config or EngineConfig()
    table, names = _param_table(params, param_names)
    ray = connect(address)
    n = table.shape[0]
    size = chunk_rows or max(1, math.ceil(n / (4 * cluster_cpus(ray))))
    token = uuid.uuid4().hex
    data = ray.put((bars, config))  # once: every chunk reads the same object
    task = ray.remote(num_cpus=1, max_retries=max_retries)(_grid_chunk)
    pending = {
        task.remote(token, data, signal_kernel, table[lo : lo + size], names, metrics): lo
        for lo in range(0, n, size)
    }
    parts: dict[int, pd.DataFrame] = {}
    done = 0
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                lo = pending.pop(ref)
                try:
                    parts[lo] = ray.get(ref)
                except ray.exceptions.RayTaskError as e:
                    raise e.as_instanceof_cause() from None
                except ray.exceptions.RayError as e:
                    raise GrekkoError(
                        f"grid rows {lo}..{min(lo + size, n) - 1}: the worker died "
                        f"{max_retries + 1} times; the last: {e}"
                    ) from e
                done += len(parts[lo])
                if progress is not None:
                    progress(done, n)
    finally:
        for ref in pending:  # an error above: stop the rest
            ray.cancel(ref, force=True)
    return pd.concat([parts[k] for k in sorted(parts)], ignore_index=True)
