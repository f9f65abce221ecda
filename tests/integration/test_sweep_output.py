"""``grekko sweep`` shows its result: what its counts mean, the charts, the best tearsheet."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_sweep_prints_its_charts_tearsheet_and_what_its_counts_mean(
    research_store: Path, tmp_path: Path
) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = tmp_path / "optuna.log"
    cmd = [
        sys.executable, "-m", "grekko_research.cli", "sweep", "optimize=quick",
        "optimize.n_trials=8", f"optimize.storage={storage}",
        f"experiment.output_dir={tmp_path / 'runs'}",
    ]  # fmt: skip
    env = {**os.environ, "GREKKO_DATA_DIR": str(research_store), "COLUMNS": "250"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    folder = Path(out.strip().splitlines()[-1])
    summary = json.loads((folder / "summary.json").read_text())

    # The out-of-sample equity chart, interactive and static, in the sweep's folder.
    chart = re.search(r"out-of-sample chart: (\S+)", out)
    assert chart and Path(chart[1]) == folder / "oos_equity.html"
    page = (folder / "oos_equity.html").read_text(encoding="utf-8")
    assert '<script src="plotly.min.js"' in page and "fold 1" in page
    assert (folder / "oos_equity.png").read_bytes()[:4] == b"\x89PNG"
    assert re.search(r"out-of-sample equity 10,000 → \S+: [▁▂▃▄▅▆▇█]{20,}", out), out
    # The best parameters' tearsheet.
    sheet = re.search(r"best params' tearsheet: (\S+)", out)
    assert sheet and Path(sheet[1]).is_file() and Path(sheet[1]).parent.parent.parent == folder
    best = json.loads((Path(sheet[1]).parent / "metrics.json").read_text())
    assert best["params"] == summary["best_params"]

    # Every count explained: finished = scored + pruned + unscored + refused, and the
    # overfitting statistics' trial count is the scored one.
    counts = summary["trials"]
    assert counts["finished"] == summary["n_trials"] == 8
    assert sum(counts[k] for k in ("scored", "pruned", "unscored", "refused")) == 8
    assert summary["overfitting"]["n_trials"] == counts["scored"]
    assert f"full-sample study: 8 finished trials ({counts['scored']} scored" in out
    assert f"overfitting statistics use the {counts['scored']} scored trials" in out
    assert "2 walk-forward fold studies of 8 trials each" in out

    # optuna-dashboard names the objective.
    study = optuna.load_study(
        study_name=f"{summary['study']}/full",
        storage=JournalStorage(JournalFileBackend(str(storage))),
    )
    assert study.metric_names == ["sharpe_ratio"]
    assert "best sharpe_ratio" in out  # the progress bars name it too


def test_sparkline_scales_to_its_range() -> None:
    from grekko_research.reports.sweep import sparkline

    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8], width=8) == "▁▂▃▄▅▆▇█"
    assert sparkline([5.0] * 10, width=4) == "▅▅▅▅"
    assert len(sparkline(range(1000), width=48)) == 48
    assert sparkline([], width=10) == ""
