"""The console's bundle and client types against their sources, and the two routes it loads
before it streams (/events, /equity) against the log: fast checks, no browser."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

from live.api import ApiTokens, FlagFileControl, LogHub, create_app
from live.api._console import CONSOLE_DIR, source_hash
from live.api._recent import EQUITY_POINTS, Recent
from live.api.openapi_doc import openapi_document, render
from live.events import Event

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "web"
READ = "console-read-0123456789"


def test_the_committed_bundle_is_built_from_the_committed_sources() -> None:
    recorded = (CONSOLE_DIR / "SOURCE_HASH").read_text().strip()
    assert recorded == source_hash(WEB), (
        "live/api/console/ is older than web/: run `make console` and commit the bundle"
    )
    index = (CONSOLE_DIR / "index.html").read_text()
    for name in re.findall(r'/console/assets/([^"]+)"', index):
        assert (CONSOLE_DIR / "assets" / name).is_file(), name


def test_the_source_hash_changes_with_any_source(tmp_path: Path) -> None:
    web = tmp_path / "web"
    (web / "src" / "api").mkdir(parents=True)
    (web / "build.mjs").write_text("x")
    (web / "package-lock.json").write_text("{}")
    (web / "src" / "api" / "a.ts").write_text("a")
    (web / "src" / "api.ts").write_text("b")
    before = source_hash(web)
    (web / "src" / "api" / "a.ts").write_text("a2")
    assert source_hash(web) != before
    (web / "src" / "api" / "a.ts").write_text("a")
    assert source_hash(web) == before
    (web / "src" / "new.tsx").write_text("")
    assert source_hash(web) != before


def test_the_client_types_follow_the_api() -> None:
    """web/src/api/openapi.json is what the API serves (schema.ts is generated from it, and
    `make test` checks that with openapi-typescript --check)."""
    committed = (WEB / "src" / "api" / "openapi.json").read_text()
    assert committed == render(openapi_document()), (
        "the API changed: run `make console` (it regenerates openapi.json, schema.ts and the bundle)"
    )
    schema = (WEB / "src" / "api" / "schema.ts").read_text()
    for path in json.loads(committed)["paths"]:
        assert f'"{path}": {{' in schema, path


def _event(seq: int, kind: str, payload: dict) -> Event:
    return Event(seq, 1_000 * seq, kind, "runner", payload, "", "")


def test_recent_keeps_the_latest_events_and_a_thinned_equity_curve() -> None:
    recent = Recent(("signals", "risk"), keep=3)
    for seq in range(1, 6):
        recent.observe(_event(seq, "decision", {"ts": seq}), ("signals",))
    assert [e.seq for e in recent.latest("signals", 10)] == [3, 4, 5]
    assert [e.seq for e in recent.latest("signals", 2)] == [4, 5]
    assert recent.latest("risk", 10) == []
    n = EQUITY_POINTS * 3 + 7
    for i in range(n):
        recent.observe(_event(10 + i, "bar_closed", {"ts": i * 60_000, "equity": 100.0 + i}), ())
    curve = recent.curve()
    assert len(curve) <= EQUITY_POINTS + 1
    assert curve[0] == (0, 100.0) and curve[-1] == ((n - 1) * 60_000, 100.0 + n - 1)
    assert [t for t, _ in curve] == sorted({t for t, _ in curve})
    # A bar without a number for equity adds nothing.
    recent.observe(_event(10 + n, "bar_closed", {"ts": n * 60_000, "equity": None}), ())
    assert recent.curve()[-1][0] == (n - 1) * 60_000


def test_events_and_equity_agree_with_the_log(replayed_log: Path) -> None:
    from live.api.hub import topics_of
    from live.events import EventStore

    with EventStore.open(replayed_log) as store:
        logged = list(store.read())
    with LogHub(replayed_log) as hub:
        app = create_app(hub, FlagFileControl(replayed_log.parent), ApiTokens.of([READ]))
        with TestClient(app) as client:
            auth = {"Authorization": f"Bearer {READ}"}
            for topic in ("orders", "fills", "signals", "risk"):
                page = client.get(f"/events?topic={topic}&limit=500", headers=auth).json()
                want = [e.seq for e in logged if topic in topics_of(e)][-500:]
                assert [e["seq"] for e in page["events"]] == want, topic
                assert page["last_seq"] == logged[-1].seq
                assert {e["topic"] for e in page["events"]} <= {topic}
            page = client.get("/events?topic=signals&limit=5", headers=auth).json()
            decisions = [e for e in logged if e.kind == "decision"]
            assert [e["payload"] for e in page["events"]] == [e.payload for e in decisions[-5:]]
            bad = client.get("/events?topic=bars", headers=auth)
            assert bad.status_code == 422 and "topic" in bad.text
            assert client.get("/events?topic=risk&limit=501", headers=auth).status_code == 422

            curve = client.get("/equity", headers=auth).json()
            bars = [e.payload for e in logged if e.kind == "bar_closed"]
            assert [(p["ts"], p["equity"]) for p in curve["points"]] == [
                (b["ts"], b["equity"]) for b in bars
            ]
            assert curve["equity_start"] == bars[0]["equity"]
            # The risk topic holds the run's refusals with their rule (what the page lists).
            risk = client.get("/events?topic=risk&limit=500", headers=auth).json()["events"]
            acted = [
                e
                for e in risk
                if e["kind"] == "risk_decision" and e["payload"]["action"] != "approve"
            ]
            assert acted and all(e["payload"]["rule"] and e["payload"]["reason"] for e in acted)


def test_runs_lists_the_runs_of_the_served_state_folder(replayed_log: Path, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    state = tmp_path / "state"
    served = state / "served" / "events.db"
    other = state / "other" / "events.db"
    for path in (served, other):
        path.parent.mkdir(parents=True)
        with sqlite3.connect(replayed_log) as src, sqlite3.connect(path) as dst:
            src.backup(dst)
        anchor = replayed_log.with_name(replayed_log.name + ".checkpoints")
        if anchor.exists():
            shutil.copy(anchor, path.with_name(anchor.name))
    (state / "not-a-run").mkdir()  # a folder without a log is no run, and none is created
    with LogHub(served) as hub:
        app = create_app(hub, FlagFileControl(served.parent), ApiTokens.of([READ]))
        with TestClient(app) as client:
            assert client.get("/runs").status_code == 401
            runs = client.get("/runs", headers={"Authorization": f"Bearer {READ}"}).json()
    assert len(runs) == 2 and [r["served"] for r in runs].count(True) == 1
    assert {r["strategy"] for r in runs} == {"sma_cross"}
    assert all(r["state"] in ("ACTIVE", "REDUCING", "HALTED") and r["last_event_ms"] for r in runs)
    assert not (state / "not-a-run" / "events.db").exists()
