"""List the runs of a tracking store (what the web console's research pages show beside the
runs folder): plain data, read without creating anything."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grekko_research.tracking._client import IDENTITY_TAG, PARENT_TAG, client, translated
from grekko_research.tracking._provenance import sqlite_path, tracking_uri

__all__ = ["list_tracked_runs"]


def list_tracked_runs(
    uri: str | None = None,
    *,
    experiments: Sequence[str] = ("grekko-backtests", "grekko-sweeps"),
    max_results: int = 1000,
) -> list[dict[str, Any]]:
    """Return the runs of ``experiments``, newest first, as :func:`find_run` shapes one (plus
    ``identity``: equal to the ``provenance.json`` of the run folder it was logged from).

    A SQLite store that does not exist lists nothing (and is not created); an experiment that
    does not exist is skipped.
    """
    uri = uri or tracking_uri()
    db = sqlite_path(uri)
    if db is not None and not db.is_file():
        return []
    mlc, uri = client(uri)
    found = {}
    with translated(uri, "listing experiments"):
        for name in experiments:
            exp = mlc.get_experiment_by_name(name)
            if exp is not None and exp.lifecycle_stage == "active":
                found[exp.experiment_id] = name
    if not found:
        return []
    with translated(uri, "listing runs"):
        runs = mlc.search_runs(
            list(found), order_by=["attributes.start_time DESC"], max_results=max_results
        )
    out = []
    for run in runs:
        tags = dict(run.data.tags)
        out.append(
            {
                "run_id": run.info.run_id,
                "run_name": run.info.run_name,
                "experiment_id": run.info.experiment_id,
                "experiment_name": found[run.info.experiment_id],
                "status": run.info.status,
                "start_time": run.info.start_time,
                "end_time": run.info.end_time,
                "params": dict(run.data.params),
                "metrics": dict(run.data.metrics),
                "tags": tags,
                "identity": tags.get(IDENTITY_TAG),
                "parent_run_id": tags.get(PARENT_TAG),
            }
        )
    return out
