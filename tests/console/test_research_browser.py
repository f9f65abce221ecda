"""The console's research pages in a real browser (Debian's headless chromium through Playwright)
over a runs folder written by real backtests (see ``research_folder`` in conftest.py): the
runs table sorts and filters, two ticked runs open their config diff, a run's tearsheet renders
in its sandboxed frame under the strict CSP, a sweep shows its gates. Screenshots: conftest.py.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import PageLog, Served, serve, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

READ = "research-read-" + os.urandom(12).hex()
CONTROL = "research-ctl-" + os.urandom(12).hex()
WAIT = 120.0  # seconds: generous, the machine is shared
MS = 1000.0


@pytest.fixture(scope="module")
def served(research_folder: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The API over an empty run log (no live run needed) and the research runs folder."""
    state = tmp_path_factory.mktemp("research-state") / "run"
    state.mkdir()
    yield from serve(state / "events.db", READ, CONTROL, runs_dir=research_folder.root)


def _sharpe_order(page: Any) -> list[str]:
    """The run ids of the table's rows, top to bottom."""
    links = page.locator("[data-testid=research-run-link]")
    return [str(h).split("/research/run/", 1)[1] for h in links.evaluate_all(
        "els => els.map(e => e.getAttribute('href'))")]  # fmt: skip


def test_research_pages_sort_diff_and_frame_the_tearsheet(
    browser: Any, served: Served, research_folder: Any, artifacts: Path
) -> None:
    rf = research_folder
    sharpe = {
        rid: json.loads((rf.root / rid / "metrics.json").read_text())["metrics"]["sharpe_ratio"]
        for rid in (rf.a, rf.b, rf.best)
    }
    assert len(set(sharpe.values())) == 3, sharpe  # the sort below must be able to fail
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    log = PageLog()
    log.attach(page)
    page.goto(served.url + "/")
    page.get_by_test_id("token").fill(READ)
    page.get_by_test_id("login-submit").click()
    page.get_by_test_id("scope").wait_for(timeout=WAIT * MS)

    _sort_and_filter(page, rf, sharpe, artifacts)
    _diff_two_runs(page, rf, artifacts)
    _tearsheet(page, served, rf, artifacts)
    _sweep_gates(page, rf, artifacts)
    assert not log.errors, log.errors
    assert not [u for u in log.urls if READ in u]
    context.close()


def _sort_and_filter(page: Any, rf: Any, sharpe: dict[str, float], artifacts: Path) -> None:
    """The runs table: three runs, sorted by Sharpe (descending first, then ascending), then
    filtered."""
    from urllib.parse import unquote

    page.get_by_test_id("nav-research").click()
    page.get_by_test_id("research-runs").wait_for(timeout=WAIT * MS)
    assert page.locator("[data-testid=research-run]").count() == 3
    assert "MLflow" in page.get_by_test_id("research-links").inner_text()
    # run b is tracked: its MLflow run is listed, linked to its folder and to MLflow's UI
    page.get_by_test_id("research-mlflow").wait_for(timeout=WAIT * MS)
    tracked = page.locator("[data-testid=tracked-run]")
    assert tracked.count() == 1 and rf.mlflow[:8] in tracked.first.inner_html()
    folder_link = page.get_by_test_id("tracked-folder").get_attribute("href")
    assert folder_link and folder_link.endswith(rf.b.replace("/", "%2F"))
    mlflow_links = page.get_by_test_id("run-mlflow")
    assert mlflow_links.count() == 1
    assert str(mlflow_links.first.get_attribute("href")).endswith(f"/runs/{rf.mlflow}")
    page.screenshot(path=str(artifacts / "10-research-runs.png"), full_page=True)
    page.get_by_test_id("sort-sharpe_ratio").click()
    ids = [unquote(x) for x in _sharpe_order(page)]
    assert ids == sorted(sharpe, key=lambda r: sharpe[r], reverse=True), (ids, sharpe)
    page.get_by_test_id("sort-sharpe_ratio").click()
    ids = [unquote(x) for x in _sharpe_order(page)]
    assert ids == sorted(sharpe, key=lambda r: sharpe[r]), (ids, sharpe)
    page.screenshot(path=str(artifacts / "11-research-sorted.png"), full_page=True)
    # filters: a minimum Sharpe between the values keeps the runs above it
    middle = sorted(sharpe.values())[1]
    page.get_by_test_id("filter-sharpe").fill(f"{middle - 1e-9:.12f}")
    wait_until("the Sharpe filter", lambda: page.locator("[data-testid=research-run]").count() == 2)
    page.get_by_test_id("filter-sharpe").fill("")
    page.get_by_test_id("filter-text").fill(rf.a.rsplit("-", 1)[1])  # run a's config id
    wait_until("the text filter", lambda: page.locator("[data-testid=research-run]").count() == 1)
    page.get_by_test_id("filter-text").fill("")


