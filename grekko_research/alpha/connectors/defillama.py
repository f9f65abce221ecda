"""DeFi yields from DefiLlama (``yields.llama.fi``): the pools snapshot and each pool's history.

Two entities:

``pools``
    ``GET /pools``: one row per pool at the moment of the request (``event_ms`` =
    ``published_ms`` = the fetch time, passed in as ``ingested_ms``: a snapshot is knowable
    when it is taken). Columns: ``pool``, ``chain``, ``project``, ``symbol``, ``tvl_usd``,
    ``apy``, ``apy_base``, ``apy_reward``, ``stablecoin``, ``il_risk``, ``exposure``.
``<pool uuid>``
    ``GET /chart/<pool>``: the pool's daily history; each point is knowable at its
    ``timestamp``. Columns: ``tvl_usd``, ``apy``, ``apy_base``, ``apy_reward``.

No key. DefiLlama asks for restraint (no published quota): calls are spaced 1 s apart.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from grekko_research.alpha.connectors._http import JsonClient
from grekko_research.alpha.connectors.base import Connector, Page, ms, rows_frame
from grekko_research.errors import DataError

__all__ = ["DefiLlama", "parse_pool_chart", "parse_pools"]

POOL_COLUMNS = (
    "pool", "chain", "project", "symbol", "tvl_usd", "apy", "apy_base", "apy_reward",
    "stablecoin", "il_risk", "exposure",
)  # fmt: skip
CHART_COLUMNS = ("tvl_usd", "apy", "apy_base", "apy_reward")


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


def _data(payload: Any, what: str) -> list[Any]:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise DataError(f"defillama {what}: payload has no 'data' list")
    return payload["data"]


def parse_pools(payload: Any, *, entity: str = "pools", ingested_ms: int) -> pd.DataFrame:
    """Return the rows of a ``/pools`` snapshot taken at ``ingested_ms``."""
    day = ingested_ms // 86_400_000
    records = []
    for i, p in enumerate(_data(payload, "pools")):
        try:
            records.append(
                {
                    "id": f"{p['pool']}:{day}",  # one snapshot per pool and day
                    "event_ms": ingested_ms,
                    "published_ms": ingested_ms,
                    "ingested_ms": ingested_ms,
                    "pool": str(p["pool"]),
                    "chain": str(p.get("chain") or ""),
                    "project": str(p.get("project") or ""),
                    "symbol": str(p.get("symbol") or ""),
                    "tvl_usd": _num(p.get("tvlUsd")),
                    "apy": _num(p.get("apy")),
                    "apy_base": _num(p.get("apyBase")),
                    "apy_reward": _num(p.get("apyReward")),
                    "stablecoin": float(bool(p.get("stablecoin"))),
                    "il_risk": str(p.get("ilRisk") or ""),
                    "exposure": str(p.get("exposure") or ""),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"defillama pools: pool {i} is malformed ({exc!r})") from exc
    return rows_frame(records, POOL_COLUMNS)


def parse_pool_chart(payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
    """Return the rows of ``/chart/<pool>`` (the pool's history)."""
    records = []
    for i, p in enumerate(_data(payload, entity)):
        try:
            t = ms(p["timestamp"])
            records.append(
                {
                    "id": f"{entity}:{t}",
                    "event_ms": t,
                    "published_ms": t,
                    "ingested_ms": ingested_ms,
                    "tvl_usd": _num(p.get("tvlUsd")),
                    "apy": _num(p.get("apy")),
                    "apy_base": _num(p.get("apyBase")),
                    "apy_reward": _num(p.get("apyReward")),
                }
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"defillama {entity}: point {i} is malformed ({exc!r})") from exc
    return rows_frame(records, CHART_COLUMNS)


class DefiLlama(Connector):
    """``pools`` (the snapshot) or a pool id (its history); one request each."""

    source = "defillama"
    min_interval_s = 1.0

    def __init__(self, base_url: str = "https://yields.llama.fi") -> None:
        self.http = JsonClient(base_url, source="defillama")

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        path = "/pools" if entity == "pools" else f"/chart/{entity}"
        return Page(self.http.get(path))

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        if entity == "pools":
            return parse_pools(payload, ingested_ms=ingested_ms)
        return parse_pool_chart(payload, entity=entity, ingested_ms=ingested_ms)

    def close(self) -> None:
        self.http.close()
