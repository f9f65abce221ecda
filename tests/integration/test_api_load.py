"""The status API under load, in its own process (``grekko-live api``): tens of HTTP clients with
the read token, strangers without one or with a wrong one, and tens of websocket subscribers
while the run's log grows. Every authenticated request succeeds, no unauthenticated one does,
and every subscriber receives every event of its topic, once, in log order. The full-size run
with throughput, latency and CPU figures is ``benchmarks/api_load.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers.api_load import run_load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def test_the_api_under_load_serves_every_client_and_refuses_every_stranger(
    tmp_path: Path,
) -> None:
    r = run_load(tmp_path, clients=20, strangers=10, subscribers=40, seconds=3.0)
    assert r.requests >= 20 * 10 and r.stranger_requests >= 10 * 10, r
    assert r.auth_failures == [], r.auth_failures[:10]
    assert r.stranger_successes == [], r.stranger_successes[:10]
    assert r.stranger_errors == 0, r.stranger_errors  # every stranger got its 401
    assert r.events_written > 50, r.events_written
    assert r.ws_incomplete == [], r.ws_incomplete[:10]
    assert r.ws_messages > r.subscribers * 10
    # Logging stays bounded: no traceback per request (uvicorn's access lines only).
    assert r.api_stderr_bytes < 400 * (r.requests + r.stranger_requests), r.api_stderr_bytes
