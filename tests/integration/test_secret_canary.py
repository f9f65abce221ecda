"""Canary credentials never leave the process in clear.

Unique random strings are set as ``GREKKO_BINANCE_API_KEY`` / ``_API_SECRET`` (and an API
token); then the flows that touch credentials run for real — the ccxt venue against the local
simulator (orders, balances, a bad signature, timeouts) with ccxt's verbose mode and DEBUG
logging on, and ``grekko-live run`` (live against ``grekko-live sim``, paper, replay),
``status`` / ``orders`` / ``positions`` / ``reconcile`` from the command line. Every log record,
stdout and stderr, every exception's text and traceback, and every file written under the
runs' state directories (the SQLite event logs byte for byte) is searched: the canaries occur
0 times. A deliberately leaky variant (a log line, a print, a file and an exception carrying
the key with the redaction uninstalled) proves the same search finds them.

The DEX venue too: a fresh private key in the environment signs real swaps through the
executor on anvil in ``grekko-live run --venue dex:<name> --mode live`` (its bars from the
simulator's feed), killed with --flatten on the way; the key occurs in no output, log record or
file (the run's event log and the nonce log with every signed transaction included).

The simulator's own process (a test peer, given the canaries to check signatures) is not
searched. :func:`live.secrets.install_redaction` is called here as the CLI entry point and the
runner will call it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from live.cli import app
from live.orders import Ack
from live.secrets import Redactor, install_redaction, uninstall_redaction
from live.sim import Simulator, start_simulator
from live.venues import CcxtVenue, GiveUp, OutcomeUnknown, RetryLater, load_credentials, make_venue
from live.venues.base import OrderRequest
from tests.dex_live.conftest import DexWorld, dex_world  # noqa: F401  (the session's anvil)
from tests.peers.frames import SPOT_BTC_1H, SPOT_ETH_1H, real_candles
from tests.peers.sim_cli import free_port, sim_process
from tests.peers.sim_clients import drive

KEY = "cnryKEY" + secrets.token_hex(16)
SECRET = "cnrySEC" + secrets.token_hex(16)
WRONG = "cnryBAD" + secrets.token_hex(16)  # a wrong secret is a secret too
TOKEN = "cnryTOK" + secrets.token_hex(16)
# The DEX venue's hot key: a fresh account's private key (it must sign on anvil), searched as
# hex in either case, with or without 0x (an 0x-prefixed hit contains the bare one).
DEX_KEY = secrets.token_hex(32)
CANARIES = (KEY, SECRET, WRONG, TOKEN, DEX_KEY, DEX_KEY.upper())
ENV = {
    "GREKKO_BINANCE_API_KEY": KEY,
    "GREKKO_BINANCE_API_SECRET": SECRET,
    "GREKKO_API_CONTROL_TOKEN": TOKEN,
}
BTC = "BTC/USDT"
ROOT = Path(__file__).resolve().parents[2]


def find_canaries(texts: dict[str, str], roots: Sequence[Path] = ()) -> list[str]:
    """Where any canary occurs: ``"<sink>: <canary prefix>"`` for each text and each file
    (bytes, any encoding of the canaries' ASCII) under ``roots``."""
    found = []
    for sink, text in texts.items():
        found += [f"{sink}: {c[:7]}" for c in CANARIES if c in text]
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            found += [f"{path}: {c[:7]}" for c in CANARIES if c.encode() in data]
    return found


def record_texts(caplog: pytest.LogCaptureFixture) -> dict[str, str]:
    texts = {"caplog.text": caplog.text}
    for i, r in enumerate(caplog.records):
        texts[f"record {i} {r.name}"] = " ".join(
            [r.getMessage(), r.exc_text or "", r.stack_info or "", repr(r.args)]
        )
    return texts


def exception_texts(name: str, exc: BaseException) -> dict[str, str]:
    chain = "".join(traceback.format_exception(exc))
    texts = {f"{name} str": str(exc), f"{name} repr": repr(exc), f"{name} traceback": chain}
    if exc.__cause__ is not None:
        texts[f"{name} cause"] = f"{exc.__cause__!s} {exc.__cause__!r} {exc.__cause__.args!r}"
    return texts


@pytest.fixture
def redaction(monkeypatch: pytest.MonkeyPatch) -> Iterator[Redactor]:
    """The canaries in the environment and the redaction installed, as at the entry point."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    redactor = install_redaction()
    yield redactor
    uninstall_redaction()


# -- the ccxt venue against the simulator ----------------------------------------------------


def test_venue_flows_never_show_the_canaries(
    redaction: Redactor,
    shared_data: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    btc = real_candles(shared_data, SPOT_BTC_1H, 40)
    eth = real_candles(shared_data, SPOT_ETH_1H, 40)
    caplog.set_level(logging.DEBUG)  # ccxt logs every request's headers at DEBUG
    credentials = load_credentials("binance", use_keyring=False)
    wrong = load_credentials(
        "binance",
        environ={"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": WRONG},
        use_keyring=False,
    )
    errors: dict[str, BaseException] = {}

    def connect(sim: Simulator) -> CcxtVenue:
        venue = make_venue("binance", urls=sim.url, credentials=credentials, timeout_ms=400,
                           rate_limit=False)  # fmt: skip
        venue.client.verbose = True  # ccxt prints request headers, the API key among them
        return venue

    async def scenario(sim: Simulator, venue: CcxtVenue) -> None:
        reports = await venue.submit(OrderRequest("cn-1", BTC, "buy", Decimal("0.01")))
        assert isinstance(reports[0], Ack)
        assert (await venue.balances())["BTC"] == Decimal("0.01")
        assert await venue.fills(BTC)
        # Timeouts: a create that may have landed, a read to retry.
        sim.set_fault("latency", seconds=0.6, path="/api/v3/order", method="POST")
        with pytest.raises(OutcomeUnknown) as unknown:
            await venue.submit(OrderRequest("cn-2", BTC, "buy", Decimal("0.01")))
        errors["timeout"] = unknown.value
        sim.set_fault("latency", seconds=0.6, path="/api/v3/order", method="GET")
        with pytest.raises(RetryLater) as later:
            await venue.query(BTC, "cn-2")
        errors["read timeout"] = later.value
        sim.clear_faults()
        # A bad signature: AuthenticationError → GiveUp, on a create and on a read.
        bad = make_venue("binance", urls=sim.url, credentials=wrong, rate_limit=False)
        bad.client.verbose = True
        try:
            await bad.start()
            with pytest.raises(GiveUp) as refused:
                await bad.submit(OrderRequest("cn-3", BTC, "buy", Decimal("0.01")))
            with pytest.raises(GiveUp) as reading:
                await bad.balances()
        finally:
            await bad.close()
        errors["bad signature create"] = refused.value
        errors["bad signature read"] = reading.value
        assert refused.value.source == reading.value.source == "AuthenticationError"
        # What a runner does with an error: log it with its traceback.
        for name, exc in errors.items():
            logging.getLogger("live.runner").error("venue failed: %s", name, exc_info=exc)

    drive(
        lambda: start_simulator(candles={"BTCUSDT": btc, "ETHUSDT": eth}, api_key=KEY,
                                api_secret=SECRET, start_ms=int(btc.timestamp[10])),
        connect,
        scenario,
        ready=lambda venue: venue.start(),
    )  # fmt: skip
    out, err = capsys.readouterr()
    # The search covered what matters: headers were printed and logged, errors were raised.
    assert "RequestHeaders:" in out and "X-MBX-APIKEY" in out
    assert any("X-MBX-APIKEY" in r.getMessage() for r in caplog.records)
    assert len(errors) == 4 and "Signature" in str(errors["bad signature create"])
    texts = {"stdout": out, "stderr": err, **record_texts(caplog)}
    for name, exc in errors.items():
        texts.update(exception_texts(name, exc))
    assert find_canaries(texts) == []


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def sim_url(shared_data: Path) -> Iterator[str]:
    """``grekko-live sim`` (its own process) replaying BTC/USDT from 2021-01-10, 1 s per bar."""
    with sim_process(shared_data, ENV) as url:
        yield url


class Cli:
    """``grekko-live`` commands in this process, everything they show kept for the search."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.texts: dict[str, str] = {}
        self.last_exception = ""

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env={**self.env, **(env or {})})
        n = len(self.texts) // 3
        self.texts[f"{n} {args[0]} stdout"] = result.stdout
        self.texts[f"{n} {args[0]} stderr"] = result.stderr
        exc = result.exception
        self.last_exception = "".join(traceback.format_exception(exc)) if exc is not None else ""
        self.texts[f"{n} {args[0]} exception"] = self.last_exception
        return result.exit_code, result.stdout


