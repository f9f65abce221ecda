"""What the web console's tests share: Debian's chromium driven by Playwright (one browser per
module), a folder for the screenshots, and a status API served on a free port in a thread.

The screenshots go to ``.cache/test-artifacts/console/`` in the checkout (ignored by git), or
to ``$GREKKO_TEST_ARTIFACTS/console``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from live.api import ApiTokens, FlagFileControl, LogHub, api_server, create_app

REPO = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    root = os.environ.get("GREKKO_TEST_ARTIFACTS")
    folder = (Path(root) if root else REPO / ".cache" / "test-artifacts") / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _no_tracking_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """The research pages read the runs folder's own MLflow store unless MLFLOW_TRACKING_URI is
    set. ``mlflow.set_tracking_uri`` (called in-process by model registration in other tests
    of the same worker) writes that variable into the process environment, and the pages then
    listed another store's runs: these tests run without it."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return artifacts_dir()


def chromium_path() -> str:
    """Debian's chromium (``make install`` installs it): Playwright's own download is not
    used, the tests run offline."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium not found: run `make install` (it installs Debian's chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # root in a container has no user namespace for the sandbox; /dev/shm is small.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


@dataclass
class Served:
    """A status API over one run's log, on a free port, in a thread."""

    url: str
    hub: LogHub
    events: Path
    logs: list[str] = field(default_factory=list)


@dataclass
class PageLog:
    """What a page said: console errors, uncaught exceptions, every URL it asked for."""

    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))


def serve(
    events: Path,
    read: str,
    control: str,
    *,
    stale_bars: float = 2.0,
    runs_dir: Path | None = None,
    data_dir: Path | None = None,
    shared_dir: Path | None = None,
) -> Iterator[Served]:
    """Serve the status API of ``events`` (port 0: a free one) until the generator closes
    (``runs_dir``: the research pages' runs folder; ``data_dir``, ``shared_dir``: the market
    pages' store and shared data folder)."""
    hub = LogHub(events, poll_s=0.05, stale_bars=stale_bars)
    tokens = ApiTokens.of([read], [control])
    app = create_app(
        hub,
        FlagFileControl(events.parent),
        tokens,
        runs_dir=runs_dir,
        data_dir=data_dir,
        shared_dir=shared_dir,
    )
    server = api_server(app, "127.0.0.1", 0, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True, name="console-test-api")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", hub, events)
    finally:
        server.should_exit = True
        thread.join(30)
        hub.close()


