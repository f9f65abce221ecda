"""The one risk spec: the new shape of conf/risk, the old shape (deprecated), contradictions,
bounds, and the engine limits derived from it."""

from __future__ import annotations

import math
import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.config.schema import RiskSection
from grekko_research.errors import ConfigError
from grekko_research.risk import RiskLimits
from grekko_research.risk.spec import (
    DrawdownBreaker,
    OrderRisk,
    PortfolioRisk,
    RiskConfigDeprecationWarning,
    RiskSpec,
    spec_from_section,
)
from live.risk import LiveRiskConfig, RiskEngine, risk_spec

ROOT = Path(__file__).resolve().parents[3]

# What config_id hashed of conservative before the spec existed (its engine keys).
OLD_CONSERVATIVE_ENGINE = {
    "max_position": 0.5,
    "max_gross_exposure": None,
    "max_drawdown": 0.25,
    "daily_loss_limit": 0.05,
    "max_orders_per_day": 50,
}


def _compose(*overrides: str, conf: Path | None = None) -> RiskSpec:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskConfigDeprecationWarning)
        return compose_config(list(overrides), conf=conf).risk.spec


def test_conservative_in_the_new_shape_loads_without_warnings() -> None:
    spec = _compose("risk=conservative")
    assert spec.order.max_position == 0.5 and spec.order.max_orders == 20
    assert spec.order.max_leverage is None and spec.order.precision is True
    dd = spec.portfolio.drawdown
    assert (dd.limit, dd.action, dd.cooldown_s, dd.flatten_at) == (0.2, "halt", None, 0.25)
    assert (spec.portfolio.daily_loss.limit, spec.portfolio.daily_loss.action) == (0.05, "reduce")
    assert spec.portfolio.var.cooldown_s == 3600
    assert spec.market.volatility.limit == 1.5 and spec.market.price_move.window == 12
    assert spec.ops.max_clock_skew_ms == 1000 and spec.ops.action == "halt"


def test_the_engine_rules_come_from_the_spec_and_config_id_hashes_all_of_it() -> None:
    spec = _compose("risk=conservative")
    # The engine's own rules: the drawdown flatten and the orders per day; the rest of the
    # spec (max_position, daily loss ...) is evaluated by risk.evaluate in backtests too.
    assert spec.engine_limits() == RiskLimits(max_drawdown=0.25, max_orders_per_day=50)
    ident = spec.engine_identity()
    # The keys hashed before the spec keep their names and values (ids of runs that set
    # nothing else stay), then every other key away from its default.
    assert {k: ident[k] for k in OLD_CONSERVATIVE_ENGINE} == OLD_CONSERVATIVE_ENGINE
    assert ident["order.price_band"] == 0.05 and ident["market.volatility.limit"] == 1.5
    assert ident["ops.max_clock_skew_ms"] == 1000
    changed = _compose("risk=conservative", "risk.market.price_move.window=6")
    assert changed.engine_identity() != ident
    none = _compose("risk=none")
    assert none == RiskSpec() and none.enabled == [] and none.engine_limits() == RiskLimits()
    assert set(none.engine_identity().values()) == {None}


