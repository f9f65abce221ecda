"""Sentiment of texts, offline: VADER's lexicon plus a crypto lexicon of our own, or a
transformer classifier loaded from a local directory (never downloaded).

:func:`score_rows` turns stored text rows of a source (news, reddit, telegram, x) into
per-asset *sentiment rows* (source ``sentiment``, entity the asset): the text's score in
[-1, 1], a weight (the source's weight times the author's reach: followers, upvotes, views,
votes; named influencers weigh more) and the author, with the text row's three times, so the
point-in-time rules carry over unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from grekko_research.errors import ConfigError, DataError

__all__ = [
    "ASSET_ALIASES",
    "CRYPTO_LEXICON",
    "LexiconSentiment",
    "SentimentModel",
    "TransformerSentiment",
    "Weights",
    "mentioned_assets",
    "score_rows",
    "score_store",
]

# Valences on VADER's scale (-4 .. +4). VADER reads an emoji through its description
# ("🚀" -> "rocket"), so emojis are scored by the words of their descriptions.
CRYPTO_LEXICON: dict[str, float] = {
    "moon": 2.5, "mooning": 2.8, "moonshot": 2.2, "rocket": 1.8, "bullish": 2.3, "bull": 1.2,
    "bearish": -2.3, "hodl": 1.2, "hodling": 1.2, "ath": 2.0, "breakout": 1.6, "rally": 1.8,
    "rallies": 1.8, "rallying": 1.8, "pump": 1.0, "pumping": 1.2, "lambo": 1.8, "wagmi": 2.0,
    "gm": 0.5, "ape": 0.6, "aped": 0.6, "accumulate": 1.0, "accumulating": 1.0, "inflows": 1.0,
    "adoption": 1.5, "approval": 1.5, "approved": 1.6, "upgrade": 1.0, "gem": 1.5,
    "rekt": -2.6, "rug": -3.0, "rugged": -3.0, "rugpull": -3.2, "scam": -3.0, "ponzi": -3.0,
    "dump": -2.0, "dumping": -2.2, "dumped": -2.0, "fud": -1.5, "ngmi": -2.0,
    "capitulation": -2.2, "liquidated": -2.5, "liquidation": -2.0, "liquidations": -2.0,
    "hack": -2.5, "hacked": -2.8, "exploit": -2.6, "exploited": -2.8, "drained": -2.6,
    "halted": -1.6, "delisted": -2.5, "delisting": -2.3, "insolvent": -3.0, "bankrupt": -3.0,
    "outflows": -0.8, "bagholder": -1.6, "bagholders": -1.6, "shill": -1.0, "shilling": -1.0,
    "sell-off": -1.8, "selloff": -1.8, "crash": -2.6, "crashing": -2.8, "slumps": -1.8,
    "trap": -1.2, "increasing": 1.0, "decreasing": -1.0,
}  # fmt: skip

# Symbols and names that mean an asset (cashtags and hashtags of the symbol match too).
ASSET_ALIASES: dict[str, tuple[str, ...]] = {
    "BTC": ("bitcoin", "btc", "xbt", "sats"),
    "ETH": ("ethereum", "eth", "ether"),
    "SOL": ("solana", "sol"),
    "BNB": ("bnb", "binance coin"),
    "XRP": ("xrp", "ripple"),
    "DOGE": ("doge", "dogecoin"),
    "ADA": ("ada", "cardano"),
}


class SentimentModel(Protocol):
    """Scores texts in [-1, 1] (negative .. positive)."""

    name: str

    def score(self, texts: Sequence[str]) -> np.ndarray: ...


class LexiconSentiment:
    """VADER's compound score with :data:`CRYPTO_LEXICON` (and ``extra``) added to its lexicon.

    VADER's lexicon ships inside the ``vaderSentiment`` package: nothing is downloaded.
    """

    name = "vader+crypto"

    def __init__(self, extra: Mapping[str, float] | None = None) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._vader = SentimentIntensityAnalyzer()
        words = {**CRYPTO_LEXICON, **(extra or {})}
        bad = {w: v for w, v in words.items() if not -4.0 <= float(v) <= 4.0}
        if bad:
            raise ConfigError(f"lexicon valences must be within [-4, 4]: {bad}")
        self._vader.lexicon.update({w.lower(): float(v) for w, v in words.items()})

    def score(self, texts: Sequence[str]) -> np.ndarray:
        return np.array(
            [self._vader.polarity_scores(str(t))["compound"] for t in texts], dtype=np.float64
        )


class TransformerSentiment:
    """A sequence-classification model from a local directory (``transformers`` + ``torch``).

    The score is P(positive) - P(negative), the labels read from the model's ``id2label``
    (``positive``/``negative``/``neutral``, any case; FinBERT-style models fit). The path
    must be a folder holding the model: nothing is ever fetched from a hub.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 32, max_length: int = 256) -> None:
        folder = Path(path)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"sentiment model {folder}: not a local model folder (no config.json); "
                "models are loaded from disk only, never downloaded"
            )
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as exc:
            raise ConfigError(
                "transformer sentiment needs the optional packages transformers and torch "
                "(pip install 'grekko[alpha-nlp]')"
            ) from exc
        self.name = f"transformer:{folder.name}"
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True
        )
        self.model.eval()
        labels = {int(i): str(v).lower() for i, v in self.model.config.id2label.items()}
        self.pos = [i for i, v in labels.items() if v.startswith("pos")]
        self.neg = [i for i, v in labels.items() if v.startswith("neg")]
        if len(self.pos) != 1 or len(self.neg) != 1:
            raise ConfigError(
                f"sentiment model {folder}: id2label {labels} needs one positive and one "
                "negative label"
            )
        # Never feed more tokens than the model has positions for (a longer post would crash
        # its embedding); a tokenizer saved without a limit reports a huge sentinel.
        limits = [int(max_length), int(getattr(self.model.config, "max_position_embeddings", 0))]
        limits.append(int(min(getattr(self.tokenizer, "model_max_length", 0) or 0, 1 << 20)))
        self.batch_size, self.max_length = int(batch_size), min(x for x in limits if x > 0)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        out: list[np.ndarray] = []
        for i in range(0, len(texts), self.batch_size):
            batch = [str(t) for t in texts[i : i + self.batch_size]]
            enc = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.no_grad():
                probs = torch.softmax(self.model(**enc).logits, dim=-1).numpy()
            out.append(probs[:, self.pos[0]] - probs[:, self.neg[0]])
        return np.concatenate(out) if out else np.zeros(0)


