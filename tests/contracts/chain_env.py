"""The contract tests' world: one anvil node, real Uniswap V2/V3 bytecode, our contracts.

anvil comes from npm (``@foundry-rs/anvil``'s platform package, installed by ``npm ci``) and
listens on a random 127.0.0.1 port; Uniswap's factories are deployed from the bytecode in the
official ``@uniswap/v2-core`` / ``@uniswap/v3-core`` packages (test use only: GPL code is never
copied into contracts/src). :func:`build_world` deploys everything once per session.
"""

from __future__ import annotations

import json
import math
import platform
import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from live.chain.build import REPO_ROOT
from live.chain.contracts import Artifact, ChainClient, NodeSigner, load_artifact

NODE_MODULES = REPO_ROOT / "node_modules"
E18 = 10**18
V2_FEE = 997_000  # Uniswap V2 / SushiSwap: 0.3 %
DENOM = 1_000_000
V2, V3 = 1, 2  # RouteSwapper.PoolKind
FAR_FUTURE = 2**40


def anvil_binary() -> Path:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}[
        platform.machine().lower()
    ]
    osname = {"linux": "linux", "darwin": "darwin"}[sys.platform]
    path = NODE_MODULES / "@foundry-rs" / f"anvil-{osname}-{arch}" / "bin" / "anvil"
    if not path.is_file():
        raise FileNotFoundError(f"anvil not found at {path}: run `npm ci` (or `make install`)")
    return path


class Anvil:
    """An anvil process on a random 127.0.0.1 port (anvil binds port 0 and prints the port)."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("w")
        self.proc = subprocess.Popen(
            [str(anvil_binary()), "--host", "127.0.0.1", "--port", "0", "--accounts", "6",
             "--balance", "1000000", "--hardfork", "cancun"],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            m = re.search(r"Listening on 127\.0\.0\.1:(\d+)", log_path.read_text())
            if m:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"anvil did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{m.group(1)}"
        # cache_allowed_requests: web3 asks eth_chainId before most requests otherwise
        provider = Web3.HTTPProvider(
            self.url, request_kwargs={"timeout": 60}, cache_allowed_requests=True
        )
        self.w3 = Web3(provider)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def npm_artifact(package_path: str, name: str) -> Artifact:
    """An artifact built from a third-party npm package's compiled JSON (test use only)."""
    path = NODE_MODULES / package_path
    data = json.loads(path.read_text(encoding="utf-8"))
    code = data["bytecode"]
    code = code if code.startswith("0x") else "0x" + code
    return Artifact(name, data["abi"], code, "npm", "", path)


FUZZ_STATS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
"""Per fuzz test: examples run and their outcomes (printed in the terminal summary)."""


REPORTED = ("GrekkoTradeExecutor", "FlashLoanArbitrage")


class GasRecorder:
    """Gas used per (contract, function) of our contracts, for the terminal summary."""

    def __init__(self) -> None:
        self.samples: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.scenarios: dict[str, int] = {}  # named, warm-pool cases (test_gas_scenarios.py)
        self.enabled = True

    def __call__(self, contract: str, function: str, gas: int) -> None:
        if self.enabled and contract in REPORTED:
            self.samples[(contract, function)].append(gas)


@dataclass
class World:
    """Everything the contract tests use, deployed once per session."""

    w3: Web3
    client: ChainClient
    owner: NodeSigner
    bot: NodeSigner
    attacker: NodeSigner
    other: NodeSigner
    c: dict[str, Any] = field(default_factory=dict)  # name -> web3 contract

    def __getitem__(self, name: str) -> Any:
        return self.c[name]

    def snapshot(self) -> str:
        return str(self.w3.provider.make_request("evm_snapshot", [])["result"])  # type: ignore[arg-type]

    def revert(self, snap: str) -> None:
        assert self.w3.provider.make_request("evm_revert", [snap])["result"]  # type: ignore[arg-type]

    def send(self, fn: Any, signer: NodeSigner | None = None, value: int = 0) -> Any:
        return self.client.transact(fn, signer or self.owner, value=value)

    def balance(self, token: str, holder: str) -> int:
        # raw eth_call: web3's contract call costs ~5x the node's own time, and the fuzz
        # tests read a dozen balances per example
        data = "0x70a08231" + holder[2:].lower().rjust(64, "0")
        res = self.w3.provider.make_request(
            "eth_call", [{"to": self.c[token].address, "data": data}, "latest"]
        )  # type: ignore[arg-type]
        return int(res["result"], 16)

    def reserves(self, pair: str, token_in: str) -> tuple[int, int]:
        r0, r1, _ = self.c[pair].functions.getReserves().call()
        t0 = self.c[pair].functions.token0().call()
        return (r0, r1) if t0 == self.c[token_in].address else (r1, r0)

    def v2_out(self, pair: str, token_in: str, amount: int, fee: int = V2_FEE) -> int:
        """Uniswap V2's exact output formula, with a fee numerator out of 1e6."""
        rin, rout = self.reserves(pair, token_in)
        return v2_out(amount, rin, rout, fee)


def v2_out(amount: int, rin: int, rout: int, fee: int = V2_FEE) -> int:
    x = amount * fee
    return x * rout // (rin * DENOM + x)


def _deploy(world: World, art: Artifact, *args: Any) -> Any:
    return world.client.deploy(art, args, world.owner)


