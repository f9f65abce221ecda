"""Alpha features as per-bar extras: values, missing data, causality (the lookahead check)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.alpha.features import AlphaSpec, alpha_extras, with_alpha
from grekko_research.alpha.pit import check_alt_feature
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.data.bars import Bars
from grekko_research.errors import ConfigError, DataNotFoundError

H = 3_600_000
T0 = 1_731_283_200_000  # 2024-11-11 00:00 UTC


def sentiment_rows() -> pd.DataFrame:
    # knowable at 00:30, 01:00 (exactly bar 0's close), 01:00:00.001, 02:10
    pub = T0 + np.array([H // 2, H, H + 1, 2 * H + 600_000])
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d"],
            "event_ms": pub - 1000,
            "published_ms": pub,
            "ingested_ms": pub + 5 * H,
            "score": [0.5, -1.0, 0.8, 0.25],
            "weight": [2.0, 1.0, 1.0, 4.0],
            "author": ["x:ann", "x:bob", "x:ann", "reddit:cy"],
            "origin": ["x", "x", "x", "reddit"],
        }
    )


def flow_rows() -> pd.DataFrame:
    pub = T0 + np.array([10, 2 * H + 5, 2 * H + 6])
    return pd.DataFrame(
        {
            "id": ["t1", "t2", "t3"],
            "event_ms": pub,
            "published_ms": pub,
            "ingested_ms": pub,
            "amount": [1000.0, 250.0, 5e6],
            "direction": [1.0, -1.0, 0.0],
            "large": [0.0, 0.0, 1.0],
        }
    )


def bars(n: int = 4, symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")) -> Bars:
    price = np.full((n, len(symbols)), 100.0)
    return Bars(
        index=T0 + H * np.arange(n, dtype=np.int64), symbols=symbols, timeframe="1h",
        open=price, high=price, low=price, close=price, volume=price,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> AltStore:
    s = AltStore(tmp_path)
    s.write(AltKey("sentiment", "BTC"), sentiment_rows())
    s.write(AltKey("onchain", "BTC"), flow_rows())
    return s


def test_values_per_bar_and_symbol(store: AltStore) -> None:
    b = with_alpha(
        bars(),
        [
            "alpha.sentiment",
            "alpha.sentiment_weight",
            "alpha.mentions",
            "alpha.authors",
            "alpha.exchange_netflow",
            "alpha.whale_volume",
        ],
        store,
    )
    e = b.extras
    assert e["alpha.sentiment"][:, 0].tolist() == [0.5 * 2 - 1.0, 0.8, 1.0, 0.0]
    assert e["alpha.sentiment_weight"][:, 0].tolist() == [3.0, 1.0, 4.0, 0.0]
    assert e["alpha.mentions"][:, 0].tolist() == [2.0, 1.0, 1.0, 0.0]
    assert e["alpha.authors"][:, 0].tolist() == [2.0, 1.0, 1.0, 0.0]
    assert e["alpha.exchange_netflow"][:, 0].tolist() == [1000.0, 0.0, -250.0, 0.0]
    assert e["alpha.whale_volume"][:, 0].tolist() == [0.0, 0.0, 5e6, 0.0]
    assert not e["alpha.sentiment"][:, 1].any()  # nothing said about ETH
    # the live window: a slice of the index gives the same values for the same bars
    tail = with_alpha(bars()[2:], ["alpha.sentiment"], store)
    assert np.array_equal(tail.extras["alpha.sentiment"], e["alpha.sentiment"][2:])


def test_ingested_mode_and_delay_move_rows_later(store: AltStore) -> None:
    late = alpha_extras(
        bars().index, ("BTC/USDT",), "1h", ["alpha.mentions"], store, AlphaSpec(mode="ingested")
    )
    assert (
        late["alpha.mentions"][:, 0].tolist() == [0.0, 0.0, 0.0, 0.0]
        or late["alpha.mentions"][:, 0].sum() < 4
    )
    delayed = alpha_extras(
        bars().index, ("BTC/USDT",), "1h", ["alpha.mentions"], store, AlphaSpec(delay_ms=1)
    )
    assert delayed["alpha.mentions"][:, 0].tolist() == [1.0, 2.0, 1.0, 0.0]  # b moves to bar 1


def test_missing_data_and_unknown_names(tmp_path: Path, store: AltStore) -> None:
    with pytest.raises(
        DataNotFoundError, match=r"sentiment/BTC, sentiment/ETH .*grekko alpha score"
    ):
        alpha_extras(
            bars().index, bars().symbols, "1h", ["alpha.sentiment"], AltStore(tmp_path / "empty")
        )
    with pytest.raises(ConfigError, match="unknown alpha features"):
        alpha_extras(bars().index, bars().symbols, "1h", ["alpha.vibes"], store)
    spec = AlphaSpec(entities={"onchain:BTC": "WBTC"})
    with pytest.raises(DataNotFoundError, match="onchain/WBTC"):
        alpha_extras(bars().index, ("BTC/USDT",), "1h", ["alpha.whale_volume"], store, spec)


def test_every_alpha_feature_passes_the_lookahead_check(store: AltStore) -> None:
    index = T0 + H * np.arange(-2, 6, dtype=np.int64)
    for name, source in (
        ("alpha.sentiment", "sentiment"),
        ("alpha.authors", "sentiment"),
        ("alpha.exchange_netflow", "onchain"),
    ):
        rows = store.read(AltKey(source, "BTC"))

        def feature(
            idx: np.ndarray, seen: pd.DataFrame, name: str = name, source: str = source
        ) -> np.ndarray:
            tmp = AltStore(store.root / "check" / name)
            key = AltKey(source, "BTC")
            if tmp.exists(key):
                tmp.path(key).unlink()
            if len(seen):
                tmp.write(key, seen)
                return alpha_extras(idx, ("BTC/USDT",), "1h", [name], tmp)[name][:, 0]
            return np.zeros(len(idx))

        report = check_alt_feature(feature, rows, index, H, cuts=8, seed=2)
        assert report.ok, f"{name}: {report}"
