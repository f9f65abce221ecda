"""Tearsheets of real backtests: self-contained HTML, PNG, and the numbers they show."""

from __future__ import annotations

import html
import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import BacktestResult, EngineConfig, Fees, Signals, Sizing, backtest
from grekko_research.errors import ConfigError
from grekko_research.metrics import METRIC_NAMES, periods_per_year, sharpe_ratio
from grekko_research.reports import (
    SECTION_TITLES,
    TearsheetPaths,
    buy_and_hold,
    config_rows,
    downsample_indices,
    drawdown,
    format_metric,
    monthly_return_table,
    monthly_returns,
    rolling_sharpe,
    rolling_window,
    tearsheet_data,
    tearsheet_figures,
    write_tearsheet,
)
from grekko_research.reports.series import trade_return_histogram

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FAST, SLOW = 24, 96


# -- real data and a simple strategy -----------------------------------------------------


def read_bars(shared_data: Path, names: dict[str, str], timeframe: str) -> Bars:
    """Return aligned Bars of real candles, one column per ``symbol: file stem``."""
    frames = {
        sym: pd.read_csv(shared_data / "ohlcv" / f"{stem}.csv.gz") for sym, stem in names.items()
    }
    stamps = [f["timestamp"].to_numpy(np.int64) for f in frames.values()]
    assert all(np.array_equal(stamps[0], s) for s in stamps), "files are not on one index"

    def field(name: str) -> np.ndarray:
        return np.column_stack([f[name].to_numpy(np.float64) for f in frames.values()])

    return Bars(
        index=stamps[0],
        symbols=tuple(frames),
        timeframe=timeframe,
        open=field("open"),
        high=field("high"),
        low=field("low"),
        close=field("close"),
        volume=field("volume"),
    )


def sma(x: np.ndarray, window: int) -> np.ndarray:
    """Simple moving average down the rows of ``x`` (n, k); NaN before it is defined."""
    csum = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x]), axis=0)
    out = np.full(x.shape, np.nan)
    out[window - 1 :] = (csum[window:] - csum[:-window]) / window
    return out


def sma_cross(bars: Bars, fast: int = FAST, slow: int = SLOW) -> Signals:
    """Enter when the fast average crosses above the slow one, exit when it crosses below."""
    f, s = sma(bars.close, fast), sma(bars.close, slow)
    pf, ps = np.roll(f, 1, axis=0), np.roll(s, 1, axis=0)
    up = (f > s) & (pf <= ps)
    down = (f < s) & (pf >= ps)
    up[:slow] = down[:slow] = False
    return Signals(up, down)


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Bars:
    return read_bars(shared_data, {"BTC/USDT": "binance-spot_BTC-USDT_1h__nfi"}, "1h")


@pytest.fixture(scope="module")
def pair(shared_data: Path) -> Bars:
    names = {
        "BTC/USDT": "binance-spot_BTC-USDT_1h__nfi",
        "ETH/USDT": "binance-spot_ETH-USDT_1h__nfi",
    }
    return read_bars(shared_data, names, "1h")


@pytest.fixture(scope="module")
def result(btc: Bars) -> BacktestResult:
    return backtest(btc, sma_cross(btc), EngineConfig(fees=Fees(taker=0.001)))


@dataclass(frozen=True)
class Written:
    paths: TearsheetPaths
    html: str
    folder: Path


@pytest.fixture(scope="module")
def written(result: BacktestResult, tmp_path_factory: pytest.TempPathFactory) -> Written:
    folder = tmp_path_factory.mktemp("tearsheet")
    paths = write_tearsheet(result, folder / "btc.html", png_path=folder / "btc.png")
    return Written(paths, paths.html.read_text(encoding="utf-8"), folder)


# -- helpers -----------------------------------------------------------------------------


