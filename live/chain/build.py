"""Compile ``contracts/`` offline with the pinned npm ``solc`` into committed artifacts.

``python -m live.chain.build`` (``make contracts``) gathers every Solidity source under
``contracts/src`` and ``contracts/test`` with the OpenZeppelin files they import (from
``node_modules``, installed by ``npm ci``), compiles them in one standard-JSON run of solcjs and
writes one JSON artifact per deployable contract: ABI, creation and runtime bytecode, the
compiler's version and settings, and ``sourceHash`` — the SHA-256 of the whole compiler input.
``--check`` recomputes that hash without compiling and fails when the committed artifacts are
stale (the test suite runs it). Nothing is downloaded: solcjs is the registry package itself.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import posixpath
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ARTIFACTS_DIR",
    "REPO_ROOT",
    "SETTINGS",
    "SOLC_VERSION",
    "BuildError",
    "CompilerInput",
    "build",
    "compiler_input",
    "stale_artifacts",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
NODE_MODULES = REPO_ROOT / "node_modules"
SOURCE_DIRS = ("src", "test")

SOLC_VERSION = "0.8.37"
"""The compiler version, pinned in package.json; the build refuses any other."""

SETTINGS: dict[str, Any] = {
    # cancun: transient storage (the V3 callback's pool check, the pending flash loan).
    "evmVersion": "cancun",
    "optimizer": {"enabled": True, "runs": 1000},
    "viaIR": False,
    "metadata": {"bytecodeHash": "ipfs"},
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}

_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*\s+from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


class BuildError(RuntimeError):
    """The sources could not be gathered or compiled; the message says which and why."""


@dataclass(frozen=True)
class CompilerInput:
    """One standard-JSON compiler input and its hash."""

    sources: dict[str, str]  # source unit name -> content
    standard_json: dict[str, Any]
    source_hash: str


def _resolve(unit: str, path: str) -> str:
    if path.startswith("."):
        return posixpath.normpath(posixpath.join(posixpath.dirname(unit), path))
    return path


def _read_unit(unit: str, root: Path) -> str:
    base = NODE_MODULES if unit.startswith("@") else root
    file = base / unit
    if not file.is_file():
        hint = " (run `npm ci` or `make install`)" if unit.startswith("@") else ""
        raise BuildError(f"import {unit!r} not found at {file}{hint}")
    return file.read_text(encoding="utf-8")


def compiler_input(contracts_dir: Path = CONTRACTS_DIR) -> CompilerInput:
    """Gather our sources and everything they import into one standard-JSON input.

    Source units are named from the folder holding ``contracts_dir`` (``contracts/src/...``),
    OpenZeppelin's by their npm path (``@openzeppelin/contracts/...``).
    """
    root = contracts_dir.parent
    roots = sorted(
        f.relative_to(root).as_posix()
        for d in SOURCE_DIRS
        for f in (contracts_dir / d).rglob("*.sol")
    )
    if not roots:
        raise BuildError(f"no Solidity sources under {contracts_dir}/{{{','.join(SOURCE_DIRS)}}}")
    sources: dict[str, str] = {}
    todo = list(roots)
    while todo:
        unit = todo.pop()
        if unit in sources:
            continue
        text = _read_unit(unit, root)
        sources[unit] = text
        todo.extend(_resolve(unit, p) for p in _IMPORT.findall(text))
    ordered = {k: sources[k] for k in sorted(sources)}
    standard_json = {
        "language": "Solidity",
        "sources": {k: {"content": v} for k, v in ordered.items()},
        "settings": SETTINGS,
    }
    blob = json.dumps({"solc": SOLC_VERSION, "input": standard_json}, sort_keys=True).encode()
    return CompilerInput(ordered, standard_json, hashlib.sha256(blob).hexdigest())


_NODE_COMPILE = """
const solc = require('solc');
let s = '';
process.stdin.on('data', d => s += d).on('end', () => {
  process.stdout.write(JSON.stringify({version: solc.version(), output: JSON.parse(solc.compile(s))}));
});
"""


def _compile(inp: CompilerInput) -> tuple[str, dict[str, Any]]:
    try:
        proc = subprocess.run(
            ["node", "-e", _NODE_COMPILE],
            input=json.dumps(inp.standard_json),
            capture_output=True,
            text=True,
            cwd=REPO_ROOT,
            check=False,
        )
    except FileNotFoundError as e:
        raise BuildError("node not found: install Node.js 18+ (Debian: nodejs npm)") from e
    if proc.returncode != 0:
        raise BuildError(f"solcjs failed (is node_modules installed? `npm ci`):\n{proc.stderr}")
    result = json.loads(proc.stdout)
    version: str = result["version"]
    if not version.startswith(SOLC_VERSION + "+"):
        raise BuildError(f"solc {version} installed, {SOLC_VERSION} pinned: run `npm ci`")
    output: dict[str, Any] = result["output"]
    errors = [e for e in output.get("errors", []) if e["severity"] == "error"]
    if errors:
        raise BuildError("compilation failed:\n" + "\n".join(e["formattedMessage"] for e in errors))
    return version, output


def _artifact_path(source: str, name: str) -> Path:
    sub = "test" if source.startswith("contracts/test/") else ""
    return ARTIFACTS_DIR / sub / f"{name}.json"


def build(out_dir: Path = ARTIFACTS_DIR) -> list[Path]:
    """Compile and write the artifacts of every deployable contract; return their paths."""
    inp = compiler_input()
    version, output = _compile(inp)
    written: list[Path] = []
    fresh = {}
    for source, contracts in sorted(output["contracts"].items()):
        if not source.startswith("contracts/"):
            continue
        for name, c in sorted(contracts.items()):
            bytecode = c["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts
                continue
            path = out_dir / _artifact_path(source, name).relative_to(ARTIFACTS_DIR)
            art = {
                "contractName": name,
                "sourceName": source,
                "abi": c["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + c["evm"]["deployedBytecode"]["object"],
                "compiler": {"version": version, "settings": SETTINGS},
                "sourceHash": inp.source_hash,
            }
            path.parent.mkdir(parents=True, exist_ok=True)
            fresh[path] = json.dumps(art, indent=1, sort_keys=True) + "\n"
    for old in out_dir.rglob("*.json"):  # a deleted contract leaves no stale artifact
        if old not in fresh:
            old.unlink()
    for path, text in fresh.items():
        tmp = path.with_suffix(".json.partial")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written


def stale_artifacts(
    out_dir: Path = ARTIFACTS_DIR, contracts_dir: Path = CONTRACTS_DIR
) -> list[str]:
    """Artifacts whose ``sourceHash`` is not the current sources' (empty: all fresh)."""
    want = compiler_input(contracts_dir).source_hash
    arts = sorted(out_dir.rglob("*.json"))
    if not arts:
        return [f"{out_dir}: no artifacts"]
    stale = []
    for p in arts:
        got = json.loads(p.read_text(encoding="utf-8")).get("sourceHash")
        if got != want:
            stale.append(f"{p}: sourceHash {got} != {want}")
    return stale


def main(argv: list[str] | None = None) -> int:
    """Build the artifacts, or with ``--check`` only report stale ones."""
    ap = argparse.ArgumentParser(prog="python -m live.chain.build", description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if artifacts are stale; no compile")
    args = ap.parse_args(argv)
    try:
        if args.check:
            stale = stale_artifacts()
            for line in stale:
                print(f"stale: {line}", file=sys.stderr)
            if stale:
                print("contracts changed without rebuilding: run `make contracts`", file=sys.stderr)
            return 1 if stale else 0
        for p in build():
            print(f"wrote {p.relative_to(REPO_ROOT)}")
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
