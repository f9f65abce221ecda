"""Walk-forward models: trained strictly before they score; a leaky trainer and a leaky feature
are caught (by the purge guard and by the conformance suite's lookahead check)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.ml.features import FeatureMatrix, build_features, feature_warmup
from grekko_research.ml.models import ModelSpec
from grekko_research.ml.report import evaluate_walk_forward
from grekko_research.ml.strategy import label_arrays, model_spec, schedule
from grekko_research.ml.walkforward import (
    TrainingLeakError,
    WalkForward,
    walk_forward_scores,
)
from grekko_research.strategy.conformance import check_strategy
from strategies.ml_lgbm import MlLgbm
from strategies.ml_online import MlOnline

SMALL = dict(train=300, step=48, n_estimators=20, horizon=6, min_child_samples=20)


def _inputs(bars: Bars, p: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = build_features(bars, p).values[:, 0, :]
    y, end = label_arrays(bars, p, 0)
    return x, y, end


def test_every_score_comes_from_a_model_fitted_before_it(btc_1h: Bars) -> None:
    s = MlLgbm()
    p = s.params(**SMALL)
    x, y, end = _inputs(btc_1h, p)
    bar_ms = parse_timeframe(btc_1h.timeframe).ms
    res = walk_forward_scores(x, y, end, btc_1h.index, bar_ms, schedule(p), model_spec(p),
                              start=feature_warmup(p))  # fmt: skip
    assert len(res.windows) >= 20
    for w in res.windows:
        assert (btc_1h.index[w.fit_row] // bar_ms) % p.step == 0  # epoch-aligned refits
        assert end[w.last] <= w.fit_row  # the last label it learned was known at the fit
        assert w.n_rows <= p.train
    scored = np.flatnonzero(np.isfinite(res.score))
    assert len(scored) > 1000
    assert (res.model_row[scored] <= scored).all() and (res.model_row[scored] >= 0).all()


def test_a_trainer_that_learns_unknown_labels_is_refused(btc_1h: Bars) -> None:
    p = MlLgbm().params(**SMALL)
    x, y, end = _inputs(btc_1h, p)

    def leaky(valid: np.ndarray, end: np.ndarray, f: int, wf: WalkForward, start: int):
        rows = np.flatnonzero(valid[:f])  # every row before the fit, labels known or not
        return rows[rows >= start][-wf.train :]

    with pytest.raises(TrainingLeakError, match="whose label is known only at row"):
        walk_forward_scores(x, y, end, btc_1h.index, parse_timeframe("1h").ms, schedule(p),
                            ModelSpec(n_estimators=5), start=feature_warmup(p), select=leaky)  # fmt: skip


class _LeakyLabels(MlLgbm):
    """A trainer whose label end rows lie (claimed known at once): past the purge guard."""

    name = "leaky_labels"

    def walk_forward(self, bars: Bars, params: Any, *, keep_models: bool = False) -> list[Any]:
        import grekko_research.ml.strategy as mls

        real = mls.label_arrays
        mls.label_arrays = lambda b, p, j: (real(b, p, j)[0], np.arange(b.n_bars))  # type: ignore[assignment]
        try:
            return super().walk_forward(bars, params, keep_models=keep_models)
        finally:
            mls.label_arrays = real


class _LeakyFeature(MlLgbm):
    """A feature set with the next bar's return in it."""

    name = "leaky_feature"

    def walk_forward(self, bars: Bars, params: Any, *, keep_models: bool = False) -> list[Any]:
        import grekko_research.ml.strategy as mls

        real = mls.build_features

        def with_future(b: Bars, p: Any) -> FeatureMatrix:
            f = real(b, p)
            nxt = np.full((b.n_bars, b.n_assets, 1), np.nan)
            nxt[:-1, :, 0] = np.log(b.close[1:] / b.close[:-1])
            return FeatureMatrix(np.concatenate([f.values, nxt], axis=2), (*f.names, "next"))

        mls.build_features = with_future  # type: ignore[assignment]
        try:
            return super().walk_forward(bars, params, keep_models=keep_models)
        finally:
            mls.build_features = real


@pytest.mark.parametrize("strategy", [MlLgbm(), MlOnline()], ids=["ml_lgbm", "ml_online"])
def test_model_strategies_pass_the_conformance_suite(btc_1h: Bars, strategy: Any) -> None:
    small = SMALL if strategy.name == "ml_lgbm" else dict(train=300, cadence=100)
    report = check_strategy(strategy, btc_1h, params=strategy.params(**small), cuts=6)
    report.raise_for_failures()


@pytest.mark.parametrize("leaky", [_LeakyLabels(), _LeakyFeature()], ids=["trainer", "feature"])
def test_leaks_fail_the_lookahead_check(btc_1h: Bars, leaky: MlLgbm) -> None:
    # a leaky trainer's models differ only when a fit falls within a label horizon before the
    # cut, so the probe refits every horizon (step = horizon): every cut point then shows it
    params = leaky.params(**{**SMALL, "step": 24, "horizon": 24})
    report = check_strategy(leaky, btc_1h[:1000], params=params, cuts=6)
    failed = {c.name for c in report.failures}
    assert "causal" in failed, str(report)


def test_evaluation_report_is_out_of_sample(btc_1h: Bars) -> None:
    s = MlLgbm()
    p = s.params(**SMALL)
    rep = evaluate_walk_forward(s, btc_1h, p)
    assert rep.oos_rows > 1000 and 0.0 <= rep.auc <= 1.0
    assert rep.first_oos_row >= s.warmup(p) - p.step  # nothing scored before the first fit
    assert set(rep.importance) == set(build_features(btc_1h, p).names)
    assert abs(sum(rep.importance.values()) - 1.0) < 1e-9
    assert len(rep.calibration) >= 3 and all(0 <= b["observed"] <= 1 for b in rep.calibration)
    assert rep.turnover >= 0 and rep.n_windows >= 20
    assert {"sharpe_ratio", "total_return"} <= set(rep.strategy) and rep.buy_and_hold
