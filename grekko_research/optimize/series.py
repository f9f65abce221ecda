"""Trial return series kept outside the Optuna study, so large studies keep a flat memory.

The overfitting statistics (DSR, PBO, effective trials) need every scored trial's daily
returns. Stored as an Optuna user attribute, each series travels with the trial: every
``get_trials`` of every worker, progress callback and trial table loads them all again
(100,000 trials x a year of days is ~300 MB of base64 text per copy). Here they live in
one table, ``grekko_trial_series`` (study name, trial number, float32 bytes), read only
once, at the end of a sweep, straight into the ``(days, trials)`` matrix.

The table lives in the study's own database when the storage is an RDB URL (PostgreSQL,
SQLite: workers on other machines reach it at the same URL) and in a SQLite file beside
the journal file otherwise (``optuna.log`` → ``optuna.log.series.db``). A trial writes its
series once; ``(study, trial)`` is the primary key, so a retried write replaces the row
rather than adding a second one, and the series of failed trials are never read (the
reader asks for the numbers of complete trials only).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["StoredColumns", "TrialSeriesStore", "open_series", "series_url"]

TABLE = "grekko_trial_series"
_PAGE = 2000  # series fetched per query: bounded memory while the matrix is filled


def series_url(storage: str | None, output_dir: str) -> str:
    """The SQLAlchemy URL of the series table for an Optuna ``storage`` (``optimize.storage``)."""
    if storage and "://" in storage:
        return storage
    path = Path(storage or Path(output_dir) / "optuna.log")
    return f"sqlite:///{path.expanduser().resolve().as_posix()}.series.db"


class TrialSeriesStore:
    """The table of trial return series in the database at ``url`` (created when missing).

    Open it with :func:`open_series` (one engine per URL and process).
    """

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.url = url
        self._sa = sa
        if url.startswith("sqlite:"):
            Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
            # Worker processes write concurrently: wait for the lock instead of failing.
            self._engine = sa.create_engine(url, connect_args={"timeout": 60})
        else:
            self._engine = sa.create_engine(url, pool_pre_ping=True)
        meta = sa.MetaData()
        self._table = sa.Table(
            TABLE,
            meta,
            sa.Column("study", sa.String(512), primary_key=True),
            sa.Column("trial", sa.Integer, primary_key=True),
            sa.Column("n", sa.Integer, nullable=False),
            sa.Column("returns", sa.LargeBinary, nullable=False),  # little-endian float32
        )
        meta.create_all(self._engine, checkfirst=True)

    def put(self, study: str, trial: int, returns: np.ndarray) -> None:
        """Store (or replace) trial ``trial``'s series; one statement, one transaction."""
        data = np.ascontiguousarray(returns, dtype="<f4")
        row = {"study": study, "trial": int(trial), "n": int(data.shape[0]),
               "returns": data.tobytes()}  # fmt: skip
        t = self._table
        with self._engine.begin() as conn:
            conn.execute(t.delete().where(t.c.study == study, t.c.trial == int(trial)))
            conn.execute(t.insert().values(**row))

    def put_many(self, study: str, series: Sequence[tuple[int, np.ndarray]]) -> None:
        """Store (or replace) several trials' series in one transaction (imports, benchmarks)."""
        t = self._table
        rows = [
            {"study": study, "trial": int(n), "n": len(r),
             "returns": np.ascontiguousarray(r, dtype="<f4").tobytes()}
            for n, r in series
        ]  # fmt: skip
        with self._engine.begin() as conn:
            numbers = [r["trial"] for r in rows]
            for lo in range(0, len(numbers), _PAGE):
                conn.execute(t.delete().where(t.c.study == study,
                                              t.c.trial.in_(numbers[lo : lo + _PAGE])))  # fmt: skip
            conn.execute(t.insert(), rows)

    def trials(self, study: str) -> list[int]:
        """The trial numbers of ``study`` that have a series, ascending."""
        t = self._table
        query = self._sa.select(t.c.trial).where(t.c.study == study).order_by(t.c.trial)
        with self._engine.connect() as conn:
            return [int(r[0]) for r in conn.execute(query)]

    def matrix(self, study: str, trials: Sequence[int]) -> np.ndarray:
        """The ``(days, len(trials))`` float64 matrix of those trials' series, in that order.

        Raises
        ------
        KeyError
            When a trial has no series, or the series differ in length.
        """
        return self._fill(study, trials, None)

    def columns(self, study: str, trials: Sequence[int]) -> StoredColumns:
        """Those trials' series as a column source read a page at a time (bounded memory).

        Raises
        ------
        KeyError
            When the first trial has no series (the others: when their chunk is read).
        """
        t = self._table
        first = self._sa.select(t.c.n).where(t.c.study == study, t.c.trial == int(trials[0]))
        with self._engine.connect() as conn:
            n = conn.execute(first).scalar()
        if n is None:
            raise KeyError(f"trial {trials[0]} of {study!r} has no series")
        return StoredColumns(self, study, tuple(int(x) for x in trials), int(n))

    def _fill(self, study: str, trials: Sequence[int], days: int | None) -> np.ndarray:
        order = {int(n): i for i, n in enumerate(trials)}
        out = None if days is None else np.empty((days, len(order)), dtype=np.float64)
        seen = 0
        t = self._table
        wanted = sorted(order)
        for lo in range(0, len(wanted), _PAGE):
            page = wanted[lo : lo + _PAGE]
            query = self._sa.select(t.c.trial, t.c.n, t.c.returns).where(
                t.c.study == study, t.c.trial.in_(page)
            )
            with self._engine.connect() as conn:
                for number, n, blob in conn.execute(query):
                    if out is None:
                        out = np.empty((n, len(order)), dtype=np.float64)
                    if n != out.shape[0]:
                        raise KeyError(f"trial {number} of {study!r}: {n} days, not {out.shape[0]}")
                    out[:, order[int(number)]] = np.frombuffer(blob, dtype="<f4")
                    seen += 1
        if seen != len(order):
            raise KeyError(f"{len(order) - seen} of the trials of {study!r} have no series")
        return out if out is not None else np.empty((0, 0))

    def close(self) -> None:
        self._engine.dispose()


@dataclass(frozen=True)
class StoredColumns:
    """Trials' series in the table as a :class:`~grekko_research.optimize.columns.ColumnSource`."""

    store: TrialSeriesStore
    study: str
    trials: tuple[int, ...]
    days: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.days, len(self.trials)

    def chunks(self, size: int) -> Iterator[tuple[int, np.ndarray]]:
        for lo in range(0, len(self.trials), size):
            yield lo, self.store._fill(self.study, self.trials[lo : lo + size], self.days)

    def take(self, columns: Sequence[int]) -> np.ndarray:
        return self.store._fill(self.study, [self.trials[i] for i in columns], self.days)


@functools.lru_cache(maxsize=8)
def open_series(url: str) -> TrialSeriesStore:
    """The process's store for ``url`` (cached: a worker opens each database once)."""
    return TrialSeriesStore(url)
