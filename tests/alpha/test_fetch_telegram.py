"""The Telegram connector through the real telethon client against a local MTProto peer.

The session is minted the way a user mints ``TELEGRAM_SESSION`` once: a TelegramClient on an
empty StringSession negotiates an auth key with the server (the DH handshake), signs in with a
code and saves the session. The connector then reads that string from the environment and
connects with the stored key (no second handshake).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from telethon import types
from telethon.sessions import StringSession
from telethon.sync import TelegramClient

from grekko_research.alpha.connectors.base import ms
from grekko_research.alpha.connectors.telegram import Telegram
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError
from tests.alpha.fake_mtproto import (
    LOGIN_CODE,
    Channel,
    MTProtoPeer,
    channel_from_payload,
    serve_mtproto,
)
from tests.alpha.test_fetch import Clock, run

PAYLOADS = Path(__file__).parent / "payloads"
API_ID, API_HASH = "611335", "d524b414d21f4d37f08684c1df41ac9c"  # invented, shaped like real ones


def _flow_channel(n: int) -> Channel:
    """A channel of ``n`` posts (ids 1..n, one a minute) for paging."""
    peer, start = types.PeerChannel(555), datetime(2024, 11, 1, tzinfo=UTC)
    posts = [
        types.Message(
            id=i,
            peer_id=peer,
            date=start + timedelta(minutes=i),
            message=f"flow update {i}: 120 BTC to exchanges",
            post=True,
            views=100 + i,
            forwards=i % 7,
        )
        for i in range(1, n + 1)
    ]
    return Channel(555, "btc_flow", "BTC flow", messages=posts)


@pytest.fixture
def peer() -> Iterator[MTProtoPeer]:
    # telethon's sync client runs on this thread's event loop: a fresh one per test, closed after
    # (another test's asyncio.run() may have left none, or a closed one)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    doc = json.loads((PAYLOADS / "telegram_messages.json").read_text(encoding="utf-8"))
    try:
        with serve_mtproto() as p:
            p.add_channel(channel_from_payload("whale_alert", 1234567890, doc))
            p.add_channel(_flow_channel(230))
            yield p
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def mint_session(peer: MTProtoPeer, *, sign_in: bool = True) -> str:
    """Log in once through telethon (handshake + code) and return the StringSession's text."""
    session = StringSession()
    session.set_dc(peer.dc_id, peer.host, peer.port)
    client = TelegramClient(session, int(API_ID), API_HASH)
    client.connect()
    try:
        if sign_in:
            client.send_code_request("+15550000001")
            client.sign_in("+15550000001", LOGIN_CODE)
        return session.save()
    finally:
        client.disconnect()


@pytest.fixture
def logged_in(peer: MTProtoPeer, monkeypatch: pytest.MonkeyPatch) -> MTProtoPeer:
    monkeypatch.setenv("TELEGRAM_API_ID", API_ID)
    monkeypatch.setenv("TELEGRAM_API_HASH", API_HASH)
    monkeypatch.setenv("TELEGRAM_SESSION", mint_session(peer))
    return peer


def test_telegram_through_telethon(logged_in: MTProtoPeer, tmp_path: Path) -> None:
    peer = logged_in
    assert peer.handshakes == 1  # the mint negotiated the key over RSA + DH
    store, clock = AltStore(tmp_path), Clock()
    report = run(Telegram(), ["whale_alert"], store, clock)
    assert peer.handshakes == 1  # the connector used the session's key: no new handshake
    assert report.entities["whale_alert"]["added"] == 2  # the pinned-message service row skipped
    rows = store.read(AltKey("telegram", "whale_alert")).sort_values("message_id")
    assert rows["message_id"].tolist() == [5121, 5123]
    assert rows["views"].tolist() == [8800.0, 15400.0]
    assert rows["replies"].tolist() == [0.0, 33.0]
    assert rows["text"].iloc[1].startswith("WHALE ALERT: 2,500 #BTC")
    assert rows["published_ms"].iloc[1] == ms("2024-11-11T13:40:00Z")
    assert store.cursor(AltKey("telegram", "whale_alert")) == "5123"
    assert "ResolveUsernameRequest" in peer.requests
    assert peer.acks  # the client acknowledged the server's answers (msgs_ack)
    # a rerun reads one page: telethon stops at the first id <= the cursor (its min_id)
    peer.history_calls.clear()
    again = run(Telegram(), ["whale_alert"], store, clock)
    assert again.entities["whale_alert"]["added"] == 0
    assert len(peer.history_calls) == 1


def test_telegram_pages_a_long_history_newest_first(logged_in: MTProtoPeer, tmp_path: Path) -> None:
    peer = logged_in
    store = AltStore(tmp_path)
    report = run(Telegram(), ["btc_flow"], store, Clock())
    assert report.entities["btc_flow"] == {
        **report.entities["btc_flow"],
        "added": 230,
        "rows": 230,
        "complete": True,
    }
    # three pages of 100: each starts below the oldest id of the page before
    offsets = [c["offset_id"] for c in peer.history_calls if c["limit"] == 100]
    assert offsets[:3] == [0, 131, 31]
    assert store.cursor(AltKey("telegram", "btc_flow")) == "230"
    peer.channels["btc_flow"] = _flow_channel(245)
    peer.history_calls.clear()
    again = run(Telegram(), ["btc_flow"], store, Clock())
    assert again.entities["btc_flow"]["added"] == 15
    assert len(peer.history_calls) == 1  # the new posts came in the first page


def test_telegram_flood_wait_is_waited_out_by_the_download_loop(
    logged_in: MTProtoPeer, tmp_path: Path
) -> None:
    peer = logged_in
    peer.flood["GetHistoryRequest"] = [7, 3]
    clock = Clock()
    report = run(Telegram(), ["whale_alert"], AltStore(tmp_path), clock)
    assert report.entities["whale_alert"]["added"] == 2
    # the server's waits reach the injected clock (telethon would otherwise sleep them itself)
    assert 7.0 in clock.slept and 3.0 in clock.slept


def test_telegram_refuses_a_session_that_is_not_logged_in(
    peer: MTProtoPeer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_API_ID", API_ID)
    monkeypatch.setenv("TELEGRAM_API_HASH", API_HASH)
    monkeypatch.setenv("TELEGRAM_SESSION", mint_session(peer, sign_in=False))
    with pytest.raises(ConfigError, match="TELEGRAM_SESSION is not logged in"):
        Telegram()
    monkeypatch.setenv("TELEGRAM_SESSION", "not-a-session")
    with pytest.raises(ConfigError, match="not a telethon StringSession") as err:
        Telegram()
    assert "not-a-session" not in str(err.value)
    monkeypatch.setenv("TELEGRAM_API_ID", "my-app")
    with pytest.raises(ConfigError, match="TELEGRAM_API_ID"):
        Telegram()


def test_telegram_unknown_channel_names_it(logged_in: MTProtoPeer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="telegram no_such_chan: no such channel"):
        run(Telegram(), ["no_such_chan"], AltStore(tmp_path), Clock())
    assert not AltStore(tmp_path).exists(AltKey("telegram", "no_such_chan"))
