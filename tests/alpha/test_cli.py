"""``grekko alpha``: download against a local peer, list, show, score, yields; lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from grekko_research.cli import app
from tests.alpha.fake_http import json_reply, serve

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> object:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def test_download_list_show_yields(tmp_path: Path) -> None:
    runner = CliRunner()
    with serve() as peer:
        peer.route("GET", "/pools", lambda r: json_reply(payload("defillama_pools.json")))
        peer.route(
            "GET",
            "/chart/8f1c5f3b-0000-4000-8000-000000000001",
            lambda r: json_reply(payload("defillama_chart.json")),
        )
        got = runner.invoke(
            app,
            [
                "alpha",
                "download",
                "defillama",
                "pools",
                "8f1c5f3b-0000-4000-8000-000000000001",
                "--store",
                str(tmp_path),
                "--base-url",
                peer.url,
            ],
        )
    assert got.exit_code == 0, got.output
    assert "pools" in got.output and "4" in got.output
    listed = runner.invoke(app, ["alpha", "list", "--store", str(tmp_path)])
    assert (
        listed.exit_code == 0
        and "defillama" in listed.output
        and "CRYPTOPANIC_TOKEN" in listed.output
    )
    shown = runner.invoke(
        app, ["alpha", "show", "defillama", "pools", "--store", str(tmp_path), "--rows", "2"]
    )
    assert shown.exit_code == 0 and "2 newest rows" in shown.output
    report = tmp_path / "yields.md"
    ylds = runner.invoke(
        app,
        ["alpha", "yields", "--store", str(tmp_path), "--capital", "1000", "--out", str(report)],
    )
    assert ylds.exit_code == 0, ylds.output
    assert "uniswap-v3" in report.read_text() and "degen-farm" not in report.read_text()


def test_missing_key_and_unknown_source_are_clear(tmp_path: Path) -> None:
    runner = CliRunner()
    got = runner.invoke(
        app,
        ["alpha", "download", "news", "BTC", "--store", str(tmp_path)],
        env={"CRYPTOPANIC_TOKEN": ""},
    )
    assert got.exit_code != 0 and "CRYPTOPANIC_TOKEN" in str(got.exception)
    got = runner.invoke(app, ["alpha", "download", "darkweb", "x", "--store", str(tmp_path)])
    assert got.exit_code != 0 and "unknown alternative-data source 'darkweb'" in str(got.exception)
    got = runner.invoke(app, ["alpha", "score", "--store", str(tmp_path)])
    assert got.exit_code == 0 and "no news or social text" in got.output


def test_help_imports_no_client() -> None:
    code = (
        "import sys; from grekko_research.cli import app; from typer.testing import CliRunner; "
        "CliRunner().invoke(app, ['--help']); "
        "heavy = [m for m in ('praw', 'telethon', 'tweepy', 'github', 'pytrends', 'web3', 'vaderSentiment', "
        "'grekko_research.alpha') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
    )
    assert out.stdout.strip() == "[]"


def test_score_builds_sentiment_series(tmp_path: Path) -> None:
    from grekko_research.alpha.connectors.x import parse_x
    from grekko_research.alpha.store import AltKey, AltStore

    store = AltStore(tmp_path)
    store.write(
        AltKey("x", "BTC"), parse_x(payload("x_search_recent.json"), entity="BTC", ingested_ms=0)
    )
    got = CliRunner().invoke(app, ["alpha", "score", "--store", str(tmp_path)])
    assert got.exit_code == 0, got.output
    assert "vader+crypto" in got.output and "BTC" in got.output
    assert len(store.read(AltKey("sentiment", "BTC"))) == 2
    shown = CliRunner().invoke(
        app, ["alpha", "show", "sentiment", "BTC", "--store", str(tmp_path)], env={"COLUMNS": "300"}
    )
    # The table's layout follows the terminal's width (folded cells on a narrow one); its
    # title and the stored series are what this checks.
    assert shown.exit_code == 0 and "sentiment/BTC: 2 newest rows" in shown.output
    assert "x:big_influencer" in store.read(AltKey("sentiment", "BTC")).to_string()
