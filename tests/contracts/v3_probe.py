"""The V3 swap probe (tests/contracts/v3_swap_probe.sol), compiled once per session by the pinned
npm solc: it calls a real Uniswap V3 pool's swap with any amount and price limit."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from live.chain.build import REPO_ROOT, SETTINGS
from live.chain.contracts import Artifact

PROBE_SOL = Path(__file__).with_name("v3_swap_probe.sol")

_COMPILE = """
const solc = require('solc');
let s = '';
process.stdin.on('data', d => s += d).on('end', () => process.stdout.write(solc.compile(s)));
"""


@pytest.fixture(scope="session")
def probe_artifact() -> Artifact:
    """The probe compiled by the pinned npm solc (a few seconds; not a committed artifact)."""
    inp = {
        "language": "Solidity",
        "sources": {"probe.sol": {"content": PROBE_SOL.read_text()}},
        "settings": {**SETTINGS, "metadata": {"bytecodeHash": "none"}},
    }
    proc = subprocess.run(["node", "-e", _COMPILE], input=json.dumps(inp), capture_output=True,
                          text=True, cwd=REPO_ROOT, check=True, timeout=600)  # fmt: skip
    out = json.loads(proc.stdout)
    errors = [e["formattedMessage"] for e in out.get("errors", []) if e["severity"] == "error"]
    assert not errors, errors
    c = out["contracts"]["probe.sol"]["V3SwapProbe"]
    return Artifact(
        "V3SwapProbe", c["abi"], "0x" + c["evm"]["bytecode"]["object"], "", "", PROBE_SOL
    )
