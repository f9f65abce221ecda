"""The status API over a real replayed run: auth on every route of the OpenAPI document, values
that match the log (routes), websocket topics, the kill flag file. (/metrics and the Grafana
dashboard: test_api_metrics.py.)"""

from __future__ import annotations

import json
import logging
import re
import warnings
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from live.api import KILL_FILE, ApiTokens, FlagFileControl, LogHub, create_app, topics_of
from live.api.auth import RedactTokens, bearer_token
from live.events import EventStore
from live.orders import FillReport, Intent, OrderManager
from live.state import fold_run

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from starlette.testclient import WebSocketDenialResponse

from tests.unit.live._api_run import CONTROL, READ, WRONG, Api, events_of

# A websocket message that never comes must not hang the test; the module fixture that replays
# the run (a numba compile on a cold cache: minutes on a busy CI machine) is not timed.
pytestmark = pytest.mark.timeout(30, func_only=True)
H = 3_600_000
CONTROL_ROUTES = {
    ("post", "/kill"),
    ("post", "/resume"),
    ("post", "/orders"),  # manual orders (issue 27)
    ("post", "/orders/{client_id}/cancel"),
    ("post", "/orders/parents/{parent_id}/cancel"),  # an execution algorithm's parent
}


# -- auth, generated from the OpenAPI document --------------------------------------------------