def wait_until(what: str, check: Any, timeout: float = 120.0, every: float = 0.1) -> Any:
    """Poll ``check()`` until it returns something truthy (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# -- a runs folder for the research pages ------------------------------------------------------

RESEARCH_DATA = ["data=btc_1h", "data.start=2021-01-01", "data.end=2021-03-01"]


@dataclass
class ResearchFolder:
    """A runs folder written by real backtests: two runs (sma_cross fast 12 and 10; b also in
    the folder's MLflow store) and a sweep folder (``sweeps/<study>/<time>``) holding its best
    run, summary.json and gates.json."""

    root: Path
    a: str
    b: str
    sweep: str
    best: str
    summary: dict[str, Any]
    gates: list[dict[str, Any]]
    mlflow: str  # the MLflow run id of b


@pytest.fixture(scope="session")
def research_folder(research_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    import json

    from grekko_research.config import compose_config
    from grekko_research.data.store import ParquetStore
    from grekko_research.promote import evaluate_gates, gate_rows
    from grekko_research.runs import run_backtest, write_run
    from grekko_research.tracking import log_backtest

    root = tmp_path_factory.mktemp("research-runs")
    store = ParquetStore(research_store)
    made = {}
    for fast in (12, 10):
        cfg = compose_config(["strategy=sma_cross", f"strategy.params.fast={fast}", *RESEARCH_DATA])
        run = run_backtest(cfg, store=store)
        made[fast] = write_run(run, root)
    # run b is also tracked, as `grekko backtest --track` does, in the runs folder's own store
    mlflow_id = log_backtest(run, made[10], uri=f"sqlite:///{(root / 'mlruns.db').as_posix()}")
    # A sweep folder as `grekko sweep` lays it out, its best run written by the library; the
    # summary's numbers are made up, its gates evaluated by grekko_research.promote.
    sweep = root / "sweeps" / "sma_cross-test-sharpe_ratio" / "20260101T000000"
    sweep.mkdir(parents=True)
    cfg = compose_config(["strategy=sma_cross", "strategy.params.fast=8", *RESEARCH_DATA])
    best = write_run(run_backtest(cfg, store=store), sweep)
    summary = {
        "study": "sma_cross-test-sharpe_ratio",
        "storage": "sqlite:///optuna.db",
        "strategy": "sma_cross",
        "objective": "sharpe_ratio",
        "out_of_sample": {"sharpe_ratio": 1.4, "max_drawdown": -0.12, "total_return": 0.31},
        "overfitting": {"deflated_sharpe_eff": 0.97, "pbo": 0.62},
        "in_sample": {"trade_count": 40},
        "best_params": {"fast": 8, "slow": 30},
        "n_trials": 20,
        "robustness": {"pvalue_random_entries": 0.01},
        "parity": None,
        "parity_passed": None,
    }
    gates = gate_rows(evaluate_gates(summary, cfg.promote))
    (sweep / "summary.json").write_text(json.dumps(summary))
    (sweep / "gates.json").write_text(json.dumps(gates))
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    return ResearchFolder(
        root, rel(made[12]), rel(made[10]), rel(sweep), rel(best), summary, gates, mlflow_id
    )


# -- a replayed run and real market data for the market pages ---------------------------------

REPLAY_BARS = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
REPLAY_WINDOW = ("2021-01-04", "2021-01-08")
DAILY_BTC = "ohlcv/binance-spot_BTC-USDT_1d__sky1241.csv.gz"
ETH_CAPTURE = "binance-spot_ETH-USDT_20240808T2354Z-20240809T0000Z__hftbacktest"


@pytest.fixture(scope="session")
def replayed_log(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from typer.testing import CliRunner

    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore
    from live.cli import app

    store = tmp_path_factory.mktemp("console-store")
    import_file(shared_data / REPLAY_BARS, store=ParquetStore(store))
    state = tmp_path_factory.mktemp("console-state")
    result = CliRunner().invoke(
        app,
        ["replay", "--strategy", "sma_cross", "--params", "fast=2", "--params", "slow=5",
         "--state-dir", str(state), f"data.start={REPLAY_WINDOW[0]}", f"data.end={REPLAY_WINDOW[1]}",
         "risk=conservative"],
        env={"GREKKO_DATA_DIR": str(store)},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def market_folder(shared: Path, root: Path, broken: bool = False) -> Path:
    """A shared data folder of links to a few real files (the daily and hourly BTC candles, the
    ETH/USDT depth capture and its trades), so the market routes list a handful, not the whole folder;
    ``broken``: with a candle file whose row 3 has its high below its low."""
    for rel in (
        DAILY_BTC,
        REPLAY_BARS,
        f"orderbook/{ETH_CAPTURE}_depth_snapshot.csv",
        f"orderbook/{ETH_CAPTURE}_depth_diffs.csv.gz",
        f"orderbook/{ETH_CAPTURE}_bbo.csv.gz",
        f"trades/{ETH_CAPTURE}_trades.csv",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(shared / rel)
    if broken:
        (root / "ohlcv" / "binance-spot_ETH-USDT_1d__broken.csv").write_text(
            "timestamp,open,high,low,close,volume\n"
            "1600000000000,10,11,9,10,1\n"
            "1600086400000,10,11,9,10,1\n"
            "1600172800000,10,8,9,10,1\n"
        )
    return root
