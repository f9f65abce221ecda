"""The live-replay parity check of a sweep, through the ``grekko-live parity`` command.

``grekko_research`` never imports ``live``: the check runs ``grekko-live parity --json``
in a subprocess, with the sweep's own Hydra overrides, the best parameters, the last
out-of-sample window and a fresh state folder. The replay starts (``data.start``) the
strategy's declared warm-up (``Strategy.warmup`` of the best parameters) before the window,
as the sweep scored the window (``optimize.evaluate``): a strategy whose warm-up is longer
than the window (a walk-forward model) decides on the window's bars too. That command
backtests the configuration, replays the same bars through the live runner and the
paper venue, and compares fills, closed trades and final equity exactly
(:mod:`live.parity`). Its JSON verdict is what the sweep records; exit status 0 =
same, 3 = different, anything else = the check could not run (recorded as failed,
with the command's error).

The command is found as ``grekko-live`` beside the running interpreter (the venv's
script), else on ``PATH``; ``GREKKO_LIVE_COMMAND`` overrides it (a command line,
split like a shell's).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["live_command", "parity_overrides", "run_parity_check"]

DIFFERS = 3


def live_command() -> list[str]:
    """The ``grekko-live`` command line (see the module's docstring)."""
    given = os.environ.get("GREKKO_LIVE_COMMAND")
    if given:
        return shlex.split(given)
    here = Path(sys.executable).parent / "grekko-live"
    if here.is_file():
        return [str(here)]
    found = shutil.which("grekko-live")
    if found:
        return [found]
    return [sys.executable, "-c", "from live.cli import main; main()"]


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, float):
        return repr(v)
    return str(v) if isinstance(v, int) else json.dumps(str(v))


def parity_overrides(
    overrides: Sequence[str], params: Mapping[str, Any], start: str, state_dir: Path
) -> list[str]:
    """The sweep's overrides with the chosen parameters, the window's start and a state folder."""
    keep = [
        o for o in overrides if not o.lstrip("+~").startswith(("data.start=", "live.", "live="))
    ]
    out = keep + [f"strategy.params.{k}={_value(v)}" for k, v in params.items()]
    fixed = [f"data.start={start}", f"live.state_dir={state_dir}", "live.mode=paper",
             "live.venue=paper", "live.feed=replay"]  # fmt: skip
    return [*out, *fixed]


def run_parity_check(
    overrides: Sequence[str],
    params: Mapping[str, Any],
    window: Mapping[str, Any],
    *,
    timeout: float = 1800.0,
) -> dict[str, Any]:
    """Replay ``params`` on ``window`` (the sweep's ``last_oos``) through grekko-live; the verdict.

    The replay starts at ``window["warmup_start"]`` (the warm-up before the window) when
    given, else at ``window["start"]``. Returns ``{"passed", "first_difference", "fills",
    "trades", "bars", "window", "command"}``; ``passed`` is False with ``error`` when the
    check could not run.
    """
    start = str(window.get("warmup_start") or window["start"]).replace(" ", "T")
    with tempfile.TemporaryDirectory(prefix="grekko-parity-") as tmp:
        args = parity_overrides(overrides, params, start, Path(tmp))
        cmd = [*live_command(), "parity", "--json", *args]
        shown = "grekko-live parity " + " ".join(shlex.quote(a) for a in args[:-4])
        keys = ("start", "end", "bars", "warmup_start", "warmup_bars")
        base: dict[str, Any] = {"window": {k: window[k] for k in keys if k in window},
                                "command": shown}  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return {**base, "passed": False, "first_difference": None, "error": str(exc)}
    lines = done.stdout.strip().splitlines()
    if done.returncode in (0, DIFFERS) and lines:
        try:
            verdict = json.loads(lines[-1])
        except json.JSONDecodeError:
            verdict = None
        if isinstance(verdict, dict) and "passed" in verdict:
            verdict.pop("events", None)  # inside the deleted temporary folder
            return {**base, **verdict, "passed": bool(verdict["passed"])}
    tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
    error = f"exit status {done.returncode}: " + " | ".join(tail)
    return {**base, "passed": False, "first_difference": None, "error": error}
