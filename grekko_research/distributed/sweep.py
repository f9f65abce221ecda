"""A study's trials as Ray tasks (``optimize.backend=ray``), against the shared RDB study.

The driver (the ``grekko sweep`` process) asks the study for each trial and draws its
parameters with the study's seeded sampler, exactly as a local worker does, then sends
the trial's id to a Ray task. The task opens the same study in the same database,
evaluates the trial with the local backend's objective (pruning included) and stores what
the trial measured; the driver tells the study the outcome. So:

* with a sampler that does not learn from finished trials while others run (``random``,
  ``grid``), the trials, their parameters and their values are those of a local sweep with
  the same seed: the distributed result equals the local one;
* a task whose worker (or node) dies leaves its trial ``FAIL`` (with the reason as its
  ``failure`` user attribute) and the same parameters are queued again as a new trial, so
  nothing is lost; only the driver tells, and only once per trial, so no result counts
  twice. A parameter set whose worker dies :data:`MAX_ATTEMPTS` times stops the sweep;
* an exception inside the objective fails the trial and stops the sweep with that
  exception, as ``study.optimize(catch=())`` does locally.

The bars, strategy and engine settings go into the object store once per study
(``ray.put``); each worker copies them once, so the numba kernels see the writable arrays
they were compiled for (the store's are read-only).
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from typing import Any

from grekko_research.distributed._ray import cluster_cpus, connect
from grekko_research.distributed._ray import writable_copy as _writable
from grekko_research.errors import ConfigError, GrekkoError
from grekko_research.optimize.space import _directions, make_sampler, suggest_params
from grekko_research.optimize.studies import _STOP, TrialHook, _Job, _objective, _storage

__all__ = ["MAX_ATTEMPTS", "check_ray_storage", "run_study_on_ray"]

MAX_ATTEMPTS = 3  # runs of one parameter set whose worker dies before the sweep gives up
log = logging.getLogger("grekko.distributed")

_local: dict[str, Any] = {}  # per worker process: the writable copy of the current study's data


def check_ray_storage(cfg: Any) -> None:
    """Refuse a Ray sweep whose studies are not in a database every node can reach."""
    url = cfg.optimize.storage
    if not (url and "://" in url):
        raise ConfigError(
            "optimize.backend=ray needs optimize.storage to be a database URL every Ray node "
            f"reaches (e.g. postgresql+psycopg://user@host/db), not {url or 'the journal file'!r}"
        )


def _local_copy(token: str, data: Any) -> Any:
    if token not in _local:
        _local.clear()  # one study's data at a time
        _local[token] = _writable(data)
    return _local[token]


def _trial_task(job: _Job, token: str, data: Any, trial_id: int) -> tuple[str, Any]:
    """Run one trial in a Ray worker; return ``("complete", values)`` or ``("pruned", None)``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    strategy, bars, engine = _local_copy(token, data)
    # The parameters are already drawn (by the driver): the sampler here never samples.
    study = optuna.load_study(
        study_name=job.study_name,
        storage=_worker_storage(job),
        sampler=optuna.samplers.RandomSampler(),
    )
    trial = optuna.trial.Trial(study, trial_id)
    try:
        return "complete", _objective(job, strategy, bars, engine)(trial)
    except optuna.TrialPruned:
        return "pruned", None


_storages: dict[str, Any] = {}


def _worker_storage(job: _Job) -> Any:
    """One storage (one connection pool) per worker process and URL."""
    url = str(job.cfg.optimize.storage)
    if url not in _storages:
        _storages[url] = _storage(job.cfg)
    return _storages[url]


