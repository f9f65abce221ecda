"""Grekko's research library: market data, strategies, backtests and sweeps.

The command line is ``grekko``; the live-trading bridge (``live``) builds on
this package and is never imported by it.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("grekko")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = ["__version__"]
