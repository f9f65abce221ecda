"""The committed artifacts are what the pinned compiler makes of the current sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from live.chain.build import (
    ARTIFACTS_DIR,
    CONTRACTS_DIR,
    REPO_ROOT,
    SOLC_VERSION,
    build,
    compiler_input,
    main,
    stale_artifacts,
)
from live.chain.contracts import load_artifact


def test_artifacts_match_sources() -> None:
    """Fails when a .sol file changed without `make contracts` (the artifacts' sourceHash)."""
    assert stale_artifacts() == [], "contracts changed without rebuilding: run `make contracts`"
    assert main(["--check"]) == 0


def test_a_changed_source_is_detected(tmp_path: Path) -> None:
    copy = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR / "src", copy / "src")
    shutil.copytree(CONTRACTS_DIR / "test", copy / "test")
    assert compiler_input(copy).source_hash == compiler_input().source_hash
    src = copy / "src" / "GrekkoTradeExecutor.sol"
    src.write_text(src.read_text().replace("amountOut < minOut", "amountOut < minOut / 2"))
    stale = stale_artifacts(ARTIFACTS_DIR, copy)
    assert len(stale) == len(list(ARTIFACTS_DIR.rglob("*.json"))) > 0
    assert "GrekkoTradeExecutor.json" in "\n".join(stale)


def test_pinned_toolchain() -> None:
    pkg = json.loads((REPO_ROOT / "package.json").read_text())
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())
    for name, version in pkg["devDependencies"].items():
        assert version[0].isdigit(), f"package.json: {name} {version} is not pinned"
        assert lock["packages"][f"node_modules/{name}"]["version"] == version
    assert pkg["devDependencies"]["solc"] == SOLC_VERSION
    art = load_artifact("GrekkoTradeExecutor")
    assert art.compiler_version.startswith(SOLC_VERSION + "+")


@pytest.mark.slow
def test_rebuild_reproduces_committed_bytecode(tmp_path: Path) -> None:
    """Compiling again (solcjs, ~10 s) gives byte-for-byte the committed artifacts."""
    written = build(tmp_path)
    assert written
    for path in written:
        committed = ARTIFACTS_DIR / path.relative_to(tmp_path)
        assert json.loads(path.read_text()) == json.loads(committed.read_text()), committed
