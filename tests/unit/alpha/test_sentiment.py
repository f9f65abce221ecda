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


def tiny_model(folder: Path, id2label: dict[int, str], bias: list[float] | None = None) -> Path:
    """Save a 1-layer BERT classifier (random weights) and a word-level tokenizer built here.

    With ``bias``, the classifier's weights are zeroed so its logits are ``bias`` whatever the
    text: the expected score is then known exactly.
    """
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "moon": 2, "rekt": 3, "btc": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]"
    )
    torch.manual_seed(7)
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=32, num_labels=len(id2label),
        id2label=id2label, label2id={v: k for k, v in id2label.items()},
    )  # fmt: skip
    net = transformers.BertForSequenceClassification(config)
    if bias is not None:
        with torch.no_grad():
            net.classifier.weight.zero_()
            net.classifier.bias.copy_(torch.tensor(bias))
    net.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """No hub, no sockets: any connection attempt is recorded and refused."""
    import socket

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    tried: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        tried.append(address)
        raise OSError(f"network use in a test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return tried


def test_transformer_from_a_tiny_local_model(tmp_path: Path, offline: list[object]) -> None:
    folder = tiny_model(tmp_path / "tiny", {0: "negative", 1: "neutral", 2: "positive"})
    scorer = TransformerSentiment(folder, batch_size=2)
    texts = ["moon btc", "rekt", "btc " * 400]  # the last is longer than the model's 32 tokens
    got = scorer.score(texts)
    assert got.shape == (3,) and np.all(np.abs(got) <= 1.0)
    assert scorer.name == "transformer:tiny"
    # the batches of 2 give what one batch of 3 gives (padding is masked)
    assert np.allclose(got, TransformerSentiment(folder, batch_size=8).score(texts), atol=1e-6)
    assert scorer.score([]).shape == (0,)
    assert offline == []


def test_transformer_reads_its_labels_from_id2label(tmp_path: Path, offline: list[object]) -> None:
    # an unusual label order and case: index 0 is positive, 1 negative
    bias = [2.0, -1.0, 0.5]
    folder = tiny_model(tmp_path / "odd", {0: "Positive", 1: "NEGATIVE", 2: "neutral"}, bias)
    p = np.exp(bias) / np.exp(bias).sum()
    got = TransformerSentiment(folder).score(["moon", "rekt btc"])
    assert np.allclose(got, p[0] - p[1], atol=1e-6)  # 0.6285..., the text plays no part
    # a two-label model (no neutral) works too: P(pos) - P(neg) with swapped ids
    folder2 = tiny_model(tmp_path / "two", {0: "neg", 1: "pos"}, [0.0, 1.0])
    q = np.exp([0.0, 1.0]) / np.exp([0.0, 1.0]).sum()
    assert np.allclose(TransformerSentiment(folder2).score(["btc"]), q[1] - q[0], atol=1e-6)
    # generic labels cannot be mapped: refused, naming what was found
    folder3 = tiny_model(tmp_path / "generic", {0: "LABEL_0", 1: "LABEL_1"})
    with pytest.raises(ConfigError, match="needs one positive and one negative label"):
        TransformerSentiment(folder3)
    assert offline == []


def test_transformer_scores_a_store_through_the_cli(tmp_path: Path, offline: list[object]) -> None:
    from typer.testing import CliRunner

    from grekko_research.cli import app

    folder = tiny_model(
        tmp_path / "finbert-tiny", {0: "positive", 1: "negative", 2: "neutral"}, [1.0, 0.0, 0.0]
    )
    store = AltStore(tmp_path / "store")
    doc = json.loads((PAYLOADS / "x_search_recent.json").read_text(encoding="utf-8"))
    store.write(AltKey("x", "BTC"), parse_x(doc, entity="BTC", ingested_ms=0))
    got = CliRunner().invoke(
        app, ["alpha", "score", "--store", str(tmp_path / "store"), "--model", str(folder)]
    )
    assert got.exit_code == 0, got.output
    rows = store.read(AltKey("sentiment", "BTC"))
    assert set(rows["model"]) == {"transformer:finbert-tiny"}
    p = np.exp([1.0, 0.0, 0.0]) / np.exp([1.0, 0.0, 0.0]).sum()
    assert np.allclose(rows["score"], p[0] - p[1], atol=1e-6)
    assert offline == []
