"""DEX pool data in the store: ``grekko data import`` of raw logs and per-minute pool state."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.dex.events import PoolEvent
from grekko_research.dex.replay import replay
from grekko_research.dex.store import PoolKey, PoolStore
from grekko_research.errors import DataError
from tests.unit.dex.conftest import RAW_030

POOLSTATE = "polygon-uniswapv3_USDC-WETH-0.05pct_0x45dda9cb_2022-07-19_2022-08-22_minute-poolstate__demeter.csv.gz"


def _run(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})
    return r.exit_code, r.output + (str(r.exception) if r.exception else "")


def test_import_raw_logs_then_replay_from_the_store(
    uniswap_dir: Path, tmp_path: Path, events_030: list[PoolEvent]
) -> None:
    code, text = _run("data", "import", str(uniswap_dir / RAW_030), "--data-dir", str(tmp_path))
    assert code == 0, text
    assert "304 new rows" in text
    store = PoolStore(tmp_path)
    key = PoolKey("ethereum", "0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8")
    assert store.pools() == [key]
    stored = store.read_events(key)
    assert [replace(e, meta=replace(e.meta, address="")) for e in stored] == events_030
    assert {e.meta.address for e in stored} == {key.pool}
    assert replay(store.read_events(key), 3000).reproduced == 267
    # importing again adds nothing; the store is unchanged
    code, text = _run(
        "data", "import", str(uniswap_dir / RAW_030), "--data-dir", str(tmp_path), "--json"
    )
    assert code == 0, text
    (again,) = json.loads(text)
    assert (again["rows_added"], again["rows"]) == (0, 304)


def test_a_contradicting_log_is_refused_and_nothing_written(
    uniswap_dir: Path, tmp_path: Path
) -> None:
    store = PoolStore(tmp_path)
    assert _run("data", "import", str(uniswap_dir / RAW_030), "--data-dir", str(tmp_path))[0] == 0
    key = store.pools()[0]
    before = store.read_log_frame(key)
    with gzip.open(uniswap_dir / RAW_030, "rt") as fh:
        lines = fh.read().splitlines()
    lines[1] = lines[1][:-1] + ("0" if lines[1][-1] != "0" else "1")  # the tick's last digit
    bad = tmp_path / f"ethereum-{key.pool}-tampered.raw.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, text = _run("data", "import", str(bad), "--data-dir", str(tmp_path))
    assert code == 1 and "differs from the stored one" in text
    assert store.read_log_frame(key).equals(before)


def test_import_poolstate(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "uniswap" / POOLSTATE
    code, text = _run("data", "import", str(src), "--data-dir", str(tmp_path), "--json")
    assert code == 0, text
    store = PoolStore(tmp_path)
    frame = store.read_poolstate(PoolKey("polygon", "0x45dda9cb"))
    assert len(frame) == 50_390
    assert frame["timestamp"].is_monotonic_increasing
    # big integers are exact (netAmount1 exceeds int64 on the first row)
    with gzip.open(src, "rt") as fh:
        first = fh.readlines()[1].split(",")
    assert frame["netAmount1"].iloc[0] == int(first[2]) and int(first[2]) > 2**63
    assert frame["closeTick"].iloc[0] == int(first[3])


def test_bad_pool_rows_name_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "polygon-pool_0x45dda9cb_minute-poolstate.csv"
    cols = "timestamp,netAmount0,netAmount1,closeTick,openTick,lowestTick,highestTick,inAmount0,inAmount1,currentLiquidity"
    bad.write_text(cols + "\n1,2,3,4,5,6,7,8,9,10\n2,2,x3,4,5,6,7,8,9,10\n")
    good = tmp_path / "polygon-pool_0x45dda9cc_minute-poolstate.csv"
    good.write_text(cols + "\n1,2,3,4,5,6,7,8,9,10\n")
    code, text = _run("data", "import", str(good), str(bad), "--data-dir", str(tmp_path))
    assert code == 1 and "row 3: netAmount1 'x3' is not an integer" in text
    assert PoolStore(tmp_path).pools() == []  # the good file of the batch was not written either
    with pytest.raises(DataError, match="no pool state"):
        PoolStore(tmp_path).read_poolstate(PoolKey("polygon", "0x45dda9cb"))
