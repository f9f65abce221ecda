"""Load on the status API of a live run, as an operator's tools and a stranger's would make it.

``grekko-live api`` runs in its own process over a run's event log while a writer appends a
realistic stream (decisions, each order's life to its fill, risk breaches) and, at once:

- ``clients`` HTTP clients with the read token loop over the read routes (``/strategies``,
  ``/positions``, ``/orders``, ``/fills``, ``/pnl``, ``/risk``, ``/metrics``, ``/health``);
- ``strangers`` clients without a token or with a wrong one hit the same routes, ``/kill`` and
  the websockets;
- ``subscribers`` websocket clients (spread over the topics) collect what they are sent.

:func:`run_load` returns what an acceptance needs (failed authenticated requests, successful
unauthenticated ones, for each subscriber whether it got exactly its topic's events in log
order) and what a benchmark reports (requests, latencies, the API process's CPU time, its
stderr bytes). Used by ``tests/integration/test_api_load.py`` (small) and
``benchmarks/api_load.py`` (full size).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from live.api.hub import TOPICS, topics_of
from live.events import EventStore
from live.orders import Ack, FillReport, Intent, OrderManager
from tests.peers.sim_cli import free_port

READ_ROUTES = ("/strategies", "/positions", "/orders?limit=50", "/fills?limit=50", "/pnl",
               "/risk", "/metrics", "/health")  # fmt: skip
ROOT = Path(__file__).resolve().parents[2]
RUN_ID = "load-run"
T0 = 1_700_000_000_000
MIN_CALLS = 10  # every client makes at least this many calls, however slow the machine


@dataclass
class LoadResult:
    """What one load run measured."""

    seconds: float = 0.0
    requests: int = 0
    latencies_s: list[float] = field(default_factory=list)
    auth_failures: list[str] = field(default_factory=list)
    stranger_requests: int = 0
    stranger_successes: list[str] = field(default_factory=list)
    stranger_errors: int = 0  # timeouts and resets: not let in, not refused in time either
    subscribers: int = 0
    ws_incomplete: list[str] = field(default_factory=list)  # topic: what was wrong
    ws_messages: int = 0
    events_written: int = 0
    api_cpu_s: float = 0.0
    api_stderr_bytes: int = 0


def seed_log(path: Path) -> None:
    """A run's first events (what the API needs to fold it)."""
    with EventStore.open(path) as store:
        store.append_many([("run_started", "runner", {
            "run_id": RUN_ID, "strategy": "sma_cross", "params": {"fast": 3, "slow": 8},
            "symbols": ["BTC/USDT"], "timeframe": "1h", "venue": "paper", "mode": "paper",
            "feed": "replay", "config_id": "load", "baseline": {"BTC/USDT": "0"},
        }, T0)])  # fmt: skip