def _resolve(schema: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _sample_body(op: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any] | None:
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if content is None:
        return None
    schema = _resolve(content["schema"], doc)
    samples = {"string": "generated test", "boolean": False, "integer": 0, "number": 0.0}
    out = {}
    for name, prop in schema.get("properties", {}).items():
        if name in schema.get("required", []):
            p = _resolve(prop, doc)
            out[name] = p["enum"][0] if "enum" in p else samples[p.get("type", "string")]
    return out


def _sample_query(op: dict[str, Any], doc: dict[str, Any], values: dict[str, str]) -> str:
    """The required query parameters of ``op`` with a valid value (``values``, else an enum's
    first)."""
    pairs = []
    for param in op.get("parameters", []):
        if param.get("in") == "query" and param.get("required"):
            schema = _resolve(param["schema"], doc)
            value = values.get(param["name"], schema.get("enum", ["1"])[0])
            pairs.append(f"{param['name']}={value}")
    return "?" + "&".join(pairs) if pairs else ""


def _runs_folder(root: Path) -> dict[str, str]:
    """A runs folder with one run (the files the research routes read) for the research
    routes' samples: the query values naming it."""
    run = root / "sma_cross" / "20260101T000000-abc"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text('{"strategy": "sma_cross", "metrics": {"sharpe_ratio": 1}}')
    (run / "config.yaml").write_text("strategy:\n  name: sma_cross\n")
    (run / "tearsheet.html").write_text("<!doctype html><p>tearsheet</p>")
    rid = "sma_cross/20260101T000000-abc"
    return {"run": rid, "a": rid, "b": rid, "id": rid}


def _market_folder(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """An empty store and a shared folder linking one real candle file and the ETH/USDT depth
    capture, for the market routes' samples: the query values naming them."""
    from tests.conftest import shared_data_dir
    from tests.console.conftest import ETH_CAPTURE, market_folder

    monkeypatch.setenv("GREKKO_DATA_DIR", str(root / "store"))
    shared = market_folder(shared_data_dir(), root / "shared")
    monkeypatch.setenv("GREKKO_SHARED_DATA", str(shared))
    return {"series": "shared/binance-spot_BTC-USDT_1h__nfi.csv.gz", "capture": ETH_CAPTURE}


def test_every_route_of_the_openapi_document_needs_the_right_token(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREKKO_RUNS_DIR", str(tmp_path / "runs"))  # the research routes' folder
    values = _runs_folder(tmp_path / "runs")
    values.update(_market_folder(tmp_path, monkeypatch))  # the market routes' data
    doc = api.client.get("/openapi.json").json()
    routes = [
        (method, path + _sample_query(op, doc, values), _sample_body(op, doc))
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if path != "/health"
    ]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            declared = op.get("security") == [{"HTTPBearer": []}]
            assert declared == (path != "/health"), (
                f"{method} {path}: security {op.get('security')}"
            )
    listed = {(m, p.split("?")[0]) for m, p, _ in routes}
    assert listed >= CONTROL_ROUTES
    assert {
        ("get", p)
        for p in ("/strategies", "/positions", "/orders", "/orders/parents", "/fills", "/pnl",
                  "/risk", "/metrics",
                  "/whoami", "/events", "/equity", "/status", "/runs",  # the console's
                  "/research/runs", "/research/run", "/research/diff", "/research/sweeps",
                  "/research/links", "/research/frame_url", "/research/mlflow",  # research
                  "/market/series", "/market/chart", "/market/captures", "/market/book")  # market
    } <= listed  # fmt: skip
    assert {m for m, _ in listed - CONTROL_ROUTES} == {"get"}, "a mutating route is not control"
    seen: list[Any] = []

    def call(method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
        r = api.client.request(method, path, json=body, headers=headers)
        seen.append(r)
        return r

    flag = api.log.parent / KILL_FILE
    for method, path, body in routes:
        where = f"{method.upper()} {path}"
        path_only = path.split("?")[0]
        for headers in (
            {},
            {"Authorization": f"Bearer {WRONG}"},
            {"Authorization": f"Bearer {READ}x"},
            {"Authorization": f"Basic {READ}"},
            {"Authorization": "Bearer"},
        ):
            r = call(method, path, body, headers)
            assert r.status_code == 401, f"{where} with {headers}: {r.status_code}"
            assert r.headers["www-authenticate"] == "Bearer", where
        # A body the route would refuse still gets 401 first: nothing is parsed for strangers.
        if body is not None:
            assert call(method, path, {}, {}).status_code == 401, where
        requests = api.log.parent / "manual"  # manual-order requests (issue 27)
        before = (flag.read_text() if flag.exists() else None, sorted(requests.glob("*")))
        as_read = call(method, path, body, {"Authorization": f"Bearer {READ}"})
        if (method, path_only) in CONTROL_ROUTES:
            assert as_read.status_code == 403, where
            after = (flag.read_text() if flag.exists() else None, sorted(requests.glob("*")))
            assert after == before, f"{where} acted on a read token"
        else:
            assert as_read.status_code == 200, f"{where}: {as_read.text}"
        as_control = call(method, path, body, {"Authorization": f"bearer {CONTROL}"})
        assert 200 <= as_control.status_code < 300, f"{where}: {as_control.text}"

    # Nothing is routed or parsed for a stranger: unknown paths and broken bodies get 401 too.
    for method, path, content in (("get", "/no/such/route", None), ("post", "/kill", b"{oops")):
        r = api.client.request(
            method, path, content=content, headers={"content-type": "application/json"}
        )
        seen.append(r)
        assert r.status_code == 401, path
    assert api.client.get("/no/such/route", headers=_bearer(READ)).status_code == 404

    # The control routes act: the flag file appears with the request, then goes.
    r = call("post", "/kill", {"reason": "api test", "flatten": True}, _bearer(CONTROL))
    assert r.status_code == 202
    assert json.loads(flag.read_text()) == {
        "reason": "api test",
        "flatten": True,
        "ts_ms": r.json()["ts_ms"],
    }
    r = call("post", "/resume", {"reason": "fixed"}, _bearer(CONTROL))
    assert r.status_code == 202 and r.json()["flag"] == "removed" and not flag.exists()

    for r in seen:
        text = r.text + json.dumps(dict(r.headers))
        for token in (READ, CONTROL):
            assert token not in text, f"a token leaked into {r.request.method} {r.request.url}"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_websockets_refuse_a_bad_token_before_accepting(api: Api) -> None:
    ws_paths = [r.path for r in api.client.app.routes if r.path.startswith("/ws/")]  # type: ignore[attr-defined]
    assert sorted(ws_paths) == ["/ws/fills", "/ws/orders", "/ws/risk", "/ws/signals"]
    for path in ws_paths:
        for url, headers in (
            (path, {}),
            (f"{path}?token={WRONG}", {}),
            (path, {"Authorization": f"Bearer {WRONG}"}),
            (path, {"Authorization": f"Basic {READ}"}),
        ):
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                api.client.websocket_connect(url, headers=headers),
            ):
                pass
            assert denied.value.status_code == 401, url
            assert READ not in denied.value.text and CONTROL not in denied.value.text
        for url, headers in ((f"{path}?token={READ}", {}), (path, _bearer(CONTROL))):
            with api.client.websocket_connect(url, headers=headers):
                pass
        # The web console's way: the token as the subprotocol after grekko.bearer.
        for offered in (
            ["grekko.bearer", WRONG],
            ["grekko.bearer"],
            ["grekko.bearer", READ, CONTROL],
            [READ],
        ):
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                api.client.websocket_connect(path, subprotocols=offered),
            ):
                pass
            assert denied.value.status_code == 401, offered
            assert READ not in denied.value.text and CONTROL not in denied.value.text
        with api.client.websocket_connect(path, subprotocols=["grekko.bearer", READ]) as ws:
            assert ws.accepted_subprotocol == "grekko.bearer"  # never the token


def test_health_needs_no_token_and_tells_nothing_about_the_run(api: Api) -> None:
    r = api.client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["last_seq"] == len(events_of(api.log))
    assert set(body) == {
        "ok",
        "status",
        "reasons",
        "last_seq",
        "clock",
        "clock_rate",
        "last_event_age_s",
        "last_bar_age_s",
        "stale_after_s",
    }
    # A replay lives on its data's clock, which stops with it: never stale.
    assert body["status"] == "ok" and body["clock"] == "replay" and body["reasons"] == []
    assert "sma_cross" not in r.text


def test_docs_are_served_offline(api: Api) -> None:
    page = api.client.get("/docs")  # no token: the page and its assets are public
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "/openapi.json" in page.text
    # Every script, stylesheet and icon comes from this server: nothing for a CDN to fail.
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    urls += re.findall(r"""url: ?['"]([^'"]+)['"]""", page.text)
    assert urls and not [u for u in urls if "//" in u], urls
    assets = [u for u in urls if u.startswith("/docs/assets/")]
    assert {a.rsplit("/", 1)[1] for a in assets} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for url in assets:
        r = api.client.get(url)
        assert r.status_code == 200 and len(r.content) > 1000, url
    js = api.client.get("/docs/assets/swagger-ui-bundle.js").text
    assert "SwaggerUIBundle" in js
    # Swagger UI 5 renders OpenAPI 3.1 (what FastAPI writes); 4.x shows an error instead.
    assert api.client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert re.search(r'"5\.\d+\.\d+"', js)
    # Public means the docs only: the routes keep their tokens, even by a detour.
    assert api.client.get("/orders").status_code == 401
    assert api.client.get("/docs/assets/../orders").status_code in (401, 404)
    assert api.client.get("/docs/assets/missing.js").status_code == 404


def test_the_console_page_and_its_assets_are_public_and_nothing_else(api: Api) -> None:
    """The web console (/) and its bundled files need no token (the login form is on the page);
    they hold no data, come from this server only and forbid everything else (CSP)."""
    page = api.client.get("/", follow_redirects=False)
    assert page.status_code == 200 and '<div id="root">' in page.text
    csp = dict(d.strip().split(" ", 1) for d in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'" and csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'" and csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'" and csp["base-uri"] == "'none'"
    assert "unsafe" not in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and "style=" not in page.text  # nothing inline
    urls = re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.text)
    assets = [u for u in urls if u.startswith("/console/assets/")]
    assert [u for u in urls if u not in assets] == ["data:,"], urls  # the empty favicon
    assert {u.rsplit(".", 1)[1] for u in assets} == {"js", "css"}
    for url in assets:
        r = api.client.get(url)  # no token
        assert r.status_code == 200 and len(r.content) > 1000, url
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        assert "//cdn" not in r.text and "https://" not in r.text.replace("https://react.dev", "")
    # Public means these files only: a detour or a guess finds nothing, the data keeps its token.
    for path in (
        "/console/assets/../../orders",
        "/console/assets/%2e%2e/index.html",
        "/console/assets/missing.js",
        "/console/assets/",
        # framed reports open by a ticket from /research/frame_url (read token) only
        "/research/frame/no-such-ticket/tearsheet.html",
        "/research/frame/x/../../orders",
        "/research/frame/",
    ):
        assert api.client.get(path).status_code in (401, 404), path
    for path in ("/console", "/console/index.html", "/index.html", "/whoami", "/events", "/equity"):
        r = api.client.get(path)
        assert r.status_code == 401, path
    # The token's scope, for the console to show or hide the kill switch.
    assert api.get("/whoami").json() == {"scope": "read"}
    assert api.get("/whoami", token=CONTROL).json() == {"scope": "control"}
    assert api.get("/whoami", token=WRONG).status_code == 401


def test_metrics_can_be_public(log_path: Path) -> None:
    with LogHub(log_path) as hub:
        app = create_app(
            hub, FlagFileControl(log_path.parent), ApiTokens.of([READ], metrics_public=True)
        )
        with TestClient(app) as client:
            assert client.get("/metrics").status_code == 200
            assert client.get("/orders").status_code == 401
            assert (
                client.post("/kill", json={"reason": "x"}, headers=_bearer(READ)).status_code == 403
            )


def test_no_tokens_configured_means_no_access(log_path: Path) -> None:
    with (
        LogHub(log_path) as hub,
        TestClient(create_app(hub, FlagFileControl(log_path.parent), ApiTokens())) as client,
    ):
        assert client.get("/orders", headers=_bearer(READ)).status_code == 401
        assert client.get("/metrics").status_code == 401


# -- tokens -------------------------------------------------------------------------------------


def test_every_configured_token_is_compared_whatever_matches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import live.api.auth as auth

    calls = Counter[int]()
    real = auth.hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls[0] += 1
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    r1, r2, c1 = ("a" * 16 + "1"), ("b" * 16 + "2"), ("c" * 16 + "3")
    tokens = ApiTokens.of([r1, r2], [c1])
    for presented, scope in ((r1, "read"), (r2, "read"), (c1, "control"), (WRONG, None)):
        calls.clear()
        assert tokens.scope_of(presented) == scope
        assert calls[0] == 3, f"{scope}: compared {calls[0]} of 3 tokens"
    assert tokens.allows(c1, "read") and tokens.allows(c1, "control")
    assert tokens.allows(r1, "read") and not tokens.allows(r1, "control")
    assert not tokens.allows(None, "read") and not tokens.allows("", "read")


def test_tokens_come_from_the_environment_and_never_show() -> None:
    tokens = ApiTokens.from_env(
        {"GREKKO_API_READ_TOKEN": f"{READ}, {WRONG}", "GREKKO_API_CONTROL_TOKEN": CONTROL}
    )
    assert tokens.allows(WRONG, "read") and tokens.allows(CONTROL, "control")
    assert not tokens.metrics_public and tokens.configured
    assert ApiTokens.from_env({"GREKKO_API_METRICS_PUBLIC": "1"}).metrics_public
    assert not ApiTokens.from_env({}).configured
    for text in (repr(tokens), str(tokens), repr(vars(tokens))):
        assert READ not in text and CONTROL not in text
    with pytest.raises(ValueError, match="shorter than 16") as short:
        ApiTokens.from_env({"GREKKO_API_CONTROL_TOKEN": "short-secret"})
    assert "short-secret" not in str(short.value)
    assert bearer_token(f"Bearer  {READ} ") == READ and bearer_token(f"Basic {READ}") is None
    assert bearer_token("Bearer") is None and bearer_token(None) is None


def test_log_records_never_show_a_query_token() -> None:
    record = logging.LogRecord(
        "uvicorn.error",
        logging.INFO,
        __file__,
        1,
        '%s - "WebSocket %s" [accepted]',
        ("127.0.0.1:5", f"/ws/fills?after_seq=3&token={READ}"),
        None,
    )
    assert RedactTokens().filter(record)
    assert READ not in record.getMessage()
    assert record.getMessage().endswith('"WebSocket /ws/fills?after_seq=3&token=***" [accepted]')


# -- what the routes say, against the log -------------------------------------------------------


def test_routes_agree_with_the_log(api: Api) -> None:
    events = events_of(api.log)
    state = fold_run(events)
    kinds = Counter(e.kind for e in events)

    (run,) = api.get("/strategies").json()
    assert run["strategy"] == "sma_cross" and run["params"] == {"fast": 5, "slow": 20}
    assert (run["venue"], run["mode"], run["symbols"]) == ("paper", "paper", ["BTC/USDT"])
    assert run["bars"] == kinds["bar_closed"] == run["decisions"]

    orders = api.get("/orders").json()
    assert [o["client_id"] for o in orders] == [o.client_id for o in state.orders]
    assert len(orders) == kinds["order_created"] > 2
    assert {o["state"] for o in orders} == {"FILLED"}
    assert api.get("/orders", params={"state": "FILLED"}).json() == orders
    assert api.get("/orders", params={"open": "true"}).json() == []
    assert api.get("/orders", params={"limit": 2}).json() == orders[-2:]
    assert api.get("/orders", params={"symbol": "ETH/USDT"}).json() == []
    assert api.get("/orders", params={"state": "nonsense"}).status_code == 422

    fills = api.get("/fills").json()
    assert len(fills) == kinds["order_fill"] == state.fills
    first = fills[0]
    assert api.get("/fills", params={"client_id": first["client_id"]}).json() == [first]
    net = sum(Decimal(f["qty"]) * (1 if f["side"] == "buy" else -1) for f in fills)

    positions = api.get("/positions").json()
    (pos,) = positions["positions"]
    assert Decimal(pos["qty"]) == net == state.positions["BTC/USDT"]
    last_bar = next(e for e in reversed(events) if e.kind == "bar_closed")
    assert pos["last_close"] == last_bar.payload["bar"][3][0]
    assert pos["exposure"] == pytest.approx(float(net) * pos["last_close"])

    pnl = api.get("/pnl").json()
    assert pnl["equity"] == state.equity == last_bar.payload["equity"]
    trades = [e.payload["pnl"] for e in events if e.kind == "trade_closed"]
    assert pnl["closed_trades"] == len(trades) > 0
    assert pnl["realised_pnl"] == pytest.approx(sum(trades))
    assert {k: Decimal(v) for k, v in pnl["fees"].items()} == state.fees

    risk = api.get("/risk").json()
    assert risk["state"] == "ACTIVE" and risk["reason"] is None
    assert risk["kill_switch"]["engaged"] is False
    assert risk["last_reconciliation"]["ok"] is True
    assert risk["last_reconciliation"]["seq"] == max(
        e.seq for e in events if e.kind == "reconciled"
    )


def test_risk_follows_halts_the_engine_and_the_kill_switch(api: Api) -> None:
    head = api.hub.fold.last_seq
    t = 1_700_000_000_000
    api.wait(api.append(("risk_state", "risk", {"state": "REDUCING", "reason": "drawdown 8%"}, t)))
    risk = api.get("/risk").json()
    assert (risk["state"], risk["reason"]) == ("REDUCING", "drawdown 8%")
    api.wait(
        api.append(
            ("risk_breach", "risk", {"rule": "max_drawdown", "value": 0.08, "limit": 0.1}, t),
            ("reconciled", "runner", {"ok": False, "ms": 1.0, "balances": {}}, t),
            ("kill_switch", "runner", {"engaged": True, "reason": "manual", "flatten": False}, t),
            ("halted", "runner", {"reason": "kill switch: manual"}, t),
        )
    )
    risk = api.get("/risk").json()
    assert risk["state"] == "HALTED" and risk["reason"] == "kill switch: manual"
    assert risk["kill_switch"] == {
        "engaged": True,
        "reason": "manual",
        "flatten": False,
        "ts_ms": t,
    }
    assert (
        risk["breaches"][-1]["rule"] == "max_drawdown" and risk["breaches"][-1]["seq"] == head + 2
    )
    assert risk["last_reconciliation"]["ok"] is False
    m = api.metrics()
    assert (
        m[("grekko_risk_state", frozenset())] == 2
        and m[("grekko_kill_switch_engaged", frozenset())] == 1
    )
    api.wait(api.append(("resumed", "runner", {"reason": "checked"}, t)))
    risk = api.get("/risk").json()
    assert (risk["state"], risk["halted"], risk["kill_switch"]["engaged"]) == (
        "REDUCING",
        None,
        False,
    )
    m = api.metrics()
    assert m[("grekko_risk_state", frozenset())] == 1 and m[("grekko_halted", frozenset())] == 0
    # The engine's own HALTED lasts until the engine says otherwise, whatever the runner logs.
    api.wait(
        api.append(
            ("risk_state", "risk", {"state": "HALTED", "reason": "check failed"}, t),
            ("resumed", "runner", {"reason": "operator"}, t),
        )
    )
    assert api.get("/risk").json()["state"] == "HALTED"
    api.wait(api.append(("risk_state", "risk", {"state": "ACTIVE", "reason": None}, t)))
    assert api.get("/risk").json()["state"] == "ACTIVE"
    assert api.metrics()[("grekko_risk_state", frozenset())] == 0


def test_an_inconsistent_event_is_reported_and_tailing_goes_on(api: Api) -> None:
    t = 1_700_000_000_000
    bad = api.append(
        (
            "order_fill",
            "no-such-order",
            {"trade_id": "x", "qty": "1", "price": "1", "source": "ws"},
            t,
        )
    )
    api.wait(bad)
    health = api.client.get("/health")
    assert health.status_code == 503 and health.json()["ok"] is False
    assert any(f"seq {bad}" in a for a in api.get("/risk").json()["anomalies"])
    malformed = api.append(("bar_closed", "runner", {"equity": 1.0}, t))  # no "ts"
    api.wait(api.append(("risk_breach", "risk", {"rule": "after"}, t)))
    assert api.get("/risk").json()["breaches"][-1]["rule"] == "after"
    assert any(f"seq {malformed}" in a for a in api.get("/risk").json()["anomalies"])
    assert api.hub.tailing
    m = api.metrics()
    assert m[("grekko_hub_errors_total", frozenset())] == 2
    assert m[("grekko_fills_total", frozenset())] == len(
        api.get("/fills").json()
    )  # not the bad one
    assert m[("grekko_log_last_seq", frozenset())] == malformed + 1


def test_serve_refuses_to_start_without_a_token_or_a_log(log_path: Path, tmp_path: Path) -> None:
    from live.api import serve

    with pytest.raises(ValueError, match="GREKKO_API_READ_TOKEN"):
        serve(log_path, log_path.parent, tokens=ApiTokens())
    with pytest.raises(ValueError, match="no event log"):
        serve(tmp_path / "nothing.db", tmp_path, tokens=ApiTokens.of([READ]))
    assert not (tmp_path / "nothing.db").exists()


# -- websockets ---------------------------------------------------------------------------------


def test_each_topic_streams_its_new_events_only(api: Api) -> None:
    t = 1_700_000_000_000
    noise = ("risk_breach", "risk", {"rule": "noise"}, t)
    cases = {
        "signals": ("decision", "runner", {"ts": t, "intents": []}, t),
        "risk": ("reconciled", "runner", {"ok": False, "balances": {}}, t),
    }
    for topic, draft in cases.items():
        with api.client.websocket_connect(f"/ws/{topic}", headers=_bearer(READ)) as ws:
            other = (
                ("decision", "runner", {"ts": t, "intents": []}, t) if topic == "risk" else noise
            )
            ok = ("reconciled", "runner", {"ok": True, "balances": {}}, t)
            seq = api.append(other, ok, draft)
            msg = ws.receive_json()
            assert msg["topic"] == topic and msg["seq"] == seq, topic
            assert (msg["kind"], msg["stream"], msg["payload"]) == draft[:3]
            assert READ not in json.dumps(msg)


def test_fills_stream_delivers_a_fill_appended_after_subscribing(api: Api) -> None:
    run_id = api.hub.fold.run["run_id"]
    t0 = 1_800_000_000_000
    om = OrderManager()
    intent = Intent(run_id, "BTC/USDT", "sell", Decimal("0.5"), t0)
    events = (
        om.create(intent, t0)
        + om.mark_submitted(intent.client_id, t0)
        + om.apply(
            FillReport(intent.client_id, "t-1", "0.5", "41000", fee="2", fee_asset="USDT"), t0
        )
    )
    with (
        api.client.websocket_connect(f"/ws/fills?token={READ}") as fills,
        api.client.websocket_connect("/ws/orders", headers=_bearer(READ)) as orders,
    ):
        noise = ("decision", "runner", {"ts": t0, "intents": []}, t0)
        seq = api.append(
            noise, *[(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
        )
        msg = fills.receive_json()
        assert (msg["seq"], msg["kind"], msg["payload"]["trade_id"]) == (seq, "order_fill", "t-1")
        assert [orders.receive_json()["kind"] for _ in events] == [e["kind"] for e in events]
    assert api.hub.subscribers("fills") == 0  # unsubscribed on disconnect
    got = api.get("/fills", params={"client_id": intent.client_id}).json()
    assert [(f["trade_id"], f["side"], f["qty"]) for f in got] == [("t-1", "sell", "0.5")]


def test_after_seq_replays_what_a_subscriber_missed(api: Api) -> None:
    t = 1_700_000_000_000
    first = api.append(
        ("risk_breach", "risk", {"rule": "a"}, t),
        ("decision", "runner", {"ts": t, "intents": []}, t),
        ("risk_breach", "risk", {"rule": "b"}, t),
    )
    api.wait(first)
    with api.client.websocket_connect(
        f"/ws/risk?after_seq={first - 3}", headers=_bearer(READ)
    ) as ws:
        assert [ws.receive_json()["payload"]["rule"] for _ in range(2)] == ["a", "b"]
        api.append(("risk_breach", "risk", {"rule": "c"}, t))
        assert ws.receive_json()["payload"]["rule"] == "c"
    with (
        pytest.raises(WebSocketDenialResponse) as bad,
        api.client.websocket_connect("/ws/risk?after_seq=-1", headers=_bearer(READ)),
    ):
        pass
    assert bad.value.status_code == 400


def test_a_slow_subscriber_is_dropped_not_waited_for(log_path: Path) -> None:
    import asyncio

    async def main() -> None:
        with LogHub(log_path) as hub:
            sub = hub.subscribe("risk", limit=2)
            with EventStore.open(log_path) as store:
                store.append_many([("risk_breach", "risk", {"n": i}, 1) for i in range(3)])
            await hub.poll()
            assert [(await sub.get()).payload["n"] for _ in range(2)] == [0, 1]  # type: ignore[union-attr]
            assert await sub.get() is None and sub.overflowed
            hub.unsubscribe(sub)

    asyncio.run(main())


def test_topics() -> None:
    from live.events import Event

    def ev(kind: str, **payload: Any) -> Event:
        return Event(1, 1, kind, "s", payload, "0" * 64, "0" * 64)

    assert topics_of(ev("order_fill")) == ("orders", "fills")
    assert topics_of(ev("order_rejected")) == ("orders",)
    assert topics_of(ev("decision")) == ("signals",)
    kinds = ("risk_decision", "risk_breach", "risk_state", "halted", "resumed", "kill_switch",
             "manual_order")  # fmt: skip
    for kind in kinds:
        assert topics_of(ev(kind)) == ("risk",), kind
    assert topics_of(ev("reconciled", ok=False)) == ("risk",)
    assert topics_of(ev("reconciled", ok=True)) == ()
    assert topics_of(ev("bar_closed")) == ()


# -- control ------------------------------------------------------------------------------------


def test_the_flag_file_is_the_one_the_runner_watches(tmp_path: Path) -> None:
    import asyncio

    from live.app import KILL_FILE as RUNNER_KILL_FILE

    assert KILL_FILE == RUNNER_KILL_FILE
    control = FlagFileControl(tmp_path / "run", clock=lambda: 1234.5)
    out = asyncio.run(control.kill("too much slippage", True))
    assert out["flag"] == "written"
    assert json.loads((tmp_path / "run" / KILL_FILE).read_text()) == {
        "reason": "too much slippage",
        "flatten": True,
        "ts_ms": 1_234_500,
    }
    assert asyncio.run(control.kill("again", False))["flag"] == "replaced"
    assert not [p for p in (tmp_path / "run").iterdir() if p.name != KILL_FILE]  # no temp left
    assert asyncio.run(control.resume("fixed"))["flag"] == "removed"
    assert json.loads((tmp_path / "run" / "RESUME").read_text())["reason"] == "fixed"
    assert asyncio.run(control.resume("fixed"))["flag"] == "absent"
    assert not (tmp_path / "run" / KILL_FILE).exists()


def test_a_manual_order_may_carry_an_execution_algorithm(api: Api) -> None:
    """POST /orders passes an ``algo`` to the run (live.runner._algos); an unknown field or
    kind is refused before it reaches the run."""
    body = {"action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.1",
            "reason": "build", "algo": {"kind": "twap", "slices": 3, "over": "3h"}}  # fmt: skip
    r = api.client.post("/orders", json=body, headers=_bearer(CONTROL))
    assert r.status_code == 202, r.text
    (file,) = (api.log.parent / "manual").glob(f"*{r.json()['request_id']}*.json")
    sent = json.loads(file.read_text())["algo"]
    assert (sent["kind"], sent["slices"], sent["over"]) == ("twap", 3, "3h")
    for algo in ({"kind": "twap", "bogus": 1}, {"kind": "sniper"}, {"kind": "twap", "slices": 0}):
        bad = api.client.post("/orders", json={**body, "algo": algo}, headers=_bearer(CONTROL))
        assert bad.status_code == 422, algo


def test_parents_are_listed_and_a_cancel_reaches_the_run(api: Api) -> None:
    """GET /orders/parents lists each parent with its state from the log (working while its
    schedule has decisions to come, ended unfilled once over without a fill, cancelled once
    ``algo_cancelled`` is logged); POST /orders/parents/{id}/cancel leaves the run a cancel
    request naming the parent (control token only)."""
    last = api.hub.fold.parents.last_decision_ts
    assert last is not None
    spec = {"kind": "twap", "slices": 3, "every": 1, "clip": None, "offset_bps": 0.0,
            "passive_bars": 1, "weights": None}  # fmt: skip
    started = [
        {"parent_id": f"algo-{ts}-0", "request_id": rid, "symbol": "BTC/USDT", "side": "buy",
         "qty": "0.3", "spec": spec, "start_ts": ts, "n": 0}
        for ts, rid in ((last - H, "r1"), (last - 10 * H, "r2"))
    ]  # fmt: skip
    api.wait(api.append(*[("algo_started", p["parent_id"], p, last) for p in started]))
    rows = api.get("/orders/parents").json()
    assert [(r["parent_id"], r["kind"], r["state"], r["filled"], r["children_sent"]) for r in rows] == [
        (started[0]["parent_id"], "twap", "working", "0", 0),
        (started[1]["parent_id"], "twap", "ended unfilled", "0", 0),
    ]  # fmt: skip
    pid = started[0]["parent_id"]
    assert api.client.post(f"/orders/parents/{pid}/cancel", json={"reason": "enough"},
                           headers=_bearer(READ)).status_code == 403  # fmt: skip
    r = api.client.post(f"/orders/parents/{pid}/cancel", json={"reason": "enough"},
                        headers=_bearer(CONTROL))  # fmt: skip
    assert r.status_code == 202, r.text
    (file,) = (api.log.parent / "manual").glob(f"*{r.json()['request_id']}*.json")
    sent = json.loads(file.read_text())
    assert (sent["action"], sent["parent_id"], sent["reason"], sent["by"]) == (
        "cancel",
        pid,
        "enough",
        "api",
    )
    cancel = {"parent_id": pid, "request_id": "x", "at_ts": last + H, "filled": "0",
              "reason": "enough", "by": "api"}  # fmt: skip
    api.wait(api.append(("algo_cancelled", pid, cancel, last)))
    row = api.get("/orders/parents").json()[0]
    assert (row["state"], row["cancel_reason"], row["cancelled_by"]) == (
        "cancelled",
        "enough",
        "api",
    )
