"""Run the notebooks as a user does: against the store every command uses.

No environment is set here. A notebook resolves its folders with :mod:`grekko_research.paths`
(``$GREKKO_DATA_DIR``, else the checkout's ``data/``; the shared data folder from
``$GREKKO_SHARED_DATA``, else ``../shared/data`` beside the checkout), the same way whether
nbmake starts the kernel in ``notebooks/`` or JupyterLab starts it in the checkout, so
the test run exercises the resolution itself and never makes a second store.
"""

from __future__ import annotations

from tests.conftest import REPO  # noqa: F401  (also keys NUMBA_CACHE_DIR by the sources)
