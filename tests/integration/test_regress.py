"""``grekko regress``: the shipped experiments reproduce their baselines on real data; drift of
a metric, of the trades or of the data fails naming it; ``--update`` re-pins; bad specs fail
naming the file and the key."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import typer
from click.testing import Result
from typer.testing import CliRunner

from grekko_research.cli.regress import regress_command
from grekko_research.errors import ConfigError, DataNotFoundError
from grekko_research.regress import (
    canonical_trades,
    load_experiment,
    load_experiments,
    run_experiments,
    trades_hash,
)

REPO = Path(__file__).resolve().parents[2]
EXPERIMENTS = REPO / "experiments"
REQUIRED = (
    "sma_cross_btc_1h",
    "rsi_mean_reversion_eth_1h",
    "donchian_trend_btc_4h",
    "xs_momentum_perps_1h",
    "funding_carry_btc_perp_1h",
)
SMA = "sma_cross_btc_1h"


def _app() -> typer.Typer:
    """``regress`` as a subcommand, the way the ``grekko`` app registers it."""
    app = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
    app.command("regress")(regress_command)

    @app.callback()
    def _root() -> None:
        """Grekko (test harness)."""

    return app


APP = _app()


def regress(args: list[str], store: Path, **env: str) -> Result:
    return CliRunner().invoke(APP, ["regress", *args], env={"GREKKO_DATA_DIR": str(store), **env})


def copy_specs(dest: Path, *names: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(EXPERIMENTS / f"{name}.yaml", dest / f"{name}.yaml")
    return dest


def edit(path: Path, pattern: str, replace: str) -> None:
    """Substitute exactly one match of ``pattern`` in the file."""
    text, n = re.subn(pattern, replace, path.read_text(), count=1, flags=re.M)
    assert n == 1, f"{pattern!r} not found in {path}"
    path.write_text(text)


def scale_metric(path: Path, name: str, factor: float) -> float:
    """Multiply a pinned metric by ``factor``; return the original value."""
    text = path.read_text()
    match = re.search(rf"^    {name}: {{value: ([^,}}]+)", text, flags=re.M)
    assert match, f"{name} not pinned in {path}"
    old = float(match[1])
    edit(path, rf"^(    {name}: {{value: )[^,}}]+", rf"\g<1>{old * factor!r}")
    return old


def test_shipped_experiments_pass(research_store: Path) -> None:
    names = {p.stem for p in EXPERIMENTS.glob("*.yaml")}
    assert set(REQUIRED) <= names
    result = regress([], research_store)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert re.search(rf"all \d+ checks of {len(names)} experiments pass", result.stdout)
    for name in names:
        assert name in result.stdout
    assert "DRIFT" not in result.stdout


def test_json_output_parses(research_store: Path) -> None:
    result = regress(["--json"], research_store)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)  # only JSON on stdout; the tables went to stderr
    assert doc["ok"] is True
    assert {e["name"] for e in doc["experiments"]} >= set(REQUIRED)
    for exp in doc["experiments"]:
        assert exp["ok"] and exp["drifted"] == []
        checks = {c["name"]: c for c in exp["checks"]}
        assert {"config_id", "trades_hash", "data.hash", "final_equity", "n_trades"} <= set(checks)
        assert checks["final_equity"]["tolerance"] == {"rel": 1e-9, "abs": 1e-12}
        assert checks["n_trades"]["tolerance"] == {}  # exact
        assert len(checks["trades_hash"]["actual"]) == 64
    assert "regression backtests" in result.stderr


def test_perturbed_metric_fails_naming_it(research_store: Path, tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", SMA, "funding_carry_btc_perp_1h")
    scale_metric(folder / f"{SMA}.yaml", "final_equity", 1 + 1e-6)  # 1000× the tolerance
    result = regress(["--experiments", str(folder)], research_store)
    assert result.exit_code == 1, result.stdout + result.stderr
    out = result.stdout
    assert "DRIFT" in out and "final_equity" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("drift in 1 of 2 experiments") and f"{SMA}: final_equity" in last
    assert "funding_carry" not in last and "trades_hash" not in out  # only the perturbed value
    assert "grekko regress --update" in out


def test_a_spec_tolerance_is_honoured(research_store: Path, tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", SMA)
    path = folder / f"{SMA}.yaml"
    scale_metric(path, "sharpe_ratio", 1 + 1e-6)
    edit(path, r"^(    sharpe_ratio: \{value: [^,]+, rel: )1\.0e-09", r"\g<1>1.0e-05")
    assert regress(["--experiments", str(folder)], research_store).exit_code == 0
    edit(path, r"^(    sharpe_ratio: \{value: [^,]+, rel: )1\.0e-05", r"\g<1>1.0e-07")
    result = regress(["--experiments", str(folder), "--json"], research_store)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["experiments"][0]["drifted"] == ["sharpe_ratio"]


def test_perturbed_trades_hash_fails_naming_it(research_store: Path, tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", "donchian_trend_btc_4h")
    path = folder / "donchian_trend_btc_4h.yaml"
    pinned = re.search(r'trades_hash: "([0-9a-f]{64})"', path.read_text())
    assert pinned
    flipped = ("0" if pinned[1][0] != "0" else "1") + pinned[1][1:]
    edit(path, r'trades_hash: "[0-9a-f]{64}"', f'trades_hash: "{flipped}"')
    result = regress(["--experiments", str(folder), "--json"], research_store)
    assert result.exit_code == 1
    (exp,) = json.loads(result.stdout)["experiments"]
    assert exp["drifted"] == ["trades_hash"]
    check = next(c for c in exp["checks"] if c["name"] == "trades_hash")
    assert check["baseline"] == flipped and check["actual"] == pinned[1]
    assert "donchian_trend_btc_4h: trades_hash" in result.stderr


def test_data_drift_is_named_and_explained(research_store: Path, tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", "xs_momentum_perps_1h")
    edit(folder / "xs_momentum_perps_1h.yaml", r"^(    bars: )(\d+)", r"\g<1>999")
    result = regress(["--experiments", str(folder)], research_store)
    assert result.exit_code == 1
    assert "xs_momentum_perps_1h: data.bars" in result.stdout
    assert "the data differs from the baseline's" in result.stdout


def test_update_restores_the_baseline_and_reports_changes(
    research_store: Path, tmp_path: Path
) -> None:
    folder = copy_specs(tmp_path / "exp", SMA, "rsi_mean_reversion_eth_1h")
    path = folder / f"{SMA}.yaml"
    original = path.read_text()
    # A comment of the user's, above and beside the baseline block: --update keeps them.
    edit(path, r"^(overrides:)", "# kept: a note about the window\n\\g<1>  # kept too")
    edited = path.read_text()
    old_equity = scale_metric(path, "final_equity", 1.01)
    edit(path, r'trades_hash: "[0-9a-f]{4}', 'trades_hash: "beef')
    other = folder / "rsi_mean_reversion_eth_1h.yaml"
    other_before = other.read_bytes()
    other_mtime = other.stat().st_mtime_ns

    assert regress(["--experiments", str(folder)], research_store).exit_code == 1
    result = regress(["--experiments", str(folder), "--update"], research_store)
    assert result.exit_code == 0, result.stdout + result.stderr
    out = result.stdout
    assert "re-pinned baseline values" in out
    assert re.search(
        rf"re-pinned {SMA}: (final_equity, trades_hash|trades_hash, final_equity)", out
    )
    assert f"{old_equity * 1.01:.10g}" in out and f"{old_equity:.10g}" in out  # old → new
    assert "rsi_mean_reversion" not in out.split("re-pinned baseline values")[1]
    assert path.read_text() == edited  # values restored, comments kept, nothing else touched
    assert other.read_bytes() == other_before and other.stat().st_mtime_ns == other_mtime

    assert regress(["--experiments", str(folder)], research_store).exit_code == 0
    again = regress(["--experiments", str(folder), "--update", "--json"], research_store)
    assert again.exit_code == 0 and json.loads(again.stdout)["updated"] == []
    assert "already current" in again.stderr
    assert path.read_text() == edited and edited != original


def test_update_pins_a_new_spec(research_store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "exp"
    folder.mkdir()
    shipped = load_experiment(EXPERIMENTS / f"{SMA}.yaml")
    assert shipped.baseline is not None
    path = folder / "new_sma.yaml"
    # The baseline block first, with keys after it: the rewrite must stop where it ends.
    path.write_text(
        "baseline:\n\n# about the run\nname: new_sma\ndescription: a copy of the SMA experiment\n"
        "overrides:\n" + "".join(f"  - {o}\n" for o in shipped.overrides)
    )
    result = regress(["--experiments", str(folder), "--json"], research_store)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["experiments"][0]["drifted"] == ["baseline"]
    result = regress(["--experiments", str(folder), "--update"], research_store)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "new_sma" in result.stdout and "new" in result.stdout
    text = path.read_text()
    assert "# about the run\nname: new_sma" in text
    pinned = load_experiment(path).baseline
    assert pinned is not None
    assert pinned.config_id == shipped.baseline.config_id  # same overrides, same run
    assert pinned.trades_hash == shipped.baseline.trades_hash
    assert pinned.metrics == shipped.baseline.metrics
    assert regress(["--experiments", str(folder)], research_store).exit_code == 0


SPEC = EXPERIMENTS / f"{SMA}.yaml"


@pytest.mark.parametrize(
    ("pattern", "replace", "key"),
    [
        (r"^overrides:\n(  - .*\n)+", "overrides: strategy=sma_cross\n", "'overrides'"),
        (r"^description: .*\n", "", "'description'"),
        (r"^name: .*", "name: another_name", "'name'"),
        (r"^name:", "nmae:", "'nmae'"),
        (r"^(    sharpe_ratio: \{value: [^,]+, rel: )[^,]+", r"\g<1>-1.0", "sharpe_ratio.rel"),
        (r"^    sharpe_ratio:", "    sharp_ratio:", "'baseline.metrics.sharp_ratio'"),
        (r"^    bars: \d+", "    bars: many", "'baseline.data.bars'"),
        (r'^  config_id: "[0-9a-f]+"', "  config_id: 12", "'baseline.config_id'"),
        (r"^  data:\n(    .*\n){4}", "", "'baseline.data'"),
        (r"^(    final_equity: \{value: )[^,]+", r"\g<1>lots", "final_equity.value"),
        (r"^overrides:", "overrides: [a, b", "not valid YAML at line"),
    ],
)
def test_malformed_spec_names_file_and_key(
    tmp_path: Path, pattern: str, replace: str, key: str
) -> None:
    path = tmp_path / SPEC.name
    path.write_text(SPEC.read_text())
    edit(path, pattern, replace)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and key in message, message
    assert "\n" not in message


def test_malformed_spec_stops_the_command(research_store: Path, tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", SMA)
    edit(folder / f"{SMA}.yaml", r"^(    n_trades: \{value: )\d+", r"\g<1>[69]")
    result = regress(["--experiments", str(folder)], research_store)
    assert result.exit_code == 1 and isinstance(result.exception, ConfigError)
    assert f"{folder / SMA}.yaml" in str(result.exception)
    assert "baseline.metrics.n_trades.value" in str(result.exception)


NFI_BTC = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"


def test_missing_data_is_imported_from_the_shared_folder(shared_data: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = regress([SMA], store, GREKKO_SHARED_DATA=str(shared_data))
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert f"{SMA}: imported {shared_data / NFI_BTC} into {store}" in flat
    assert "all 17 checks of 1 experiment pass" in flat  # the pinned file: no data drift
    again = regress([SMA], store, GREKKO_SHARED_DATA=str(shared_data))
    assert again.exit_code == 0 and "imported" not in again.output


def test_a_series_stored_outside_the_window_gets_the_pinned_file(
    shared_data: Path, tmp_path: Path
) -> None:
    """The README's order: 4h resampled from recent 1h bars, then regress on a 2018 4h window."""
    from grekko_research.data import ParquetStore, SeriesKey, import_file, resample_frame

    store = tmp_path / "store"
    parquet = ParquetStore(store)
    import_file(shared_data / NFI_BTC, store=parquet)  # 1h bars from 2021
    hourly = parquet.read(SeriesKey.make("binance", "BTC/USDT", "1h"))
    four, _ = resample_frame(hourly, "1h", "4h")
    parquet.write(
        SeriesKey.make("binance", "BTC/USDT", "4h"), four.drop(columns=["filled"], errors="ignore")
    )
    donchian = "donchian_trend_btc_4h"
    result = regress([donchian], store, GREKKO_SHARED_DATA=str(shared_data))
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert f"{donchian}: imported {shared_data}/ohlcv/binance-spot_BTC-USDT_4h__octobot" in flat
    again = regress([donchian], store, GREKKO_SHARED_DATA=str(shared_data))
    assert again.exit_code == 0 and "imported" not in again.output


