"""Alternative-data connectors: each a ``fetch`` through the source's client and a pure ``parse``.

The registry maps a source name (the store's ``source``) to its module and class; modules load
on first use (their clients are heavy), see :func:`connector_class`.
"""

from __future__ import annotations

import importlib

from grekko_research.errors import ConfigError

__all__ = ["SOURCES", "connector_class"]

# source -> (module, class, status line for `grekko alpha list` and docs/alpha.md)
SOURCES: dict[str, tuple[str, str, str]] = {
    "news": ("news", "CryptoPanic", "CryptoPanic posts; key CRYPTOPANIC_TOKEN"),
    "reddit": ("reddit", "Reddit", "subreddit posts via praw; keys REDDIT_CLIENT_ID/SECRET"),
    "telegram": (
        "telegram",
        "Telegram",
        "channel messages via telethon; TELEGRAM_API_ID/HASH/SESSION",
    ),
    "x": ("x", "XSearch", "recent posts via tweepy (API v2); key X_BEARER_TOKEN"),
    "github": (
        "github",
        "GitHubActivity",
        "commits and releases via PyGithub; GITHUB_TOKEN optional",
    ),
    "trends": (
        "trends",
        "GoogleTrends",
        "Google Trends via pytrends; no key, heavily rate-limited",
    ),
    "defillama": ("defillama", "DefiLlama", "DeFi pools and APY history; no key"),
    "onchain": ("onchain", "OnchainFlows", "ERC-20 transfer flows via web3 logs; ALPHA_RPC_URL"),
}


def connector_class(source: str) -> type:
    """Return the connector class of a source, importing its module now."""
    if source not in SOURCES:
        raise ConfigError(
            f"unknown alternative-data source {source!r} (known: {', '.join(SOURCES)})"
        )
    module, name, _ = SOURCES[source]
    return getattr(importlib.import_module(f"grekko_research.alpha.connectors.{module}"), name)
