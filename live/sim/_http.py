"""What every simulated venue shares as an HTTP server: the aiohttp runner on ``host:port``,
the base URL, the server clock, compact JSON answers, and the close / ``async with`` life."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self

from aiohttp import web

__all__ = ["HttpPeer", "Request", "dumps", "json_response", "wall_clock_ms"]


@dataclass(frozen=True)
class Request:
    """One request received: method, path, HTTP status answered (0 if none was sent)."""

    method: str
    path: str
    status: int


def wall_clock_ms() -> int:
    """Wall time in ms: the default server clock."""
    return int(time.time() * 1000)


def dumps(value: Any) -> str:
    """Compact JSON, as the venues write it."""
    return json.dumps(value, separators=(",", ":"))


def json_response(value: Any) -> web.Response:
    """A 200 answer with ``value`` as compact JSON."""
    return web.json_response(value, dumps=dumps)


class HttpPeer:
    """The serving half of a simulator: subclasses build the app and call :meth:`_serve`.

    ``clock`` is the server clock in ms (wall time by default) a venue's time endpoints and
    request checks use, as opposed to the market clock of its book.
    """

    def __init__(self, clock: Callable[[], int] | None = None) -> None:
        self._clock = clock or wall_clock_ms
        self._runner: web.AppRunner | None = None
        self._url = ""

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (ccxt's API paths go below it)."""
        return self._url

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _serve(self, app: web.Application, host: str, port: int) -> None:
        """Serve ``app`` on ``host:port`` (0: a free port) in this loop; set :attr:`url`."""
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        self._url = f"http://{host}:{self._runner.addresses[0][1]}"
