"""What the web console's tests share: Debian's chromium driven by Playwright (one browser per
module), a folder for the screenshots, and a status API served on a free port in a thread.

The screenshots go to ``.cache/test-artifacts/console/`` in the checkout (ignored by git), or
to ``$GREKKO_TEST_ARTIFACTS/console``.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from live.api import ApiTokens, FlagFileControl, LogHub, api_server, create_app

REPO = Path(__file__).resolve().parents[2]


def artifacts_dir() -> Path:
    root = os.environ.get("GREKKO_TEST_ARTIFACTS")
    folder = (Path(root) if root else REPO / ".cache" / "test-artifacts") / "console"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def artifacts() -> Path:
    return artifacts_dir()


def chromium_path() -> str:
    """Debian's chromium (``make install`` installs it): Playwright's own download is not
    used, the tests run offline."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium not found: run `make install` (it installs Debian's chromium)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium per test module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # root in a container has no user namespace for the sandbox; /dev/shm is small.
            args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


@dataclass
class Served:
    """A status API over one run's log, on a free port, in a thread."""

    url: str
    hub: LogHub
    events: Path
    logs: list[str] = field(default_factory=list)


@dataclass
class PageLog:
    """What a page said: console errors, uncaught exceptions, every URL it asked for."""

    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def attach(self, page: Any) -> None:
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("request", lambda r: self.urls.append(r.url))
        page.on("websocket", lambda ws: self.urls.append(ws.url))


def serve(events: Path, read: str, control: str, *, stale_bars: float = 2.0) -> Iterator[Served]:
    """Serve the status API of ``events`` (port 0: a free one) until the generator closes."""
    hub = LogHub(events, poll_s=0.05, stale_bars=stale_bars)
    app = create_app(hub, FlagFileControl(events.parent), ApiTokens.of([read], [control]))
    server = api_server(app, "127.0.0.1", 0, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True, name="console-test-api")
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", hub, events)
    finally:
        server.should_exit = True
        thread.join(30)
        hub.close()


def wait_until(what: str, check: Any, timeout: float = 120.0, every: float = 0.1) -> Any:
    """Poll ``check()`` until it returns something truthy (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
