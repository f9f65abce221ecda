"""``grekko-live sniper run|replay|analyze``: the Solana launch monitor, safety analyzer and
guarded buyer (live/solana, docs/solana.md). Imports of solana/solders happen inside the
commands, so ``grekko-live --help`` stays fast."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.errors import ConfigError
from live.cli._app import _Command, _Group

__all__ = ["sniper_app"]

sniper_app = typer.Typer(
    name="sniper",
    cls=_Group,
    help="Solana launches: monitor, safety analysis (fails closed), dry-run-first guarded buys.",
    no_args_is_help=True,
    add_completion=False,
)

RpcOpt = Annotated[
    str, typer.Option("--rpc-url", metavar="URL", help="The JSON-RPC endpoint (http://…)")
]
WsOpt = Annotated[
    str | None,
    typer.Option(
        "--ws-url", metavar="URL", help="The PubSub endpoint (default: the RPC URL as ws://)"
    ),
]
ConfOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", metavar="PATH", help="Sniper config (default conf/solana/default.yaml)"
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", metavar="SECTION.KEY=VALUE", help="Override a config key, e.g. buyer.buy_sol=0.02"
    ),
]
StateOpt = Annotated[
    Path, typer.Option("--state-dir", metavar="DIR", help="Where the run's log goes")
]
RunIdOpt = Annotated[str, typer.Option("--run-id", metavar="ID", help="The run's id (its folder)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]

_COLOURS = {"PASS": "green", "REJECT": "red"}


def _overrides(values: list[str] | None) -> dict[str, Any]:
    import yaml  # type: ignore[import-untyped]

    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, raw = item.partition("=")
        if not sep or "." not in key:
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        out[key] = yaml.safe_load(raw)
    return out


def _ws(rpc_url: str, ws_url: str | None) -> str:
    if ws_url:
        return ws_url
    if rpc_url.startswith("https://"):
        return "wss://" + rpc_url[len("https://") :]
    if rpc_url.startswith("http://"):
        return "ws://" + rpc_url[len("http://") :]
    raise ConfigError(f"--rpc-url must be http:// or https://, got {rpc_url!r}")


def _printer(show: bool) -> Any:
    from live.cli._app import console

    def show_record(kind: str, p: dict[str, Any]) -> None:
        if not show:
            return
        mint = str(p.get("mint", ""))[:10]
        if kind == "sniper_launch":
            console.print(
                f"[cyan]launch[/] {p['mint']} {p.get('symbol')!r} by {p['creator'][:10]} slot {p.get('slot')}"
            )
        elif kind == "sniper_verdict":
            colour = _COLOURS.get(p["verdict"], "white")
            why = ", ".join(r["code"] for r in p["reasons"]) or "no findings"
            tag = " (recheck)" if p.get("recheck") else ""
            console.print(
                f"  [{colour}]{p['verdict']}[/]{tag} {mint} score {p['score']}: {why} [{p['elapsed_ms']:.0f} ms]"
            )
        elif kind == "sniper_decision":
            console.print(f"  [yellow]{p['action']}[/] {mint}: {p['rule']}: {p['reason']}")
        elif kind == "sniper_order":
            tag = "dry-run " if p.get("dry_run") else ""
            console.print(
                f"  {tag}order {p['side']} {p['tokens']} for {p['lamports'] / 1e9:.6f} SOL (bound {p['bound']})"
            )
        elif kind == "sniper_exit":
            console.print(f"  [magenta]exit[/] {mint}: {p['rule']}")
        elif kind == "sniper_fill" and p["side"] == "sell":
            console.print(f"  sold {mint}: pnl {p['pnl_lamports'] / 1e9:+.6f} SOL ({p['rule']})")
        elif kind in (
            "sniper_gap",
            "sniper_reconnect",
            "kill_switch",
            "sniper_reconciled",
            "sniper_error",
        ):
            console.print(f"[red]{kind}[/] {json.dumps(p)[:200]}")
        elif kind in ("risk_state", "risk_breach"):
            console.print(f"[red]{kind}[/] {p.get('state', '')} {p.get('reason', '')}")

    return show_record


def _open(state_dir: Path, run_id: str) -> Any:
    from live.events import open_run_log

    folder = state_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    return open_run_log(folder / "events.db", create_key=True), folder


def _spec(rpc_url: str, ws_url: str | None, config: Path | None, sets: list[str] | None,
          live: bool, confirm: bool, folder: Path, run_id: str) -> tuple[Any, str]:  # fmt: skip
    from live.app import KILL_FILE
    from live.solana.config import load_config
    from live.solana.sniper import SniperSpec

    overrides = _overrides(sets)
    if live:
        if not confirm:
            raise ConfigError(
                "--live moves real funds: add --confirm-live to say so (dry-run is the default)"
            )
        overrides["buyer.mode"] = "live"
    elif overrides.get("buyer.mode") == "live":
        raise ConfigError("buyer.mode=live only through --live --confirm-live")
    conf = load_config(config, overrides)
    spec = SniperSpec(rpc_url, _ws(rpc_url, ws_url), conf.buyer, conf.safety, conf.risk,
                      conf.paper_balance_sol, folder / KILL_FILE, run_id)  # fmt: skip
    return spec, conf.monitor_mode


def _summary(summary: Any, folder: Path, as_json: bool) -> None:
    from live.cli._app import console

    if as_json:
        typer.echo(json.dumps({**summary.to_json(), "log": str(folder / "events.db")}))
        return
    from rich.table import Table

    table = Table(title="sniper run")
    for key in ("launches", "passed", "rejected", "buys", "exits", "gaps", "reconnects"):
        table.add_row(key, str(getattr(summary, key)))
    table.add_row("open positions", str(len(summary.open_positions)))
    table.add_row("realised SOL", f"{summary.realised_lamports / 1e9:+.6f}")
    console.print(table)
    console.print(f"event log: {folder / 'events.db'}")


@sniper_app.command("run", cls=_Command)
def run_command(
    rpc_url: RpcOpt,
    ws_url: WsOpt = None,
    config: ConfOpt = None,
    sets: SetOpt = None,
    state_dir: StateOpt = Path("runs/solana"),
    run_id: RunIdOpt = "sniper",
    live: Annotated[
        bool, typer.Option("--live", help="Send real transactions (needs --confirm-live)")
    ] = False,
    confirm_live: Annotated[
        bool, typer.Option("--confirm-live", help="Confirm that --live moves real funds")
    ] = False,
    max_launches: Annotated[
        int | None, typer.Option(metavar="N", help="Stop after N launches, all exited")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Stop after this long")
    ] = None,
    exit_interval: Annotated[
        float, typer.Option(metavar="SECONDS", help="Exit-check period")
    ] = 1.0,
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary")] = False,
    as_json: JsonOpt = False,
    api_port: Annotated[
        int | None,
        typer.Option(
            metavar="PORT", help="Serve the status API (REST, /metrics) here; 0: any free port"
        ),
    ] = None,
    api_host: Annotated[str, typer.Option(help="The status API's bind address")] = "127.0.0.1",
    alerts: Annotated[
        bool, typer.Option("--alerts", help="Send the run's alerts to GREKKO_ALERT_URLS")
    ] = False,
) -> None:
    """Listen for launches, analyse each, buy those that pass through the risk engine (dry-run
    unless --live --confirm-live), and exit by take-profit, stop, time or safety downgrade.

    Every decision goes to the run's event log (grekko-live status|verify|kill|resume|api|alerts
    read it). --api-port serves the CEX runner's status API beside the run (tokens:
    GREKKO_API_READ_TOKEN / GREKKO_API_CONTROL_TOKEN; its URL also in the run folder's
    api.json), --alerts sends its alerts (halts, kills, repeated RPC failures, the daily
    budget). The wallet key comes from GREKKO_SOLANA_KEY or the keyring, never an option.
    """
    from live.cli._app import err_console
    from live.solana.app import rpc_client, run_sniper
    from live.solana.buyer import load_keypair
    from live.solana.observe import check_observability, observed

    folder = state_dir / run_id  # nothing is written before the config and the key are good
    spec, mode = _spec(rpc_url, ws_url, config, sets, live, confirm_live, folder, run_id)
    if spec.buyer.mode == "live":  # the deployment's venue/jurisdiction policy
        from live.compliance.policy import check_run

        check_run(venue="solana", symbols=(), chain="solana")
    wallet = load_keypair(required=spec.buyer.mode == "live")
    check_observability(api_port, alerts)
    store, folder = _open(state_dir, run_id)

    def alerted(outcome: Any) -> None:
        err_console.print(f"[red]alert[/] {outcome.status}: {outcome.alert.title}")

    async def main() -> Any:
        client = rpc_client(rpc_url, timeout=spec.safety.timeout_s)
        try:
            async with observed(folder / "events.db", folder, api_port=api_port, api_host=api_host,
                                alerts=alerts, on_alert=alerted,
                                on_api=lambda url: err_console.print(f"status API: {url}")):  # fmt: skip
                return await run_sniper(spec, store, client, wallet, monitor_mode=mode, max_launches=max_launches,
                                        duration_s=duration, exit_interval_s=exit_interval,
                                        on_record=_printer(not quiet and not as_json))  # fmt: skip
        finally:
            await client.close()

    try:
        summary = asyncio.run(main())
    finally:
        store.close()
    _summary(summary, folder, as_json)


@sniper_app.command("replay", cls=_Command)
def replay_command(
    frames: Annotated[
        Path, typer.Argument(metavar="FRAMES", help="Recorded frames (JSON lines or one JSON)")
    ],
    rpc_url: RpcOpt,
    config: ConfOpt = None,
    sets: SetOpt = None,
    state_dir: StateOpt = Path("runs/solana"),
    run_id: RunIdOpt = "sniper-replay",
    quiet: Annotated[bool, typer.Option("--quiet", help="Print only the summary")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run recorded launch frames through the monitor, the analyzer and the dry-run buyer
    (chain facts from --rpc-url), for research. Never sends."""
    from live.solana.app import read_frames, replay_frames, rpc_client
    from live.solana.buyer import load_keypair

    try:
        recorded = list(read_frames(frames))
    except (OSError, ValueError) as e:
        raise ConfigError(str(e)) from e
    spec, _ = _spec(rpc_url, None, config, sets, False, False, state_dir / run_id, run_id)
    store, folder = _open(state_dir, run_id)

    async def main() -> Any:
        client = rpc_client(rpc_url, timeout=spec.safety.timeout_s)
        try:
            return await replay_frames(recorded, spec, store, client, load_keypair(),
                                       on_record=_printer(not quiet and not as_json))  # fmt: skip
        finally:
            await client.close()

    try:
        summary = asyncio.run(main())
    finally:
        store.close()
    _summary(summary, folder, as_json)


