"""numba's on-disk cache, keyed by the library's sources when it runs from a checkout.

numba checks a cached kernel against the file that defines it, not against the files of the
kernels it inlines. After a ``git pull`` that changes only a helper (a fill rule in
``engine/_orders.py``, say), a kernel defined elsewhere would be loaded from
``__pycache__`` as it was compiled before: stale code, silently. So, unless
``NUMBA_CACHE_DIR`` is set, a checkout keeps its cache in ``.cache/numba/<hash of the
sources>`` (the folder ``make`` and the test suite use): any edit starts a fresh cache. An
installed package needs none of this: installing rewrites every file, and with it every
kernel's own file.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

__all__ = ["configure", "source_hash"]

PACKAGES = ("grekko_research", "strategies", "live")


def source_hash(root: Path) -> str:
    """The first 12 hex digits of SHA-256 over the ``*.py`` files of :data:`PACKAGES` under
    ``root``, in byte order of their paths (what the Makefile's ``find | sort | cat`` hashes)."""
    paths = [p for folder in PACKAGES for p in (root / folder).rglob("*.py")]
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix().encode()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def configure(root: Path | None = None) -> str | None:
    """Point numba's cache at ``<checkout>/.cache/numba/<source hash>`` unless
    ``NUMBA_CACHE_DIR`` is set or the library is not running from a checkout; return the
    folder chosen, or None."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    root = root or Path(__file__).resolve().parent.parent
    if not ((root / "pyproject.toml").is_file() and (root / "conf" / "config.yaml").is_file()):
        return None
    folder = str(root / ".cache" / "numba" / source_hash(root))
    os.environ["NUMBA_CACHE_DIR"] = folder
    numba_config = sys.modules.get("numba.core.config")
    if numba_config is not None:  # numba came first: it read the variable already
        numba_config.CACHE_DIR = folder  # type: ignore[attr-defined]
    return folder
