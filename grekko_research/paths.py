"""Where Grekko keeps and finds things: the store, the runs, the reports, the shared data.

Every CLI command, library default and notebook resolves its folders here, so they agree
whatever the current folder is:

==================  ==========================  =============================================
folder              environment variable        default
==================  ==========================  =============================================
store               ``GREKKO_DATA_DIR``         ``<home>/data``
runs                ``GREKKO_RUNS_DIR``         ``<home>/runs``
reports             ``GREKKO_REPORTS_DIR``      ``<home>/reports``
shared data         ``GREKKO_SHARED_DATA``      ``<checkout>/../shared/data`` (if it exists)
sample candles      ``GREKKO_SAMPLE_DATA``      ``<shared data>/ohlcv``
==================  ==========================  =============================================

``<home>`` is the checkout when the library runs from one (a clone with ``pip install -e``),
else ``$GREKKO_HOME``, else the user data folder (``$XDG_DATA_HOME/grekko``, by default
``~/.local/share/grekko``): an installed package keeps one store and one runs folder per user
instead of one per current folder. A relative path in a variable is taken from the current
folder, as a shell user expects; ``GREKKO_SHARED_DATA`` or ``GREKKO_SAMPLE_DATA`` set empty
means "no such folder" (no fallback).

Reading a series looks in the store first, then in the shared data folder:
:func:`ensure_series` imports a missing series from there (or says which command will).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from grekko_research.data.store import ParquetStore, SeriesKey

__all__ = [
    "checkout_root",
    "data_dir",
    "ensure_series",
    "grekko_home",
    "import_command",
    "register_resolvers",
    "reports_dir",
    "runs_dir",
    "sample_data_dir",
    "shared_data_dir",
    "shared_file",
]

_PACKAGE = Path(__file__).resolve().parent


def checkout_root() -> Path | None:
    """Return the source checkout this library is imported from, or None when installed."""
    root = _PACKAGE.parent
    # A checkout has the project file beside the package; site-packages does not.
    if (root / "pyproject.toml").is_file() and (root / "conf" / "config.yaml").is_file():
        return root
    return None


def grekko_home() -> Path:
    """Return the folder that holds the default store, runs and reports (see the module doc)."""
    root = checkout_root()
    if root is not None:
        return root
    env = os.environ.get("GREKKO_HOME")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser().resolve() / "grekko"


def _from_env(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


def data_dir() -> Path:
    """Return the store folder: ``$GREKKO_DATA_DIR``, else ``<home>/data``."""
    return _from_env("GREKKO_DATA_DIR", grekko_home() / "data")


def runs_dir() -> Path:
    """Return the runs folder: ``$GREKKO_RUNS_DIR``, else ``<home>/runs``."""
    return _from_env("GREKKO_RUNS_DIR", grekko_home() / "runs")


def reports_dir() -> Path:
    """Return the reports folder: ``$GREKKO_REPORTS_DIR``, else ``<home>/reports``."""
    return _from_env("GREKKO_REPORTS_DIR", grekko_home() / "reports")


def shared_data_dir() -> Path | None:
    """Return the shared data folder: ``$GREKKO_SHARED_DATA``, else ``<checkout>/../shared/data``.

    None when the variable is set empty, or unset and no such folder sits beside the checkout.
    """
    if "GREKKO_SHARED_DATA" in os.environ:  # set empty: deliberately none
        env = os.environ["GREKKO_SHARED_DATA"]
        return Path(env).expanduser().resolve() if env else None
    root = checkout_root()
    if root is not None and (root.parent / "shared" / "data").is_dir():
        return (root.parent / "shared" / "data").resolve()
    return None


def sample_data_dir() -> Path | None:
    """Return the folder of sample candle files: ``$GREKKO_SAMPLE_DATA``, else ``<shared>/ohlcv``."""
    if "GREKKO_SAMPLE_DATA" in os.environ:  # set empty: deliberately none
        env = os.environ["GREKKO_SAMPLE_DATA"]
        return Path(env).expanduser().resolve() if env else None
    shared = shared_data_dir()
    return shared / "ohlcv" if shared is not None else None


def shared_file(relative: str) -> Path | None:
    """Return ``relative`` (e.g. ``ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz``) in the shared
    data folder, or None when there is no shared folder or no such file."""
    shared = shared_data_dir()
    if shared is None:
        return None
    path = shared / relative
    return path if path.is_file() else None


def import_command(relative: str, store: Path | None = None) -> str:
    """Return the shell command that imports a shared data file into the store."""
    quoted = '"$GREKKO_SHARED_DATA"/' + shlex.quote(relative)
    where = "" if store is None else f" --data-dir {shlex.quote(str(store))}"
    return f"grekko data import {quoted}{where}"


def ensure_series(
    key: SeriesKey,
    store: ParquetStore | None = None,
    *,
    files: Iterable[str] = (),
) -> str | None:
    """Make sure the store holds ``key``: import it from the shared data folder when missing.

    Parameters
    ----------
    key
        The series.
    store
        The store (default: :func:`data_dir`'s).
    files
        Candidate files, relative to the shared data folder, tried in order (experiments pin
        the exact file their baseline was made from). Without any, the largest file of the
        sample folder named for ``key`` is taken.

    Returns
    -------
    str or None
        None when the store already held the series, else the path of the imported file.

    Raises
    ------
    DataNotFoundError
        When the series is missing and no file was found: the message names the folders
        looked in and the command that imports or downloads it.
    """
    from grekko_research.data.files import find_data_files, import_file
    from grekko_research.data.store import ParquetStore
    from grekko_research.errors import DataNotFoundError

    store = store if store is not None else ParquetStore(data_dir())
    if store.exists(key):
        return None
    wanted = list(files)
    for relative in wanted:
        path = shared_file(relative)
        if path is not None:
            import_file(path, key, store=store)
            return str(path)
    if not wanted:
        sample = sample_data_dir()
        found = find_data_files(sample, key) if sample is not None else []
        if found:
            import_file(found[0], key, store=store)
            return str(found[0])
    shared = shared_data_dir()
    looked = f"the shared data folder {shared}" if shared else "no shared data folder"
    if wanted:
        how = "; ".join(import_command(f, store.root) for f in wanted)
    else:
        kind = "" if key.kind == "ohlcv" else f" --kind {key.kind}"
        tf = f" --timeframe {key.timeframe}" if key.timeframe else ""
        how = (
            f"grekko data download --exchange {key.exchange} --market {key.market}"
            f" --symbol {key.symbol}{tf}{kind} --data-dir {shlex.quote(str(store.root))}"
        )
    raise DataNotFoundError(
        f"{key.label()} is not in the store at {store.root} and {looked} has no file for it "
        f"(set GREKKO_SHARED_DATA to the folder of the shared data); run: {how}"
    )


_FOLDERS = {"data": data_dir, "runs": runs_dir, "reports": reports_dir}


def _resolve_folder(name: str) -> str:
    if name not in _FOLDERS:
        raise ValueError(f"${{grekko_path:{name}}}: expected one of {', '.join(_FOLDERS)}")
    return str(_FOLDERS[name]())


def register_resolvers() -> None:
    """Register ``${grekko_path:runs}`` (also ``data``, ``reports``) for ``conf/`` files."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("grekko_path"):
        # Not cached: a changed GREKKO_RUNS_DIR is seen by the next composition.
        OmegaConf.register_new_resolver("grekko_path", _resolve_folder, use_cache=False)
