"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from grekko_research._numba_cache import source_hash

REPO = Path(__file__).resolve().parents[1]

# numba's cache notices edits to a kernel's own file only, not to kernels it calls in other
# files: the suite's cache is keyed by the sources (as grekko_research does for a checkout).
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba" / source_hash(REPO)))
# A live run without a configured log key makes one (~/.config/grekko/events.key by default):
# the suite's live runs keep theirs in a temporary folder, never in the user's home.
os.environ.setdefault(
    "GREKKO_EVENTS_KEY_FILE",
    str(Path(tempfile.mkdtemp(prefix="grekko-test-keys-")) / "events.key"),
)


def _fresh_sanctions_list() -> str:
    """A current sanctions list (the fixture's parties, published today) in a temporary folder:
    on-chain senders refuse everything without one (fail closed; tests/compliance tests that)."""
    import dataclasses
    import time
    from datetime import UTC, datetime

    from grekko_research.compliance.sanctions import build_list, save_list

    folder = Path(tempfile.mkdtemp(prefix="grekko-test-compliance-"))
    now_ms = int(time.time() * 1000)
    with (REPO / "tests" / "compliance" / "fixtures" / "sdn_advanced_small.xml").open("rb") as f:
        sanctions = build_list(f, source="tests/compliance/fixtures", now_ms=now_ms)
    today = datetime.fromtimestamp(now_ms / 1000, UTC).date().isoformat()
    save_list(folder, dataclasses.replace(sanctions, publish_date=today))
    return str(folder)


if "GREKKO_COMPLIANCE_DIR" not in os.environ:
    os.environ["GREKKO_COMPLIANCE_DIR"] = _fresh_sanctions_list()


def shared_data_dir() -> Path:
    """Return the folder of real market data (``$GREKKO_SHARED_DATA`` or ``../shared/data``)."""
    return Path(os.environ.get("GREKKO_SHARED_DATA") or REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real market data from the shared folder; the suite needs it, so absence is an error."""
    path = shared_data_dir()
    if not (path / "ohlcv").is_dir():
        pytest.fail(f"real market data not found at {path}; set GREKKO_SHARED_DATA")
    return path


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An empty data directory for one test."""
    path = tmp_path / "store"
    path.mkdir()
    return path


# Real files the research tests import into one store (a session's worth of work, done once).
RESEARCH_FILES = (
    "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz",
    "ohlcv/binance-spot_ETH-USDT_1h__nfi.csv.gz",
    "ohlcv/binance-spot_BTC-USDT_4h__octobot.csv.gz",
    "ohlcv/binance-spot_BTC-USDT_1d__sky1241.csv.gz",
    *(
        f"ohlcv/binance-usdm_{s}-USDT-PERP_1h__alpergulsen.csv.gz"
        for s in ("BTC", "ETH", "SOL", "XRP", "BNB")
    ),
    "funding/binance-usdm_BTC-USDT-PERP_funding__alpergulsen.csv",
    "funding/binance-usdm_ETH-USDT-PERP_funding__alpergulsen.csv",
)


@pytest.fixture(scope="session")
def research_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding real spot (1h, 4h, 1d), USD-M perpetual (1h) and funding series."""
    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore

    root = tmp_path_factory.mktemp("research-store")
    store = ParquetStore(root)
    for name in RESEARCH_FILES:
        import_file(shared_data / name, store=store)
    return root


# -- real Binance spot candles for the simulator scenarios (tests/unit/live, the integration
# tests that start the simulator in-process). A module driving another venue's peer, or
# wanting fewer bars, defines its own ``btc``/``eth``, which take precedence.


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Any:
    """The first 300 real Binance BTC/USDT hourly candles (from 2020-12-01)."""
    from tests.peers.frames import SPOT_BTC_1H, real_candles

    return real_candles(shared_data, SPOT_BTC_1H, 300)


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> Any:
    """The first 300 real Binance ETH/USDT hourly candles (from 2020-12-01)."""
    from tests.peers.frames import SPOT_ETH_1H, real_candles

    return real_candles(shared_data, SPOT_ETH_1H, 300)


# The longest files go first. `make test` runs `--dist loadfile --no-loadscope-reorder`, so
# xdist hands whole files to the two workers in this order, and no long file starts last to
# run alone at the end (xdist's own order is by test count: small long files came last).
LONG_POLES = (
    "tests/integration/test_readme_walkthrough.py",  # `make walkthrough` (ten minutes)
    "notebooks/",
    "tests/integration/test_live_crash.py",
    "tests/integration/test_live_stops_crash.py",
    "tests/integration/test_live_rehearsal.py",
    "tests/integration/test_cli_output.py",
    "tests/console/test_console_browser.py",
    "tests/integration/test_secret_canary.py",
)


def _long_pole_rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return next((i for i, p in enumerate(LONG_POLES) if path.startswith(p)), len(LONG_POLES))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_long_pole_rank)  # stable: every file keeps its own order


@pytest.fixture(autouse=True)
def _mlflow_environment_restored() -> Any:
    """Each test sees the MLflow URIs of the environment it started with: MLflow writes them
    into ``os.environ`` (``mlflow.set_tracking_uri``), and a test that registers a model must
    not send a later test of the same worker to its store."""
    keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {k: os.environ.get(k) for k in keys}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