def _v2_pair(world: World, factory: str, name: str, a: str, b: str, ra: int, rb: int) -> None:
    w3, f = world.w3, world.c[factory]
    ta, tb = world.c[a], world.c[b]
    world.send(f.functions.createPair(ta.address, tb.address))
    addr = f.functions.getPair(ta.address, tb.address).call()
    pair = world.client.register(
        npm_artifact("@uniswap/v2-core/build/UniswapV2Pair.json", "UniswapV2Pair"), addr
    )
    world.c[name] = pair
    world.send(ta.functions.mint(world.owner.address, ra))
    world.send(tb.functions.mint(world.owner.address, rb))
    world.send(ta.functions.transfer(addr, ra))
    world.send(tb.functions.transfer(addr, rb))
    world.send(pair.functions.mint(world.owner.address))
    assert w3.eth.get_code(addr)


def _v3_pool(world: World, name: str, a: str, b: str, price_b_per_a: float, fee: int) -> None:
    f = world.c["v3factory"]
    ta, tb = world.c[a], world.c[b]
    world.send(f.functions.createPool(ta.address, tb.address, fee))
    addr = f.functions.getPool(ta.address, tb.address, fee).call()
    pool = world.client.register(
        npm_artifact(
            "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
            "UniswapV3Pool",
        ),
        addr,
    )
    world.c[name] = pool
    token0 = pool.functions.token0().call()
    price = price_b_per_a if token0 == ta.address else 1 / price_b_per_a  # token1 per token0
    world.send(pool.functions.initialize(int(math.sqrt(price) * 2**96)))
    helper = world.c["v3mint"]
    for t in (ta, tb):
        world.send(t.functions.mint(world.owner.address, 10**9 * E18))
        world.send(t.functions.approve(helper.address, 2**256 - 1))
    spacing = f.functions.feeAmountTickSpacing(fee).call()
    lo = -(887272 // spacing) * spacing
    world.send(helper.functions.mint(addr, lo, -lo, 10**4 * E18))


def build_world(w3: Web3, gas: GasRecorder) -> World:
    """Deploy tokens, Uniswap V2 (two factories) and V3, lenders and our two contracts."""
    accounts = w3.eth.accounts
    client = ChainClient(w3, on_receipt=gas)
    world = World(w3, client, *(NodeSigner(a) for a in accounts[:4]))
    gas.enabled = False  # setup is not part of the report
    c = world.c
    test_art = {n: load_artifact(n, test=True) for n in
                ("TestToken", "FeeOnTransferToken", "ReentrantToken", "MockAavePool",
                 "MockBalancerVault", "V3MintHelper", "FakeV3Pool")}  # fmt: skip
    for sym in ("A", "B", "C"):
        c[sym] = _deploy(world, test_art["TestToken"], f"Token {sym}", sym)
    c["FOT"] = _deploy(world, test_art["FeeOnTransferToken"], "Fee on transfer", "FOT", 100)
    c["RTK"] = _deploy(world, test_art["ReentrantToken"], "Reentrant", "RTK")
    v2f = npm_artifact("@uniswap/v2-core/build/UniswapV2Factory.json", "UniswapV2Factory")
    c["uni"] = _deploy(world, v2f, world.owner.address)
    c["sushi"] = _deploy(world, v2f, world.owner.address)  # a fork: the same code, other prices
    c["v3factory"] = _deploy(
        world,
        npm_artifact("@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json",
                     "UniswapV3Factory"),
    )  # fmt: skip
    c["v3mint"] = _deploy(world, test_art["V3MintHelper"])
    _v2_pair(world, "uni", "uniAB", "A", "B", 1_000 * E18, 2_000 * E18)
    _v2_pair(world, "uni", "uniBC", "B", "C", 2_000 * E18, 1_000 * E18)
    _v2_pair(world, "uni", "uniFOT", "FOT", "A", 1_000 * E18, 1_000 * E18)
    _v2_pair(world, "uni", "uniRTK", "RTK", "A", 1_000 * E18, 1_000 * E18)
    _v2_pair(world, "sushi", "sushiAB", "A", "B", 1_000 * E18, 2_200 * E18)  # B 10 % cheaper
    _v3_pool(world, "v3AB", "A", "B", 2.0, 3000)
    c["aave"] = _deploy(world, test_art["MockAavePool"], 5)  # 0.05 %
    c["vault"] = _deploy(world, test_art["MockBalancerVault"])
    gas.enabled = True  # our deployments are in the report
    c["executor"] = _deploy(world, load_artifact("GrekkoTradeExecutor"), world.owner.address)
    c["arb"] = _deploy(
        world, load_artifact("FlashLoanArbitrage"), world.owner.address, c["aave"].address,
        c["vault"].address,
    )  # fmt: skip
    gas.enabled = False
    c["fake"] = _deploy(world, test_art["FakeV3Pool"], c["A"].address, c["B"].address)
    # Another trader's executor: the fuzz tests move prices through it (the gaps the bot meets).
    c["mover"] = _deploy(world, load_artifact("GrekkoTradeExecutor"), world.owner.address)
    ex, arb, mover = c["executor"], c["arb"], c["mover"]
    world.send(ex.functions.setExecutor(world.bot.address, True))
    world.send(mover.functions.setExecutor(world.other.address, True))
    for target in (ex, arb, mover):
        for pool in ("uniAB", "uniBC", "uniFOT", "uniRTK", "sushiAB"):
            world.send(target.functions.setPool(c[pool].address, V2, V2_FEE))
        world.send(target.functions.setPool(c["v3AB"].address, V3, 0))
    for sym in ("A", "B", "C", "RTK"):
        world.send(c[sym].functions.mint(ex.address, 100 * E18))
        world.send(c[sym].functions.mint(c["aave"].address, 10_000 * E18))
        world.send(c[sym].functions.mint(c["vault"].address, 10_000 * E18))
        world.send(c[sym].functions.mint(mover.address, 100_000 * E18))
    world.send(c["FOT"].functions.mint(ex.address, 100 * E18))
    gas.enabled = True
    return world
