"""Run the notebooks against a scratch store, never the checkout's ``data/``."""

from __future__ import annotations

import os
import tempfile
from tests.conftest import REPO  # noqa: F401  (also keys NUMBA_CACHE_DIR by the sources)

# Set before nbmake starts any kernel: kernels inherit this process's environment.
os.environ.setdefault("GREKKO_DATA_DIR", tempfile.mkdtemp(prefix="grekko-notebook-store-"))
os.environ.setdefault("GREKKO_SAMPLE_DATA", str(REPO.parent / "shared" / "data" / "ohlcv"))
