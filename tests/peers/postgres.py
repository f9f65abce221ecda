"""A real PostgreSQL server on 127.0.0.1 for tests: a throw-away cluster in a temporary folder.

Uses the machine's PostgreSQL binaries (Debian's ``postgresql`` package; the
Makefile installs it when missing). As root, the cluster runs as the
``postgres`` system user, because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["find_bin", "postgres_server"]


def find_bin(name: str) -> str | None:
    """Return the path of a PostgreSQL program (PATH first, then Debian's versioned folders)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server(user: str = "grekko", *, fsync: bool = False) -> Iterator[str]:
    """Start a cluster in a fresh temporary folder; yield its SQLAlchemy URL; stop and remove it.

    ``fsync`` False (the tests: nothing they check survives the server) skips the WAL flushes;
    True keeps PostgreSQL's default, for benchmarks of durable commits.

    The folder is made outside pytest's (root-only) temporary tree so that
    the ``postgres`` user can use it when the tests run as root.
    """
    initdb, pg_ctl = find_bin("initdb"), find_bin("pg_ctl")
    if not (initdb and pg_ctl):
        raise RuntimeError("PostgreSQL is not installed (make install adds Debian's postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="grekko-pg-"))
    data = folder / "pgdata"
    data.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(data, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    run = {"check": True, "capture_output": True, "text": True}
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", user], **run)  # type: ignore[call-overload]
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1" + (
        "" if fsync else " -c fsync=off"
    )
    log = folder / "server.log"
    subprocess.run(
        [*prefix, pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"], **run
    )  # type: ignore[call-overload]
    try:
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], check=False,
                       capture_output=True)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
