"""A real two-node Ray cluster and a PostgreSQL server on 127.0.0.1, each started once per session.

The cluster is ``ray start --head`` plus a second ``ray start --address`` (a worker node),
one CPU each, no dashboard, no metrics agent, the smallest object store Ray takes, every
port chosen free. It listens on 127.0.0.2 (loopback): Ray rewrites 127.0.0.1 and
``localhost`` to the machine's outward address, which the nodes do not listen on.
Both run in their own process groups, which teardown ends (never ``ray stop``: it would end
every Ray of the machine). The nodes' workers import this tree's code (``PYTHONPATH``) and
share the test process's numba cache.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.peers.postgres import find_bin, postgres_server

REPO = Path(__file__).resolve().parents[2]
HOST = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _node_ports() -> list[str]:
    """Every port a node opens, chosen free (two nodes share this host)."""
    lo = _free_port()
    return [
        f"--node-manager-port={_free_port()}",
        f"--object-manager-port={_free_port()}",
        f"--dashboard-agent-listen-port={_free_port()}",
        f"--dashboard-agent-grpc-port={_free_port()}",
        f"--metrics-export-port={_free_port()}",
        f"--runtime-env-agent-port={_free_port()}",
        # the workers' range: a small window above a free port
        f"--min-worker-port={min(lo, 65000)}",
        f"--max-worker-port={min(lo, 65000) + 30}",
    ]


class RayCluster:
    """The running cluster: its address and its node processes."""

    def __init__(self, address: str, procs: list[subprocess.Popen[bytes]], kill_dir: Path):
        self.address = address
        self.procs = procs
        self.kill_dir = kill_dir  # a file "kill" here: the next KillOnceSma trial's worker dies


def _wait_for_port(
    port: int, procs: list[subprocess.Popen[bytes]], timeout_s: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a Ray node exited during startup (see its log)")
        with socket.socket() as s:
            if s.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"the Ray head did not listen on {HOST}:{port}")


def _wait_for_nodes(
    address: str, count: int, procs: list[subprocess.Popen[bytes]], timeout_s: float = 120.0
) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        dead = [p.args for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a Ray node exited during startup: {dead[0]} (see its log)")
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except Exception as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cannot join the Ray cluster at {address}: {e}") from e
                time.sleep(0.5)
                continue
        alive = [n for n in ray.nodes() if n["Alive"]]
        if len(alive) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(alive)} of {count} Ray nodes came up")
        time.sleep(0.5)


def _favour() -> None:
    """Run a node ahead of the machine's other work where allowed (root): its raylet waits
    only ~15 s for its agents' start, which a loaded 2-core machine can otherwise miss."""
    with contextlib.suppress(OSError):
        os.nice(-10)


def _start(exe: str, temp: Path, env: dict[str, str], logs: list[Any]) -> tuple[str, list[Any]]:
    """Start the head and the worker node; return the address and the node processes.

    ``ray start`` gives a node's raylet fixed waits (~30 s) for its agents, which a loaded
    2-core machine can miss: the caller starts the whole cluster again then.
    """
    import ray

    port = _free_port()
    address = f"{HOST}:{port}"
    common = ["--num-cpus=1", "--object-store-memory=80000000", "--disable-usage-stats",
              "--block", "--log-style=record"]  # fmt: skip
    head = [exe, "start", "--head", f"--node-ip-address={HOST}", f"--port={port}",
            "--include-dashboard=false", f"--temp-dir={temp}", *common, *_node_ports()]  # fmt: skip
    worker = [exe, "start", f"--address={address}", f"--node-ip-address={HOST}",
              *common, *_node_ports()]  # fmt: skip
    procs: list[Any] = []
    try:
        procs.append(subprocess.Popen(head, env=env, stdout=logs[0], stderr=subprocess.STDOUT,
                                      start_new_session=True, preexec_fn=_favour))  # fmt: skip
        _wait_for_port(port, procs)  # the worker node joins once the head's GCS listens
        _wait_for_nodes(address, 1, procs)
        procs.append(subprocess.Popen(worker, env=env, stdout=logs[1], stderr=subprocess.STDOUT,
                                      start_new_session=True, preexec_fn=_favour))  # fmt: skip
        _wait_for_nodes(address, 2, procs)
    except BaseException:
        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(procs):
            _end_group(p)
        raise
    return address, procs


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    """A head node and a worker node, one CPU each; the test process joins as the driver."""
    # Imported here: `import ray` costs seconds, and only these tests need it.
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (grekko[ray])")
    exe = str(Path(sys.executable).parent / "ray")
    temp = Path(tempfile.mkdtemp(prefix="grk-ray-"))  # short: Ray's socket paths must fit
    # jsonschema (imported by every Ray process) imports rfc3987_syntax when installed (jupyter
    # brings it), which builds a grammar for ~4 s of CPU: on a loaded machine the node's agent
    # then misses its raylet's fixed ~15 s start window. The nodes get a stub that declines
    # (jsonschema skips that one format check, which Ray does not use).
    shims = temp / "shims" / "rfc3987_syntax"
    shims.mkdir(parents=True)
    (shims / "__init__.py").write_text('raise ImportError("not loaded by the test cluster")\n')
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(temp / "shims"), str(REPO), os.environ.get("PYTHONPATH", "")]
        ).rstrip(os.pathsep),
        "RAY_USAGE_STATS_ENABLED": "0",
        # Nothing here reads metrics: no metrics collection; waits that can be set, long.
        "RAY_enable_metrics_collection": "0",
        "RAY_agent_register_timeout_ms": "240000",
        "RAY_raylet_start_wait_time_s": "240",
        "GREKKO_TEST_KILL_DIR": str(temp / "kill"),  # tests/distributed/_workload.py
    }
    (temp / "kill").mkdir()
    logs = [open(temp / f"node{i}.log", "wb") for i in range(2)]  # noqa: SIM115
    procs: list[Any] = []
    try:
        for attempt in range(3):
            try:
                address, procs = _start(exe, temp, env, logs)
                break
            except RuntimeError as e:
                if attempt == 2:
                    for f in logs:
                        f.flush()
                    tails = [(temp / f"node{i}.log").read_text(errors="replace")[-1500:]
                             for i in range(2)]  # fmt: skip
                    raise RuntimeError(
                        f"{e}\n--- head ---\n{tails[0]}\n--- worker ---\n{tails[1]}"
                    ) from e
        yield RayCluster(address, procs, temp / "kill")
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for p in reversed(procs):
            _end_group(p)
        for f in logs:
            f.close()
        shutil.rmtree(temp, ignore_errors=True)


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """End a node: SIGTERM to its process group (ray start, raylet, workers), then SIGKILL."""
    for sig, wait_s in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:
            with contextlib.suppress(ProcessLookupError):  # children the leader left behind
                os.killpg(proc.pid, signal.SIGKILL)
        return


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A throw-away PostgreSQL server for the studies, the series table and MLflow."""
    if find_bin("initdb") is None:
        pytest.skip("PostgreSQL is not installed (make install adds Debian's postgresql)")
    with postgres_server() as url:
        yield url


def new_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url``; return its URL."""
    import psycopg

    base = "postgresql://" + url.split("://", 1)[1]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
