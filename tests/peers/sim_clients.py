"""Clients of the local venue peers (:mod:`live.sim`) and the start-run-stop of a scenario."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from grekko_research.data.exchanges import rebase_urls


def spot_options() -> dict[str, Any]:
    """ccxt ``binance`` options the spot simulator needs (a fresh dict each time)."""
    return {
        "fetchCurrencies": False,  # no /sapi capital endpoints
        "fetchMargins": False,  # no /sapi margin pairs
        "fetchMarkets": {"types": ["spot"]},
    }


def ccxt_client(make: Callable[[dict[str, Any]], Any], url: str, **config: Any) -> Any:
    """A real ccxt client ``make(config)`` whose API URLs (websockets too) point at ``url``."""
    ex = make(config)
    ex.urls["api"] = rebase_urls(ex.urls["api"], url)
    return ex


class _Closing(Protocol):
    async def close(self) -> None: ...


P = TypeVar("P", bound=_Closing)
C = TypeVar("C", bound=_Closing)


def drive(
    start: Callable[[], Awaitable[P]],
    connect: Callable[[P], C],
    scenario: Callable[[P, C], Awaitable[None]],
    *,
    ready: Callable[[C], Awaitable[Any]],
) -> P:
    """Start a peer, connect a client (a ccxt client or a venue adapter), ``await ready(client)``
    (``load_markets``, ``start``), run ``scenario(peer, client)``; close the client, then the
    peer, whatever happens; return the peer for a look at its ledger."""

    async def main() -> P:
        peer = await start()
        client = connect(peer)
        try:
            await ready(client)
            await scenario(peer, client)
        finally:
            await client.close()
            await peer.close()
        return peer

    return asyncio.run(main())
