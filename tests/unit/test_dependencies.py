"""Dependency rules: the library never imports the live bridge; the engine does not load ccxt."""

from __future__ import annotations

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_library_never_imports_live() -> None:
    loaded = _modules_after(
        "import grekko_research.cli, grekko_research.engine.grid, grekko_research.data.load"
    )
    assert "grekko_research.cli" in loaded
    assert not any(m == "live" or m.startswith("live.") for m in loaded)


def test_engine_does_not_pay_for_ccxt() -> None:
    loaded = _modules_after("import grekko_research.engine")
    assert "grekko_research.engine" in loaded
    assert "ccxt" not in loaded
    assert "grekko_research.data.download" not in loaded
