"""What the status-API tests share (test_api.py, test_api_metrics.py): tokens, a client wrapper
over the app on a replayed run's log, and reading the log back. The fixtures that build them
(``replayed``, ``log_path``, ``api``) are in this folder's conftest.py."""

from __future__ import annotations

import secrets
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from live.api import LogHub
from live.events import EventStore

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parents[3]
READ = "read-" + secrets.token_urlsafe(24)
CONTROL = "ctl-" + secrets.token_urlsafe(24)
WRONG = "wrong-" + secrets.token_urlsafe(24)


@dataclass
class Api:
    client: TestClient
    hub: LogHub
    log: Path

    def get(self, path: str, token: str | None = READ, **kw: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.client.get(path, headers=headers, **kw)

    def append(self, *drafts: tuple[str, str, dict[str, Any], int]) -> int:
        with EventStore.open(self.log) as store:
            return store.append_many(drafts)[-1].seq

    def wait(self, seq: int) -> None:
        """Wait until the hub folded ``seq``."""
        deadline = time.monotonic() + 10
        while self.client.get("/health").json()["last_seq"] < seq:
            assert time.monotonic() < deadline, f"the hub never reached seq {seq}"
            time.sleep(0.01)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = self.get("/metrics").text
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }


def events_of(path: Path) -> list[Any]:
    with EventStore.open(path) as store:
        return list(store.read())
