"""``grekko-live sim`` in its own process, for tests that need a running market clock."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def sim_process(
    shared_data: Path,
    env: Mapping[str, str],
    *,
    start: str = "2021-01-10",
    speed: float = 3600.0,
    symbols: str = "BTC/USDT",
) -> Iterator[str]:
    """Run ``grekko-live sim`` replaying ``symbols`` hourly bars from ``start`` at ``speed``
    (market seconds per wall second) with the keys in ``env``; yield its REST URL."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from live.cli import main; main()", "sim", "--symbols", symbols,
         "--timeframe", "1h", "--start", start, "--speed", str(speed), "--port",
         str(free_port())],
        env={**os.environ, **env, "GREKKO_SHARED_DATA": str(shared_data)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    url = None
    while time.monotonic() < deadline and url is None:
        line = proc.stdout.readline()
        if not line:
            break
        if "REST http" in line:
            url = line.split("REST ")[1].split()[0]
    try:
        if url is None:
            raise RuntimeError("grekko-live sim did not start: " + (proc.stdout.read() or ""))
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