def test_command_line_runs_never_show_the_canaries(
    redaction: Redactor,
    sim_url: str,
    research_store: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    cli = Cli({**ENV, "GREKKO_DATA_DIR": str(research_store)})
    live_dir, paper_dir, replay_dir = tmp_path / "live", tmp_path / "paper", tmp_path / "replay"
    common = ["--venue", "binance", "--venue-url", sim_url, "--strategy", "sma_cross",
              "--params", "fast=2", "--params", "slow=5"]  # fmt: skip
    code, out = cli("run", *common, "--state-dir", str(live_dir), "--mode", "live",
                    "--confirm-live", "binance", "--max-bars", "3", "risk=conservative")  # fmt: skip
    assert code == 0, cli.texts
    events = out.strip().splitlines()[-1]
    for command in ("status", "orders", "positions"):
        assert cli(command, "--events", events, "--json")[0] == 0
        assert cli(command, "--events", events)[0] == 0
    assert json.loads(cli("status", "--events", events, "--json")[1])["mode"] == "live"
    code, out = cli("reconcile", *common, "--state-dir", str(live_dir), "--mode", "live",
                    "risk=conservative")  # fmt: skip
    assert code == 0 and "books agree" in out, cli.texts
    # The wrong secret: the venue refuses the signature, the command fails with a traceback.
    code, _ = cli("reconcile", *common, "--state-dir", str(live_dir), "--mode", "live",
                  "risk=conservative", env={"GREKKO_BINANCE_API_SECRET": WRONG})  # fmt: skip
    assert code != 0 and "GiveUp" in cli.last_exception and "Signature" in cli.last_exception
    # Paper on the stored history and a replay, with the canaries in the environment.
    range_ = ["data.start=2021-01-04", "data.end=2021-01-12"]
    code, out = cli("run", "--venue", "paper", "--strategy", "sma_cross", "--state-dir",
                    str(paper_dir), *range_)  # fmt: skip
    assert code == 0, cli.texts
    assert cli("positions", "--events", out.strip().splitlines()[-1])[0] == 0
    code, out = cli("replay", "--strategy", "sma_cross", "--state-dir", str(replay_dir), *range_)
    assert code == 0, cli.texts
    assert cli("orders", "--events", out.strip().splitlines()[-1], "--json")[0] == 0

    written = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert written.count("events.db") == 3  # the live, paper and replay logs
    status = json.loads(cli("status", "--events", events, "--json")[1])
    assert status["bars"] == 3 and status["orders"] >= 0
    out, err = capsys.readouterr()
    texts = {"stdout": out, "stderr": err, **cli.texts, **record_texts(caplog)}
    assert find_canaries(texts, [tmp_path]) == []


# -- the search itself -----------------------------------------------------------------------


def test_the_search_finds_a_planted_leak(
    redaction: Redactor,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    leaky = logging.getLogger("live.leaky")
    leaky.debug("redacted: key %s", KEY)  # with the redaction installed: masked
    assert find_canaries(record_texts(caplog)) == []
    uninstall_redaction()  # the broken variant: a log line with no filter anywhere
    leaky.debug("leaked: key %s", KEY)
    print(f"headers {{'X-MBX-APIKEY': '{KEY}'}}")
    state = tmp_path / "state"
    state.mkdir()
    (state / "notes.db").write_bytes(b"\x00binary " + SECRET.encode() + b"\x00")
    try:
        raise RuntimeError(f"auth failed for {TOKEN}")
    except RuntimeError as e:
        error = e
    out, err = capsys.readouterr()
    texts: dict[str, Any] = {"stdout": out, "stderr": err, **record_texts(caplog)}
    texts.update(exception_texts("planted", error))
    found = find_canaries(texts, [tmp_path])
    assert "caplog.text: cnryKEY" in found
    assert any(f.startswith("record 1 live.leaky") for f in found)
    assert "stdout: cnryKEY" in found
    assert f"{state / 'notes.db'}: cnrySEC" in found
    assert "planted str: cnryTOK" in found and "planted traceback: cnryTOK" in found
    assert not any(f.startswith("record 0") for f in found)  # the redacted line stays clean


# -- real processes: import orders, --verbose, the simulator, every command ------------------

# What a venue client does in its own process: credentials from the environment, ccxt in
# verbose mode (it prints every request's headers, the API key among them), an order and a
# balance against the simulator. ``{first}`` decides the import order.
VENUE_SCRIPT = """
import asyncio, sys
{first}
from decimal import Decimal
from live.venues import load_credentials, make_venue
from live.venues.base import OrderRequest

async def main():
    venue = make_venue("binance", urls=sys.argv[1], rate_limit=False,
                       credentials=load_credentials("binance", use_keyring=False))
    venue.client.verbose = True
    try:
        await venue.start()
        await venue.submit(OrderRequest(sys.argv[2], "BTC/USDT", "buy", Decimal("0.001")))
        print("balances", sorted((await venue.balances()).items())[:2])
    finally:
        await venue.close()

asyncio.run(main())
"""
# Without ``streams``: the masking of ccxt's prints itself, not the CLI's stdout net, is tested.
REDACTION_FIRST = "from live.secrets import install_redaction; install_redaction()"
CCXT_FIRST = "import ccxt, ccxt.pro\n" + REDACTION_FIRST
LIVE_MAIN = "from live.cli import main; main()"


def _python(code: str, *args: str, env: dict[str, str], timeout: float = 240) -> str:
    """Run ``code`` in a fresh interpreter; its stdout and stderr, interleaved."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env={**os.environ, **env}, timeout=timeout,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
    )  # fmt: skip
    return f"[exit {done.returncode}]\n{done.stdout}"


@contextmanager
def sim_with_output(shared_data: Path, out: Path, env: dict[str, str]) -> Iterator[str]:
    """``grekko-live --verbose sim`` in its own process, everything it prints kept in ``out``."""
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-c", LIVE_MAIN, "--verbose", "sim", "--symbols", "BTC/USDT",
             "--timeframe", "1h", "--start", "2021-01-10", "--speed", "3600", "--port",
             str(free_port())],
            env={**os.environ, **env, "GREKKO_SHARED_DATA": str(shared_data)},
            stdout=sink, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while "REST http" not in out.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
                time.sleep(0.2)
            yield out.read_text().split("REST ")[1].split()[0]
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@pytest.mark.slow
def test_ccxt_verbose_is_masked_whatever_the_import_order(
    shared_data: Path, tmp_path: Path
) -> None:
    """The keys come from the environment and are registered at the entry point, before ccxt is
    imported (the order that once left ccxt's print unpatched), or after: masked either way."""
    with sim_with_output(shared_data, tmp_path / "sim.out", ENV) as url:
        outputs = {
            "redaction first": _python(
                VENUE_SCRIPT.format(first=REDACTION_FIRST), url, "io-1", env=ENV
            ),
            "ccxt first": _python(VENUE_SCRIPT.format(first=CCXT_FIRST), url, "io-2", env=ENV),
        }
    for name, text in outputs.items():
        assert "[exit 0]" in text and "balances" in text, text[-3000:]
        assert "RequestHeaders:" in text and "X-MBX-APIKEY" in text, name  # verbose printed
    outputs["sim"] = (tmp_path / "sim.out").read_text()
    assert find_canaries(outputs) == []


def _commands() -> set[str]:
    import typer.main

    return set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_every_live_command_masks_the_canaries(
    shared_data: Path, research_store: Path, tmp_path: Path
) -> None:
    """Each ``grekko-live`` command as its own process through ``main`` with ``--verbose``:
    live against the simulator, a wrong secret, paper, replay, the readers, the switches, the
    API and the alerts; the simulator's own output too. Canary hits per output: 0."""
    alert = "cnryALR" + secrets.token_hex(16)
    env = {**ENV, "GREKKO_DATA_DIR": str(research_store),
           "GREKKO_ALERT_URLS": f"json://127.0.0.1:9/hook/{alert}"}  # fmt: skip
    outputs: dict[str, str] = {}
    covered: set[str] = set()

    def cli(name: str, *args: str, extra: dict[str, str] | None = None, code: str = LIVE_MAIN,
            ok: bool = True) -> str:  # fmt: skip
        text = _python(code, "--verbose", *args, env={**env, **(extra or {})})
        outputs[name] = text
        covered.add(args[0])
        assert ("[exit 0]" in text) is ok, text[-4000:]
        return text

    live_dir = tmp_path / "live"
    common = ["--venue", "binance", "--strategy", "sma_cross", "--params", "fast=2",
              "--params", "slow=5", "--state-dir", str(live_dir), "--mode", "live"]  # fmt: skip
    with sim_with_output(shared_data, tmp_path / "sim.out", env) as url:
        common += ["--venue-url", url]
        cli("run live", "run", *common, "--confirm-live", "binance", "--max-bars", "3",
            "--run-id", "canary", "risk=conservative")  # fmt: skip
        events = str(live_dir / "canary" / "events.db")
        assert Path(events).is_file(), sorted(str(p) for p in tmp_path.rglob("*"))
        # reconcile with ccxt imported before the redaction, then with a wrong secret
        cli(
            "reconcile", "reconcile", "--events", events, code="import ccxt, ccxt.pro\n" + LIVE_MAIN
        )
        text = cli("reconcile wrong secret", "reconcile", "--events", events,
                   extra={"GREKKO_BINANCE_API_SECRET": WRONG}, ok=False)  # fmt: skip
        assert "Signature" in text
        # the market-analysis feed: public data, its ccxt client verbose too
        cli("feed", "feed", "BTC/USDT", "--venue", "binance", "--venue-url", url, "--seconds",
            "3", "--no-metrics")  # fmt: skip
    outputs["sim"] = (tmp_path / "sim.out").read_text()
    # (--json: the in-process test above; orders --parents: the execution algorithms' parents)
    for name in ("status", "orders", "positions", "orders --parents"):
        cli(name, *name.split(), "--events", events)
    cli("runs", "runs", "--state-dir", str(live_dir))
    cli("verify", "verify", "--events", events)
    # compliance records (issue 25): the audit bundle and the trade/tax reports of the log
    cli("audit", "audit", "export", "--events", events, "--out", str(tmp_path / "audit"))
    cli("report", "report", "tax", "--events", events, "--out", str(tmp_path / "report"))
    cli("export", "export", "--events", events, "--out", str(tmp_path / "events.jsonl"))
    cli("quality", "quality", "--events", events)  # execution quality (issue 27)
    cli("routes", "routes", "--events", events)  # routing decisions, replayed (issue 27)
    # cost models from the log's fills (issue 27): too few in 3 bars, refused by name (no MLflow)
    assert "cannot fit" in cli("calibrate", "calibrate", "--events", events, "--no-log", ok=False)
    # a manual order's request, left for the run (stopped: --wait 0, no answer awaited), and a
    # parent order's cancel
    for name, which in (("order", "--client-id"), ("order cancel --parent", "--parent")):
        cli(name, "order", "cancel", which, "canary-order", "--events", events, "--wait", "0")
    # ... and one worked by an execution algorithm (a TWAP of 2 children over 2 hours)
    cli("order-algo", "order", "enter", "BTC/USDT", "--side", "buy", "--qty", "0.01", "--algo",
        "twap", "--slices", "2", "--over", "2h", "--events", events, "--wait", "0")  # fmt: skip
    # ... and a limit order (its request carries the type and the price as given)
    cli("order-limit", "order", "enter", "BTC/USDT", "--side", "buy", "--qty", "0.01", "--limit",
        "19000.005", "--events", events, "--wait", "0")  # fmt: skip
    requests = [json.loads(p.read_text()) for p in (live_dir / "canary" / "manual").glob("*")]
    assert [(r["order_type"], r["limit_price"]) for r in requests if "order_type" in r] == [
        ("limit", "19000.005")
    ], requests
    cli("kill", "kill", "--reason", "canary", "--events", events)
    cli("resume", "resume", "--events", events, "--reason", "canary")
    # (the deploy key's masking is tested in tests/contracts/test_deploy_cli.py)
    cli("contracts", "contracts", "check")
    # the Solana sniper: a canary as its key (refused, never shown), and an unreachable RPC
    sol = ["--rpc-url", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "solana")]
    cli("sniper run", "sniper", "run", *sol, "--live", "--confirm-live", "--duration", "1",
        extra={"GREKKO_SOLANA_KEY": KEY}, ok=False)  # fmt: skip
    cli("sniper analyze", "sniper", "analyze", "11111111111111111111111111111111",
        "--rpc-url", "http://127.0.0.1:9", ok=False)  # fmt: skip
    range_ = ["data.start=2021-01-04", "data.end=2021-01-12"]
    cli("replay", "replay", "--strategy", "sma_cross", "--state-dir", str(tmp_path / "replay"),
        *range_)  # fmt: skip
    # the replay's drift from its backtest (issue 27): its log, the stored bars, a backtest
    (replayed,) = (tmp_path / "replay").glob("*/events.db")
    cli("drift", "drift", str(replayed), *range_)
    # the promotion gate's parity check: a backtest and a replay of the same window
    cli("parity", "parity", "--strategy", "sma_cross", "--state-dir", str(tmp_path / "parity"),
        *range_)  # fmt: skip
    outputs["api"] = _serve_briefly(
        ["api", "--events", events, "--port", str(port := free_port())], env,
        lambda: _api_requests(port),
    )  # fmt: skip
    covered.add("api")
    outputs["alerts"] = _serve_briefly(["alerts", "--events", events], env, lambda: time.sleep(3))
    covered.add("alerts")
    covered.add("sim")
    assert covered >= _commands(), f"commands not exercised: {_commands() - covered}"
    # The search had something to find: ccxt's verbose headers, the banner, the API's lines.
    assert "X-MBX-APIKEY" in outputs["run live"] and "RequestHeaders" in outputs["reconcile"]
    assert "accepts the API key" in outputs["sim"] and '"GET /positions' in outputs["api"]
    hits = {name: len(find_canaries({name: text}, [])) for name, text in outputs.items()}
    print("canary hits per output:", hits)
    assert find_canaries(outputs, [tmp_path]) == []
    assert find_canaries({k: v.replace(alert, "") for k, v in outputs.items()}) == []
    assert all(alert not in text for text in outputs.values())


def _api_requests(port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(url + "/health", timeout=1)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline
            time.sleep(0.2)
    for token in (TOKEN, WRONG):
        httpx.get(url + "/positions", headers={"Authorization": f"Bearer {token}"})
        httpx.get(url + "/orders", params={"token": token})
    time.sleep(0.5)


def _serve_briefly(args: list[str], env: dict[str, str], during: Any) -> str:
    """Start a long-running command through ``main`` (``--verbose``), call ``during()``, stop
    it; everything it printed."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LIVE_MAIN, "--verbose", *args],
        env={**os.environ, **env, "GREKKO_API_READ_TOKEN": TOKEN}, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        during()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    return out


# -- configuration: a credential never reaches config.yaml, a tearsheet or MLflow -------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ([f"+tokens.tokens=[{{symbol: WETH, passphrase: {KEY}}}]"], "passphrase"),
        ([f"+tokens.tokens=[{{symbol: WETH, seed_phrase: '{KEY}'}}]"], "seed_phrase"),
        (["portfolio=trend_and_reversion", f"+portfolio.strategies.0.params.access_token={KEY}"],
         "access_token"),
        (["portfolio=trend_and_reversion", f"+portfolio.strategies.1.risk.api-key={KEY}"],
         "api-key"),
        ([f"+experiment.apiKey={KEY}"], "apiKey"),
        ([f"live.event_store=postgresql://grekko:{KEY}@db.local/grekko"], "live.event_store"),
    ],
)  # fmt: skip
def test_backtest_refuses_credentials_and_writes_nothing(
    overrides: list[str], key: str, research_store: Path, tmp_path: Path
) -> None:
    from grekko_research.cli import app as grekko_app

    out = tmp_path / "runs"
    result = CliRunner().invoke(
        grekko_app,
        ["backtest", "--output-dir", str(out), *overrides],
        env={"GREKKO_DATA_DIR": str(research_store), "MLFLOW_TRACKING_URI": ""},
    )
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    if result.exception is not None:
        texts.update(exception_texts("error", result.exception))
    assert result.exit_code != 0, texts
    assert key in result.stdout + result.stderr + str(result.exception)
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*"))
    assert find_canaries(texts, [tmp_path]) == []


def test_the_simulator_banner_never_shows_the_key(shared_data: Path) -> None:
    """The banner says where the credentials come from, not what they are (printed as is,
    with no redaction installed: the banner itself must not carry them)."""
    import asyncio

    from live.sim.cli import run_sim

    lines: list[str] = []
    run_sim(["BTC/USDT"], "1h", start="2021-01-10", port=0, api_key=KEY, api_secret=SECRET,
            data_dir=shared_data, echo=lines.append, credentials_from="the test's canaries",
            on_ready=lambda sim: asyncio.ensure_future(sim.close()))  # fmt: skip
    assert any("REST http" in line for line in lines)
    assert any("accepts the API key and secret of the test's canaries" in line for line in lines)
    assert find_canaries({f"banner {i}": line for i, line in enumerate(lines)}) == []


# -- the DEX venue: a live run on anvil, its hot key a canary -------------------------------

DEX_SYMBOLS = "BTC/USDT,ETH/USDT"  # the simulator's feed; on chain: tokens A, C priced in B


def _dex_conf(root: Path, dex: DexWorld) -> Path:
    """A GREKKO_CONF_DIR folder: the chain's token list and the DEX venue (BTC/USDT on the V3
    pool, ETH/USDT on the V2 pair; the names are the feed's, the addresses anvil's)."""
    w = dex.world
    (root / "tokens").mkdir(parents=True)
    (root / "exchange" / "dex").mkdir(parents=True)
    tokens = {"BTC": w["A"].address, "USDT": w["B"].address, "ETH": w["C"].address}
    (root / "tokens" / "canarychain.yaml").write_text(
        "chain: canarychain\ntokens:\n"
        + "".join(f"  - {{symbol: {s}, address: '{a}', decimals: 18}}\n" for s, a in tokens.items())
    )
    (root / "exchange" / "dex" / "canary_dex.yaml").write_text(
        f"""kind: dex
chain: canarychain
chain_id: 31337
rpc_url: {dex.anvil.url}
executor: '{w["executor"].address}'
key_env: GREKKO_CANARY_DEX_KEY
confirmations: 1
wrapped_native: USDT
markets:
  - {{symbol: BTC/USDT, pool: '{w["v3AB"].address}', kind: v3, fee: 3000}}
  - {{symbol: ETH/USDT, pool: '{w["uniBC"].address}', kind: v2, fee: 997000}}
"""
    )
    return root


def _wait_for(
    events: Path, kind: str, proc: subprocess.Popen[str], out: Path, until: Any = bool
) -> list[Any]:
    """Wait for the payloads of ``kind`` in the run's log until ``until(payloads)`` holds."""
    from live.events import EventStore

    deadline = time.monotonic() + 240
    while True:
        if events.is_file():
            with EventStore.open(events) as store:
                found = [e.payload for e in store.read(kinds=[kind])]
            if until(found):
                return found
        assert proc.poll() is None, out.read_text()[-4000:]
        assert time.monotonic() < deadline, f"no {kind}: " + out.read_text()[-4000:]
        time.sleep(0.5)


@pytest.fixture
def dex(dex_world: DexWorld) -> Iterator[DexWorld]:  # noqa: F811
    """The session's anvil world, reverted after the test."""
    snap = dex_world.rpc("evm_snapshot")
    try:
        yield dex_world
    finally:
        dex_world.rpc("evm_setAutomine", True)
        assert dex_world.rpc("evm_revert", snap), "evm_revert failed"


def test_a_live_dex_run_never_shows_the_hot_key(
    dex: DexWorld, shared_data: Path, tmp_path: Path
) -> None:
    """``grekko-live run --venue dex:<name> --mode live`` on anvil, end to end: bars from the
    simulator (``live.feed_url``), swaps through our executor on a real V3 pool and V2 pair,
    the kill switch (``grekko-live kill --flatten``) on the way, the run to its last bar; every
    fill in the log is a ``Swapped`` of the executor on chain, and the key is nowhere."""
    from eth_account import Account

    from live.events import EventStore

    key = "0x" + DEX_KEY
    hot = Account.from_key(key).address
    w = dex.world
    w.send(w["executor"].functions.setExecutor(hot, True))
    dex.rpc("anvil_setBalance", hot, hex(10**20))
    conf = _dex_conf(tmp_path / "conf", dex)
    start = {t: w.balance(t, w["executor"].address) for t in ("A", "C")}
    env = {**ENV, "GREKKO_CONF_DIR": str(conf), "GREKKO_CANARY_DEX_KEY": key}
    state = tmp_path / "state"
    events = state / "dexcanary" / "events.db"
    outputs: dict[str, str] = {}
    with sim_process(shared_data, ENV, symbols=DEX_SYMBOLS, start="2021-01-12") as url:
        args = ["--verbose", "run", "--venue", "dex:canary_dex", "--mode", "live",
                "--confirm-live", "dex:canary_dex", "--strategy", "sma_cross", "--params",
                "fast=2", "--params", "slow=5", "--symbols", DEX_SYMBOLS, "--timeframe", "1h",
                "--state-dir", str(state), "--run-id", "dexcanary", "--max-bars", "16",
                f"live.feed_url={url}", "engine.sizing=units", "engine.sizing_value=1.5",
                "engine.taker_fee=0", "engine.init_cash=10000000", "risk.order.max_orders=50",
                "risk.dex.max_pending_swaps=2"]  # fmt: skip
        out = tmp_path / "run.out"
        with out.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-c", LIVE_MAIN, *args], env={**os.environ, **env}, cwd=ROOT,
                stdout=sink, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            try:
                _wait_for(events, "order_fill", proc, out)  # a swap landed: now the kill switch
                killed = CliRunner().invoke(
                    app, ["kill", "--reason", "canary", "--flatten", "--events", str(events)],
                    env=env,
                )  # fmt: skip
                assert killed.exit_code == 0, killed.output
                outputs["kill"] = killed.output
                done = _wait_for(events, "kill_switch_done", proc, out)
                code = proc.wait(timeout=300)  # the run goes on to its last bar, halted
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    outputs["run"] = out.read_text()
    assert code == 0, outputs["run"][-4000:]
    with EventStore.open(events) as store:
        store.verify().raise_if_broken()
        log = list(store.read())
    kinds = [e.kind for e in log]
    assert kinds.count("bar_closed") == 16
    fills = [e.payload for e in log if e.kind == "order_fill"]
    killed_at = kinds.index("kill_switch")
    after = [e for e in log[killed_at:] if e.kind == "order_submitted"]
    # Every position open at the switch is sold by it, and nothing else is sent after it (one
    # or both markets hold a position then: the second one's entry may land bars later).
    assert 1 <= len(done[0]["flattened"]) == len(after)
    # Every fill is a swap of the executor, signed by the hot key, on chain.
    swaps = w["executor"].events.Swapped().get_logs(from_block=0)
    ours = {"0x" + e["transactionHash"].hex().removeprefix("0x") for e in swaps
            if e["args"]["executor"] == hot}  # fmt: skip
    assert fills and {f["trade_id"] for f in fills} == ours
    # Flat again: what the run bought it sold (a buy's rounding surplus aside).
    end = {t: w.balance(t, w["executor"].address) for t in ("A", "C")}
    assert all(abs(end[t] - start[t]) <= 100 for t in start), (start, end)
    # The search had something to find: web3's requests logged, the swaps' raw transactions.
    assert "eth_sendRawTransaction" in outputs["run"]
    assert list(state.rglob("*-nonces.sqlite"))
    assert find_canaries(outputs, [tmp_path]) == []
