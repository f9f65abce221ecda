"""Serve the status API with uvicorn (what ``grekko-live api`` runs)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from grekko_research.errors import ConfigError
from live.api._staleness import DEFAULT_STALE_BARS
from live.api.app import create_app
from live.api.auth import CONTROL_TOKEN_ENV, READ_TOKEN_ENV, ApiTokens, RedactTokens
from live.api.control import FlagFileControl
from live.api.hub import LogHub
from live.api.tradingview import TradingViewConfig, with_tradingview

__all__ = ["api_server", "serve"]

log = logging.getLogger(__name__)

_REDACT = RedactTokens()


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def api_server(
    app: ASGIApp, host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info"
) -> uvicorn.Server:
    """A uvicorn server for ``app`` whose logs never show a ``?token=`` (``port=0``: any free
    port, see ``server.servers[0].sockets``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        server_header=False,
        # uvicorn would take X-Forwarded-For from any loopback peer as the client: a local
        # process could then pose as an allowlisted sender (TradingView webhook). The app
        # reads it only from the proxies it is told to trust (GREKKO_TV_TRUSTED_PROXIES).
        proxy_headers=False,
        ws="auto",
        lifespan="on",
    )
    # After Config: it (re)configures uvicorn's loggers.
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)
    return uvicorn.Server(config)


def serve(
    events_target: str | Path,
    state_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    tokens: ApiTokens | None = None,
    poll_s: float = 0.1,
    log_level: str = "info",
    stale_bars: float = DEFAULT_STALE_BARS,
) -> None:
    """Serve the status API of the run logged at ``events_target`` until interrupted.

    Parameters
    ----------
    events_target
        The run's event log: a path (SQLite) or a ``postgresql://`` URL.
    state_dir
        The run's state folder, where ``POST /kill`` writes the ``KILL`` flag file.
    host, port
        Where to listen; loopback by default. Anything else is served in clear text: put a TLS
        proxy in front of it.
    tokens
        Default: :meth:`ApiTokens.from_env` (``GREKKO_API_READ_TOKEN``,
        ``GREKKO_API_CONTROL_TOKEN``, ``GREKKO_API_METRICS_PUBLIC``).
    stale_bars
        ``/health`` says ``degraded`` (and ``/risk`` holds ``stale_data``) once the last
        closed bar is older than this many timeframes on the run's clock.

    Raises
    ------
    ConfigError
        If no token is configured, the log does not exist, or ``stale_bars`` is not positive.
    """
    if not stale_bars > 0:
        raise ConfigError(f"--stale-bars must be positive, got {stale_bars}")
    tokens = ApiTokens.from_env() if tokens is None else tokens
    if not tokens.configured:
        raise ConfigError(
            f"the status API needs a token: set {READ_TOKEN_ENV} and/or {CONTROL_TOKEN_ENV}"
        )
    target = str(events_target)
    if "://" not in target and not Path(target).exists():
        raise ConfigError(f"no event log at {target}")
    if not _loopback(host):
        log.warning("status API listening on %s: tokens travel in clear text without TLS", host)
    with LogHub(target, poll_s=poll_s, stale_bars=stale_bars) as hub:
        app = create_app(hub, FlagFileControl(state_dir), tokens)
        served = with_tradingview(app, TradingViewConfig.from_env())  # when GREKKO_TV_SECRET
        api_server(served, host, port, log_level=log_level).run()
