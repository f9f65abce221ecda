"""The point-in-time store of alternative data: one Parquet series per (source, entity).

Layout, beside the market data in the same store root::

    <root>/alt/source=<source>/entity=<entity>/data.parquet

Every row carries three times (int64 ms UTC) and a stable id:

``id``
    The source's own id of the item (a post id, ``txhash:logindex``, ``pool:day``): re-downloading
    an item never duplicates it.
``event_ms``
    When the thing the row reports happened (a commit's author date, a block's time, the start
    of a trends period).
``published_ms``
    When the row became knowable to anyone: the time the post was published, the block was
    mined, the period ended. Never earlier than ``event_ms`` (a row that says otherwise was
    stamped early and is refused: see :func:`validate_rows`).
``ingested_ms``
    When Grekko first stored it. A re-download keeps the first ingestion time, so the store
    remembers what was known when.

Further columns are the source's values (floats) or labels (strings). Alignment to bars reads
``published_ms`` (history researched after the fact) or ``max(published, ingested)`` (what this
machine actually had; see :mod:`grekko_research.alpha.pit`). Writes are atomic and serialised
like the market-data store's; a footer field ``cursor`` holds where an incremental download
stopped, so an interrupted one resumes there.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grekko_research._atomic import folder_lock, write_parquet_atomic
from grekko_research.errors import ConfigError, DataError, DataNotFoundError

__all__ = ["TIME_COLUMNS", "AltKey", "AltStore", "validate_rows"]

TIME_COLUMNS = ("event_ms", "published_ms", "ingested_ms")
REQUIRED = ("id", *TIME_COLUMNS)
_DATA_FILE = "data.parquet"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,127}$")


@dataclass(frozen=True, slots=True, order=True)
class AltKey:
    """Identify one alternative series: which source, about which entity.

    ``entity`` is what the rows are about: an asset (``BTC``), a subreddit, a channel, a
    repository (``bitcoin@bitcoin``), a token contract, a pool id.
    """

    source: str
    entity: str

    def __post_init__(self) -> None:
        for name in ("source", "entity"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _NAME.match(value):
                raise ConfigError(
                    f"invalid alternative-data {name} {value!r}: letters, digits and _ . : @ + - "
                    "only (no '/' or '='), at most 128 characters"
                )

    def relative_dir(self) -> Path:
        """Return the series folder relative to the store root."""
        return Path("alt", f"source={self.source}", f"entity={self.entity}")

    def label(self) -> str:
        """Return ``source/entity``."""
        return f"{self.source}/{self.entity}"


def validate_rows(frame: pd.DataFrame, key: AltKey) -> pd.DataFrame:
    """Return ``frame`` with typed time columns, or raise naming the first bad row.

    Refused: a missing column, a missing or duplicated id, a missing time, and a row
    *knowable before its event* (``published_ms < event_ms``): such a row was stamped early,
    and aligning it would leak it into bars that closed before it could be known.
    """
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DataError(f"{key.label()}: rows lack columns {missing}")
    out = frame.copy()
    out["id"] = out["id"].astype(str)
    if (out["id"] == "").any() or out["id"].isna().any():
        raise DataError(f"{key.label()}: row {int(np.argmax(out['id'] == ''))} has no id")
    for col in TIME_COLUMNS:
        values = pd.to_numeric(out[col], errors="coerce")
        if values.isna().any():
            i = int(np.argmax(values.isna().to_numpy()))
            raise DataError(f"{key.label()}: row {i} (id {out['id'].iloc[i]}) has no {col}")
        out[col] = values.astype(np.int64)
    early = out["published_ms"].to_numpy() < out["event_ms"].to_numpy()
    if early.any():
        i = int(np.argmax(early))
        raise DataError(
            f"{key.label()}: row {i} (id {out['id'].iloc[i]}) is published at "
            f"{int(out['published_ms'].iloc[i])}, before its event at {int(out['event_ms'].iloc[i])}: "
            "a row cannot be knowable before it happened (its published time is wrong)"
        )
    dup = out["id"].duplicated(keep=False)
    if dup.any():
        raise DataError(f"{key.label()}: duplicate id {out.loc[dup, 'id'].iloc[0]!r} in rows")
    return out


class AltStore:
    """The ``alt/`` part of a Parquet store (see the module docstring).

    Parameters
    ----------
    root
        Store folder (the market-data store's root); defaults to its default folder.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        if root is None:
            from grekko_research.data.store import default_data_dir

            root = default_data_dir()
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"AltStore({str(self.root)!r})"

    def path(self, key: AltKey) -> Path:
        """Return the Parquet file of a series (it may not exist)."""
        return self.root / key.relative_dir() / _DATA_FILE

    def exists(self, key: AltKey) -> bool:
        """Return True when the store holds the series."""
        return self.path(key).is_file()

    def read(self, key: AltKey) -> pd.DataFrame:
        """Return a series sorted by ``(published_ms, id)``.

        Raises
        ------
        DataNotFoundError
            If the store has no such series.
        """
        path = self.path(key)
        if not path.is_file():
            raise DataNotFoundError(
                f"no alternative data {key.label()} in {self.root} (expected {path}); "
                f"run 'grekko alpha download {key.source} ...' first"
            )
        try:
            frame = pq.read_table(path).to_pandas()
        except (OSError, pa.ArrowException) as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc
        return validate_rows(frame, key)

    def write(
        self, key: AltKey, rows: pd.DataFrame, *, cursor: str | None = None
    ) -> tuple[int, int]:
        """Merge rows into a series atomically; return ``(rows added, rows in the series)``.

        An id already stored keeps its stored row (its first ingestion time included): a
        re-download never moves what was known when. ``cursor`` (where the download that
        produced these rows stopped) is kept in the footer for :meth:`cursor`.
        """
        new = validate_rows(rows, key)
        with self._locked(key):
            path = self.path(key)
            old = self.read(key) if path.is_file() else None
            if old is not None:
                fresh = new[~new["id"].isin(old["id"])]
                merged = pd.concat([old, fresh], ignore_index=True)
            else:
                fresh, merged = new, new
            if not len(fresh) and cursor is None:
                return 0, len(merged)
            merged = merged.sort_values(["published_ms", "id"], kind="stable")
            meta = self.metadata(key) if path.is_file() else {}
            if cursor is not None:
                meta["cursor"] = cursor
            self._atomic_write(path, merged.reset_index(drop=True), key, meta)
            return len(fresh), len(merged)

    def cursor(self, key: AltKey) -> str | None:
        """Return where the last incremental download of a series stopped, if recorded."""
        if not self.exists(key):
            return None
        return self.metadata(key).get("cursor") or None

    def metadata(self, key: AltKey) -> dict[str, str]:
        """Return the ``grekko.*`` footer fields of a series."""
        meta = pq.read_schema(self.path(key)).metadata or {}
        return {
            k.decode()[len("grekko.") :]: v.decode()
            for k, v in meta.items()
            if k.startswith(b"grekko.")
        }

    def series(self, source: str | None = None) -> list[AltKey]:
        """Return every stored series (of one source, when given), sorted."""
        base = self.root / "alt"
        found: list[AltKey] = []
        if not base.is_dir():
            return found
        for path in sorted(base.glob(f"source=*/entity=*/{_DATA_FILE}")):
            src = path.parent.parent.name.split("=", 1)[1]
            ent = path.parent.name.split("=", 1)[1]
            if source is None or src == source:
                with contextlib.suppress(ConfigError):  # a foreign folder: not ours to list
                    found.append(AltKey(src, ent))
        return sorted(found)

    def span(self, key: AltKey) -> Mapping[str, int] | None:
        """Return rows and first/last published time of a series, or None when absent."""
        if not self.exists(key):
            return None
        ts = pq.read_table(self.path(key), columns=["published_ms"]).column(0).to_numpy()
        if not len(ts):
            return None
        return {"rows": len(ts), "first_ms": int(ts.min()), "last_ms": int(ts.max())}

    # -- internals -------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: AltKey) -> Iterator[None]:
        with folder_lock(self.root / key.relative_dir()):
            yield

    def _atomic_write(
        self, path: Path, frame: pd.DataFrame, key: AltKey, fields: dict[str, str]
    ) -> None:
        fields = {**fields, "source": key.source, "entity": key.entity}
        write_parquet_atomic(path, frame, fields)