class _ExternalRefs(HTMLParser):
    """Collect every attribute that makes a browser fetch something (script/img src, link href)."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "script":
            self.scripts += 1
        for name in ("src", "href", "data"):
            value = values.get(name)
            if value is not None and tag in ("script", "img", "link", "iframe", "object", "embed"):
                self.refs.append(f"<{tag} {name}={value}>")


def external_refs(page: str) -> tuple[list[str], int]:
    parser = _ExternalRefs()
    parser.feed(page)
    return parser.refs, parser.scripts


def metric_cells(page: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-metric="(\w+)"><th>.*?</th><td>(.*?)</td></tr>', page)
    return {name: html.unescape(value) for name, value in rows}


# -- the files -----------------------------------------------------------------------------


def test_files_exist_with_reasonable_sizes(written: Written) -> None:
    paths = written.paths
    assert paths.png is not None
    assert paths.html.is_file() and paths.png.is_file()
    size = paths.html.stat().st_size
    assert 4_500_000 < size < 6_500_000  # plotly.js (4.8 MB) plus a few hundred kB of data
    leftovers = [p.name for p in written.folder.iterdir() if p.name.endswith(".partial")]
    assert leftovers == []


def test_html_is_self_contained(written: Written) -> None:
    page = written.html
    refs, scripts = external_refs(page)
    assert refs == []
    assert scripts >= 7  # plotly.js inline, then one per plot
    assert "plotly.js v" in page  # the bundle itself is embedded
    assert not re.search(r"<script[^>]+src=", page)
    # The checker does find an external script when there is one.
    bad = page.replace(
        "<head>", '<head><script src="https://cdn.plot.ly/plotly-3.0.1.min.js"></script>', 1
    )
    assert external_refs(bad)[0] == ["<script src=https://cdn.plot.ly/plotly-3.0.1.min.js>"]


def test_every_panel_is_present(written: Written) -> None:
    page = written.html
    for key, title in SECTION_TITLES.items():
        assert f'<section id="{key}">\n<h2>{html.escape(title)}</h2>' in page, key
    for key in ("equity", "drawdown", "monthly", "price", "trade_returns", "rolling_sharpe"):
        assert page.count(f'id="grekko-{key}"') == 1, key
    assert "Rolling Sharpe ratio, window 2,160 bars ≈ 90 days, annualised" in page
    assert "not enough bars" not in page.lower()  # 5,482 bars cover the 2,160-bar window


def test_metrics_table_shows_result_metrics(written: Written, result: BacktestResult) -> None:
    cells = metric_cells(written.html)
    assert list(cells) == list(METRIC_NAMES)
    m = result.metrics
    for name in METRIC_NAMES:
        assert cells[name] == format_metric(name, m[name], timeframe="1h", currency="USDT"), name
    # Independently of format_metric: the units each row must use.
    total = result.final_equity / result.config.init_cash - 1.0
    assert cells["total_return"] == f"{total * 100:.2f}%"
    assert cells["sharpe_ratio"] == f"{m['sharpe_ratio']:.2f}"
    assert cells["trade_count"] == str(int(np.count_nonzero(~result.trades["is_open"])))
    assert cells["max_drawdown"].startswith("-") and cells["max_drawdown"].endswith("%")
    assert cells["expectancy"].endswith(" USDT")
    bars_held = m["average_trade_duration"]
    assert (
        cells["average_trade_duration"] == f"{bars_held:,.1f} bars (≈ {bars_held / 24:,.1f} days)"
    )
    assert cells["total_return"] != f"{total:.2f}"  # a fraction shown raw would be caught


def test_format_metric_units() -> None:
    assert format_metric("total_return", 0.1234) == "12.34%"
    assert format_metric("max_drawdown", -0.25) == "-25.00%"
    assert format_metric("sharpe_ratio", 1.23456) == "1.23"
    assert format_metric("trade_count", 1234.0) == "1,234"
    assert format_metric("turnover", 56.963) == "56.96×"
    assert format_metric("expectancy", 1234.567, currency="USDT") == "1,234.57 USDT"
    assert format_metric("max_drawdown_duration", 48.0, timeframe="1h") == "48.0 bars (≈ 2.0 days)"
    assert format_metric("average_trade_duration", 3.0, timeframe="4h") == "3.0 bars (≈ 12.0 hours)"
    assert format_metric("win_rate", math.nan) == "n/a"
    assert format_metric("profit_factor", math.inf) == "∞"
    assert format_metric("something_new", 0.000123456) == "0.0001235"


def test_config_table_defaults_to_the_engine_config(
    written: Written, result: BacktestResult
) -> None:
    page = written.html
    assert "<tr><th>fees.taker</th><td>0.001</td></tr>" in page
    assert "<tr><th>init_cash</th><td>10000.0</td></tr>" in page
    assert "<tr><th>stops.stop_loss</th><td>null</td></tr>" in page
    rows = dict(config_rows({"strategy": {"fast": 24, "slow": 96}, "engine": result.config}))
    assert rows["strategy.fast"] == "24"
    assert rows["engine.execution"] == "next_open"
    assert rows["engine.fees.taker"] == "0.001"
    with pytest.raises(ConfigError, match="mapping or a dataclass"):
        config_rows([1, 2, 3])


def test_custom_config_replaces_the_default(result: BacktestResult, tmp_path: Path) -> None:
    paths = write_tearsheet(
        result,
        tmp_path / "t.html",
        config={"strategy": {"fast": FAST, "slow": SLOW}},
        title="SMA <24/96>",
    )
    page = paths.html.read_text(encoding="utf-8")
    assert "<tr><th>strategy.fast</th><td>24</td></tr>" in page
    assert "fees.taker" not in page
    assert "<title>SMA &lt;24/96&gt;</title>" in page  # titles are escaped
    assert paths.png is None


# -- the numbers behind the panels -------------------------------------------------------


def test_buy_and_hold_ends_at_the_price_ratio(result: BacktestResult) -> None:
    close = result.bars.close[:, 0]
    expected = result.config.init_cash * close[-1] / close[0]
    data = tearsheet_data(result)
    assert data.buy_and_hold[0] == pytest.approx(result.config.init_cash, rel=1e-15)
    assert data.buy_and_hold[-1] == pytest.approx(expected, rel=1e-12)
    assert abs(expected - result.config.init_cash) > 1_000  # BTC moved: not a trivial check
    # ... and so does the curve embedded in the page.
    trace = tearsheet_figures(data)["equity"].data[1]
    assert trace.name == "buy & hold BTC/USDT"
    assert trace.y[-1] == pytest.approx(expected, rel=1e-12)
    assert trace.x[-1] == float(result.bars.index[-1])
    strategy = tearsheet_figures(data)["equity"].data[0]
    assert strategy.y[-1] == pytest.approx(result.final_equity, rel=1e-12)


def test_buy_and_hold_of_several_symbols_is_equal_weight(pair: Bars) -> None:
    close = pair.close
    value = buy_and_hold(close, 10_000.0)
    expected = 5_000.0 * (close[:, 0] / close[0, 0] + close[:, 1] / close[0, 1])
    np.testing.assert_allclose(value, expected, rtol=1e-13)
    # A symbol listed later keeps its share in cash until its first price.
    late = close.copy()
    late[:100, 1] = np.nan
    value = buy_and_hold(late, 10_000.0)
    assert value[50] == pytest.approx(5_000.0 * close[50, 0] / close[0, 0] + 5_000.0)
    assert value[-1] == pytest.approx(
        5_000.0 * (close[-1, 0] / close[0, 0] + close[-1, 1] / close[100, 1])
    )


def test_monthly_returns_equal_a_pandas_resample(result: BacktestResult) -> None:
    equity = result.equity_series()
    month_end = equity.resample("ME").last()
    previous = month_end.shift(1)
    previous.iloc[0] = equity.iloc[0]
    expected = (month_end / previous - 1.0).to_numpy()
    got = monthly_returns(result.equity, result.bars.index)
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12, atol=1e-15)
    assert [str(p) for p in got.index] == [t.strftime("%Y-%m") for t in month_end.index]
    assert np.prod(1.0 + got.to_numpy()) - 1.0 == pytest.approx(
        result.metrics["total_return"], rel=1e-10
    )
    table = monthly_return_table(got)
    assert list(table.columns) == list(range(1, 13))
    assert table.loc[2021, 2] == pytest.approx(expected[2], rel=1e-12)  # Dec 2020, Jan, Feb 2021
    assert np.isnan(table.to_numpy()[0, 0])  # the run starts in December 2020: no January


def test_drawdown_and_rolling_sharpe(result: BacktestResult) -> None:
    dd = drawdown(result.equity)
    assert dd.max() == 0.0
    assert dd.min() == pytest.approx(result.metrics["max_drawdown"], rel=1e-12)
    window = rolling_window("1h")
    assert window == 2160
    ppy = periods_per_year("1h")
    rs = rolling_sharpe(result.equity, window, ppy)
    assert np.isnan(rs[:window]).all()
    assert np.isfinite(rs[window])
    # The last value is the Sharpe ratio of the last `window` returns.
    assert rs[-1] == pytest.approx(sharpe_ratio(result.equity[-window - 1 :], ppy), rel=1e-8)
    assert rs[-1] != pytest.approx(result.metrics["sharpe_ratio"], rel=1e-3)


def test_downsampling_keeps_ends_and_extremes(shared_data: Path) -> None:
    frame = pd.read_csv(
        shared_data / "ohlcv/binance-spot_BTC-USDT_5m__nfi.csv.gz", usecols=["close"]
    )
    values = frame["close"].to_numpy(np.float64)
    n = len(values)
    idx = downsample_indices(values, 1_000)
    assert len(idx) <= 1_000
    assert idx[0] == 0 and idx[-1] == n - 1
    assert np.all(np.diff(idx) > 0)
    assert values[idx].max() == values.max() and values[idx].min() == values.min()
    # Naive striding to the same size would lose the global high: this test can fail.
    stride = values[:: -(-n // 1_000)]
    assert stride.max() < values.max()
    # Missing values: a gap keeps one NaN so the line breaks; extremes still survive.
    gappy = values.copy()
    gappy[10_000:12_000] = np.nan
    idx = downsample_indices(gappy, 1_000)
    assert len(idx) <= 1_000 and np.isnan(gappy[idx]).any()
    assert np.nanmax(gappy[idx]) == np.nanmax(gappy) and np.nanmin(gappy[idx]) == np.nanmin(gappy)
    # Short series come back whole.
    np.testing.assert_array_equal(downsample_indices(values[:500], 1_000), np.arange(500))


def test_long_runs_are_downsampled_in_the_page(shared_data: Path, tmp_path: Path) -> None:
    bars = read_bars(shared_data, {"BTC/USDT": "binance-spot_BTC-USDT_5m__nfi"}, "5m")
    res = backtest(bars, sma_cross(bars, 12, 288), EngineConfig())
    figures = tearsheet_figures(tearsheet_data(res), max_points=2_000, max_trades=100)
    for key in ("equity", "drawdown", "price", "rolling_sharpe"):
        lines = [t for t in figures[key].data if t.mode == "lines"]
        assert lines, key
        assert all(len(t.y) <= 2_000 for t in lines), key
    markers = [t for t in figures["price"].data if t.mode == "markers"]
    assert res.n_trades > 100
    assert sum(len(t.x) for t in markers if "entry" in t.name) <= 100
    assert "markers of 100 of" in figures["price"].layout.title.text
    paths = write_tearsheet(res, tmp_path / "long.html")
    assert paths.html.stat().st_size < 6_000_000  # 65,741 bars, still plotly.js + ~0.5 MB


def test_trade_markers_and_histogram_match_the_trades(result: BacktestResult) -> None:
    data = tearsheet_data(result)
    price = tearsheet_figures(data)["price"]
    entries = next(t for t in price.data if t.name == "long entry")
    exits = next(t for t in price.data if t.name == "exit")
    trades = result.trades
    np.testing.assert_array_equal(entries.x, result.bars.index[trades["entry_bar"]].astype(float))
    np.testing.assert_array_equal(entries.y, trades["entry_price"].to_numpy())
    assert len(exits.x) == int((~trades["is_open"]).sum())
    counts, edges = trade_return_histogram(data.trade_returns)
    assert counts.sum() == len(data.trade_returns) == result.metrics["trade_count"]
    assert 0.0 in edges  # wins and losses never share a bar
    bars = tearsheet_figures(data)["trade_returns"].data[0]
    np.testing.assert_array_equal(bars.y, counts)


# -- PNG and determinism ------------------------------------------------------------------


def test_png_is_a_valid_image(written: Written) -> None:
    path = written.paths.png
    assert path is not None
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert height > 0 and width > 0
    assert (width, height) == (1300, 850)
    assert image[..., :3].std() > 0.05  # something was drawn, not a blank canvas


def test_output_is_byte_identical_across_runs(
    result: BacktestResult, btc: Bars, tmp_path: Path
) -> None:
    a = write_tearsheet(result, tmp_path / "a.html", png_path=tmp_path / "a.png", title="run")
    b = write_tearsheet(result, tmp_path / "b.html", png_path=tmp_path / "b.png", title="run")
    assert a.html.read_bytes() == b.html.read_bytes()
    assert a.png is not None and b.png is not None
    assert a.png.read_bytes() == b.png.read_bytes()
    other = backtest(btc, sma_cross(btc, 12, 48), EngineConfig(fees=Fees(taker=0.001)))
    c = write_tearsheet(other, tmp_path / "c.html", title="run")
    assert c.html.read_bytes() != a.html.read_bytes()


# -- edge cases ---------------------------------------------------------------------------


def test_no_trades(btc: Bars, tmp_path: Path) -> None:
    never = np.zeros(btc.close.shape, dtype=bool)
    res = backtest(btc, Signals(never, never), EngineConfig())
    assert res.n_trades == 0
    paths = write_tearsheet(res, tmp_path / "flat.html", png_path=tmp_path / "flat.png")
    page = paths.html.read_text(encoding="utf-8")
    cells = metric_cells(page)
    assert cells["total_return"] == "0.00%"
    assert cells["trade_count"] == "0"
    assert cells["win_rate"] == "n/a"
    assert "no closed trades" in page
    assert "the returns never vary" in page
    assert paths.png is not None
    assert mpimg.imread(paths.png).shape[:2] == (850, 1300)


def test_multi_asset(pair: Bars, tmp_path: Path) -> None:
    res = backtest(pair, sma_cross(pair), EngineConfig(sizing=Sizing("percent", 0.5)))
    assert set(res.trades["symbol"]) == {"BTC/USDT", "ETH/USDT"}
    paths = write_tearsheet(res, tmp_path / "pair.html", png_path=tmp_path / "pair.png")
    page = paths.html.read_text(encoding="utf-8")
    assert "buy & hold, equal weight (2 symbols)" in page  # the legend, inside the plot's JSON
    data = tearsheet_data(res)
    close = pair.close
    assert data.buy_and_hold[-1] == pytest.approx(
        5_000.0 * (close[-1, 0] / close[0, 0] + close[-1, 1] / close[0, 1])
    )
    price = tearsheet_figures(data)["price"]
    assert [a.text for a in price.layout.annotations] == ["BTC/USDT", "ETH/USDT"]
    for j, symbol in enumerate(pair.symbols):
        axis = "y" if j == 0 else f"y{j + 1}"
        entries = [
            t for t in price.data if t.mode == "markers" and "entry" in t.name and t.yaxis == axis
        ]
        assert sum(len(t.x) for t in entries) == int((res.trades["symbol"] == symbol).sum())
    assert paths.png is not None and paths.png.read_bytes()[:8] == PNG_MAGIC


def test_short_run_says_not_enough_bars(btc: Bars, tmp_path: Path) -> None:
    short = btc[:600]
    res = backtest(short, sma_cross(short), EngineConfig())
    assert res.n_trades > 0
    data = tearsheet_data(res)
    assert not data.enough_bars and np.isnan(data.rolling_sharpe).all()
    page = write_tearsheet(res, tmp_path / "short.html").html.read_text(encoding="utf-8")
    assert "not enough bars: 600 bars, the window needs 2,161" in page
    assert "Not enough bars for the rolling Sharpe ratio" in page
    # A window the run does cover gives values again.
    page = write_tearsheet(res, tmp_path / "short2.html", rolling_window=100).html.read_text(
        encoding="utf-8"
    )
    assert "not enough bars" not in page.lower()


def test_ruined_equity(btc: Bars, tmp_path: Path) -> None:
    # Short BTC at 10× leverage in December 2020: the rally wipes the account out.
    n = btc.n_bars
    none = np.zeros((n, 1), dtype=bool)
    short = none.copy()
    short[100] = True
    config = EngineConfig(allow_short=True, leverage=10.0, maintenance_margin=0.0)
    res = backtest(btc, Signals(none, none, short, none), config)
    ruin = int(np.argmax(res.equity <= 0.0))
    assert res.equity[ruin] <= 0.0 and ruin > 100
    data = tearsheet_data(res)
    assert data.drawdown.min() == -1.0
    assert (data.drawdown[ruin:] == -1.0).all()
    monthly = data.monthly.to_numpy()
    assert monthly[0] == -1.0 and np.isnan(monthly[1:]).all()  # ruined in December 2020
    paths = write_tearsheet(res, tmp_path / "ruin.html", png_path=tmp_path / "ruin.png")
    cells = metric_cells(paths.html.read_text(encoding="utf-8"))
    assert cells["total_return"] == "-100.00%"
    assert cells["max_drawdown"] == "-100.00%"
    assert paths.png is not None and paths.png.read_bytes()[:8] == PNG_MAGIC


def test_benchmark_is_rescaled_and_checked(
    result: BacktestResult, pair: Bars, tmp_path: Path
) -> None:
    eth = pd.Series(pair.close[:, 1], index=pair.datetime_index, name="ETH/USDT hold")
    data = tearsheet_data(result, benchmark=eth)
    assert data.benchmark is not None
    assert data.benchmark[-1] == pytest.approx(10_000.0 * eth.iloc[-1] / eth.iloc[0], rel=1e-12)
    names = [t.name for t in tearsheet_figures(data)["equity"].data]
    assert names == ["strategy", "buy & hold BTC/USDT", "ETH/USDT hold"]
    with pytest.raises(ConfigError, match="benchmark has 5481 values, expected 5482"):
        write_tearsheet(result, tmp_path / "bad.html", benchmark=eth.to_numpy()[1:])
    with pytest.raises(ConfigError, match="DatetimeIndex differs"):
        tearsheet_data(result, benchmark=eth.shift(1, freq="h"))
    assert not (tmp_path / "bad.html").exists()


# -- broken inputs --------------------------------------------------------------------------


def test_broken_inputs_raise_clear_errors(result: BacktestResult, tmp_path: Path) -> None:
    equity, index = result.equity, result.bars.index
    with pytest.raises(ConfigError, match="index has 5482 values but equity has 5481"):
        monthly_returns(equity[:-1], index)
    broken = equity.copy()
    broken[3] = np.nan
    with pytest.raises(ConfigError, match=r"equity\[3\] is not finite"):
        drawdown(broken)
    with pytest.raises(ConfigError, match="equity must be one-dimensional"):
        drawdown(equity[:, None])
    with pytest.raises(ConfigError, match="positive prices"):
        buy_and_hold(-result.bars.close, 10_000.0)
    with pytest.raises(ConfigError, match="window must be an integer >= 2"):
        rolling_sharpe(equity, 1, 8760.0)
    with pytest.raises(ConfigError, match="max_points must be an integer >= 5"):
        downsample_indices(equity, 3)
    with pytest.raises(ConfigError, match="max_trades must be an integer >= 2"):
        tearsheet_figures(tearsheet_data(result), max_trades=1)
    with pytest.raises(ConfigError, match="strictly increasing"):
        monthly_returns(equity, index[::-1].copy())
    # A result whose equity does not match its bars is refused before anything is written.
    bad = BacktestResult(
        result.bars,
        result.config,
        equity[:-1],
        result.order_records,
        result.trade_records,
        result.event_records,
    )
    target = tmp_path / "bad.html"
    with pytest.raises(ConfigError, match="equity has 5481 values, expected 5482"):
        write_tearsheet(bad, target)
    assert not target.exists()


def test_failed_rewrite_keeps_the_previous_file(result: BacktestResult, tmp_path: Path) -> None:
    target = tmp_path / "keep.html"
    write_tearsheet(result, target, title="first")
    before = target.read_bytes()
    with pytest.raises(ConfigError):
        write_tearsheet(result, target, title="second", config=["not", "a", "mapping"])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.html"]
