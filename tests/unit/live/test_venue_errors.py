"""ccxt → Grekko venue errors: the mapping table, scrubbing, and the real client against live.sim."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, ClassVar

import ccxt
import ccxt.async_support as accxt
import numpy as np
import pandas as pd
import pytest
from ccxt.base.errors import error_hierarchy

from grekko_research.data.exchanges import rebase_urls
from grekko_research.errors import ExchangeError, GrekkoError, RetryableError
from live.sim import Simulator, start_simulator
from live.venues import (
    GiveUp,
    OrderMissing,
    OutcomeUnknown,
    RetryLater,
    VenueError,
    parse_retry_after,
    raise_translated,
    scrub,
    translate,
    translating,
)

KEY, SECRET = "sim-key-0123456789", "sim-secret-abcdefghij"
HOUR_MS = 3_600_000
T0 = 1_606_780_800_000  # 2020-12-01 00:00 UTC

# ccxt class → (group when read-only, group when state-changing)
TABLE: dict[str, tuple[type[VenueError], type[VenueError]]] = {
    "BaseError": (GiveUp, OutcomeUnknown),
    "ExchangeError": (GiveUp, GiveUp),
    "AuthenticationError": (GiveUp, GiveUp),
    "PermissionDenied": (GiveUp, GiveUp),
    "AccountNotEnabled": (GiveUp, GiveUp),
    "AccountSuspended": (GiveUp, GiveUp),
    "ArgumentsRequired": (GiveUp, GiveUp),
    "BadRequest": (GiveUp, GiveUp),
    "BadSymbol": (GiveUp, GiveUp),
    "OperationRejected": (GiveUp, GiveUp),
    "NoChange": (GiveUp, GiveUp),
    "MarginModeAlreadySet": (GiveUp, GiveUp),
    "MarketClosed": (GiveUp, GiveUp),
    "ManualInteractionNeeded": (GiveUp, GiveUp),
    "RestrictedLocation": (GiveUp, GiveUp),
    "InsufficientFunds": (GiveUp, GiveUp),
    "InvalidAddress": (GiveUp, GiveUp),
    "AddressPending": (GiveUp, GiveUp),
    "InvalidOrder": (GiveUp, GiveUp),
    "OrderNotFound": (OrderMissing, OrderMissing),
    "OrderNotCached": (GiveUp, GiveUp),
    "OrderImmediatelyFillable": (GiveUp, GiveUp),
    "OrderNotFillable": (GiveUp, GiveUp),
    "DuplicateOrderId": (GiveUp, GiveUp),
    "ContractUnavailable": (GiveUp, GiveUp),
    "NotSupported": (GiveUp, GiveUp),
    "InvalidProxySettings": (GiveUp, GiveUp),
    "ExchangeClosedByUser": (GiveUp, GiveUp),
    "OperationFailed": (RetryLater, OutcomeUnknown),
    "NetworkError": (RetryLater, OutcomeUnknown),
    "DDoSProtection": (RetryLater, RetryLater),
    "RateLimitExceeded": (RetryLater, RetryLater),
    "ExchangeNotAvailable": (RetryLater, OutcomeUnknown),
    "OnMaintenance": (RetryLater, OutcomeUnknown),
    "InvalidNonce": (RetryLater, RetryLater),
    "ChecksumError": (RetryLater, RetryLater),
    "RequestTimeout": (RetryLater, OutcomeUnknown),
    "BadResponse": (RetryLater, OutcomeUnknown),
    "NullResponse": (RetryLater, OutcomeUnknown),
    "CancelPending": (RetryLater, OutcomeUnknown),
    "UnsubscribeError": (GiveUp, OutcomeUnknown),
}


def _names(tree: dict[str, Any]) -> Iterator[str]:
    for name, children in tree.items():
        yield name
        yield from _names(children)


def test_table_covers_ccxts_whole_hierarchy() -> None:
    assert set(_names(error_hierarchy)) == set(TABLE)


@pytest.mark.parametrize("state_changing", [False, True], ids=["read", "write"])
@pytest.mark.parametrize("name", sorted(TABLE))
def test_each_ccxt_class_maps_to_its_group(name: str, state_changing: bool) -> None:
    exc = getattr(ccxt, name)(f"binance {name} happened")
    got = translate(
        exc,
        operation="create_order",
        state_changing=state_changing,
        venue="binance",
        client_id="c1",
    )
    expected = TABLE[name][state_changing]
    assert type(got) is expected
    assert got.source == name and got.state_changing is state_changing
    assert (got.venue, got.operation, got.client_id) == ("binance", "create_order", "c1")
    text = str(got)
    assert "binance create_order" in text and "c1" in text and name in text and "\n" not in text


@pytest.mark.parametrize(
    ("exc", "read", "write"),
    [
        (TimeoutError("read timed out"), RetryLater, OutcomeUnknown),
        (ConnectionResetError("reset by peer"), RetryLater, OutcomeUnknown),
        (KeyError("price"), GiveUp, OutcomeUnknown),  # e.g. a parse bug after sending
    ],
)
def test_builtin_exceptions(exc: Exception, read: type, write: type) -> None:
    kw: dict[str, Any] = {"operation": "op", "venue": "v"}
    assert type(translate(exc, state_changing=False, **kw)) is read
    assert type(translate(exc, state_changing=True, **kw)) is write


def test_groups_inherit_grekko_and_builtin_bases() -> None:
    for cls in (RetryLater, GiveUp, OutcomeUnknown, OrderMissing):
        assert issubclass(cls, VenueError) and issubclass(cls, GrekkoError)
    assert issubclass(RetryLater, RetryableError) and issubclass(RetryLater, ConnectionError)
    assert issubclass(GiveUp, ExchangeError) and issubclass(GiveUp, RuntimeError)
    assert issubclass(OrderMissing, LookupError)
    assert not issubclass(OutcomeUnknown, RetryableError)  # never retried by a generic handler


def test_retry_after_from_headers_then_message() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"Retry-After": " 2.5 "}) == 2.5
    assert parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) is None
    assert parse_retry_after(None, "429 Too Many Requests, Retry-After: 12") == 12.0
    assert parse_retry_after({"Content-Type": "x"}, "no hint") is None
    exc = ccxt.RateLimitExceeded("binance 429 Too Many Requests")
    got = translate(
        exc,
        operation="fetch_order",
        state_changing=False,
        venue="binance",
        headers={"Retry-After": "3"},
    )
    assert isinstance(got, RetryLater) and got.retry_after == 3.0 and "after 3 s" in str(got)
    # Only RetryLater carries a wait: a refusal has nothing to wait for.
    give_up = translate(
        ccxt.InvalidOrder("x"),
        operation="o",
        state_changing=False,
        venue="v",
        headers={"Retry-After": "3"},
    )
    assert give_up.retry_after is None


def test_scrubs_credentials_from_messages() -> None:
    raw = (
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&signature=deadbeef42cafe"
        '\n{"apiKey": "AKFAKEKEY123", "secret":"s3cr3tvalue", "X-MBX-APIKEY: hdrkey999"}'
        " password=hunter22 then the raw key TOPSECRETBARE"
    )
    got = translate(
        ccxt.AuthenticationError(raw),
        operation="fetch_balance",
        state_changing=False,
        venue="binance",
        secrets=["TOPSECRETBARE", "", "ab"],  # empty and very short secrets are ignored
    )
    text = str(got)
    for leaked in ("deadbeef42cafe", "AKFAKEKEY123", "s3cr3tvalue", "hdrkey999", "hunter22"):
        assert leaked not in text
    assert "TOPSECRETBARE" not in text and "\n" not in text
    assert "signature=***" in text and "timestamp=1" in text  # only the values are masked
    assert scrub("a\n b  c") == "a b c"


def test_raise_translated_and_translating_keep_the_cause() -> None:
    original = ccxt.RequestTimeout("binance POST /api/v3/order timed out")

    def send() -> None:
        try:
            raise original
        except ccxt.BaseError as exc:
            raise_translated(exc, operation="create_order", state_changing=True, venue="binance")

    with pytest.raises(OutcomeUnknown) as info:
        send()
    assert info.value.__cause__ is original

    class FakeClient:
        apiKey, secret = "fake-key-xyz", "fake-secret-xyz"
        last_response_headers: ClassVar[dict[str, str]] = {"Retry-After": "9"}

    with (
        pytest.raises(RetryLater) as retry,
        translating(operation="fetch_order", state_changing=False, venue="b", client=FakeClient()),
    ):
        raise ccxt.DDoSProtection("b 418 key fake-key-xyz sig fake-secret-xyz")
    assert retry.value.retry_after == 9.0
    assert "fake-key-xyz" not in str(retry.value) and "fake-secret-xyz" not in str(retry.value)
    already = GiveUp("x", venue="v", operation="o", state_changing=False, source="X")
    # An already translated error passes through unchanged.
    with pytest.raises(GiveUp) as same, translating(operation="o2", state_changing=True, venue="w"):
        raise already
    assert same.value is already


# -- end to end: the real async ccxt binance client against live.sim -------------------------

Scenario = Callable[[Simulator, Any], Awaitable[None]]


def _candles(n: int = 40) -> pd.DataFrame:
    opens = 30_000 + np.arange(n, dtype=float) * 10
    return pd.DataFrame(
        {
            "timestamp": T0 + np.arange(n) * HOUR_MS,
            "open": opens,
            "high": opens + 50,
            "low": opens - 50,
            "close": opens + 5,
        }
    )


def _client(sim: Simulator, *, secret: str = SECRET) -> Any:
    ex = accxt.binance(
        {
            "apiKey": KEY,
            "secret": secret,
            "timeout": 3000,
            "options": {
                "fetchCurrencies": False,
                "fetchMargins": False,
                "fetchMarkets": {"types": ["spot"]},
            },
        }
    )
    ex.urls["api"] = rebase_urls(ex.urls["api"], sim.url)
    return ex


def _run(scenario: Scenario) -> Simulator:
    async def main() -> Simulator:
        sim = await start_simulator(
            candles={"BTCUSDT": _candles()},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=T0 + 10 * HOUR_MS,
        )
        ex = _client(sim)
        try:
            await ex.load_markets()
            await scenario(sim, ex)
        finally:
            await ex.close()
            await sim.close()
        return sim

    return asyncio.run(main())


async def _create(ex: Any, cid: str, price: float | None = None) -> Any:
    kind = "market" if price is None else "limit"
    with translating(
        operation="create_order", state_changing=True, venue="binance", client_id=cid, client=ex
    ):
        return await ex.create_order("BTC/USDT", kind, "buy", 0.01, price, {"clientOrderId": cid})


async def _fetch(ex: Any, cid: str) -> Any:
    with translating(
        operation="fetch_order", state_changing=False, venue="binance", client_id=cid, client=ex
    ):
        return await ex.fetch_order(None, "BTC/USDT", {"clientOrderId": cid})


def test_sim_timeout_after_accepting_a_create_is_outcome_unknown() -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        ex.timeout = 300
        sim.set_fault("timeout_after_accept", seconds=1.0)
        with pytest.raises(OutcomeUnknown) as info:
            await _create(ex, "to-1")
        assert isinstance(info.value.__cause__, ccxt.RequestTimeout)
        assert info.value.source == "RequestTimeout" and "to-1" in str(info.value)
        assert [o.client_order_id for o in sim.orders] == ["to-1"]  # it did land

    _run(scenario)


def test_sim_503_after_accepting_a_create_is_outcome_unknown() -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        sim.set_fault("error_after_accept", status=503)
        with pytest.raises(OutcomeUnknown) as info:
            await _create(ex, "5xx-1", price=29_000.0)
        assert isinstance(info.value.__cause__, ccxt.ExchangeNotAvailable)
        assert [o.client_order_id for o in sim.orders] == ["5xx-1"]
        assert (await _fetch(ex, "5xx-1"))["status"] == "open"  # reconciling finds it

    _run(scenario)


def test_sim_429_on_fetch_is_retry_later_with_retry_after() -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        await _create(ex, "rl-1")
        sim.set_fault("rate_limit", retry_after=7, path="/api/v3/order", method="GET")
        with pytest.raises(RetryLater) as info:
            await _fetch(ex, "rl-1")
        assert info.value.retry_after == 7.0 and "429" in str(info.value)
        assert isinstance(info.value.__cause__, ccxt.DDoSProtection)
        # Banned: a create is refused before booking, so retrying it later is safe too.
        with pytest.raises(RetryLater) as banned:
            await _create(ex, "rl-2")
        assert "418" in str(banned.value) and banned.value.retry_after is not None
        assert [o.client_order_id for o in sim.orders] == ["rl-1"]

    _run(scenario)


def test_sim_bad_signature_is_give_up_and_leaks_no_credentials() -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        bad = _client(sim, secret="wrong-secret-value")
        try:
            with (
                pytest.raises(GiveUp) as info,
                translating(
                    operation="fetch_balance", state_changing=False, venue="binance", client=bad
                ),
            ):
                await bad.fetch_balance()
        finally:
            await bad.close()
        assert isinstance(info.value.__cause__, ccxt.AuthenticationError)
        assert "-1022" in str(info.value)
        assert KEY not in str(info.value) and "wrong-secret-value" not in str(info.value)

    _run(scenario)


def test_sim_unknown_order_is_order_missing() -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        with pytest.raises(OrderMissing) as info:
            await _fetch(ex, "never-sent")
        assert isinstance(info.value.__cause__, ccxt.OrderNotFound)
        assert isinstance(info.value, LookupError) and "never-sent" in str(info.value)

    _run(scenario)


def test_sim_duplicate_client_id_is_give_up() -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        await _create(ex, "dup-1")
        with pytest.raises(GiveUp) as info:
            await _create(ex, "dup-1")
        assert isinstance(info.value.__cause__, ccxt.InvalidOrder)
        assert "Duplicate order sent" in str(info.value)
        assert len(sim.orders) == 1

    _run(scenario)
