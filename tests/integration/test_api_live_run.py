"""The status API following a paper run that trades in another process: uvicorn serving real
HTTP and websocket clients, the log tailed while the runner appends to it, the kill flag file
written through HTTP, and no token in the server's logs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from live.api import KILL_FILE, ApiTokens, FlagFileControl, LogHub, api_server, create_app
from live.events import EventStore
from live.state import fold_run

pytestmark = pytest.mark.timeout(120)

READ = "read-" + secrets.token_urlsafe(24)
CONTROL = "ctl-" + secrets.token_urlsafe(24)
RUN = ["--venue", "paper", "--strategy", "sma_cross", "--params", "fast=5", "--params", "slow=20",
       "live.run_id=api-live"]  # fmt: skip


@pytest.fixture(scope="module")
def store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore

    root = tmp_path_factory.mktemp("api-live-store")
    import_file(
        shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", store=ParquetStore(root)
    )
    return root


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def served(store: Path, tmp_path: Path) -> Iterator[tuple[str, Path, Records]]:
    """A first paper run's log, served by uvicorn on a free port."""
    from live.cli import app

    state = tmp_path / "state"
    result = CliRunner().invoke(
        app,
        ["run", *RUN, "--state-dir", str(state), "data.start=2021-01-04", "data.end=2021-01-07"],
        env={"GREKKO_DATA_DIR": str(store)},
    )
    assert result.exit_code == 0, result.output
    events = Path(result.stdout.strip().splitlines()[-1])
    hub = LogHub(events, poll_s=0.02)
    server = api_server(
        create_app(hub, FlagFileControl(events.parent), ApiTokens.of([READ], [CONTROL])),
        "127.0.0.1",
        0,
        log_level="info",
    )
    records = Records()
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addHandler(records)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}", events, records
    finally:
        server.should_exit = True
        thread.join(10)
        for name in ("uvicorn.access", "uvicorn.error"):
            logging.getLogger(name).removeHandler(records)
        hub.close()


async def collect(ws: ClientConnection, out: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))
        except TimeoutError:
            continue


def test_the_api_follows_a_run_in_another_process(
    served: tuple[str, Path, Records], store: Path
) -> None:
    addr, events, records = served
    auth = {"Authorization": f"Bearer {READ}"}
    with EventStore.open(events) as log:
        seq0 = log.head().seq  # type: ignore[union-attr]

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        async with httpx.AsyncClient(base_url=f"http://{addr}") as http:
            assert (await http.get("/strategies")).status_code == 401
            (run,) = (await http.get("/strategies", headers=auth)).json()
            assert run["run_id"] == "api-live" and run["mode"] == "paper"
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"ws://{addr}/ws/fills?token=not-{READ}")
        assert refused.value.response.status_code == 401
        fills: list[dict[str, Any]] = []
        signals: list[dict[str, Any]] = []
        stop = asyncio.Event()
        async with (
            connect(f"ws://{addr}/ws/fills?token={READ}") as ws_fills,
            connect(f"ws://{addr}/ws/signals", additional_headers=auth) as ws_signals,
        ):
            tasks = [
                asyncio.create_task(collect(ws_fills, fills, stop)),
                asyncio.create_task(collect(ws_signals, signals, stop)),
            ]
            # The runner trades on, in its own process, appending to the same log.
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from live.cli import main; main()", "run", *RUN,
                "--state-dir", str(events.parent.parent),
                "data.start=2021-01-07", "data.end=2021-01-20",
                env={**os.environ, "GREKKO_DATA_DIR": str(store)},
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, err.decode()
            with EventStore.open(events) as log:
                last_decision = max(e.seq for e in log.read(kinds=["decision"]))
            deadline = time.monotonic() + 10
            while not signals or signals[-1]["seq"] < last_decision:
                assert time.monotonic() < deadline, "the signals stream stopped short"
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.2)
            stop.set()
            await asyncio.gather(*tasks)
        return fills, signals

    fills, signals = asyncio.run(scenario())

    with EventStore.open(events) as log:
        logged = list(log.read())
    new = [e for e in logged if e.seq > seq0]
    assert [m["seq"] for m in fills] == [e.seq for e in new if e.kind == "order_fill"]
    assert [m["seq"] for m in signals] == [e.seq for e in new if e.kind == "decision"]
    assert len(fills) > 0 and len(signals) > 100
    assert {m["kind"] for m in fills} == {"order_fill"} and {m["topic"] for m in fills} == {"fills"}

    state = fold_run(logged)
    with httpx.Client(base_url=f"http://{addr}", headers=auth) as http:
        orders = http.get("/orders").json()
        assert [o["client_id"] for o in orders] == [o.client_id for o in state.orders]
        metrics = http.get("/metrics").text
        n_fills = sum(e.kind == "order_fill" for e in logged)
        assert f"grekko_fills_total {float(n_fills)}" in metrics.splitlines()
        assert http.get("/strategies").json()[0]["restarts"] == 1

        # Control through HTTP: a read token may not, a control token writes the flag file.
        flag = events.parent / KILL_FILE
        body = {"reason": "integration test", "flatten": False}
        assert http.post("/kill", json=body).status_code == 403 and not flag.exists()
        control = {"Authorization": f"Bearer {CONTROL}"}
        assert http.post("/kill", json=body, headers=control).status_code == 202
        assert json.loads(flag.read_text())["reason"] == "integration test"
        assert http.post("/resume", json={"reason": "done"}, headers=control).status_code == 202
        assert not flag.exists()

    logged_text = "\n".join(records.lines)
    assert "/ws/fills?token=***" in logged_text  # uvicorn logged the path, redacted
    assert READ not in logged_text and CONTROL not in logged_text
