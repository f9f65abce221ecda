"""The engine's compile options: the bar loops run without numba's runtime, and degrade safely.

``njit_no_runtime`` relies on numba's private ``_nrt`` option and ``njit_inline`` on
``forceinline``; a numba without them must still import and run the engine (plain ``njit``,
a warning), never fail at the first compile with ``Unrecognized options``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from grekko_research.engine import _state, nb, nb_fast

ROOT = Path(__file__).resolve().parents[3]


def test_the_bar_loops_compile_without_the_memory_runtime() -> None:
    assert _state.NO_RUNTIME, "this numba lost '_nrt': the bar loops count references again"
    for loop in (nb._run_bars, nb_fast._simulate_one_nb, nb_fast._simulate_many_nb):
        assert loop.targetoptions.get("_nrt") is False, loop.py_func.__name__


def test_unknown_options_are_detected() -> None:
    assert _state._cpu_option("_nrt")
    assert _state._cpu_option("forceinline")
    assert not _state._cpu_option("_no_such_option")


# Runs in a fresh interpreter: numba's CPU target loses both options before the engine imports.
_WITHOUT_OPTIONS = """
import warnings
import numpy as np
from numba.core.cpu import CPUTargetOptions
for cls in CPUTargetOptions.__mro__:
    for name in ("_nrt", "forceinline"):
        if name in vars(cls):
            delattr(cls, name)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from grekko_research.engine import _state
assert not _state.NO_RUNTIME
assert any("no '_nrt' jit option" in str(w.message) for w in caught), [str(w.message) for w in caught]

@_state.njit_no_runtime
def total(x):
    s = 0.0
    for v in x:
        s += v
    return s

@_state.njit_inline
def twice(v):
    return 2.0 * v

assert total(np.arange(4.0)) == 6.0 and twice(1.5) == 3.0
print("fallback ok")
"""


def test_a_numba_without_the_options_falls_back_to_plain_njit(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    script = tmp_path / "without_options.py"  # a file: cached kernels need one
    script.write_text(_WITHOUT_OPTIONS)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "fallback ok" in proc.stdout
