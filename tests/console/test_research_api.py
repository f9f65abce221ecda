"""The console's research routes over a runs folder written by real backtests: the runs and
their metrics, a config diff, a sweep's gates, the framed tearsheet (its ticket, its CSP) and
no way out of the runs folder."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live.api import ApiTokens, FlagFileControl, LogHub, create_app
from live.api._research import FRAME_PREFIX

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

READ = "research-read-0123456789"
H = {"Authorization": f"Bearer {READ}"}


@pytest.fixture
def client(research_folder: Any, tmp_path: Path) -> Iterator[TestClient]:
    with LogHub(tmp_path / "events.db") as hub:
        app = create_app(
            hub, FlagFileControl(tmp_path), ApiTokens.of([READ], []), runs_dir=research_folder.root
        )
        with TestClient(app) as c:
            yield c


def _metrics(root: Path, rid: str) -> dict[str, Any]:
    return json.loads((root / rid / "metrics.json").read_text())


def test_runs_lists_every_backtest_with_its_metrics(
    client: TestClient, research_folder: Any
) -> None:
    got = client.get("/research/runs", headers=H)
    assert got.status_code == 200, got.text
    runs = {r["id"]: r for r in got.json()}
    rf = research_folder
    assert set(runs) == {rf.a, rf.b, rf.best}
    for rid in (rf.a, rf.b, rf.best):
        doc = _metrics(rf.root, rid)
        row = runs[rid]
        assert row["strategy"] == "sma_cross" and row["symbols"] == "BTC/USDT"
        assert row["config_id"] == doc["config_id"] and row["timeframe"] == "1h"
        assert row["metrics"]["final_equity"] == pytest.approx(doc["final_equity"])
        assert row["metrics"]["sharpe_ratio"] == pytest.approx(doc["metrics"]["sharpe_ratio"])
        assert row["metrics"]["n_trades"] == doc["n_trades"]
        assert row["tearsheet"] is True
    assert runs[rf.best]["sweep"] == rf.sweep and runs[rf.a]["sweep"] is None
    created = [r["created"] for r in got.json()]
    assert created == sorted(created, reverse=True)
    only = client.get("/research/runs", params={"strategy": "no_such"}, headers=H).json()
    assert only == []


def test_a_run_and_the_diff_of_two(client: TestClient, research_folder: Any) -> None:
    rf = research_folder
    run = client.get("/research/run", params={"run": rf.a}, headers=H).json()
    assert run["config"]["params.fast"] == "12" and run["config"]["strategy"] == "sma_cross"
    diff = client.get("/research/diff", params={"a": rf.a, "b": rf.b}, headers=H).json()
    assert diff["rows"] == [{"key": "params.fast", "a": "12", "b": "10"}]
    assert diff["equal"] > 10 and diff["unshared"] == 0
    same = client.get("/research/diff", params={"a": rf.a, "b": rf.a}, headers=H).json()
    assert same["rows"] == []


def test_sweeps_carry_their_gates(client: TestClient, research_folder: Any) -> None:
    rf = research_folder
    (sweep,) = client.get("/research/sweeps", headers=H).json()
    assert sweep["id"] == rf.sweep and sweep["study"] == "sma_cross-test-sharpe_ratio"
    assert sweep["best_run"] == rf.best and sweep["n_trials"] == 20
    assert sweep["storage"] == "sqlite:///optuna.db"
    assert [g["gate"] for g in sweep["gates"]] == [g["gate"] for g in rf.gates]
    by_name = {g["gate"]: g for g in sweep["gates"]}
    assert by_name["probability of backtest overfitting"]["ok"] is False  # pbo 0.62
    assert by_name["out-of-sample Sharpe"]["value"] == pytest.approx(1.4)
    assert sweep["gates_passed"] is False
    links = client.get("/research/links", headers=H).json()
    assert links["runs_dir"] == str(rf.root.resolve())
    assert links["mlflow_ui"].startswith("http") and links["optuna_dashboard"].startswith("http")


def test_mlflow_runs_are_listed_with_their_folder_and_address(
    client: TestClient, research_folder: Any
) -> None:
    rf = research_folder
    got = client.get("/research/mlflow", headers=H)
    assert got.status_code == 200, got.text
    (run,) = got.json()
    doc = _metrics(rf.root, rf.b)
    assert run["run_id"] == rf.mlflow and run["experiment"] == "grekko-backtests"
    assert run["folder"] == rf.b and run["config_id"] == doc["config_id"]
    assert run["status"] == "FINISHED" and run["strategy"] == "sma_cross"
    assert run["metrics"]["sharpe_ratio"] == pytest.approx(doc["metrics"]["sharpe_ratio"])
    assert run["url"].startswith("http://127.0.0.1:5000/#/experiments/")
    assert run["url"].endswith(f"/runs/{rf.mlflow}")


def test_the_tearsheet_is_framed_by_ticket_under_its_own_csp(
    client: TestClient, research_folder: Any
) -> None:
    rf = research_folder
    got = client.get("/research/frame_url", params={"id": rf.a}, headers=H)
    assert got.status_code == 200, got.text
    url = got.json()["url"]
    assert url.startswith(FRAME_PREFIX + "/") and url.endswith("/tearsheet.html")
    assert READ not in url
    page = client.get(url)  # no token: the ticket opens it
    assert page.status_code == 200
    assert page.content == (rf.root / rf.a / "tearsheet.html").read_bytes()
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in csp and "default-src 'none'" in csp
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "'unsafe-eval'" not in csp
    # every inline script of the page is allowed by its hash, and nothing more
    inline = re.findall(r"<script(?![^>]*src=)[^>]*>", page.text)
    assert inline and csp.count("'sha256-") == len(inline)
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    js = client.get(url.replace("tearsheet.html", "plotly.min.js"))
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    # the ticket opens that run's page and script, nothing else of the folder
    for name in ("metrics.json", "config.yaml", "trades.parquet", "tearsheet.png"):
        assert client.get(url.replace("tearsheet.html", name)).status_code == 404, name
    # a sweep's pages by their own ticket
    sweep = client.get("/research/frame_url", params={"id": rf.sweep, "kind": "sweep"}, headers=H)
    assert sweep.status_code == 404  # this sweep folder has no oos_equity.html


def test_no_path_leaves_the_runs_folder(client: TestClient, research_folder: Any) -> None:
    rf = research_folder
    secret = rf.root.parent / "secret.txt"
    secret.write_text("not yours")
    outside = [
        "../secret.txt",
        "../" + rf.root.name + "/" + rf.a,
        str(rf.root / rf.a),  # an absolute path, even to a real run
        rf.a + "/..",
        rf.a + "/../../" + rf.b,
        "sma_cross",
        "/etc",
        "sweeps/../" + rf.a,
        rf.a.replace("/", "%2F"),
    ]
    for bad in outside:
        for path, params in (
            ("/research/run", {"run": bad}),
            ("/research/diff", {"a": bad, "b": rf.b}),
            ("/research/frame_url", {"id": bad}),
            ("/research/frame_url", {"id": bad, "kind": "sweep", "page": "study.html"}),
        ):
            got = client.get(path, params=params, headers=H)
            assert got.status_code == 404, f"{path} {params}: {got.status_code}"
            assert "not yours" not in got.text
    # a ticket's names are a set, never joined: traversal and encoded slashes find nothing
    url = client.get("/research/frame_url", params={"id": rf.a}, headers=H).json()["url"]
    ticket = url.split("/")[3]
    for name in ("..%2F..%2Fsecret.txt", "..%2Fmetrics.json", "%2E%2E", "..", "."):
        got = client.get(f"{FRAME_PREFIX}/{ticket}/{name}")  # (the client folds . and ..)
        assert got.status_code in (401, 404) and "not yours" not in got.text, name
    got = client.get(f"{FRAME_PREFIX}/{ticket}/../../../{rf.root.name}/{rf.a}/metrics.json")
    assert got.status_code in (401, 404) and "config_id" not in got.text
    # unknown and forged tickets open nothing
    for t in ("x" * 32, ticket[:-1], ""):
        assert client.get(f"{FRAME_PREFIX}/{t}/tearsheet.html").status_code in (401, 404)
    # a page that is not a run's report is refused before any ticket is issued
    for page in ("metrics.json", "../secret.txt", "config.yaml"):
        got = client.get("/research/frame_url", params={"id": rf.a, "page": page}, headers=H)
        assert got.status_code == 404, page


def test_a_ticket_expires(client: TestClient, research_folder: Any) -> None:
    from live.api import _research

    url = client.get("/research/frame_url", params={"id": research_folder.b}, headers=H).json()
    ticket = url["url"].split("/")[3]
    tickets = next(
        c.cell_contents
        for r in client.app.routes  # type: ignore[attr-defined]
        if getattr(r, "path", "") == FRAME_PREFIX + "/{ticket}/{name}"
        for c in (r.endpoint.__closure__ or ())
        if isinstance(c.cell_contents, _research._Folder)
    ).tickets
    folder, pages, _ = tickets.issued[ticket]
    tickets.issued[ticket] = (folder, pages, 0.0)  # its time is up
    assert client.get(url["url"]).status_code == 404


def test_an_empty_or_missing_runs_folder_lists_nothing(tmp_path: Path) -> None:
    with LogHub(tmp_path / "events.db") as hub:
        app = create_app(
            hub, FlagFileControl(tmp_path), ApiTokens.of([READ], []), runs_dir=tmp_path / "none"
        )
        with TestClient(app) as c:
            assert c.get("/research/runs", headers=H).json() == []
            assert c.get("/research/sweeps", headers=H).json() == []
            assert c.get("/research/mlflow", headers=H).json() == []
            assert c.get("/research/run", params={"run": "a/b"}, headers=H).status_code == 404
        assert not (tmp_path / "none").exists()  # reading created nothing


def test_a_damaged_sweep_is_listed_with_what_is_wrong(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    good, bad = (runs / "sweeps" / "study" / t for t in ("20260101T000000", "20260102T000000"))
    good.mkdir(parents=True)
    bad.mkdir(parents=True)
    (good / "summary.json").write_text(json.dumps({"strategy": "sma_cross", "n_trials": 3}))
    (bad / "summary.json").write_text('{"strategy": "sma_cross", "n_tri')  # cut short
    with LogHub(tmp_path / "events.db") as hub:
        app = create_app(hub, FlagFileControl(tmp_path), ApiTokens.of([READ], []), runs_dir=runs)
        with TestClient(app) as c:
            got = c.get("/research/sweeps", headers=H)
    assert got.status_code == 200, got.text
    newest, older = got.json()
    assert newest["id"] == "sweeps/study/20260102T000000" and newest["strategy"] is None
    assert newest["error"].startswith("summary.json is not JSON")
    assert older["error"] is None and older["n_trials"] == 3 and older["gates"] is None
