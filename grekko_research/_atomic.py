"""Atomic file replacement: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import fcntl
import math
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "PARTIAL_SUFFIX",
    "atomic_dir",
    "atomic_path",
    "atomic_write_text",
    "folder_lock",
    "json_strict",
    "write_parquet_atomic",
]

PARTIAL_SUFFIX = ".partial"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (created if missing) for the block: the stores'
    one writer per series at a time, across processes (``fcntl.flock`` on ``.lock``)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    with open(Path(folder) / ".lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, fsync it and rename it over ``path``.

    On any error (Ctrl-C included) the temporary file is removed and ``path``
    is left as it was. The folder is fsynced after the rename so the new name
    survives a power cut.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_parquet_atomic(
    path: str | os.PathLike[str],
    frame: Any,
    fields: Mapping[str, object],
    *,
    row_group_size: int | None = None,
) -> None:
    """Replace ``path`` with ``frame`` (a DataFrame) as zstd Parquet, ``fields`` in its footer.

    Each field is stored as ``grekko.<name>`` in the schema metadata (how the stores keep a
    series' key, provenance and cursor beside its rows). Partial files a killed writer left in
    the folder are removed first; the write itself is :func:`atomic_path`'s. The caller holds
    the folder's lock.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    for stale in target.parent.glob(f"*{PARTIAL_SUFFIX}"):
        stale.unlink(missing_ok=True)  # left by a writer killed mid-write
    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta.update({f"grekko.{k}".encode(): str(v).encode() for k, v in fields.items()})
    table = table.replace_schema_metadata(meta)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success rename it to ``path``.

    The folder appears whole or not at all: on any error (Ctrl-C included)
    the temporary folder is removed. ``path`` must not exist yet.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}"
    tmp.mkdir()
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def json_strict(value: Any) -> Any:
    """Return ``value`` with NaN and infinities as None and numpy scalars as Python numbers.

    Strict JSON has no NaN; metrics that are undefined (no trade, flat
    equity) are written as ``null``.
    """
    if isinstance(value, dict):
        return {k: json_strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_strict(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    return value
