"""The one HTTP seam of the connectors that speak plain JSON over HTTPS (httpx)."""

from __future__ import annotations

from typing import Any

import httpx

from grekko_research.alpha.connectors.base import Transient
from grekko_research.errors import DataError, ExchangeError

__all__ = ["JsonClient"]

_TRANSIENT = {408, 425, 429, 500, 502, 503, 504}


class JsonClient:
    """GET JSON from one base URL; 429/5xx and connection failures are :class:`Transient`."""

    def __init__(self, base_url: str, *, source: str, timeout_s: float = 30.0) -> None:
        self.source = source
        self.client = httpx.Client(
            base_url=base_url,
            timeout=timeout_s,
            headers={"User-Agent": "grekko-alpha/1 (+research)", "Accept": "application/json"},
        )

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """Return the decoded JSON of ``GET path`` (secrets in ``params`` never reach errors)."""
        try:
            response = self.client.get(path, params=params)
        except httpx.TransportError as exc:
            raise Transient(f"{self.source}: {type(exc).__name__} on {path}") from exc
        if response.status_code in _TRANSIENT:
            after = response.headers.get("Retry-After")
            wait = float(after) if after and after.replace(".", "", 1).isdigit() else None
            raise Transient(f"{self.source}: HTTP {response.status_code} on {path}", wait)
        if response.status_code >= 400:
            raise ExchangeError(
                f"{self.source}: HTTP {response.status_code} on {path}: {response.text[:200]}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise DataError(f"{self.source}: {path} did not return JSON") from exc

    def close(self) -> None:
        self.client.close()
