"""The observability of a sniper run: the status API and the alerts, served beside it.

The CEX runner's own modules, unchanged in kind: :func:`live.api.create_app` over a
:class:`~live.api.LogHub` tailing the run's event log (REST, websockets, ``/metrics`` with the
``grekko_sniper_*`` families, ``POST /kill`` through the run folder's ``KILL`` file, which the
sniper watches), and :func:`live.alerts.afollow` sending the log's alerts to
``$GREKKO_ALERT_URLS``. Both only read the log, so ``grekko-live api`` / ``alerts`` in another
process serve the same; here they share the run's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError

__all__ = ["API_URL_FILE", "check_observability", "observed"]

API_URL_FILE = "api.json"
"""In the run folder while the API serves: ``{"url": "http://127.0.0.1:PORT"}``."""


def check_observability(api_port: int | None, alerts: bool) -> None:
    """Raise :class:`ConfigError` if the API has no token or the alerts no URL (called before
    the run writes anything)."""
    from live.alerts import parse_alert_urls
    from live.api import ApiTokens
    from live.api.auth import CONTROL_TOKEN_ENV, READ_TOKEN_ENV
    from live.secrets import ALERT_URLS_ENV

    if api_port is not None and not ApiTokens.from_env().configured:
        raise ConfigError(
            f"--api-port needs a token: set {READ_TOKEN_ENV} and/or {CONTROL_TOKEN_ENV}"
        )
    if alerts and not parse_alert_urls(os.environ.get(ALERT_URLS_ENV)):
        raise ConfigError(f"--alerts needs {ALERT_URLS_ENV} (apprise URLs)")


@contextlib.asynccontextmanager
async def observed(
    log: Path,
    folder: Path,
    *,
    api_port: int | None = None,
    api_host: str = "127.0.0.1",
    alerts: bool = False,
    on_api: Callable[[str], None] | None = None,
    on_alert: Callable[[Any], None] | None = None,
) -> AsyncIterator[None]:
    """Serve the API (``api_port``; 0: any free port) and/or follow the alerts while the body
    runs; stop both after it, once the alerts have read the log to its end.

    Raises
    ------
    ConfigError
        The API without a token (``GREKKO_API_READ_TOKEN`` / ``GREKKO_API_CONTROL_TOKEN``), or
        alerts without ``GREKKO_ALERT_URLS`` — before anything starts.
    """
    from live.alerts import AlertRouter, afollow
    from live.api import ApiTokens, FlagFileControl, LogHub, api_server, create_app
    from live.api.auth import CONTROL_TOKEN_ENV, READ_TOKEN_ENV
    from live.secrets import ALERT_URLS_ENV

    tokens = ApiTokens.from_env()
    if api_port is not None and not tokens.configured:
        raise ConfigError(
            f"--api-port needs a token: set {READ_TOKEN_ENV} and/or {CONTROL_TOKEN_ENV}"
        )
    router = AlertRouter.from_env() if alerts else None
    if router is not None and not router.targets:
        raise ConfigError(f"--alerts needs {ALERT_URLS_ENV} (apprise URLs)")
    server: Any = None
    serving: asyncio.Task[Any] | None = None
    following: asyncio.Task[Any] | None = None
    stop_alerts = asyncio.Event()
    url_file = folder / API_URL_FILE
    try:
        if router is not None:  # every event of this run from its start
            following = asyncio.create_task(
                afollow(
                    log, router, after_seq=0, poll_s=0.25, stop=stop_alerts, on_outcome=on_alert
                )
            )
        if api_port is not None:
            hub = LogHub(log, poll_s=0.2)
            server = api_server(create_app(hub, FlagFileControl(folder), tokens), api_host, api_port,
                                log_level="warning")  # fmt: skip
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    serving.result()  # raises why it could not start (port taken ...)
                    raise ConfigError(f"the status API did not start on {api_host}:{api_port}")
                await asyncio.sleep(0.05)
            port = server.servers[0].sockets[0].getsockname()[1]
            url = f"http://{api_host}:{port}"
            url_file.write_text(json.dumps({"url": url}))
            if on_api is not None:
                on_api(url)
        yield
    finally:
        url_file.unlink(missing_ok=True)
        if serving is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving
        if following is not None:
            stop_alerts.set()
            await following
