"""What ``grekko`` prints is for people: help without noise, tables that fit 80 columns and pipes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from grekko_research.cli import app

REPO = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "80", **(env or {})})


def _every_command() -> list[list[str]]:
    root = typer.main.get_command(app)
    ctx = typer.Context(root)
    out: list[list[str]] = [[]]
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        out.append([name])
        command = root.resolve_command(ctx, [name])[1]  # type: ignore[attr-defined]
        out += [[name, sub] for sub in getattr(command, "commands", {})]
    return out


@pytest.mark.parametrize("path", _every_command(), ids=lambda p: " ".join(p) or "grekko")
def test_help_has_no_type_noise_and_keeps_its_words(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "<bool>" not in text and "``" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    # rich markup used to eat "[env GREKKO_DATA_DIR; ./data]", leaving "Store folder ."
    assert not re.search(r"\w \.\s", text.replace("...", "")), text


def test_listed_help_is_each_commands_own() -> None:
    from grekko_research.cli import _COMMANDS, load_command

    for name, (_, _, short) in _COMMANDS.items():
        command = load_command(name)
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert short == first, name


def test_help_imports_no_heavy_module() -> None:
    code = textwrap.dedent(
        """
        import sys
        from typer.testing import CliRunner
        from grekko_research.cli import app
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0, result.output
        heavy = {"numpy", "pandas", "ccxt", "numba", "optuna", "mlflow", "plotly", "matplotlib",
                 "hydra", "importlib.metadata"}  # the last: grekko's version, read when asked
        heavy = sorted(heavy & set(sys.modules))
        print(heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_backtest_table_fits_80_columns_with_units(research_store: Path, tmp_path: Path) -> None:
    result = invoke(
        "backtest",
        "strategy=donchian_trend",
        "--output-dir",
        str(tmp_path),
        env={"GREKKO_DATA_DIR": str(research_store)},
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    lines = text.splitlines()
    assert max(len(line) for line in lines[:-1]) <= 80  # the last line is the run folder
    assert not any(ch in text for ch in "│┃━─"), "piped output is plain text"
    assert "params entry_window=20, exit_window=10, atr_window=20, atr_stop=2, short=false" in text
    assert re.search(r"max drawdown duration +[\d,]+ bars \([\d.,]+ d\)", text), text
    assert re.search(r"average trade duration +[\d.,]+ bars \([\d.,]+ (h|d)\)", text), text
    assert re.search(r"total return +-?[\d.,]+%", text)
    assert "np.float64" not in text and not re.search(r"\d\.\d{7,}", text)
    doc = json.loads((Path(lines[-1]) / "metrics.json").read_text())
    assert f"config_id {doc['config_id']}" in text


def test_compile_notice_only_when_numba_compiles(tmp_path: Path) -> None:
    (tmp_path / "kern.py").write_text(
        "from numba import njit\n\n@njit(cache=True)\ndef plus(x):\n    return x + 1\n"
    )
    code = textwrap.dedent(
        """
        from rich.console import Console
        from grekko_research.cli._compile_notice import compile_notice
        from kern import plus
        with compile_notice(Console(stderr=True, width=200)):
            assert plus(1) == 2
        """
    )
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(tmp_path)}
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        for _ in range(2)
    ]
    assert re.search(r"compiling kernels, once, ~\d+ s", runs[0].stderr), runs[0].stderr
    assert "compiled 1 kernel signatures in" in runs[0].stderr
    assert runs[1].stderr == "", "a warm cache compiles nothing and says nothing"


def test_research_hints_are_runnable_and_promote_only_when_gates_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from grekko_research.cli import run as run_cli

    bin_dir = Path(sys.executable).parent
    hints = run_cli.research_commands(
        uri="sqlite:////tmp/x runs/mlruns.db",
        storage="sqlite:////tmp/x runs/optuna.db",
        sweep_id="abc123",
        runs_dir=Path("/tmp/x runs"),
        promotable=False,
    )
    assert hints["promote"] is None
    mlflow = hints["mlflow"].split()[0]
    assert Path(mlflow).is_absolute() or mlflow.startswith(".venv/")
    assert Path(mlflow).name == "mlflow" and (bin_dir / "mlflow").is_file()
    assert "'sqlite:////tmp/x runs/mlruns.db'" in hints["mlflow"]  # quoted: copy-paste safe
    research = {
        "backtest": {"final_equity": 1.0, "sharpe_ratio": 0.5, "tearsheet": "t.html"},
        "sweep": {"out_of_sample": {}, "best_params": {"fast": 12, "slow": 40.123456789123}},
        "gates": [{"gate": "pbo", "value": 0.61234567, "rule": "<= 0.5", "ok": False}],
        "verdict": "not promotable",
        "commands": hints,
    }
    run_cli._render_research(research)
    out = capsys.readouterr().out
    assert "promote abc123" not in out and "Not promotable: pbo failed" in out
    assert "slow=40.12" in out and "0.6123" in out
    passing = run_cli.research_commands(
        uri="sqlite:////r/mlruns.db",
        storage="sqlite:////r/optuna.db",
        sweep_id="abc123",
        runs_dir=Path("/r"),
        promotable=True,
    )
    assert passing["promote"] is not None
    assert "promote abc123 --name sma_cross_btc" in passing["promote"]