def test_null_switches_a_limit_off_in_the_engine_and_live() -> None:
    spec = _compose("risk=conservative", "risk.order.max_position=null")
    assert spec.order_limits().max_position != spec.order_limits().max_position  # NaN: off
    assert "order.max_position" not in spec.enabled
    live = RiskEngine(
        risk_spec(compose_config(["risk=conservative", "risk.order.max_position=null"]))
    )
    assert math.isnan(live.spec.order_limits().max_position)  # NaN: the live check is off


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("risk.order.max_notional=-1", "risk.order.max_notional"),
        ("risk.order.max_notional_per_day=0", "risk.order.max_notional_per_day"),
        ("risk.order.max_orders=0", "risk.order.max_orders"),
        ("risk.order.order_window_s=0", "risk.order.order_window_s"),
        ("risk.portfolio.drawdown.limit=1.5", "risk.portfolio.drawdown.limit"),
        ("risk.portfolio.drawdown.flatten_at=0", "risk.portfolio.drawdown.flatten_at"),
        ("risk.portfolio.drawdown.action=panic", "risk.portfolio.drawdown.action"),
        ("risk.portfolio.drawdown.cooldown_s=-5", "risk.portfolio.drawdown.cooldown_s"),
        ("risk.portfolio.daily_loss.limit=1", "risk.portfolio.daily_loss.limit"),
        ("risk.portfolio.var.confidence=1.0", "risk.portfolio.var.confidence"),
        ("risk.portfolio.var.window=1", "risk.portfolio.var.window"),
        ("risk.market.volatility.window=1", "risk.market.volatility.window"),
        ("risk.market.price_move.window=0", "risk.market.price_move.window"),
        ("risk.market.price_move.cooldown_s=-1", "risk.market.price_move.cooldown_s"),
        ("risk.ops.max_errors=-1", "risk.ops.max_errors"),
        ("risk.ops.action=panic", "risk.ops.action"),
    ],
)
def test_out_of_bounds_values_name_their_key(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        compose_config(["risk=conservative", override])


def test_the_notional_per_day_is_a_key_of_the_one_spec() -> None:
    base = _compose("risk=conservative")
    spec = _compose("risk=conservative", "risk.order.max_notional_per_day=2500")
    assert spec.order.max_notional_per_day == 2500.0
    assert spec.order_limits().max_notional_per_day == 2500.0
    assert math.isnan(base.order_limits().max_notional_per_day)  # null: off
    assert (
        "order.max_notional_per_day" in spec.enabled
        and "order.max_notional_per_day" in spec.guarding
    )
    # it enters the run's identity only when set (ids of runs that do not set it stay)
    assert spec.engine_identity()["order.max_notional_per_day"] == 2500.0
    assert "order.max_notional_per_day" not in base.engine_identity()
    assert RiskEngine(
        risk_spec(compose_config(["risk.order.max_notional_per_day=3"]))
    ).spec == RiskSpec(order=OrderRisk(max_notional_per_day=3.0))


# -- the old shape ------------------------------------------------------------------------


def _old_conf(tmp_path: Path, text: str) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(ROOT / "conf", conf)
    (conf / "risk" / "old.yaml").write_text(text)
    return conf


def test_a_yaml_in_the_old_shape_loads_with_a_deprecation_per_key(tmp_path: Path) -> None:
    """The conservative.yaml before the spec (engine keys on top, a live: block) gives the same
    spec as today's, but its live max_leverage 1.0 (now also the engine's max_gross)."""
    conf = _old_conf(tmp_path, (Path(__file__).parent / "old_conservative.yaml").read_text())
    with pytest.warns(RiskConfigDeprecationWarning) as record:
        cfg = compose_config(["risk=old"], conf=conf)
    messages = [str(w.message) for w in record]
    assert any(
        "risk.live.max_drawdown is deprecated" in m and "use risk.portfolio.drawdown.limit" in m
        for m in messages
    )
    assert any(
        "risk.max_drawdown" in m and "risk.portfolio.drawdown.flatten_at" in m for m in messages
    )
    assert any(
        "risk.daily_loss_limit" in m and "risk.portfolio.daily_loss.limit" in m for m in messages
    )
    new = _compose("risk=conservative")
    # The old shape had no price-move action (reduce); the preset now halts on a move.
    move = replace(new.market.price_move, action="reduce")
    assert cfg.risk.spec == RiskSpec(
        order=OrderRisk(**{**vars(new.order), "max_leverage": 1.0}),
        portfolio=new.portfolio,
        market=replace(new.market, price_move=move),
        ops=new.ops,
    )


def test_an_old_key_on_the_command_line_overrides_the_preset_with_a_warning() -> None:
    with pytest.warns(
        RiskConfigDeprecationWarning,
        match=r"use risk\.portfolio\.drawdown\.limit \(it replaces 0\.2\)",
    ):
        spec = compose_config(["risk=conservative", "risk.live.max_drawdown=0.1"]).risk.spec
    assert spec.portfolio.drawdown.limit == 0.1
    with pytest.warns(RiskConfigDeprecationWarning, match=r"risk\.live\.max_clock_skew_ms"):
        spec = compose_config(["risk=conservative", "risk.live.max_clock_skew_ms=null"]).risk.spec
    assert spec.ops.max_clock_skew_ms is None  # an explicit null switches it off


@pytest.mark.parametrize(
    ("old_top", "old_live", "new_key"),
    [
        ("risk.max_position=0.5", "risk.live.max_position=0.3", "risk.order.max_position"),
        ("risk.max_gross_exposure=1.0", "risk.live.max_leverage=2.0", "risk.order.max_leverage"),
        (
            "risk.daily_loss_limit=0.05",
            "risk.live.daily_loss=0.03",
            "risk.portfolio.daily_loss.limit",
        ),
    ],
)
def test_two_old_keys_that_now_mean_one_thing_must_agree(
    old_top: str, old_live: str, new_key: str
) -> None:
    with pytest.raises(ConfigError, match="contradict") as err:
        compose_config([old_top, old_live])
    message = str(err.value)
    assert old_top.split("=")[0] in message and old_live.split("=")[0] in message
    assert new_key in message
    agreeing = old_live.split("=")[0] + "=" + old_top.split("=")[1]
    with pytest.warns(RiskConfigDeprecationWarning):
        compose_config([old_top, agreeing])  # the same value: no contradiction


def test_the_engines_daily_loss_alone_keeps_its_meaning_reduce() -> None:
    with pytest.warns(RiskConfigDeprecationWarning):
        alone = compose_config(["risk.daily_loss_limit=0.05"]).risk.spec
    assert (alone.portfolio.daily_loss.limit, alone.portfolio.daily_loss.action) == (0.05, "reduce")
    with pytest.warns(RiskConfigDeprecationWarning):
        both = compose_config(["risk.daily_loss_limit=0.05", "risk.live.daily_loss=0.05"]).risk.spec
    assert both.portfolio.daily_loss.action == "halt"  # the live block's default, as before


def test_the_old_live_block_keeps_its_key_names_in_errors() -> None:
    with pytest.raises(ConfigError, match=r"risk\.live\.var_window"):
        compose_config(["risk.live.var_window=1"])
    with pytest.raises(ConfigError, match=r"risk\.live\.bogus"):
        compose_config(["risk.live.bogus=1"])


def test_spec_from_section_maps_every_old_live_key() -> None:
    with pytest.warns(RiskConfigDeprecationWarning, match="LiveRiskConfig is deprecated"):
        old = LiveRiskConfig(
            check_precision=True, min_order_notional=1.0, max_order_notional=2.0, max_position=0.3,
            max_gross_exposure=3.0, max_net_exposure=4.0, max_leverage=1.5, max_orders=7,
            order_window_s=30.0, price_band=0.02, max_drawdown=0.15, drawdown_action="reduce",
            daily_loss=0.04, daily_loss_action="reduce", var_limit=0.06, var_confidence=0.95,
            var_window=100, var_action="halt", var_cooldown_s=None, vol_limit=2.0, vol_window=10,
            move_limit=0.2, move_window=5, breaker_cooldown_s=60.0, max_data_age_s=90.0,
            max_ws_down_s=30.0, max_errors=3, error_window_s=100.0, max_clock_skew_ms=500.0,
            ops_action="reduce",
        )  # fmt: skip
    spec = old.to_spec()
    with pytest.warns(RiskConfigDeprecationWarning):
        assert LiveRiskConfig.from_spec(spec) == old  # nothing lost either way
    assert spec.order.max_leverage == 1.5 and spec.order.max_gross_exposure == 3.0
    assert spec.portfolio.var.cooldown_s is None and spec.portfolio.var.action == "halt"
    assert spec.market.volatility.cooldown_s == spec.market.price_move.cooldown_s == 60.0
    assert spec.ops.action == "reduce" and spec.ops.max_errors == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RiskConfigDeprecationWarning)
        assert spec_from_section(RiskSpec(), {}, vars(old)) == spec


