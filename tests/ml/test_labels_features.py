"""Labels look forward by exactly what they say (their end rows), features never do."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.errors import ConfigError
from grekko_research.ml.features import FeatureParams, build_features, feature_warmup
from grekko_research.ml.labels import forward_return, sign_label, triple_barrier


def test_forward_return_and_sign_end_where_their_close_is() -> None:
    close = np.array([100.0, 110.0, 99.0, 99.0, 120.0])
    ret, end = forward_return(close, 2)
    assert ret[0] == pytest.approx(np.log(99 / 100))
    assert list(end) == [2, 3, 4, -1, -1]
    assert np.isnan(ret[3:]).all()
    sign, _ = sign_label(close, 1)
    assert list(sign[:4]) == [1.0, 0.0, 0.0, 1.0]


def test_triple_barrier_first_touch_decides_and_says_when() -> None:
    close = np.array([100.0, 100.0, 100.0, 100.0, 100.0, 100.0])
    high = np.array([100.0, 101.0, 106.0, 100.0, 100.0, 100.0])
    low = np.array([100.0, 99.0, 99.0, 94.0, 100.0, 100.0])
    vol = np.full(6, 0.05)  # barriers at ~ +-5.1%
    y, end = triple_barrier(close, high, low, 3, 1.0, vol)
    assert (y[0], end[0]) == (1.0, 2)  # the upper barrier at row 2
    assert (y[1], end[1]) == (1.0, 2)
    assert (y[2], end[2]) == (0.0, 3)  # the lower one at row 3
    assert np.isnan(y[3]) and end[3] == -1  # row 3 + 3 is past the data: unknown
    with pytest.raises(ConfigError, match="width"):
        triple_barrier(close, high, low, 3, 0.0, vol)


@pytest.mark.parametrize("feature_set", ["price", "price_volume", "wide"])
def test_features_are_causal_and_start_independent(btc_1h: Bars, feature_set: str) -> None:
    p = FeatureParams(feature_set=feature_set, window=12, lags=4)
    full = build_features(btc_1h, p)
    cut = build_features(btc_1h[:500], p)
    np.testing.assert_allclose(cut.values, full.values[:500], rtol=1e-6, equal_nan=True)
    later = build_features(btc_1h[100:], p)
    w = feature_warmup(p)
    np.testing.assert_allclose(later.values[w:], full.values[100 + w :], rtol=1e-6)
    assert np.isfinite(full.values[w:]).all()
    if feature_set == "wide":
        assert 45 <= len(full.names) <= 60


def test_unknown_feature_set_is_named() -> None:
    with pytest.raises(ConfigError, match="feature_set 'magic'"):
        build_features(None, SimpleNamespace(feature_set="magic"))  # type: ignore[arg-type]
