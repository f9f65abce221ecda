"""The README, walked as a new user would: a fresh clone outside this checkout's folder, only
``GREKKO_SHARED_DATA`` set, every shell command of the Quickstart, Strategies, Sweeps and
grekko-live sections run in order (plus ``make run``), then both notebooks on a kernel started
at the clone's root.

No network is reached: Binance's public REST API is played by the local peer
(``tests/peers/binance.py``, serving the shared real candles) through ``GREKKO_REST_URL``, the
documented way to point downloads elsewhere; the other stand-ins are listed in
``tests/peers/readme_walk.SUBSTITUTIONS`` and printed at the top of the generated script.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.peers.binance import BinancePeer, load_shared_funding, load_shared_ohlcv
from tests.peers.postgres import find_bin, postgres_server
from tests.peers.readme_walk import REPO, prepare_clone, readme_commands, walk_script

pytestmark = pytest.mark.slow

SECTIONS = (
    "Two commands",
    "Quickstart",
    "Strategies and `grekko backtest`",
    "Sweeps, tracking, promotion, regression",
    "Live trading: `grekko-live`",
)
NOTEBOOKS = ("01_quickstart.ipynb", "02_sweep_and_promote.ipynb")


def test_commands_are_parsed_whole() -> None:
    """The parser keeps continuation lines and loops whole and drops comments (and can fail)."""
    cmds = readme_commands(REPO / "README.md", SECTIONS)
    assert cmds, "no commands found"
    assert all("\\\n" not in c.text and not c.text.startswith("#") for c in cmds)
    loops = [c for c in cmds if c.text.startswith("for ")]
    assert all(c.text.rstrip().endswith("done") for c in loops)
    # `make test` would run this suite again from inside itself.
    assert "make test" in {c.text for c in cmds}


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        _Hook.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def hook_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def binance(shared_data: Path) -> Iterator[BinancePeer]:
    """The public market-data endpoints the README's downloads call, with real candles."""
    peer = BinancePeer()
    ohlcv, funding = shared_data / "ohlcv", shared_data / "funding"
    for base in ("BTC", "ETH"):
        frame = load_shared_ohlcv(ohlcv / f"binance-spot_{base}-USDT_1h__nfi.csv.gz")
        peer.add_klines("spot", f"{base}USDT", "1h", frame)
    peer.add_funding(
        "BTCUSDT", load_shared_funding(funding / "binance-usdm_BTC-USDT-PERP_funding__sky1241.csv")
    )
    mark = load_shared_ohlcv(funding / "binance-usdm-markprice_BTC-USDT-PERP_8h__alpergulsen.csv")
    peer.add_mark_klines("BTCUSDT", "8h", mark)
    with peer:
        yield peer


def _outside_temp_dir(prefix: str) -> Path:
    """A fresh folder outside the checkout's parent (a checkout cloned into /tmp has /tmp as parent)."""
    for base in (None, "/var/tmp", str(Path.home())):
        top = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
        if not top.resolve().is_relative_to(REPO.parent.resolve()):
            return top
        top.rmdir()
    raise AssertionError(f"no temporary folder outside {REPO.parent}")


@pytest.mark.walkthrough  # `make walkthrough`: outside `make test`'s time budget
@pytest.mark.timeout(2400)
@pytest.mark.skipif(find_bin("initdb") is None, reason="PostgreSQL is not installed")
def test_readme_walkthrough(shared_data: Path, binance: BinancePeer, hook_port: int) -> None:
    top = _outside_temp_dir("grekko-walk-")
    assert not top.resolve().is_relative_to(REPO.parent.resolve()), "must be outside the checkout"
    try:
        clone = prepare_clone(top)
        commands = [c for c in readme_commands(clone / "README.md", SECTIONS)
                    if c.text != "make test"]  # fmt: skip
        script = walk_script(commands)
        (top / "walk.sh").write_text(script)
        logs = top / "logs"
        logs.mkdir()
        home = top / "home"
        home.mkdir()
        with postgres_server() as pg_url:
            env = {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": str(home),
                "LANG": "C.UTF-8",
                "GREKKO_SHARED_DATA": str(shared_data),
                # the stand-ins (see the module's docstring)
                "GREKKO_REST_URL": binance.url,
                "WALK_PG_URL": pg_url,
                "WALK_HOOK_PORT": str(hook_port),
                "WALK_LOGS": str(logs),
            }
            proc = subprocess.run(
                ["bash", str(top / "walk.sh")], cwd=clone, env=env, capture_output=True,
                text=True, timeout=1500,
            )  # fmt: skip
        report = proc.stdout[-6000:] + "\n--- stderr ---\n" + proc.stderr[-6000:]
        assert proc.returncode == 0 and "WALK OK" in proc.stdout, report

        # The notebooks, on a kernel whose working folder is the clone's root.
        runner = (
            "import sys, nbformat\n"
            "from nbclient import NotebookClient\n"
            "for name in sys.argv[1:]:\n"
            "    nb = nbformat.read(f'notebooks/{name}', as_version=4)\n"
            "    NotebookClient(nb, timeout=900, resources={'metadata': {'path': '.'}}).execute()\n"
            "    print('notebook ok', name)\n"
        )
        nb = subprocess.run(
            [str(clone / ".venv/bin/python"), "-c", runner, *NOTEBOOKS], cwd=clone,
            env={**env, "PATH": f"{clone / '.venv/bin'}:{env['PATH']}"},
            capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        assert nb.returncode == 0, nb.stdout[-4000:] + nb.stderr[-8000:]
        # One store: the checkout's ./data, never a second one beside the notebooks.
        assert not (clone / "notebooks" / "data").exists()
        assert (clone / "data").is_dir()
        summary = {"commands": len(commands), "logs": sorted(p.name for p in logs.iterdir())}
        print(json.dumps(summary, indent=1))
    finally:
        if os.environ.get("GREKKO_KEEP_WALK"):
            print(f"walk kept in {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