@sniper_app.command("analyze", cls=_Command)
def analyze_command(
    mint: Annotated[str, typer.Argument(metavar="MINT", help="The token's mint address")],
    rpc_url: RpcOpt,
    creator: Annotated[
        str | None, typer.Option(metavar="ADDRESS", help="The launch's creator")
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option("--events", metavar="PATH", help="A sniper run's log: the creator's launches"),
    ] = None,
    config: ConfOpt = None,
    sets: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Analyse one mint and print the verdict, score and reasons (exit status 2 on REJECT).

    The creator's history comes from a sniper run's log (--events); without it that fact is
    missing and the verdict is REJECT (the analyzer fails closed).
    """
    from live.cli._app import console
    from live.solana.app import analyze_mint, rpc_client
    from live.solana.config import load_config

    conf = load_config(config, _overrides(sets))
    launches = None
    if events is not None:
        from live.events import EventStore

        if not events.exists():
            raise ConfigError(f"no event log at {events}")
        with EventStore.open(events) as store:
            seen = [e.payload for e in store.read(kinds=["sniper_launch"])]
        mine = [p for p in seen if p["mint"] == mint]
        creator = creator or (mine[0]["creator"] if mine else None)
        launches = max(1, sum(1 for p in seen if p["creator"] == creator))

    async def main() -> Any:
        client = rpc_client(rpc_url, timeout=conf.safety.timeout_s)
        try:
            return await analyze_mint(
                client, mint, conf.safety, creator=creator, creator_launches=launches
            )
        finally:
            await client.close()

    verdict = asyncio.run(main())
    if as_json:
        typer.echo(json.dumps(verdict.to_json()))
    else:
        from rich.table import Table

        colour = _COLOURS.get(verdict.verdict, "white")
        console.print(
            f"[{colour}]{verdict.verdict}[/] {mint} score {verdict.score} ({verdict.elapsed_ms:.0f} ms)"
        )
        table = Table("reason", "fatal", "penalty", "detail")
        for r in verdict.reasons:
            table.add_row(r.code, "yes" if r.fatal else "", str(r.penalty or ""), r.detail)
        if verdict.reasons:
            console.print(table)
    if not verdict.passed:
        raise typer.Exit(2)
