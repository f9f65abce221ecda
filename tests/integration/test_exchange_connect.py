"""``connect_public``: the reachability check of ``grekko run``, through the real ccxt client."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from grekko_research.data.exchanges import connect_public
from grekko_research.errors import ConfigError
from tests.peers.binance import BinancePeer

EXCHANGE_INFO = "/api/v3/exchangeInfo"


@pytest.fixture
def peer() -> Iterator[BinancePeer]:
    with BinancePeer() as server:
        server.add_symbol("spot", "ETHUSDT", "ETH", "USDT")
        yield server


def test_a_reachable_exchange_gives_a_client_with_its_markets(peer: BinancePeer) -> None:
    client, why = connect_public("binance", "spot", rest_url=peer.url, timeout_ms=5_000)
    assert why == "online"
    assert client is not None and "ETH/USDT" in client.markets
    assert peer.count(EXCHANGE_INFO) == 1


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client, why = connect_public(
        "binance", "spot", rest_url=f"http://127.0.0.1:{port}", timeout_ms=2_000
    )
    assert client is None
    assert why.startswith("binance unreachable (") and why.endswith(")")


def test_an_outage_is_unreachable(peer: BinancePeer) -> None:
    peer.fail_next(EXCHANGE_INFO, 503)
    client, why = connect_public("binance", "spot", rest_url=peer.url, timeout_ms=5_000)
    assert client is None
    assert why == "binance unreachable (ExchangeNotAvailable)"


def test_an_exchange_that_answers_with_an_error_refused(peer: BinancePeer) -> None:
    peer.fail_next(
        EXCHANGE_INFO,
        400,
        body={"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."},
    )
    client, why = connect_public("binance", "spot", rest_url=peer.url, timeout_ms=5_000)
    assert client is None
    assert why.startswith("binance refused (AuthenticationError: ")
    assert "Invalid API-key" in why


def test_an_unknown_exchange_is_a_config_error_not_offline() -> None:
    with pytest.raises(
        ConfigError, match=r"ccxt has no exchange .binanse.; close matches: .*binance"
    ):
        connect_public("binanse")