class _Driver:
    """Keeps the cluster busy with trials of one study until it holds ``n_trials`` finished."""

    def __init__(self, job: _Job, loaded: Any, on_trial: TrialHook | None) -> None:
        import optuna

        self.ray = connect(job.cfg.optimize.ray_address)
        self.job, self.on_trial = job, on_trial
        self.strategy = loaded[0]
        cfg = job.cfg.optimize
        self.storage = _storage(job.cfg)
        multi = len(_directions(job.cfg)[0]) > 1
        self.study = optuna.load_study(
            study_name=job.study_name,
            storage=self.storage,
            sampler=make_sampler(cfg.sampler, cfg.seed, self.strategy, multi, cfg.fixed),
        )
        self.study_id = self.storage.get_study_id_from_name(job.study_name)
        self.slots = cfg.workers if cfg.workers > 1 else cluster_cpus(self.ray)
        token = uuid.uuid4().hex
        data = self.ray.put(loaded)  # once per study: every task reads the same object
        task = self.ray.remote(num_cpus=1, max_retries=0)(_trial_task)
        self.submit = lambda trial_id: task.remote(job, token, data, trial_id)
        self.running: dict[Any, Any] = {}  # task ref -> the driver's Trial
        self.attempts: dict[str, int] = {}  # parameter set -> runs lost with their worker

    def finished(self) -> int:
        from optuna.trial import TrialState

        done = (TrialState.COMPLETE, TrialState.PRUNED)
        return int(self.storage.get_n_trials(self.study_id, state=done))

    def fill(self, deadline: float | None) -> None:
        """Ask and submit trials while slots are free and the study needs more."""
        import optuna

        n = self.job.cfg.optimize.n_trials
        while len(self.running) < self.slots and not _STOP.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return
            if self.finished() + len(self.running) >= n:
                return
            with warnings.catch_warnings():  # the storage's heartbeat is for study.optimize:
                warnings.simplefilter("ignore", UserWarning)  # a Ray task's trial has none
                trial = self.study.ask()
            try:
                # drawn here: the driver's seeded sampler
                suggest_params(trial, self.strategy, self.job.cfg.optimize.fixed)
            except optuna.TrialPruned:  # parameters the strategy refuses: no task needed
                self._tell(trial, None, optuna.trial.TrialState.PRUNED)
                continue
            self.running[self.submit(trial._trial_id)] = trial

    def collect(self) -> None:
        """Wait for one task and record its outcome."""
        from optuna.trial import TrialState

        ray = self.ray
        ready, _ = ray.wait(list(self.running), num_returns=1)
        for ref in ready:
            trial = self.running.pop(ref)
            try:
                state, values = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # the objective raised: as locally
                self._fail(trial, f"{type(e.cause).__name__}: {e.cause}")
                self._abort()
                raise e.as_instanceof_cause() from None
            except ray.exceptions.RayError as e:  # the worker or its node died mid-trial
                self._lost(trial, e)
                continue
            if state == "pruned":
                self._tell(trial, None, TrialState.PRUNED)
            else:
                self._tell(trial, values, TrialState.COMPLETE)

    def _tell(self, trial: Any, values: Any, state: Any) -> None:
        frozen = self.study.tell(trial, values, state=state)
        if self.on_trial is not None:
            self.on_trial(self.job.study_name, self.job.cfg.optimize.n_trials, self.study, frozen)

    def _fail(self, trial: Any, why: str) -> None:
        from optuna.trial import TrialState

        self.storage.set_trial_user_attr(trial._trial_id, "failure", why)
        self.study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)

    def _lost(self, trial: Any, error: Exception) -> None:
        """Fail a trial whose worker died and queue its parameters again."""
        params = dict(trial.params)
        key = repr(sorted(params.items()))
        self.attempts[key] = self.attempts.get(key, 0) + 1
        why = f"worker lost: {type(error).__name__}"
        self._fail(trial, why)
        log.warning(
            "trial %d of %s failed (%s); its parameters run again as a new trial",
            trial.number, self.job.study_name, why,
        )  # fmt: skip
        if self.attempts[key] >= MAX_ATTEMPTS:
            self._abort()
            raise GrekkoError(
                f"trial parameters {params} of study {self.job.study_name} lost their worker "
                f"{MAX_ATTEMPTS} times; the last: {error}"
            )
        self.study.enqueue_trial(params, user_attrs={"retry_of": trial.number})

    def _abort(self) -> None:
        """Cancel the other running tasks and fail their trials (they are not retried)."""
        for ref, trial in list(self.running.items()):
            self.ray.cancel(ref, force=True)
            self._fail(trial, "cancelled: the sweep stopped")
        self.running.clear()


def run_study_on_ray(job: _Job, loaded: Any, on_trial: TrialHook | None = None) -> None:
    """Run trials of ``job``'s (existing) study as Ray tasks until it holds ``n_trials`` finished.

    Ctrl-C (:func:`~grekko_research.optimize.studies.install_interrupt_handler`) stops
    submitting; the running trials finish and are recorded.
    """
    check_ray_storage(job.cfg)
    driver = _Driver(job, loaded, on_trial)
    timeout = job.cfg.optimize.timeout
    deadline = None if timeout is None else time.monotonic() + timeout
    driver.fill(deadline)
    while driver.running:
        driver.collect()
        driver.fill(deadline)