def write(path: Path, seconds: float, every_s: float = 0.01) -> int:
    """Append one bar's worth of events every ``every_s`` for ``seconds``: a decision with one
    intent, the order created → submitted → acknowledged → filled, and every 5th bar a risk
    breach (so every topic streams). Returns how many events were written. Run it in its own
    process (:func:`start_writer`), as the runner is: a writer thread would hold the clients'
    interpreter."""
    om = OrderManager()
    side = "buy"
    written = 0
    until = time.monotonic() + seconds
    with EventStore.open(path) as store:
        i = 0
        while time.monotonic() < until:
            t = T0 + (i + 1) * 3_600_000
            intent = Intent(RUN_ID, "BTC/USDT", side, Decimal("0.01"), t, seq=0)  # type: ignore[arg-type]
            cid = intent.client_id
            events = (
                om.create(intent, t) + om.mark_submitted(cid, t)
                + om.apply(Ack(cid, f"v{i}"), t)
                + om.apply(FillReport(cid, f"t{i}", "0.01", "41000", fee="0.41",
                                      fee_asset="USDT"), t)
            )  # fmt: skip
            drafts = [("decision", "runner", {"ts": t, "intents": [cid], "refused": []}, t)]
            drafts += [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
            if i % 5 == 4:
                drafts.append(("risk_breach", "risk", {"rule": "load", "reason": "x"}, t))
            store.append_many(drafts)
            written += len(drafts)
            side = "sell" if side == "buy" else "buy"
            i += 1
            time.sleep(every_s)
    return written


def start_writer(path: Path, seconds: float, every_s: float) -> subprocess.Popen[str]:
    """:func:`write` in its own process; its standard output is the count."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from tests.peers.api_load import write;"
        " print(write(*sys.argv[2:3], *map(float, sys.argv[3:5])))"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(ROOT), str(path), str(seconds), str(every_s)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


class ApiProcess:
    """``grekko-live api`` over ``log`` in its own process (stderr to a file, to be counted)."""

    def __init__(self, log: Path, read: str, control: str, stderr: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self._stderr = stderr.open("wb")
        self.stderr_path = stderr
        env = {**os.environ, "GREKKO_API_READ_TOKEN": read, "GREKKO_API_CONTROL_TOKEN": control}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from live.cli import main; main()", "api", "--events",
             str(log), "--port", str(self.port)],
            env=env, stdout=subprocess.DEVNULL, stderr=self._stderr,
        )  # fmt: skip
        self.ps = psutil.Process(self.proc.pid)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "grekko-live api exited: " + self.stderr_path.read_text()[-2000:]
                )
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code in (200, 503):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("grekko-live api did not answer in time")

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return float(t.user + t.system)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._stderr.close()


async def _client(
    api: ApiProcess, token: str, until: float, out: LoadResult, k: int, routes: tuple[str, ...]
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as c:
        i = k
        while time.monotonic() < until or i - k < MIN_CALLS:
            route = routes[i % len(routes)]
            i += 1
            t = time.perf_counter()
            try:
                r = await c.get(route)
                ok = r.status_code == 200 or (route == "/health" and r.status_code == 503)
                what = f"{route}: {r.status_code}"
            except httpx.HTTPError as e:
                ok, what = False, f"{route}: {type(e).__name__}"
            out.latencies_s.append(time.perf_counter() - t)
            out.requests += 1
            if not ok:
                out.auth_failures.append(what)


async def _stranger(api: ApiProcess, until: float, out: LoadResult, k: int) -> None:
    headers = {} if k % 2 else {"Authorization": "Bearer not-a-token-" + str(k)}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as c:
        i = k
        while time.monotonic() < until or i - k < MIN_CALLS:
            i += 1
            out.stranger_requests += 1
            if i % 10 == 0:  # a websocket with a wrong token
                try:
                    async with connect(f"{api.ws_url}/ws/orders?token=nope{k}", open_timeout=10):
                        out.stranger_successes.append("ws /ws/orders accepted")
                except InvalidStatus as e:
                    if e.response.status_code != 401:
                        out.stranger_successes.append(f"ws: {e.response.status_code}")
                except (OSError, TimeoutError, WebSocketException):
                    out.stranger_errors += 1  # not let in either (a slow machine's timeout)
                continue
            try:
                if i % 10 == 5:
                    r = await c.post("/kill", json={"reason": "stranger", "flatten": True})
                else:
                    r = await c.get(READ_ROUTES[i % (len(READ_ROUTES) - 1)])  # not /health
            except httpx.HTTPError:
                out.stranger_errors += 1
                continue
            if r.status_code != 401:
                out.stranger_successes.append(f"{r.request.method} {r.request.url.path}: "
                                              f"{r.status_code}")  # fmt: skip


async def _subscriber(
    api: ApiProcess, token: str, topic: str, ready: asyncio.Event, done: asyncio.Event,
    got: list[int],
) -> None:  # fmt: skip
    url = f"{api.ws_url}/ws/{topic}"
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                       open_timeout=30, max_queue=None) as ws:  # fmt: skip
        ready.set()
        while not done.is_set():
            try:
                async with asyncio.timeout(0.2):  # (wait_for can lose a cancellation on 3.11)
                    raw = await ws.recv()
            except TimeoutError:
                continue
            msg = json.loads(raw)
            if msg.get("topic") != topic:
                got.append(-1)
            got.append(int(msg["seq"]))


async def _load(api: ApiProcess, log: Path, read: str, *, clients: int, strangers: int,
                subscribers: int, seconds: float, write_every_s: float,
                routes: tuple[str, ...]) -> LoadResult:  # fmt: skip
    out = LoadResult(subscribers=subscribers)
    done = asyncio.Event()
    topics = [TOPICS[i % len(TOPICS)] for i in range(subscribers)]
    received: list[list[int]] = [[] for _ in topics]
    readies = [asyncio.Event() for _ in topics]
    subs = [asyncio.ensure_future(_subscriber(api, read, t, r, done, g))
            for t, r, g in zip(topics, readies, received, strict=True)]  # fmt: skip
    try:
        return await _measure(api, log, read, out, topics, received, readies, subs,
                              clients=clients, strangers=strangers, seconds=seconds,
                              write_every_s=write_every_s, routes=routes)  # fmt: skip
    finally:
        done.set()
        await asyncio.gather(*subs, return_exceptions=True)


async def _measure(api: ApiProcess, log: Path, read: str, out: LoadResult, topics: list[str],
                   received: list[list[int]], readies: list[asyncio.Event],
                   subs: list[asyncio.Future[None]], *, clients: int, strangers: int,
                   seconds: float, write_every_s: float,
                   routes: tuple[str, ...]) -> LoadResult:  # fmt: skip
    async with asyncio.timeout(120):  # every subscriber connected (or one failed: raise it)
        pending = {asyncio.ensure_future(r.wait()) for r in readies}
        while pending:
            dead = [f for f in subs if f.done()]
            if dead:
                for f in pending:
                    f.cancel()
                dead[0].result()
                raise RuntimeError("a subscriber ended before the load started")
            _, pending = await asyncio.wait(pending, timeout=0.1)
    with EventStore.open(log) as store:
        head = store.head()
    start_seq = head.seq if head is not None else 0
    cpu0, err0, t0 = api.cpu_s(), api.stderr_path.stat().st_size, time.monotonic()
    until = t0 + seconds
    writer = start_writer(log, seconds, write_every_s)
    await asyncio.gather(
        *(_client(api, read, until, out, k, routes) for k in range(clients)),
        *(_stranger(api, until, out, k) for k in range(strangers)),
    )
    written, _ = await asyncio.get_running_loop().run_in_executor(None, writer.communicate)
    out.seconds = time.monotonic() - t0
    out.api_cpu_s = api.cpu_s() - cpu0
    out.api_stderr_bytes = api.stderr_path.stat().st_size - err0
    if writer.returncode != 0:
        raise RuntimeError(f"the log writer failed ({writer.returncode})")
    out.events_written = int(written.strip())
    with EventStore.open(log) as store:
        expected = {t: [e.seq for e in store.read(after_seq=start_seq) if t in topics_of(e)]
                    for t in TOPICS}  # fmt: skip
    deadline = time.monotonic() + 30  # let the last events reach every subscriber
    while time.monotonic() < deadline and any(
        len(g) < len(expected[t]) for t, g in zip(topics, received, strict=True)
    ):
        await asyncio.sleep(0.05)
    for i, (t, g) in enumerate(zip(topics, received, strict=True)):
        out.ws_messages += len(g)
        if g != expected[t]:
            missing = len(set(expected[t]) - set(g))
            out.ws_incomplete.append(
                f"subscriber {i} ({t}): {len(g)} messages, {len(expected[t])} expected, "
                f"{missing} missing, in order: {g == sorted(g)}"
            )
    return out


def run_load(workdir: Path, *, clients: int = 20, strangers: int = 10, subscribers: int = 40,
             seconds: float = 3.0, write_every_s: float = 0.01,
             before: Callable[[ApiProcess], Any] | None = None,
             routes: tuple[str, ...] = READ_ROUTES) -> LoadResult:  # fmt: skip
    """Start ``grekko-live api`` on a fresh log in ``workdir``, load it, stop it (``before``
    is called once the API answers, right before the load starts)."""
    log = workdir / "run" / "events.db"
    log.parent.mkdir(parents=True, exist_ok=True)
    seed_log(log)
    read, control = "load-read-" + "r" * 24, "load-control-" + "c" * 24
    api = ApiProcess(log, read, control, workdir / "api-stderr.log")
    try:
        api.wait_ready()
        if before is not None:
            before(api)
        return asyncio.run(_load(api, log, read, clients=clients, strangers=strangers,
                                 subscribers=subscribers, seconds=seconds,
                                 write_every_s=write_every_s, routes=routes))  # fmt: skip
    finally:
        api.close()
