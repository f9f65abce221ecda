"""``grekko-live api`` through its real entry point: a well-formed, masked access log.

The redaction that ``grekko-live``'s ``main`` installs must keep log records well-formed:
uvicorn's access formatter unpacks ``record.args``, so a redaction that replaced them (with
``None``) made every request print a logging traceback instead of its access line. Here the
API runs as its own process, exactly as a user starts it, takes requests (authorised by
header, by a ``?token=`` query, refused, unknown routes), and its whole output is read: one
access line per request, no logging error, no token in clear, a bounded size per request.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from live.events import EventStore
from tests.peers.sim_cli import free_port

pytestmark = pytest.mark.timeout(120)

TOKEN = "cnryTOK" + secrets.token_hex(16)
WRONG = "cnryBAD" + secrets.token_hex(16)
MAX_BYTES_PER_REQUEST = 200  # an access line is ~60 bytes; a traceback was ~6 KB


def _event_log(folder: Path) -> Path:
    path = folder / "events.db"
    with EventStore.open(str(path)) as store:
        store.append("note", "test", {"what": "a run's log for the API to serve"}, ts_ms=1)
    return path


def test_access_log_is_well_formed_and_masked(tmp_path: Path) -> None:
    events = _event_log(tmp_path)
    port = free_port()
    output = tmp_path / "api.out"
    env = {**os.environ, "GREKKO_API_READ_TOKEN": TOKEN}
    env.pop("GREKKO_API_CONTROL_TOKEN", None)
    with output.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from live.cli import main; main()", "api", "--events",
             str(events), "--port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, output.read_text()
                try:
                    httpx.get(url + "/health", timeout=1)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, output.read_text()
                    time.sleep(0.2)
            time.sleep(0.3)  # the readiness probes' lines are written
            before = output.stat().st_size
            requests = [
                ("/health", {}, None),
                ("/positions", {"Authorization": f"Bearer {TOKEN}"}, None),
                ("/orders", {}, {"token": TOKEN}),  # the token in the query string: masked
                ("/risk", {"Authorization": f"Bearer {WRONG}"}, None),  # refused
                ("/positions", {}, None),  # no token: refused
                ("/nowhere", {}, None),
            ] * 5
            statuses = []
            with httpx.Client(base_url=url) as client:
                for path, headers, params in requests:
                    statuses.append(client.get(path, headers=headers, params=params).status_code)
            # /health is open; a token in the query is for websockets only; the middleware
            # refuses before routing, so an unknown route without a token is a 401 too.
            assert statuses[0] in (200, 503) and statuses[1:6] == [200, 401, 401, 401, 401]
            time.sleep(0.5)
            size = output.stat().st_size - before
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    text = output.read_text()
    load = text.encode()[before : before + size].decode()
    assert "Logging error" not in text and "Traceback" not in text, text[:3000]
    assert TOKEN not in text and WRONG not in text
    access = [line for line in load.splitlines() if '"GET /' in line and "HTTP/1.1" in line]
    assert len(access) == len(requests), load[:3000]
    for line, (path, _, params), status in zip(access, requests, statuses, strict=True):
        assert f'"GET {path}' in line and str(status) in line, line
        if params:  # the query's token is masked, the rest of the line kept
            assert "token=***" in line, line
    assert size <= MAX_BYTES_PER_REQUEST * len(requests), f"{size} bytes for {len(requests)}"
