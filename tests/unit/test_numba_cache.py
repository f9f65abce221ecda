"""A checkout's numba cache is keyed by its sources: an edit anywhere starts a fresh cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grekko_research._numba_cache import configure, source_hash

REPO = Path(__file__).resolve().parents[2]


def _checkout(root: Path) -> Path:
    (root / "conf").mkdir(parents=True)
    (root / "conf" / "config.yaml").write_text("{}\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    for folder in ("grekko_research/engine", "strategies", "live"):
        (root / folder).mkdir(parents=True)
    (root / "grekko_research" / "engine" / "_orders.py").write_text("RULE = 1\n")
    (root / "live" / "a.py").write_text("A = 1\n")
    return root


def test_an_edit_to_any_source_changes_the_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _checkout(tmp_path / "repo")
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    first = configure(root)
    assert first == str(root / ".cache" / "numba" / source_hash(root))
    assert os.environ["NUMBA_CACHE_DIR"] == first
    (root / "grekko_research" / "engine" / "_orders.py").write_text("RULE = 2\n")  # same size
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    assert configure(root) not in (None, first)
    monkeypatch.setenv("NUMBA_CACHE_DIR", "/somewhere")  # the user's choice wins
    assert configure(root) is None and os.environ["NUMBA_CACHE_DIR"] == "/somewhere"


def test_not_a_checkout_leaves_numba_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    (tmp_path / "grekko_research").mkdir()
    assert configure(tmp_path) is None
    assert "NUMBA_CACHE_DIR" not in os.environ


def test_importing_the_library_from_the_checkout_keys_numba_by_the_sources() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    code = (
        "import numba.core.config as c, grekko_research, os; "
        "print(os.environ['NUMBA_CACHE_DIR']); print(c.CACHE_DIR)"
    )  # numba imported first: its config is pointed there too
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout.split()  # fmt: skip
    want = str(REPO / ".cache" / "numba" / source_hash(REPO))
    assert out == [want, want]