def test_no_import_prints_the_exact_commands(shared_data: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = regress(
        [SMA, "funding_carry_btc_perp_1h", "--no-import"],
        store,
        GREKKO_SHARED_DATA=str(shared_data),
    )
    assert result.exit_code == 1 and isinstance(result.exception, DataNotFoundError)
    message = str(result.exception)
    assert (
        f'{SMA}: grekko data import "$GREKKO_SHARED_DATA"/{NFI_BTC} --data-dir {store}' in message
    )
    funding = "funding/binance-usdm_BTC-USDT-PERP_funding__alpergulsen.csv"
    assert f'"$GREKKO_SHARED_DATA"/{funding}' in message
    assert not store.exists() or not any(store.rglob("*.parquet"))  # nothing imported


def test_missing_shared_file_names_the_experiment_and_the_command(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-shared-data"
    result = regress([SMA], tmp_path / "store", GREKKO_SHARED_DATA=str(nowhere))
    assert result.exit_code == 1 and isinstance(result.exception, DataNotFoundError)
    message = str(result.exception)
    assert SMA in message and "BTC/USDT" in message and str(nowhere) in message
    assert f'grekko data import "$GREKKO_SHARED_DATA"/{NFI_BTC}' in message


def test_spec_without_data_files_says_how_to_import(tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", SMA)
    edit(folder / f"{SMA}.yaml", r"^data_files:.*\n(  - .*\n)+", "")
    assert load_experiment(folder / f"{SMA}.yaml").data_files == ()
    empty = tmp_path / "store"
    empty.mkdir()
    result = regress(["--experiments", str(folder), SMA], empty)
    assert result.exit_code == 1 and isinstance(result.exception, DataNotFoundError)
    message = str(result.exception)
    assert SMA in message and "BTC/USDT" in message
    assert "grekko data import" in message and "experiments/README.md" in message


def test_data_files_must_name_a_series(research_store: Path, tmp_path: Path) -> None:
    folder = copy_specs(tmp_path / "exp", SMA)
    edit(
        folder / f"{SMA}.yaml", r"^(  - )ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", r"\1notes.txt"
    )
    result = regress(["--experiments", str(folder)], research_store)
    assert isinstance(result.exception, ConfigError)
    assert "data_files[0]" in str(result.exception) and "notes.txt" in str(result.exception)


def test_unknown_experiment_lists_the_known_ones(research_store: Path) -> None:
    result = regress(["no_such_experiment"], research_store)
    assert isinstance(result.exception, ConfigError)
    assert "no_such_experiment" in str(result.exception) and SMA in str(result.exception)


def test_library_runs_on_a_given_store(
    research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grekko_research.data.store import ParquetStore

    monkeypatch.setenv("GREKKO_DATA_DIR", str(tmp_path / "nowhere"))  # the argument wins
    specs = load_experiments(EXPERIMENTS, ["funding_carry_btc_perp_1h"])
    (result,) = run_experiments(specs, store=ParquetStore(research_store))
    assert result.ok, result.drifted
    assert result.observation.values["n_trades"] == 1
    assert result.observation.values["win_rate"] is None  # pinned as null: the trade is open


def test_trades_hash_ignores_last_ulp_noise_only() -> None:
    from grekko_research.engine import layout as L

    rec = np.zeros((2, len(L.TRADE_FIELDS)))
    rec[:, L.T_ENTRY_BAR] = [10, 40]
    rec[:, L.T_EXIT_BAR] = [20, 55]
    rec[:, L.T_DIRECTION] = [1, -1]
    rec[:, L.T_ENTRY_PRICE] = [12345.678901234, 2.5]
    rec[:, L.T_PNL] = [0.0, -31.4159265358979]
    base = trades_hash(rec)
    assert canonical_trades(rec).splitlines()[0] == ",".join(L.TRADE_FIELDS)

    def changed(row: int, col: int, value: float) -> str:
        other = rec.copy()
        other[row, col] = value
        return trades_hash(other)

    assert changed(0, L.T_ENTRY_PRICE, np.nextafter(12345.678901234, np.inf)) == base
    assert changed(0, L.T_PNL, -0.0) == base
    assert changed(0, L.T_ENTRY_PRICE, 12345.678901234 * (1 + 1e-8)) != base
    assert changed(1, L.T_PNL, -31.4159265358979 * (1 - 1e-9)) != base
    assert changed(1, L.T_EXIT_BAR, 56) != base
    assert trades_hash(rec[:1]) != base
