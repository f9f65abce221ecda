"""An optional LLM adviser: one structured vote with a rationale, never an order.

Off by default. :class:`LlmAdviser` asks any OpenAI-compatible chat-completions endpoint (a
local server such as llama.cpp / vLLM / Ollama, or a hosted one) for a vote on one symbol:
``long``, ``flat`` or ``short`` with a confidence in ``[0, 1]`` and a short rationale. What
comes back is a :class:`Vote` and nothing else:

* a timeout, a connection error, an HTTP error, a reply that is not the JSON object asked
  for, an unknown vote or a confidence outside ``[0, 1]`` is an **abstention** (with the
  reason), never an exception into the caller and never a guess;
* the vote has no size, price or order field — anything else in the reply is dropped. It
  reaches trading only as an ensemble member (:mod:`grekko_research.ml.ensemble_strategy`):
  its weight is earned by its track record, the engine sizes the mixed target and the risk
  rules check it;
* the API key is read from the environment variable ``api_key_env`` at each request and is
  held in no attribute, ``repr``, error, log line or stored row.

:func:`record_vote` stores a vote in the point-in-time alternative-data store (source
``llm``): it is published when the answer arrived, so it lands in the bar *after* the one it
was asked about, in a backtest exactly as in the live run that asked (``alpha.llm_vote``).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pandas as pd

from grekko_research.errors import ConfigError

__all__ = ["AdviserConfig", "LlmAdviser", "Vote", "record_vote", "vote_rows"]

_DIRECTIONS = {"long": 1.0, "flat": 0.0, "short": -1.0}
_SYSTEM = (
    "You are one adviser among several trading strategies. Given recent market data for one "
    "symbol, answer with ONLY a JSON object: "
    '{"vote": "long" | "flat" | "short", "confidence": number in [0, 1], '
    '"rationale": "at most two sentences"}. You do not place or size orders.'
)


@dataclass(frozen=True)
class Vote:
    """A direction (+1 long, 0 flat, −1 short) with confidence, or an abstention (``None``)."""

    direction: float | None
    confidence: float
    rationale: str
    abstained_because: str | None = None

    @property
    def abstained(self) -> bool:
        return self.direction is None

    @property
    def value(self) -> float:
        """The signed vote ``direction × confidence`` in ``[-1, 1]``; NaN for an abstention."""
        return math.nan if self.direction is None else self.direction * self.confidence

    @classmethod
    def abstain(cls, reason: str) -> Vote:
        return cls(None, 0.0, "", reason)


@dataclass(frozen=True)
class AdviserConfig:
    """Where and how to ask (no secret here: ``api_key_env`` *names* the variable)."""

    base_url: str
    model: str
    api_key_env: str | None = "GREKKO_LLM_API_KEY"  # None: a local server without a key
    timeout_s: float = 20.0
    temperature: float = 0.0
    max_rationale_chars: int = 500
    enabled: bool = False  # off by default: nothing is asked unless a user turns it on

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"llm.base_url must be an http(s) URL, got {self.base_url!r}")
        if not self.model:
            raise ConfigError("llm.model must name the model to ask")
        if not 0 < self.timeout_s <= 600:
            raise ConfigError(f"llm.timeout_s must be in (0, 600], got {self.timeout_s}")


class LlmAdviser:
    """Ask an OpenAI-compatible endpoint for :class:`Vote` s (see the module docstring)."""

    def __init__(self, config: AdviserConfig, *, env: Mapping[str, str] | None = None) -> None:
        if not config.enabled:
            raise ConfigError("the LLM adviser is off (llm.enabled: false); turn it on to use it")
        self.config = config
        self._env = os.environ if env is None else env
        if config.api_key_env and not self._env.get(config.api_key_env):
            raise ConfigError(
                f"the LLM adviser reads its API key from ${config.api_key_env}, which is unset"
            )
        self._client = httpx.Client(base_url=config.base_url.rstrip("/") + "/",
                                    timeout=config.timeout_s)  # fmt: skip

    def __repr__(self) -> str:
        return f"<LlmAdviser {self.config.model} at {self.config.base_url}>"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> LlmAdviser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def vote(self, symbol: str, context: Mapping[str, Any]) -> Vote:
        """Return the adviser's vote on ``symbol`` given ``context`` (JSON-serialisable: recent
        closes, the ensemble's members and weights, ...). Never raises on a bad answer."""
        body = {
            "model": self.config.model,
            "temperature": self.config.temperature,
            "response_format": {"type": "json_object"},
            "messages": [
                {"role": "system", "content": _SYSTEM},
                {"role": "user", "content": json.dumps({"symbol": symbol, **context})},
            ],
        }
        headers = {}
        if self.config.api_key_env:
            headers["Authorization"] = f"Bearer {self._env.get(self.config.api_key_env, '')}"
        try:
            response = self._client.post("chat/completions", json=body, headers=headers)
        except httpx.TimeoutException:
            return Vote.abstain(f"timeout after {self.config.timeout_s} s")
        except httpx.HTTPError as exc:  # the message names the URL, never the headers
            return Vote.abstain(f"{type(exc).__name__}")
        if response.status_code != 200:
            return Vote.abstain(f"HTTP {response.status_code}")
        return self._parse(response)

    def _parse(self, response: httpx.Response) -> Vote:
        try:
            content = response.json()["choices"][0]["message"]["content"]
            answer = json.loads(content) if isinstance(content, str) else None
        except (ValueError, KeyError, IndexError, TypeError):
            return Vote.abstain("malformed reply (not a chat completion)")
        if not isinstance(answer, dict):
            return Vote.abstain("malformed answer (not a JSON object)")
        vote, confidence = answer.get("vote"), answer.get("confidence")
        if not isinstance(vote, str) or vote.strip().lower() not in _DIRECTIONS:
            return Vote.abstain(f"unknown vote {str(vote)[:40]!r}")
        if isinstance(confidence, bool) or not isinstance(confidence, int | float):
            return Vote.abstain("confidence missing or not a number")
        if not 0.0 <= float(confidence) <= 1.0:
            return Vote.abstain(f"confidence {confidence} outside [0, 1]")
        rationale = str(answer.get("rationale", ""))[: self.config.max_rationale_chars]
        return Vote(_DIRECTIONS[vote.strip().lower()], float(confidence), rationale)


def vote_rows(
    symbol: str, decided_ms: Sequence[int], answered_ms: Sequence[int], votes: Sequence[Vote]
) -> pd.DataFrame:
    """The point-in-time rows of votes on ``symbol``: asked after the bar closing at
    ``decided_ms``, known from ``answered_ms`` (abstentions too: NaN vote, the reason kept)."""
    rows = [
        {
            "id": f"{symbol}:{int(d)}",
            "event_ms": int(d),
            "published_ms": max(int(a), int(d)),
            "ingested_ms": max(int(a), int(d)),
            "vote": v.value,
            "confidence": v.confidence,
            "rationale": v.rationale if not v.abstained else f"abstained: {v.abstained_because}",
        }
        for d, a, v in zip(decided_ms, answered_ms, votes, strict=True)
    ]
    return pd.DataFrame(rows)


def record_vote(store: Any, symbol: str, decided_ms: int, answered_ms: int, vote: Vote) -> None:
    """Store one vote in ``store`` (an :class:`~grekko_research.alpha.store.AltStore`) under
    ``llm/<base asset>``, published at ``answered_ms`` (injected time: no clock here)."""
    from grekko_research.alpha.store import AltKey

    key = AltKey("llm", symbol.split("/", 1)[0])
    store.write(key, vote_rows(symbol, [decided_ms], [answered_ms], [vote]))
