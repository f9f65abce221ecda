"""The venue and jurisdiction policy at a live run's start (``conf/compliance/policy.yaml``).

:func:`check_plan` derives what a plan trades — its venue, markets (``perp`` for USD-M futures
venues and ``BASE/QUOTE:SETTLE`` contract symbols, else ``spot``) and chain (a DEX venue's
configured chain) — and refuses with :class:`~grekko_research.compliance.policy.PolicyViolation`
when the deployment's jurisdiction does not allow it. Paper runs and replays are not checked:
they place no order anywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from grekko_research.compliance.policy import CompliancePolicy, JurisdictionPolicy, load_policy

if TYPE_CHECKING:
    from live.app import LivePlan

__all__ = ["check_plan", "check_run", "plan_markets"]

_PERP_VENUES = frozenset({"binanceusdm"})


def plan_markets(venue: str, symbols: Iterable[str]) -> set[str]:
    """``perp`` for a futures venue or contract symbols (``BTC/USDT:USDT``), else ``spot``."""
    syms = list(symbols)
    if venue in _PERP_VENUES or any(":" in s for s in syms):
        return {"perp"}
    return {"spot"}


def _chain(venue: str) -> str | None:
    from live.venues.dex_plan import dex_conf_name

    name = dex_conf_name(venue)
    if name is None:
        return None
    import yaml  # type: ignore[import-untyped]

    path = Path(__file__).resolve().parents[2] / "conf" / "exchange" / "dex" / f"{name}.yaml"
    if not path.is_file():
        return None  # the venue itself refuses an unknown configuration, by name
    chain = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("chain")
    return str(chain) if chain else None


def check_run(
    *,
    venue: str,
    symbols: Iterable[str],
    chain: str | None,
    policy: CompliancePolicy | None = None,
) -> JurisdictionPolicy:
    """Check one live run (raises ``PolicyViolation``); return the jurisdiction's policy."""
    policy = policy or load_policy()
    return policy.check(venue=venue, markets=plan_markets(venue, symbols), chain=chain)


def check_plan(plan: LivePlan, *, policy: CompliancePolicy | None = None) -> None:
    """Refuse a live plan its jurisdiction does not allow (paper and replay: not checked)."""
    if plan.mode != "live":
        return
    # A routed run (live.routing) trades on each of its venues: each exchange is checked.
    routed = [v.exchange or v.name for v in plan.cfg.live.routing.venues]
    for venue in routed or [plan.venue_name]:
        check_run(venue=venue, symbols=plan.spec.symbols, chain=_chain(venue), policy=policy)
