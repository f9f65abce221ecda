"""What a fresh process pays for the engine: imports, and no compilation a warm cache could spare.

Structural checks in fresh interpreters (``benchmarks/engine_startup.py`` measures the
memory and time): pandas (and pyarrow behind it) load only when a frame is asked for, so a
process that only backtests or runs grids never pays for pandas' import (about 60 MB and a
quarter of a second); and the same backtest given read-only inputs (pandas 3's
``to_numpy()``) runs the kernels already compiled for numpy arrays instead of compiling a
read-only variant.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.engine.api import _isna

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("pandas", "pyarrow")


def _run(code: str) -> str:
    """Run ``code`` in a fresh interpreter (this checkout's package, the same numba cache)."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return out.stdout


def _modules_after(code: str) -> set[str]:
    return set(_run(f"{code}\nimport sys\nprint('\\n'.join(sys.modules))").split())


@pytest.mark.parametrize(
    "code",
    [
        "import grekko_research.engine",
        "import grekko_research.engine.grid",
        "import grekko_research.metrics",
        "from grekko_research.data import Bars",
    ],
)
def test_import_does_not_load_pandas(code: str) -> None:
    loaded = _modules_after(code)
    assert "grekko_research" in loaded
    assert not [m for m in HEAVY if m in loaded], f"{code!r} imported {HEAVY}"


def test_backtest_without_frames_does_not_load_pandas() -> None:
    """A backtest read through arrays (equity, records, metrics) never imports pandas."""
    loaded = _modules_after(
        "import numpy as np\n"
        "from grekko_research.data.bars import Bars\n"
        "from grekko_research.engine import Signals, backtest\n"
        "n = 300\n"
        "c = (100 + np.cumsum(np.sin(np.arange(n) / 7.0)))[:, None]\n"
        "bars = Bars(index=np.arange(n, dtype=np.int64) * 60_000, symbols=('A/USDT',),\n"
        "            timeframe='1m', open=c, high=c + 1, low=c - 1, close=c,\n"
        "            volume=np.ones((n, 1)))\n"
        "e = np.zeros(n, bool); x = np.zeros(n, bool); e[10::40] = True; x[30::40] = True\n"
        "for kernel in ('lean', 'general'):\n"
        "    r = backtest(bars, Signals(e.astype(float), x), kernel=kernel)\n"
        "    assert r.n_trades > 0 and r.equity.shape == (n,)\n"
        "    assert np.isfinite(r.metrics['sharpe_ratio'])\n"
    )
    assert "grekko_research.engine.nb" in loaded
    assert "pandas" not in loaded


def test_frames_still_come_as_pandas() -> None:
    """Asking for a frame imports pandas on demand and returns the same types as before."""
    loaded = _modules_after(
        "import numpy as np\n"
        "from grekko_research.data.bars import Bars\n"
        "from grekko_research.engine import Signals, backtest\n"
        "n = 100\n"
        "c = np.linspace(100, 120, n)[:, None]\n"
        "bars = Bars(index=np.arange(n, dtype=np.int64) * 60_000, symbols=('A/USDT',),\n"
        "            timeframe='1m', open=c, high=c, low=c, close=c, volume=np.ones((n, 1)))\n"
        "e = np.zeros(n, bool); e[5] = True\n"
        "r = backtest(bars, Signals(e))\n"
        "import pandas as pd\n"
        "assert isinstance(r.orders, pd.DataFrame) and isinstance(r.equity_series(), pd.Series)\n"
        "assert isinstance(bars.datetime_index, pd.DatetimeIndex)\n"
    )
    assert "pandas" in loaded


def test_read_only_and_pandas_inputs_reuse_the_compiled_kernels() -> None:
    """One signature per kernel whether signals come as numpy, read-only or pandas arrays."""
    out = _run(
        "import numpy as np, pandas as pd\n"
        "from grekko_research.data.bars import Bars\n"
        "from grekko_research.engine import Signals, TargetPositions, backtest\n"
        "from grekko_research.engine.nb import simulate_nb\n"
        "from grekko_research.engine.nb_fast import simulate_simple_nb\n"
        "n = 200\n"
        "c = (100 + np.cumsum(np.sin(np.arange(n) / 5.0)))[:, None]\n"
        "bars = Bars(index=np.arange(n, dtype=np.int64) * 60_000, symbols=('A/USDT',),\n"
        "            timeframe='1m', open=c, high=c + 1, low=c - 1, close=c,\n"
        "            volume=np.ones((n, 1)))\n"
        "e = np.zeros(n, bool); x = np.zeros(n, bool); e[10::40] = True; x[30::40] = True\n"
        "ro = e.copy(); ro.setflags(write=False)\n"
        "tgt = np.where(e, 0.5, np.nan)\n"
        "frame = pd.DataFrame({'A/USDT': tgt})\n"
        "runs = [(Signals(e, x), k) for k in ('lean', 'general')]\n"
        "runs += [(Signals(pd.Series(e), pd.Series(x)), k) for k in ('lean', 'general')]\n"
        "runs += [(Signals(ro, x), k) for k in ('lean', 'general')]\n"
        "runs += [(TargetPositions(tgt), 'auto'), (TargetPositions(frame), 'auto')]\n"
        "first = {}\n"
        "for signals, kernel in runs:\n"
        "    r = backtest(bars, signals, kernel=kernel)\n"
        "    first.setdefault((type(signals), kernel), r.final_equity)\n"
        "    assert r.final_equity == first[(type(signals), kernel)]\n"
        "print('lean', len(simulate_simple_nb.signatures))\n"
        "print('general', len(simulate_nb.signatures))\n"
    )
    counts = dict(line.split() for line in out.splitlines())
    # lean: backtest's records pass and its replay share one signature
    assert counts == {"lean": "1", "general": "1"}, out


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.0, np.nan, 1.0]),
        np.array([1, 0, 1]),
        np.array([True, False]),
        np.array([1.0, None, np.nan, pd.NA, 0], dtype=object),
        np.array(["2021-01-01", "NaT"], dtype="datetime64[ms]"),
        np.zeros((2, 3)),
    ],
)
def test_isna_matches_pandas(values: np.ndarray) -> None:
    np.testing.assert_array_equal(_isna(values), pd.isna(values))
