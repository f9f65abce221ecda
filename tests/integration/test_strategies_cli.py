"""``grekko strategies list|new``, and a generated plugin package used end to end in a fresh venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.cli import app

REPO = Path(__file__).resolve().parents[2]


def grekko(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "80", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_every_strategy_with_params_bounds_and_warmup() -> None:
    code, out, err = grekko("strategies", "list")
    assert code == 0, err
    for name in ("sma_cross", "rsi_mean_reversion", "donchian_trend", "xs_momentum"):
        assert name in out
    assert "fast = 10 [2, 100]" in out and "slow = 50 [5, 400]" in out
    assert "50 bars" in out  # sma_cross's warm-up at its defaults
    assert "atr_stop = 2 [0.5, 6]" in out
    assert "needs ≥2 symbols" in out and "needs funding_rate" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert not any(ch in out for ch in "│┃━─╭"), "piped output is plain text"
    code, out, _ = grekko("strategies", "list", "--json")
    records = {r["name"]: r for r in json.loads(out)}
    sma = records["sma_cross"]
    assert sma["warmup_bars"] == 50 and sma["package"].startswith("grekko (strategies.sma_cross")
    assert [(p["name"], p["default"], p["low"], p["high"]) for p in sma["params"]] == [
        ("fast", 10, 2, 100),
        ("slow", 50, 5, 400),
    ]


def test_new_writes_a_package_and_never_overwrites(tmp_path: Path) -> None:
    code, out, err = grekko("strategies", "new", "my_trend", "--dir", str(tmp_path))
    assert code == 0, err
    root = tmp_path / "my_trend"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [
        "README.md",
        "my_trend/__init__.py",
        "my_trend/strategy.py",
        "pyproject.toml",
        "tests/test_conformance.py",
    ]
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points."grekko.strategies"]' in pyproject
    assert 'my_trend = "my_trend.strategy:MyTrend"' in pyproject
    source = (root / "my_trend" / "strategy.py").read_text()
    assert "param(" in source and 'stop_loss_kind="atr"' in source
    compile(source, "strategy.py", "exec")
    assert "pip install -e" in out and "grekko backtest strategy=my_trend" in out
    before = (root / "my_trend" / "strategy.py").read_text()
    code, _, err = grekko("strategies", "new", "my_trend", "--dir", str(tmp_path))
    assert code == 1 and "already exists" in err
    assert (root / "my_trend" / "strategy.py").read_text() == before
    for bad in ("My-Trend", "1st", "class", "sma_cross"):
        code, _, err = grekko("strategies", "new", bad, "--dir", str(tmp_path))
        assert code == 1, bad
        assert repr(bad) in " ".join(err.split()), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my_trend"]


@pytest.mark.slow
def test_generated_package_in_a_fresh_venv(research_store: Path, tmp_path: Path) -> None:
    """The README's path for a new strategy, as a user runs it: new, pip install, backtest, test."""
    code, _, err = grekko("strategies", "new", "fresh_idea", "--dir", str(tmp_path))
    assert code == 0, err
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    # the fresh venv sees the project's environment (grekko, numpy, setuptools ...) through a
    # .pth file, as --system-site-packages would for a system install
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # addsitedir also reads that env's own .pth files (the editable install of grekko)
    parent = sysconfig.get_paths()["purelib"]
    Path(site, "project-env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    # `pip install -e` as the README says, built with the project env's own setuptools and
    # wheel (dev extras) rather than an isolated download
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "-e", str(tmp_path / "fresh_idea")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr
    env = {
        **os.environ,
        "GREKKO_DATA_DIR": str(research_store),
        "COLUMNS": "80",
        "PYTHONPATH": "",
    }
    env.pop("GREKKO_CONF_DIR", None)
    listed = subprocess.run(
        [py, "-m", "grekko_research.cli", "strategies", "list", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    mine = {r["name"]: r for r in json.loads(listed.stdout)}["fresh_idea"]
    assert mine["package"] == "grekko-strategy-fresh-idea (fresh_idea.strategy)"
    assert mine["warmup_bars"] == 49 and "error" not in mine
    run = subprocess.run(
        [py, "-m", "grekko_research.cli", "backtest", "strategy=fresh_idea",
         "strategy.params.fast=8", "--output-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    folder = Path(run.stdout.strip().splitlines()[-1])
    doc = json.loads((folder / "metrics.json").read_text())
    assert doc["strategy"] == "fresh_idea"
    assert doc["params"] == {"fast": 8, "slow": 48, "atr_window": 14, "atr_stop": 3.0}
    assert doc["n_trades"] > 0
    tests = subprocess.run(
        [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:nbmake",
         "-o", "addopts=", str(tmp_path / "fresh_idea" / "tests")],
        capture_output=True, text=True, env=env, cwd=tmp_path / "fresh_idea", timeout=900,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "3 passed" in tests.stdout
