"""Contract tests: one anvil per test session (per xdist worker), a snapshot per test.

The gas report (gas used per contract function by the transactions the tests sent) is printed
in the terminal summary; xdist workers hand their samples to the controller.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.contracts.chain_env import FUZZ_STATS, Anvil, GasRecorder, World, build_world
from tests.contracts.v3_probe import probe_artifact  # noqa: F401 (a fixture: the V3 swap probe)

_GAS = GasRecorder()
_WORKER_SCENARIOS: list[dict[str, int]] = []
_WORKER_SAMPLES: list[dict[str, list[int]]] = []
_WORKER_FUZZ: list[dict[str, dict[str, int]]] = []


@pytest.fixture(scope="session")
def anvil(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Anvil]:
    node = Anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def gas_recorder() -> GasRecorder:
    return _GAS


@pytest.fixture(scope="session")
def _world_session(anvil: Anvil) -> World:
    return build_world(anvil.w3, _GAS)


@pytest.fixture
def world(_world_session: World) -> Iterator[World]:
    """The deployed world, reverted to its pristine state after the test."""
    w3 = _world_session.w3
    snap = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield _world_session
    finally:
        ok = w3.provider.make_request("evm_revert", [snap])["result"]  # type: ignore[arg-type]
        assert ok, "evm_revert failed: the next test would see this one's state"


def _samples() -> dict[str, list[int]]:
    return {f"{c}.{f}": v for (c, f), v in _GAS.samples.items()}


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the samples to the controller
        workeroutput["grekko_gas"] = json.dumps(_samples())
        workeroutput["grekko_fuzz"] = json.dumps(FUZZ_STATS)
        workeroutput["grekko_scenarios"] = json.dumps(_GAS.scenarios)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    out = getattr(node, "workeroutput", {}).get("grekko_gas")
    if out:
        _WORKER_SAMPLES.append(json.loads(out))
    scenarios = getattr(node, "workeroutput", {}).get("grekko_scenarios")
    if scenarios:
        _WORKER_SCENARIOS.append(json.loads(scenarios))
    fuzz = getattr(node, "workeroutput", {}).get("grekko_fuzz")
    if fuzz:
        _WORKER_FUZZ.append(json.loads(fuzz))


def gas_table() -> list[tuple[str, int, int, int, int]]:
    """(contract.function, calls, min, mean, max), sorted by name."""
    merged: dict[str, list[int]] = {}
    for part in [_samples(), *_WORKER_SAMPLES]:
        for k, v in part.items():
            merged.setdefault(k, []).extend(v)
    return [(k, len(v), min(v), sum(v) // len(v), max(v)) for k, v in sorted(merged.items())]


def fuzz_table() -> dict[str, dict[str, int]]:
    """Per invariant: examples run and their outcomes, merged over xdist workers."""
    merged: dict[str, dict[str, int]] = {}
    for part in [FUZZ_STATS, *_WORKER_FUZZ]:
        for test, counts in part.items():
            for k, n in counts.items():
                merged.setdefault(test, {}).setdefault(k, 0)
                merged[test][k] += n
    return merged


def pytest_terminal_summary(terminalreporter: Any) -> None:
    tr = terminalreporter
    fuzz = fuzz_table()
    if fuzz:
        tr.section("contract fuzz (hypothesis examples per invariant)")
        for test, counts in sorted(fuzz.items()):
            rest = ", ".join(f"{k} {n}" for k, n in sorted(counts.items()) if k != "examples")
            tr.write_line(f"{test}: {counts.get('examples', 0)} examples ({rest})")
    scenarios = dict(_GAS.scenarios)
    for part in _WORKER_SCENARIOS:
        scenarios.update(part)
    if scenarios:
        tr.section("contract gas per scenario (warm pools)")
        for name, gas in scenarios.items():
            tr.write_line(f"{name:<60} {gas:>9}")
    rows = gas_table()
    if not rows:
        return
    tr.section("contract gas (per function, from the contract tests' transactions)")
    tr.write_line(f"{'contract.function':<44} {'calls':>6} {'min':>9} {'mean':>9} {'max':>9}")
    for name, n, lo, mean, hi in rows:
        tr.write_line(f"{name:<44} {n:>6} {lo:>9} {mean:>9} {hi:>9}")
