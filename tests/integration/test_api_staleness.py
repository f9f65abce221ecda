"""A frozen runner is seen by the status API: the README's rehearsal (``grekko-live sim
--speed 3600`` and a live run on it, each its own process) is frozen with SIGSTOP; within its
limit (2 bars on the run's clock, the market's: 2 wall seconds at 3600×) ``/health`` says
``degraded`` with the reason, ``/risk`` holds ``stale_data`` and ``/metrics`` says stale; after
SIGCONT the run catches up and all three recover. Before, ``/health`` stayed ok and measured
the age against the wall clock (six years on the simulator's market clock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from live.api import ApiTokens, FlagFileControl, LogHub, create_app
from tests.integration.test_live_rehearsal import ENV, README_RUN
from tests.peers.sim_cli import sim_process

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

READ = "stale-read-token-0123456789"


@pytest.fixture
def runner(shared_data: Path, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """The rehearsal's runner process, and its event log once it exists."""
    with sim_process(shared_data, ENV, speed=3600) as url:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from live.cli import main; main()", *README_RUN,
             "--venue-url", url, "--state-dir", str(tmp_path)],
            env={**os.environ, **ENV, "GREKKO_SHARED_DATA": str(shared_data)},
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not (logs := list(tmp_path.glob("*/events.db"))):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the runner never opened its log"
                time.sleep(0.1)
            yield proc, logs[0]
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _until(check: Callable[[], Any], timeout: float, what: str) -> float:
    """Poll ``check`` until truthy; return the seconds it took."""
    t0 = time.monotonic()
    while not check():
        assert time.monotonic() - t0 < timeout, what
        time.sleep(0.05)
    return time.monotonic() - t0


def test_a_frozen_runner_degrades_health_within_its_limit_and_recovers(
    runner: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, log = runner
    hub = LogHub(log, poll_s=0.05)
    app = create_app(hub, FlagFileControl(log.parent), ApiTokens.of([READ], []))
    auth = {"Authorization": f"Bearer {READ}"}
    with TestClient(app) as client:
        health = lambda: client.get("/health").json()  # noqa: E731
        metric = lambda name: [  # noqa: E731
            float(line.split()[-1])
            for line in client.get("/metrics", headers=auth).text.splitlines()
            if line.startswith(name + " ")
        ]
        # Trading, on the simulator's market clock: ages in market time, no six-year age.
        _until(lambda: hub.fold.bars >= 5 and health()["status"] == "ok", 90, str(health()))
        h = health()
        assert h["ok"] and h["clock"] == "market" and 3000 < h["clock_rate"] < 4300, h
        assert h["stale_after_s"] == 7200 and 0 <= h["last_bar_age_s"] < 7200, h
        assert abs(h["last_event_age_s"]) < 7200, h
        assert metric("grekko_data_stale") == [0.0]

        os.kill(proc.pid, signal.SIGSTOP)
        # The hub polls the log: let it fold what the runner wrote just before the stop.
        frozen_at = -1
        while frozen_at != hub.fold.last_seq:
            frozen_at = hub.fold.last_seq
            time.sleep(0.5)
        waited = _until(lambda: health()["status"] == "degraded", 20, str(health()))
        # The limit: 2 bars = 2 wall s at 3600×, from the last bar's close (at most a bar
        # and the runner's lag before the freeze), plus the hub's polling.
        assert waited < 6.0, waited
        r = client.get("/health")
        assert r.status_code == 503 and not r.json()["ok"]
        assert any(x.startswith("stale_data: last bar closed") for x in r.json()["reasons"])
        risk = client.get("/risk", headers=auth).json()
        assert risk["state"] == "HALTED" and risk["reason"].startswith("stale_data")
        assert [h["rule"] for h in risk["holds"]] == ["stale_data"]
        assert metric("grekko_data_stale") == [1.0]
        (age,) = metric("grekko_data_age_seconds")
        assert age > 7200 == metric("grekko_data_stale_after_seconds")[0]
        assert hub.fold.last_seq == frozen_at, "a frozen runner logs nothing"

        os.kill(proc.pid, signal.SIGCONT)
        _until(lambda: health()["status"] == "ok", 30, str(health()))
        assert hub.fold.last_seq > frozen_at
        assert client.get("/risk", headers=auth).json()["holds"] == []
        assert metric("grekko_data_stale") == [0.0]
    hub.close()
