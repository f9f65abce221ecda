"""On-chain flows of an ERC-20 token from ``eth_getLogs`` through web3: large transfers and
transfers to and from labelled exchange addresses.

Entity: the token (its symbol, e.g. ``USDT``; the connector's ``tokens`` maps it to the contract
address and decimals). ``fetch`` reads ``Transfer`` logs in block chunks (``chunk`` blocks a
request, the cursor is the next block to read, so a download resumes where it stopped) and
the timestamps of the blocks they are in; ``parse`` decodes them. Rows: ``from``, ``to``,
``amount`` (token units), ``block``, ``exchange`` (the label of the exchange side, if any),
``direction`` (+1 into an exchange: a deposit, usually to sell; -1 out of one: a withdrawal;
0 between other wallets), ``large`` (1 when ``amount >= min_amount``). Only rows that touch an
exchange or are large are kept. ``event_ms`` = ``published_ms`` = the block's time (a log is
public once its block is; ``confirmations`` blocks are left unread at the tip so a reorg does
not rewrite stored rows). Key: ``ALPHA_RPC_URL`` (any Ethereum JSON-RPC endpoint); calls are
spaced 0.2 s apart (public endpoints allow a few per second).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from grekko_research.alpha.connectors.base import Connector, Page, Transient, env_key, rows_frame
from grekko_research.errors import ConfigError, DataError

__all__ = ["TRANSFER_TOPIC", "FlowRules", "OnchainFlows", "TokenSpec", "parse_transfers"]

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
COLUMNS = ("from", "to", "amount", "block", "exchange", "direction", "large")


@dataclass(frozen=True)
class TokenSpec:
    """A token to watch: contract address, decimals, the first block to read."""

    address: str
    decimals: int = 18
    start_block: int = 0


@dataclass(frozen=True)
class FlowRules:
    """What makes a transfer interesting: exchange labels (address -> name) and a size."""

    labels: Mapping[str, str] = field(default_factory=dict)
    min_amount: float = float("inf")

    def label(self, address: str) -> str:
        return self.labels.get(address.lower(), "")


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    text = str(value)
    return text if text.startswith("0x") else "0x" + text


def _topic_address(topic: Any) -> str:
    return "0x" + _hex(topic)[-40:].lower()


def parse_transfers(
    payload: Any,
    *,
    entity: str,
    ingested_ms: int,
    decimals: int = 18,
    rules: FlowRules | None = None,
) -> pd.DataFrame:
    """Return the rows of ``{"logs": [eth_getLogs items], "timestamps": {block: seconds}}``."""
    rules = rules or FlowRules()
    labels = {k.lower(): v for k, v in rules.labels.items()}
    if not isinstance(payload, dict) or not isinstance(payload.get("logs"), list):
        raise DataError(f"onchain {entity}: payload has no 'logs' list")
    stamps = {int(k): int(v) for k, v in (payload.get("timestamps") or {}).items()}
    records = []
    for i, log in enumerate(payload["logs"]):
        try:
            topics = log["topics"]
            if _hex(topics[0]).lower() != TRANSFER_TOPIC or len(topics) != 3:
                continue  # not an ERC-20 Transfer (ERC-721 has a third indexed topic)
            block = (
                int(log["blockNumber"], 16)
                if isinstance(log["blockNumber"], str)
                else int(log["blockNumber"])
            )
            index = (
                int(log["logIndex"], 16)
                if isinstance(log["logIndex"], str)
                else int(log["logIndex"])
            )
            sender, receiver = _topic_address(topics[1]), _topic_address(topics[2])
            amount = int(_hex(log["data"]), 16) / 10**decimals
            t = stamps[block] * 1000
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise DataError(f"onchain {entity}: log {i} is malformed ({exc!r})") from exc
        into, out_of = labels.get(receiver, ""), labels.get(sender, "")
        direction = 0.0 if bool(into) == bool(out_of) else (1.0 if into else -1.0)
        large = amount >= rules.min_amount
        if not (into or out_of or large):
            continue
        records.append(
            {
                "id": f"{_hex(log['transactionHash']).lower()}:{index}",
                "event_ms": t,
                "published_ms": t,
                "ingested_ms": ingested_ms,
                "from": sender,
                "to": receiver,
                "amount": amount,
                "block": float(block),
                "exchange": into or out_of,
                "direction": direction,
                "large": float(large),
            }
        )
    return rows_frame(records, COLUMNS)


class OnchainFlows(Connector):
    """Transfer logs of the configured tokens, in block chunks, up to the tip less confirmations."""

    source = "onchain"
    env = ("ALPHA_RPC_URL",)
    min_interval_s = 0.2
    ascending = True

    def __init__(
        self,
        tokens: Mapping[str, TokenSpec],
        *,
        rules: FlowRules | None = None,
        rpc_url: str | None = None,
        chunk: int = 2_000,
        confirmations: int = 12,
    ) -> None:
        from web3 import Web3

        self.tokens = dict(tokens)
        self.rules = rules or FlowRules()
        self.chunk, self.confirmations = int(chunk), int(confirmations)
        url = rpc_url or env_key("ALPHA_RPC_URL", "onchain")
        self.w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
        self._next: dict[str, int] = {}

    def _token(self, entity: str) -> TokenSpec:
        if entity not in self.tokens:
            raise ConfigError(
                f"onchain: no token {entity!r} configured (known: {sorted(self.tokens)})"
            )
        return self.tokens[entity]

    def fetch(self, entity: str, *, since: str | None, token: str | None) -> Page:
        import requests
        from web3 import Web3

        spec = self._token(entity)
        start = int(token or since or spec.start_block)
        try:
            tip = int(self.w3.eth.block_number) - self.confirmations
            end = min(tip, start + self.chunk - 1)
            if end < start:
                self._next[entity] = start
                return Page({"logs": [], "timestamps": {}})
            logs = self.w3.eth.get_logs(
                {
                    "fromBlock": start,
                    "toBlock": end,
                    "address": Web3.to_checksum_address(spec.address),
                    "topics": [TRANSFER_TOPIC],
                }
            )
            blocks = sorted({int(log["blockNumber"]) for log in logs})
            stamps = {b: int(self.w3.eth.get_block(b)["timestamp"]) for b in blocks}
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(f"onchain {entity}: {type(exc).__name__}") from exc
        payload = {
            "logs": [
                {
                    "blockNumber": int(log["blockNumber"]),
                    "logIndex": int(log["logIndex"]),
                    "transactionHash": _hex(log["transactionHash"]),
                    "topics": [_hex(t) for t in log["topics"]],
                    "data": _hex(log["data"]),
                }
                for log in logs
            ],
            "timestamps": stamps,
        }
        self._next[entity] = end + 1
        return Page(payload, str(end + 1) if end < tip else None)

    def parse(self, payload: Any, *, entity: str, ingested_ms: int) -> pd.DataFrame:
        spec = self._token(entity)
        return parse_transfers(
            payload,
            entity=entity,
            ingested_ms=ingested_ms,
            decimals=spec.decimals,
            rules=self.rules,
        )

    def cursor_after(self, rows: pd.DataFrame, since: str | None, *, entity: str) -> str | None:
        # the next block to read, whatever the chunk held: a quiet chunk still moves it
        return str(self._next.get(entity, int(since or 0)))
