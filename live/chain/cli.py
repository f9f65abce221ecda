"""``grekko-live contracts``: build, check and deploy Grekko's own contracts.

Imported by ``live.cli`` at start-up: web3 and the compiler are imported inside the commands.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

__all__ = ["contracts_app"]

console = Console()

contracts_app = typer.Typer(
    name="contracts",
    help="Grekko's Solidity contracts: offline build, staleness check, deploy to a network.",
    no_args_is_help=True,
)


@contracts_app.command("build")
def build_cmd() -> None:
    """Compile contracts/ with the pinned solc into contracts/artifacts (needs `npm ci`)."""
    from live.chain.build import REPO_ROOT, BuildError, build

    try:
        for path in build():
            console.print(f"wrote {path.relative_to(REPO_ROOT)}")
    except BuildError as e:
        from grekko_research.errors import ConfigError

        raise ConfigError(str(e)) from None


@contracts_app.command("check")
def check_cmd() -> None:
    """Fail when a Solidity source changed since the artifacts were built."""
    from live.chain.build import stale_artifacts

    stale = stale_artifacts()
    if stale:
        for line in stale:
            console.print(f"[red]stale[/] {line}")
        console.print("run `make contracts` (or `grekko-live contracts build`)")
        raise typer.Exit(1)
    console.print("artifacts match the sources")


@contracts_app.command("deploy")
def deploy_cmd(
    network: Annotated[
        str, typer.Option("--network", help="conf/chain/<NAME>.yaml: anvil, ethereum, …")
    ],
    rpc_url: Annotated[
        str | None,
        typer.Option("--rpc-url", help="Override the config's RPC URL (e.g. another anvil port)"),
    ] = None,
    conf_dir: Annotated[
        Path | None, typer.Option("--conf-dir", help="Folder of network configs")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Write the addresses as JSON here (default: runs/contracts/<network>.json)",
        ),
    ] = None,
) -> None:
    """Deploy GrekkoTradeExecutor (and FlashLoanArbitrage when a lender is configured).

    The deployer key comes from the config's environment variable (key_env) or the OS keyring;
    it is masked in every output of this process and never written anywhere.
    """
    from live.chain.build import REPO_ROOT
    from live.chain.deploy import CONF_DIR, connect, deploy, load_network
    from live.chain.keys import load_signer

    cfg = load_network(network, conf_dir=conf_dir or CONF_DIR)
    signer = load_signer(key_env=cfg.key_env, keyring_user=cfg.keyring_user)
    w3 = connect(cfg, rpc_url)
    console.print(f"deploying to {cfg.name} (chain {cfg.chain_id}) from {signer.address}")
    result = deploy(cfg, w3, signer)
    table = Table(title=f"deployed on {cfg.name}")
    table.add_column("contract")
    table.add_column("address")
    for name, address in result.contracts.items():
        table.add_row(name, address)
    console.print(table)
    gas = Table(title="gas")
    for col in ("contract", "call", "gas used"):
        gas.add_column(col)
    for c, f, g in result.gas:
        gas.add_row(c, f, str(g))
    console.print(gas)
    if result.pending_owner:
        console.print(
            f"ownership transfer started: {result.pending_owner} must call acceptOwnership() on each contract"
        )
    path = out or REPO_ROOT / "runs" / "contracts" / f"{cfg.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.partial")
    tmp.write_text(json.dumps(asdict(result), indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    console.print(f"addresses written to {path}")
