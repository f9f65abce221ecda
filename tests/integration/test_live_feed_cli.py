"""``grekko-live feed`` end to end: its own process, against ``grekko-live sim`` (another process,
replaying the January 2021 BTC/USDT trades in real time) through the real ccxt client; /metrics
is served while it runs, a summary is printed at the end and the recording lands in a tick store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from grekko_research.data.ticks import TickKey, TickStore
from tests.peers.sim_cli import sim_process

ENV = {
    "GREKKO_BINANCE_API_KEY": "feed-key-0123456789",
    "GREKKO_BINANCE_API_SECRET": "feed-secret-0123",
}


def _metric(text: str, name: str) -> float | None:
    m = re.search(rf'^{name}{{symbol="BTC/USDT"}} (\S+)$', text, re.M)
    return None if m is None else float(m.group(1))


def test_the_feed_command_serves_metrics_prints_a_summary_and_records(
    shared_data: Path, tmp_path: Path
) -> None:
    record = tmp_path / "ticks"
    with sim_process(shared_data, ENV, start="2021-01-08", speed=1.0) as url:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "160",
            "GREKKO_SHARED_DATA": str(shared_data),
        }
        for name in ENV:  # the feed reads public data only: no credentials in its environment
            env.pop(name, None)
        proc = subprocess.Popen(
            [sys.executable, "-c", "from live.cli import main; main()", "feed", "BTC/USDT",
             "--venue", "binance", "--venue-url", url, "--seconds", "30", "--metrics-port", "0",
             "--every", "5", "--record", str(record)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        lines: list[str] = []
        metrics_url = None
        deadline = time.monotonic() + 120
        while metrics_url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("metrics http"):
                metrics_url = line.split()[1]
        assert metrics_url is not None, "".join(lines)
        # while it runs: the book in sequence and the trades counted, on /metrics
        seen = ""
        while time.monotonic() < deadline and proc.poll() is None:
            seen = urllib.request.urlopen(metrics_url, timeout=10).read().decode()
            if (
                _metric(seen, "grekko_book_synced") == 1.0
                and (_metric(seen, "grekko_trades_total") or 0) > 0
            ):
                break
            time.sleep(0.5)
        assert _metric(seen, "grekko_book_synced") == 1.0, seen[-2000:]
        assert (_metric(seen, "grekko_trades_total") or 0) > 0
        assert "grekko_analysis_message_seconds_bucket" in seen
        rest, _ = proc.communicate(timeout=180)
    out = "".join(lines) + rest
    assert proc.returncode == 0, out
    # the summary: the book synced with its top, trades, latency
    rows = [line for line in out.splitlines() if "BTC/USDT" in line and "│" in line]
    assert len(rows) == 1 and "yes" in rows[0], out
    row = rows[0]
    trades = int(row.split("│")[-3].strip().replace(",", ""))
    assert trades > 0, row
    assert re.search(r"messages \(.* depth, .* trades\) in .* s, .*/s; processing p50 \S+ µs", out)
    assert "recorded binance spot BTC/USDT trades" in out
    # the recording: what it counted, and the book's snapshot and diffs
    store = TickStore(record)
    got = store.read(TickKey.make("trades", "binance", "BTC/USDT"))
    assert len(got) == trades
    depth = store.read(TickKey.make("depth", "binance", "BTC/USDT"))
    assert depth.snapshot.sum() > 0 and (depth.snapshot == 0).any()
    assert store.metadata(TickKey.make("depth", "binance", "BTC/USDT"))["tick_size"]
