"""Running the research library on a cluster: Optuna studies and parameter grids on Ray.

``pip install grekko[ray]`` adds Ray. Two entry points:

* ``grekko sweep --backend ray --address HOST:PORT`` (``optimize.backend=ray``): each trial
  of the shared Optuna study (an RDB URL, e.g. PostgreSQL) runs as a Ray task
  (:mod:`~grekko_research.distributed.sweep`);
* :func:`run_grid_ray`: a parameter table cut into chunks, each chunk a Ray task running
  :func:`~grekko_research.engine.grid.run_grid` on the bars placed once in the object store
  (:mod:`~grekko_research.distributed.grid`).

Both give the local backend's results: the same trials, the same rows.
docs/operations.md says how to start a cluster and which URL each shared service takes.
"""

from grekko_research.distributed.grid import run_grid_ray

__all__ = ["run_grid_ray"]
