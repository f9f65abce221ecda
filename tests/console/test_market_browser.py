"""The console's market pages in a real browser (Debian's headless chromium through Playwright)
over real data: the daily BTC/USDT candles with their Wyckoff phases and events, a window of
them with walk-forward HMM states, a replayed run's own bars, and the ETH/USDT L2 capture's
heat map with the traded price; what is drawn is checked against what the API returned, and a
broken candle file shows its error. One browser session for all of it. Screenshots:
``15-market.png`` … ``20-market-error.png`` (see conftest.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import (
    DAILY_BTC,
    ETH_CAPTURE,
    PageLog,
    Served,
    market_folder,
    serve,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

READ = "market-read-" + os.urandom(12).hex()
CONTROL = "market-ctl-" + os.urandom(12).hex()
WAIT = 120.0  # seconds: generous, the machine is shared
MS = 1000.0
DAILY_ID = "shared/" + Path(DAILY_BTC).name
BROKEN_ID = "shared/binance-spot_ETH-USDT_1d__broken.csv"


@pytest.fixture(scope="module")
def served(
    replayed_log: Path, shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """The API over a copy of the replayed run's log, an empty store, and a shared folder of
    links to real files plus a broken candle file."""
    run = tmp_path_factory.mktemp("market-state") / "run"
    run.mkdir()
    with sqlite3.connect(replayed_log) as src, sqlite3.connect(run / "events.db") as dst:
        src.backup(dst)
    anchor = replayed_log.with_name(replayed_log.name + ".checkpoints")
    if anchor.exists():
        (run / anchor.name).write_bytes(anchor.read_bytes())
    shared = market_folder(shared_data, tmp_path_factory.mktemp("market-shared"), broken=True)
    yield from serve(
        run / "events.db",
        READ,
        CONTROL,
        stale_bars=1e9,  # a replayed run: its last bar is old, and that is not the point here
        data_dir=tmp_path_factory.mktemp("market-store"),
        shared_dir=shared,
    )


def _api(served: Served, path: str, **params: Any) -> Any:
    """What the API answers (the same request the page makes)."""
    url = f"{served.url}{path}?{urllib.parse.urlencode(params)}"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {READ}"})
    with urllib.request.urlopen(req, timeout=WAIT) as r:
        return json.load(r)


def test_market_pages_draw_real_data(browser: Any, served: Served, artifacts: Path) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log = PageLog()
    log.attach(page)
    page.goto(served.url + "/")
    page.get_by_test_id("token").fill(READ)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("scope").wait_for(timeout=WAIT * MS)

    page.get_by_test_id("nav-market").click()
    page.get_by_test_id("series-shared").wait_for(timeout=WAIT * MS)
    assert page.get_by_test_id("series-run").inner_text().startswith("BTC/USDT 1h")
    assert page.get_by_test_id("capture-link").count() == 1
    page.screenshot(path=str(artifacts / "15-market.png"), full_page=True)

    _daily_chart(page, served, artifacts)
    _hmm_window(page, served, artifacts)
    _run_bars(page, served, artifacts)
    _heat_map(page, served, artifacts)
    assert not log.errors, log.errors
    _broken_file(page, log, artifacts)
    assert not [u for u in log.urls if READ in u or CONTROL in u]
    context.close()


def _drawn(page: Any, chart: dict[str, Any]) -> None:
    """The chart on the page is the API's: one band per band, one marker per event, one point
    of the price line per OHLCV point."""
    page.get_by_test_id("price-svg").wait_for(timeout=WAIT * MS)
    wait_until("the bands", lambda: page.get_by_test_id("band").count() == len(chart["bands"]))
    assert page.get_by_test_id("event").count() == len(chart["events"])
    line = page.get_by_test_id("price-line")
    assert line.get_attribute("data-points") == str(len(chart["t"]))
    d = line.get_attribute("d") or ""
    assert d.count("L") == len(chart["t"]) - 1
    labels = page.get_by_test_id("band").evaluate_all("els => els.map(e => e.dataset.label)")
    assert labels == [b["label"] for b in chart["bands"]]
    box = page.get_by_test_id("price-svg").bounding_box()
    assert box and box["width"] > 800 and box["height"] > 250


def _daily_chart(page: Any, served: Served, artifacts: Path) -> None:
    page.locator(f"[data-testid=series-link][data-id='{DAILY_ID}']").click()
    chart = _api(served, "/market/chart", series=DAILY_ID, regime="wyckoff")
    _drawn(page, chart)
    assert len(chart["bands"]) > 100 and chart["event_counts"]["capitulation"] == 12
    # the 2020-03-12 capitulation is a marker with its evidence
    crash = page.locator("[data-testid=event][data-kind=capitulation][data-ts='1583971200000']")
    assert crash.count() == 1
    assert "low 3,782.13" in crash.locator("title").text_content()
    assert page.get_by_test_id("event-row").count() == min(50, len(chart["events"]))
    page.screenshot(path=str(artifacts / "16-market-chart.png"), full_page=True)
    page.get_by_test_id("events-all").click()
    assert page.get_by_test_id("event-row").count() == len(chart["events"])


def _hmm_window(page: Any, served: Served, artifacts: Path) -> None:
    # a window first (306 bars: the HMM fits twice), then the regime model (the window stays)
    page.get_by_test_id("chart-start").fill("2019-03-01")
    page.get_by_test_id("chart-end").fill("2020-01-01")
    page.get_by_test_id("chart-apply").click()
    wait_until(
        "the window",
        lambda: page.get_by_test_id("price-line").get_attribute("data-points") == "306",
    )
    page.get_by_test_id("regime-select").select_option("hmm")
    chart = _api(served, "/market/chart", series=DAILY_ID, regime="hmm", start="2019-03-01",
                 end="2020-01-01")  # fmt: skip
    wait_until("the HMM bands", lambda: page.get_by_test_id("band").count() == len(chart["bands"])
               and "hmm" in (page.get_by_test_id("band").first.get_attribute("data-label") or ""))  # fmt: skip
    _drawn(page, chart)
    assert chart["bars_total"] == 306 and chart["bands"]
    page.screenshot(path=str(artifacts / "17-market-chart-hmm.png"), full_page=True)


def _run_bars(page: Any, served: Served, artifacts: Path) -> None:
    # from the run's page: its symbol's bars with their regimes and events
    page.get_by_test_id("nav-run").click()
    page.get_by_test_id("run-market").click()
    chart = _api(served, "/market/chart", series="run/BTC-USDT")
    page.get_by_test_id("chart-title").wait_for(timeout=WAIT * MS)
    _drawn(page, chart)
    assert chart["timeframe"] == "1h" and chart["bars_total"] >= 72 and chart["bands"]
    assert "this run" in page.get_by_test_id("chart-title").inner_text()
    page.screenshot(path=str(artifacts / "18-market-run.png"), full_page=True)


def _heat_map(page: Any, served: Served, artifacts: Path) -> None:
    page.get_by_test_id("nav-market").click()
    page.get_by_test_id("capture-link").click()
    book = _api(served, "/market/book", capture=ETH_CAPTURE, span_bps=10)
    page.get_by_test_id("heat-canvas").wait_for(timeout=WAIT * MS)
    assert book["mismatches"] == 0 and book["checked"] == 3432
    # the canvas holds one pixel per cell, coloured by size: many colours, none left blank
    stats = wait_until(
        "the heat map's pixels",
        lambda: page.get_by_test_id("heat-canvas").evaluate(
            """c => { if (!c.width) return null;
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const seen = new Set(); let blank = 0;
                for (let i = 0; i < d.length; i += 4) {
                  if (d[i + 3] === 0) blank++;
                  seen.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]);
                }
                return {w: c.width, h: c.height, colours: seen.size, blank}; }"""
        ),
    )
    assert stats["w"] == len(book["times"]) and stats["h"] == len(book["qty"]), stats
    assert stats["blank"] == 0 and stats["colours"] > 50, stats
    traded = sum(v is not None for v in book["trade_vwap"])
    d = page.get_by_test_id("trade-line").get_attribute("d") or ""
    assert traded > 100 and d.count("M") + d.count("L") == traded
    assert page.get_by_test_id("spoof").count() == len(book["spoofs"]) > 0
    check = page.get_by_test_id("book-check").inner_text()
    assert "3,432 of 3,432 applied events" in check, check
    page.screenshot(path=str(artifacts / "19-market-book.png"), full_page=True)


def _broken_file(page: Any, log: PageLog, artifacts: Path) -> None:
    # a candle file with a high below its low: the page says which file and row, draws nothing
    hash_ = "#/market/chart/" + urllib.parse.quote(BROKEN_ID, safe="")
    page.evaluate("h => { window.location.hash = h }", hash_)
    error = page.get_by_test_id("chart-error")
    error.wait_for(timeout=WAIT * MS)
    text = error.inner_text()
    assert "binance-spot_ETH-USDT_1d__broken.csv" in text and "row" in text, text
    assert page.get_by_test_id("price-svg").count() == 0
    # the only console error: the browser's own line about the refused request
    assert all("status of 422" in e for e in log.errors), log.errors
    page.screenshot(path=str(artifacts / "20-market-error.png"), full_page=True)