_TOKEN = re.compile(r"[$#]?[A-Za-z][A-Za-z0-9]*")


def mentioned_assets(
    text: str, aliases: Mapping[str, Iterable[str]] | None = None
) -> tuple[str, ...]:
    """Return the assets a text mentions (``$BTC``, ``#bitcoin``, ``Bitcoin``, ``BTC``), sorted."""
    table = ASSET_ALIASES if aliases is None else aliases
    words = {m.group(0).lstrip("$#").lower() for m in _TOKEN.finditer(text)}
    lowered = text.lower()
    found = set()
    for asset, names in table.items():
        for name in (asset.lower(), *names):
            if (" " in name and name in lowered) or name in words:
                found.add(asset)
                break
    return tuple(sorted(found))


# The column that measures an author's reach in each source's rows.
REACH = {"x": "followers", "reddit": "score", "telegram": "views", "news": "votes_important"}


@dataclass(frozen=True)
class Weights:
    """How much a row counts: ``source[origin] * (1 + log10(1 + reach)) * influencer[author]``.

    ``reach_cap`` bounds the reach factor, so one celebrity cannot outweigh the crowd alone.
    """

    source: Mapping[str, float] = field(
        default_factory=lambda: {"news": 2.0, "x": 1.0, "reddit": 1.0, "telegram": 1.0}
    )
    influencer: Mapping[str, float] = field(default_factory=dict)
    reach_cap: float = 8.0

    def of(self, origin: str, reach: np.ndarray, authors: Sequence[str]) -> np.ndarray:
        base = float(self.source.get(origin, 1.0))
        factor = np.minimum(1.0 + np.log10(1.0 + np.maximum(reach, 0.0)), self.reach_cap)
        named = np.array([float(self.influencer.get(a, 1.0)) for a in authors])
        return base * factor * named


def score_rows(
    rows: pd.DataFrame,
    origin: str,
    *,
    model: SentimentModel,
    weights: Weights | None = None,
    entity: str = "",
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Return per-asset sentiment rows (asset -> rows) of one source's text rows.

    A row counts for every asset it mentions; news rows for the assets they are tagged with;
    rows of an entity that is itself an asset (an X search for ``BTC``) for that asset too.
    """
    if rows.empty:
        return {}
    weights = weights or Weights()
    text_col = "title" if origin == "news" else "text"
    if text_col not in rows.columns:
        raise DataError(f"{origin}: rows have no {text_col!r} column to score")
    texts = rows[text_col].fillna("").astype(str).tolist()
    scores = model.score(texts)
    authors = rows["author"].astype(str).tolist() if "author" in rows else [origin] * len(rows)
    reach_col = REACH.get(origin)
    reach = rows[reach_col].to_numpy(np.float64) if reach_col in rows else np.zeros(len(rows))
    w = weights.of(origin, reach, authors)
    table = ASSET_ALIASES if aliases is None else aliases
    per_asset: dict[str, list[int]] = {}
    for i, text in enumerate(texts):
        assets = set(mentioned_assets(text, table))
        if origin == "news" and "assets" in rows:
            assets |= {a for a in str(rows["assets"].iloc[i]).split(",") if a}
        if entity.upper() in table:
            assets.add(entity.upper())
        for a in assets:
            per_asset.setdefault(a, []).append(i)
    out = {}
    for asset, idx in per_asset.items():
        sel = rows.iloc[idx]
        out[asset] = pd.DataFrame(
            {
                "id": [f"{origin}:{x}" for x in sel["id"]],
                "event_ms": sel["event_ms"].to_numpy(np.int64),
                "published_ms": sel["published_ms"].to_numpy(np.int64),
                "ingested_ms": sel["ingested_ms"].to_numpy(np.int64),
                "score": scores[idx],
                "weight": w[idx],
                "author": [f"{origin}:{authors[i]}" for i in idx],
                "origin": origin,
                "model": model.name,
            }
        )
    return out


def reach_factor(reach: float) -> float:
    """Return the reach factor of one author (for docs and tables)."""
    return 1.0 + math.log10(1.0 + max(reach, 0.0))


TEXT_SOURCES = ("news", "reddit", "telegram", "x")


def score_store(
    store: Any,
    *,
    model: SentimentModel,
    weights: Weights | None = None,
    sources: Sequence[str] = TEXT_SOURCES,
    aliases: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, int]:
    """Score every stored text series of ``sources`` into ``sentiment/<asset>``; return rows
    added per asset. Rows already scored (same id) keep their first score and times."""
    from grekko_research.alpha.store import AltKey

    added: dict[str, int] = {}
    for source in sources:
        for key in store.series(source):
            scored = score_rows(
                store.read(key),
                source,
                model=model,
                weights=weights,
                entity=key.entity,
                aliases=aliases,
            )
            for asset, rows in scored.items():
                fresh, _ = store.write(AltKey("sentiment", asset), rows)
                added[asset] = added.get(asset, 0) + fresh
    return added