def test_sleeve_overrides_in_either_shape() -> None:
    run = compose_config(["risk=conservative"]).risk
    new = run.with_overrides(
        {"portfolio": {"drawdown": {"flatten_at": 0.1}}, "order": {"max_orders": 5}}
    )
    assert new.spec.engine_limits().max_drawdown == 0.1 and new.spec.order.max_orders == 5
    assert new.spec.order.max_position == 0.5  # the rest is the run's
    with pytest.warns(RiskConfigDeprecationWarning):
        old = run.with_overrides({"max_drawdown": 0.1, "live": {"max_orders": 5}})
    assert old.spec == new.spec
    with pytest.raises(ConfigError, match=r"unknown risk\.order key\(s\) \['bogus'\]"):
        run.with_overrides({"order": {"bogus": 1}})
    own = RiskSection().with_overrides({"order": {"max_orders": 5}})
    assert own.spec == RiskSpec(order=OrderRisk(max_orders=5))


def test_direct_construction_checks_bounds_with_the_key() -> None:
    with pytest.raises(ConfigError, match=r"risk\.portfolio\.drawdown\.flatten_at"):
        PortfolioRisk(drawdown=DrawdownBreaker(flatten_at=2.0))
    with pytest.raises(ConfigError, match=r"risk\.order\.precision"):
        OrderRisk(precision="yes")  # type: ignore[arg-type]