def _diff_two_runs(page: Any, rf: Any, artifacts: Path) -> None:
    # tick runs a and b: their config diff is the one parameter that differs
    rows = page.locator("[data-testid=research-run]")
    wait_until("all rows back", lambda: rows.count() == 3)
    for rid in (rf.a, rf.b):
        page.get_by_label(f"pick {rid}").check()
    page.get_by_test_id("diff-picked").click()
    page.get_by_test_id("diff").wait_for(timeout=WAIT * MS)
    diff_rows = page.locator("[data-testid=diff-row]")
    assert diff_rows.count() == 1
    cells = diff_rows.first.locator("td").all_inner_texts()
    assert cells == ["params.fast", "12", "10"], cells
    page.get_by_test_id("diff-metrics").wait_for(timeout=WAIT * MS)
    page.screenshot(path=str(artifacts / "12-research-diff.png"), full_page=True)


def _tearsheet(page: Any, served: Served, rf: Any, artifacts: Path) -> None:
    # run a's page: the tearsheet renders in its sandboxed frame (plotly draws its SVG)
    page.goto(served.url + "/#/research/run/" + rf.a.replace("/", "%2F"))
    page.get_by_test_id("research-run-title").wait_for(timeout=WAIT * MS)
    frame_el = page.get_by_test_id("frame-tearsheet.html")
    frame_el.wait_for(timeout=WAIT * MS)
    assert frame_el.get_attribute("sandbox") == "allow-scripts"
    src = frame_el.get_attribute("src")
    assert src and src.startswith("/research/frame/") and READ not in src
    frame = page.frame_locator("[data-testid='frame-tearsheet.html']")
    frame.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=WAIT * MS)
    plots = frame.locator(".js-plotly-plot").count()
    assert plots >= 2, plots
    # something is drawn: the first figure's traces have paths with points
    drawn = frame.locator(".js-plotly-plot .scatterlayer path").first.get_attribute("d")
    assert drawn and len(drawn) > 100
    # the sandbox: the framed page cannot reach the console (nor its session)
    inner = next(f for f in page.frames if f.url.endswith("/tearsheet.html"))
    reach = inner.evaluate(
        "() => { try { return window.parent.document.title } catch (e) { return 'blocked' } }"
    )
    assert reach == "blocked"
    frame_el.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "13-research-tearsheet.png"), full_page=True)


def _sweep_gates(page: Any, rf: Any, artifacts: Path) -> None:
    # the sweep: its gate table, one row per gate, pass / fail as gates.json says
    page.get_by_test_id("nav-research").click()
    page.get_by_test_id("sweep-link").click()
    page.get_by_test_id("gates").wait_for(timeout=WAIT * MS)
    gate_rows = page.locator("[data-testid=gate]")
    assert gate_rows.count() == len(rf.gates)
    for i, g in enumerate(rf.gates):
        row = gate_rows.nth(i).inner_text()
        want = "pass" if g["ok"] else "fail"
        assert g["gate"] in row and want in row, (row, g)
    assert page.get_by_test_id("best-run-link").count() == 1
    page.screenshot(path=str(artifacts / "14-research-sweep.png"), full_page=True)
