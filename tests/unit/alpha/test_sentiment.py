"""Sentiment: the crypto lexicon, mentions, weights, per-asset rows, the transformer loader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grekko_research.alpha.connectors.news import parse_cryptopanic
from grekko_research.alpha.connectors.x import parse_x
from grekko_research.alpha.sentiment import (
    LexiconSentiment,
    TransformerSentiment,
    Weights,
    mentioned_assets,
    score_rows,
    score_store,
)
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError

PAYLOADS = Path(__file__).parents[2] / "alpha" / "payloads"


@pytest.fixture(scope="module")
def model() -> LexiconSentiment:
    return LexiconSentiment()


def test_plain_vader_misses_crypto_slang_ours_does_not(model: LexiconSentiment) -> None:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    plain = SentimentIntensityAnalyzer()
    for text in ("moon 🚀🚀", "rekt", "looks bullish", "rug pull"):
        assert plain.polarity_scores(text)["compound"] == 0.0  # the gap this closes
    moon, rekt, bullish, rug = model.score(["moon 🚀🚀", "rekt", "looks bullish", "rug pull"])
    assert moon > 0.5 and bullish > 0.3
    assert rekt < -0.3 and rug < -0.3
    assert model.score(["the market is open today"])[0] == 0.0
    assert (
        model.score(["$BTC looking extremely bullish, next stop 100k 🚀🚀🚀"])[0]
        > model.score(["$BTC looking bullish"])[0]
    )
    with pytest.raises(ConfigError, match=r"within \[-4, 4\]"):
        LexiconSentiment({"wen": 9.0})


def test_mentions() -> None:
    assert mentioned_assets("$BTC and #ethereum, Bitcoin; solana? binance coin") == (
        "BNB",
        "BTC",
        "ETH",
        "SOL",
    )
    assert mentioned_assets("a solid sollution, bitcoiners") == ()  # whole words only
    assert mentioned_assets("$PEPE", {"PEPE": ("pepe",)}) == ("PEPE",)


def test_weights_reach_and_influencers() -> None:
    w = Weights(influencer={"big_influencer": 3.0}, reach_cap=5.0)
    got = w.of("x", np.array([0.0, 999.0, 1e12]), ["a", "b", "big_influencer"])
    assert got.tolist() == pytest.approx([1.0, 4.0, 15.0])  # 1+log10(1000)=4; capped 5, x3


def test_score_rows_per_asset_from_recorded_payloads(model: LexiconSentiment) -> None:
    x = parse_x(
        json.loads((PAYLOADS / "x_search_recent.json").read_text()), entity="BTC", ingested_ms=0
    )
    out = score_rows(x, "x", model=model, entity="BTC")
    assert set(out) == {"BTC"}
    btc = out["BTC"]
    assert btc["score"].iloc[0] > 0.5 > 0 > btc["score"].iloc[1]  # the rocket vs the bull trap
    # reach: 1 + log10(1 + followers), 2.5 M followers vs 120
    assert btc["weight"].tolist() == pytest.approx([1 + np.log10(2_500_001), 1 + np.log10(121)])
    assert (btc["published_ms"].to_numpy() == x["published_ms"].to_numpy()).all()
    news = parse_cryptopanic(
        json.loads((PAYLOADS / "cryptopanic_posts_p1.json").read_text()),
        entity="BTC",
        ingested_ms=0,
    )
    tagged = score_rows(news, "news", model=model)
    assert set(tagged) == {"BTC", "ETH"}  # the hack headline is tagged with both
    assert tagged["ETH"]["score"].iloc[0] < 0


def test_score_store_writes_sentiment_series(tmp_path: Path, model: LexiconSentiment) -> None:
    store = AltStore(tmp_path)
    x = parse_x(
        json.loads((PAYLOADS / "x_search_recent.json").read_text()), entity="BTC", ingested_ms=0
    )
    store.write(AltKey("x", "BTC"), x)
    assert score_store(store, model=model) == {"BTC": 2}
    assert score_store(store, model=model) == {"BTC": 0}  # idempotent
    rows = store.read(AltKey("sentiment", "BTC"))
    assert set(rows["author"]) == {"x:big_influencer", "x:small_acc"}


def test_transformer_refuses_anything_but_a_local_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loaded from disk only, never downloaded"):
        TransformerSentiment("ProsusAI/finbert")
    with pytest.raises(ConfigError, match=r"no config\.json"):
        TransformerSentiment(tmp_path)


def test_transformer_from_a_tiny_local_model(tmp_path: Path) -> None:
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "moon": 2, "rekt": 3, "btc": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]"
    )
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, num_labels=3, id2label={0: "negative", 1: "neutral", 2: "positive"},
        label2id={"negative": 0, "neutral": 1, "positive": 2},
    )  # fmt: skip
    net = transformers.BertForSequenceClassification(config)
    folder = tmp_path / "tiny"
    net.save_pretrained(folder)
    fast.save_pretrained(folder)
    scorer = TransformerSentiment(folder, batch_size=2)
    got = scorer.score(["moon btc", "rekt", "btc"])
    assert got.shape == (3,) and np.all(np.abs(got) <= 1.0)
    assert scorer.name == "transformer:tiny"
