"""Grekko's research library: market data, strategies, backtests and sweeps.

The command line is ``grekko``; the live-trading bridge (``live``) builds on
this package and is never imported by it.
"""

from __future__ import annotations

import functools

from grekko_research._numba_cache import configure as _configure_numba_cache

__all__ = ["__version__"]

_configure_numba_cache()  # before any kernel is compiled or loaded (see _numba_cache)


@functools.cache
def _version() -> str:
    # importlib.metadata costs ~40 ms: read on first use, not on every `grekko --help`
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("grekko")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        return _version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
