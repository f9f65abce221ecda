"""The order manager's core: state machine, merging of venue reports, client ids, replay."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.errors import GrekkoError
from live.orders import (
    BINANCE_CLIENT_ID_RE,
    COINBASE_CLIENT_ID_RE,
    TERMINAL,
    TRANSITIONS,
    Ack,
    Cancelled,
    Expired,
    FillReport,
    HaltedError,
    IllegalTransition,
    Intent,
    IntentConflictError,
    InvalidIntentError,
    InvalidReportError,
    NotFound,
    OrderManager,
    OrderState,
    OverfillError,
    Pending,
    QueryResult,
    Rejected,
    ReplayError,
    Timeout,
    UnknownOrderError,
    client_order_id,
)

S = OrderState
T0 = 1_700_000_000_000
GRACE = 5_000


def _intent(qty: str = "1.0", seq: int = 0, side: str = "buy") -> Intent:
    return Intent("run-1", "BTC/USDT", side, Decimal(qty), T0 - 3_600_000, seq=seq)  # type: ignore[arg-type]


def _submitted(qty: str = "1.0", side: str = "buy") -> tuple[OrderManager, str, list[dict]]:
    om = OrderManager(grace_ms=GRACE)
    events = om.create(_intent(qty, side=side), T0)
    cid = events[0]["stream"]
    events += om.mark_submitted(cid, T0)
    return om, cid, events


def _assert_replays(om: OrderManager, events: list[dict]) -> None:
    # Through JSON, as the event store would keep them.
    stored = json.loads(json.dumps(events))
    assert OrderManager.replay(stored, grace_ms=om.grace_ms).snapshot() == om.snapshot()


# -- life cycle and state machine -----------------------------------------------------------


def test_full_lifecycle_with_partial_fills() -> None:
    om, cid, events = _submitted("1.0")
    assert om.order(cid).state is S.SUBMITTED
    events += om.apply(Ack(cid, "v-1"), T0 + 10)
    assert om.order(cid).state is S.ACKNOWLEDGED
    events += om.apply(FillReport(cid, "t1", "0.4", "100"), T0 + 20)
    order = om.order(cid)
    assert order.state is S.PARTIALLY_FILLED
    assert order.filled_qty == Decimal("0.4")
    assert order.remaining_qty == Decimal("0.6")
    assert [o.client_id for o in om.open_orders()] == [cid]
    events += om.apply(FillReport(cid, "t2", "0.6", "110"), T0 + 30)
    order = om.order(cid)
    assert order.state is S.FILLED
    assert order.filled_qty == Decimal("1.0")
    assert order.avg_price == Decimal("106")  # (0.4*100 + 0.6*110) / 1.0
    assert order.venue_order_id == "v-1"
    assert om.open_orders() == []
    assert om.position("BTC/USDT") == Decimal("1.0")
    assert [e["kind"] for e in events] == [
        "order_created",
        "order_submitted",
        "order_acknowledged",
        "order_fill",
        "order_fill",
    ]
    assert all(e["stream"] == cid for e in events)
    _assert_replays(om, events)


def test_sell_fills_reduce_the_position() -> None:
    om, cid, _ = _submitted("2", side="sell")
    om.apply(FillReport(cid, "t1", "2", "50"), T0 + 1)
    assert om.position("BTC/USDT") == Decimal(-2)
    assert om.positions() == {"BTC/USDT": Decimal(-2)}


def test_transition_table_is_explicit_and_terminal_states_are_final() -> None:
    assert set(TRANSITIONS) == set(OrderState)
    assert {S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED} == TERMINAL
    assert S.ACKNOWLEDGED not in TRANSITIONS[S.FILLED]
    assert S.SUBMITTED not in TRANSITIONS[S.UNKNOWN]  # no blind resubmit


@pytest.mark.parametrize(
    ("report", "to_state"),
    [
        (Ack("?"), "ACKNOWLEDGED"),
        (FillReport("?", "t1", "1", "1"), "FILLED"),
        (Timeout("?"), "UNKNOWN"),
        (Expired("?"), "EXPIRED"),
    ],
)
def test_reports_for_an_order_never_submitted_are_illegal(report: object, to_state: str) -> None:
    om = OrderManager()
    cid = om.create(_intent(), T0)[0]["stream"]
    report = (
        type(report)(**{**report.__dict__, "client_id": cid})
        if hasattr(report, "__dict__")
        else report
    )
    report = _with_cid(report, cid)
    before = om.snapshot()
    with pytest.raises(IllegalTransition) as info:
        om.apply(report, T0)  # type: ignore[arg-type]
    err = info.value
    assert (err.client_id, err.from_state, err.to_state) == (cid, "NEW", to_state)
    assert cid in str(err) and "NEW" in str(err) and to_state in str(err)
    assert isinstance(err, GrekkoError)
    assert om.snapshot() == before  # a refused report changes nothing


def _with_cid(report: object, cid: str) -> object:
    from dataclasses import replace

    return replace(report, client_id=cid)  # type: ignore[type-var]


def test_reject_after_ack_is_illegal_and_resubmitting_is_refused() -> None:
    om, cid, _ = _submitted()
    om.apply(Ack(cid), T0)
    with pytest.raises(IllegalTransition, match="ACKNOWLEDGED -> REJECTED on 'rejected'"):
        om.apply(Rejected(cid, "post-only would cross"), T0)
    with pytest.raises(IllegalTransition, match="ACKNOWLEDGED -> SUBMITTED"):
        om.mark_submitted(cid, T0)
    assert om.order(cid).state is S.ACKNOWLEDGED


def test_reports_after_a_terminal_state_change_nothing() -> None:
    om, cid, _ = _submitted()
    om.apply(Cancelled(cid, "user"), T0)
    for report in (Ack(cid), Expired(cid), Rejected(cid), Timeout(cid), NotFound(cid)):
        assert om.apply(report, T0 + 1) == []
    order = om.order(cid)
    assert (order.state, order.reason) == (S.CANCELLED, "user")


def test_unknown_order_is_an_error() -> None:
    om = OrderManager()
    with pytest.raises(UnknownOrderError, match="nope"):
        om.apply(Ack("nope"), T0)
    with pytest.raises(KeyError):
        om.order("nope")


# -- out-of-order and duplicate updates ------------------------------------------------------


def test_fill_before_ack_then_late_ack_keeps_the_filled_state() -> None:
    om, cid, events = _submitted("1")
    events += om.apply(FillReport(cid, "t1", "1", "100", source="ws"), T0 + 5)
    assert om.order(cid).state is S.FILLED
    events += om.apply(Ack(cid, "v-9"), T0 + 9)  # the REST answer to the create, late
    order = om.order(cid)
    assert order.state is S.FILLED
    assert order.venue_order_id == "v-9"  # its data is kept
    assert om.apply(Ack(cid, "v-9"), T0 + 10) == []  # nothing new: no event
    _assert_replays(om, events)


def test_duplicate_fills_from_ws_and_rest_count_once() -> None:
    om, cid, events = _submitted("1")
    events += om.apply(FillReport(cid, "t1", "0.25", "100", source="ws"), T0 + 1)
    assert om.apply(FillReport(cid, "t1", "0.25", "100", source="rest"), T0 + 2) == []
    events += om.apply(FillReport(cid, "t2", "0.25", "101", source="rest"), T0 + 3)
    assert om.apply(FillReport(cid, "t2", "0.25", "101", source="ws"), T0 + 4) == []
    order = om.order(cid)
    assert order.filled_qty == Decimal("0.50")
    assert order.state is S.PARTIALLY_FILLED
    assert [f.trade_id for f in om.fills(cid)] == ["t1", "t2"]
    assert om.position("BTC/USDT") == Decimal("0.50")
    _assert_replays(om, events)


def test_fill_arriving_after_cancel_is_counted_without_reopening() -> None:
    om, cid, events = _submitted("1")
    events += om.apply(Ack(cid), T0)
    events += om.apply(Cancelled(cid), T0 + 1)
    events += om.apply(FillReport(cid, "t1", "0.3", "100", source="rest"), T0 + 2)
    order = om.order(cid)
    assert (order.state, order.filled_qty) == (S.CANCELLED, Decimal("0.3"))
    assert om.position("BTC/USDT") == Decimal("0.3")
    assert not om.halted
    _assert_replays(om, events)


def test_overfill_is_recorded_and_halts_new_orders() -> None:
    om, cid, events = _submitted("1")
    events += om.apply(FillReport(cid, "t1", "0.7", "100"), T0)
    assert not om.halted
    events += om.apply(FillReport(cid, "t2", "0.7", "100"), T0)
    order = om.order(cid)
    assert order.filled_qty == Decimal("1.4")  # what the venue did, in full
    assert order.overfilled and order.state is S.FILLED
    assert om.halted
    assert [a.kind for a in om.anomalies] == ["overfill"]
    with pytest.raises(OverfillError, match="overfill"):
        om.ensure_healthy()
    with pytest.raises(HaltedError):
        om.create(_intent(seq=1), T0)
    _assert_replays(om, events)
    assert OrderManager.replay(events).halted


def test_a_resume_acknowledges_the_anomalies_so_far() -> None:
    """The manager's halt is lifted by a human's resume (the run's one trading state), in the
    running process and in a replay of the log; a later anomaly halts it again."""
    om, cid, events = _submitted("1")
    events += om.apply(FillReport(cid, "t1", "0.7", "100"), T0)
    events += om.apply(FillReport(cid, "t2", "0.7", "100"), T0)
    assert om.halted
    om.acknowledge()
    resumed = {"kind": "resumed", "stream": "runner", "payload": {"reason": "seen"}, "ts_ms": T0}
    events.append(resumed)
    assert not om.halted and len(om.anomalies) == 1  # the fact stays on record
    om.ensure_healthy()
    events += om.create(_intent(seq=1), T0 + 1)  # new orders again
    replayed = OrderManager.replay(json.loads(json.dumps(events)), grace_ms=om.grace_ms)
    assert not replayed.halted and replayed.snapshot() == om.snapshot()
    cid2 = events[-1]["stream"]
    events += om.mark_submitted(cid2, T0 + 2)
    events += om.apply(FillReport(cid2, "t3", "2", "100"), T0 + 3)  # a second overfill
    assert om.halted
    with pytest.raises(OverfillError, match=cid2):
        om.create(_intent(seq=2), T0 + 4)
    assert OrderManager.replay(events).halted


def test_a_normal_fill_is_not_an_overfill() -> None:
    om, cid, _ = _submitted("1")
    om.apply(FillReport(cid, "t1", "1", "100"), T0)
    om.ensure_healthy()
    assert not om.order(cid).overfilled


# -- not found, timeout, queries -----------------------------------------------------------


def test_not_found_within_grace_is_tolerated_then_resolved_as_rejected() -> None:
    om, cid, events = _submitted()
    events += om.apply(NotFound(cid), T0 + GRACE - 1)
    order = om.order(cid)
    assert order.state is S.SUBMITTED
    assert order.not_found_since_ms == T0 + GRACE - 1
    assert om.needs_resolution(T0 + GRACE - 1) == [Pending(cid, "not_found")]
    assert om.apply(NotFound(cid), T0 + GRACE - 1) == []  # already noted
    events += om.apply(NotFound(cid), T0 + GRACE)  # the window is over
    order = om.order(cid)
    assert order.state is S.REJECTED
    assert "not found 5000 ms after submission" in (order.reason or "")
    assert om.needs_resolution(T0 + GRACE) == []
    _assert_replays(om, events)


def test_not_found_then_ack_clears_the_flag() -> None:
    om, cid, _ = _submitted()
    om.apply(NotFound(cid), T0 + 1)
    om.apply(Ack(cid, "v"), T0 + 2)
    assert om.order(cid).not_found_since_ms is None
    assert om.needs_resolution(T0 + 10 * GRACE) == []


def test_acknowledged_order_not_found_after_grace_is_cancelled() -> None:
    om, cid, _ = _submitted()
    om.apply(Ack(cid, "v"), T0)
    om.apply(FillReport(cid, "t1", "0.5", "1"), T0)
    om.apply(NotFound(cid), T0 + GRACE)
    order = om.order(cid)
    assert (order.state, order.filled_qty) == (S.CANCELLED, Decimal("0.5"))


def test_a_lost_order_that_fills_after_all_halts() -> None:
    om, cid, events = _submitted()
    events += om.apply(NotFound(cid), T0 + GRACE)
    assert om.order(cid).state is S.REJECTED
    events += om.apply(FillReport(cid, "t1", "0.5", "1"), T0 + GRACE + 1)
    assert om.order(cid).state is S.REJECTED
    assert om.position("BTC/USDT") == Decimal("0.5")  # the money moved: count it
    assert [a.kind for a in om.anomalies] == ["fill_on_rejected"]
    with pytest.raises(HaltedError) as info:
        om.ensure_healthy()
    assert not isinstance(info.value, OverfillError)
    _assert_replays(om, events)


def test_unacknowledged_order_needs_resolution_after_grace() -> None:
    om, cid, _ = _submitted()
    assert om.needs_resolution(T0 + GRACE - 1) == []
    assert om.needs_resolution(T0 + GRACE) == [Pending(cid, "unacknowledged")]


@pytest.mark.parametrize(
    ("query", "state", "filled"),
    [
        (QueryResult("", S.ACKNOWLEDGED, 0, "v"), S.ACKNOWLEDGED, "0"),
        (QueryResult("", S.ACKNOWLEDGED, "0.4"), S.PARTIALLY_FILLED, "0.4"),
        (QueryResult("", S.PARTIALLY_FILLED, "1"), S.FILLED, "1"),
        (QueryResult("", S.FILLED, "1"), S.FILLED, "1"),
        (QueryResult("", S.CANCELLED, "0.2"), S.CANCELLED, "0.2"),
        (QueryResult("", S.REJECTED, 0), S.REJECTED, "0"),
        (QueryResult("", S.EXPIRED, 0), S.EXPIRED, "0"),
    ],
)
def test_timeout_goes_unknown_and_a_query_resolves_it(
    query: QueryResult, state: OrderState, filled: str
) -> None:
    om, cid, events = _submitted("1")
    events += om.apply(Timeout(cid, "HTTP 503"), T0 + 1)
    assert om.order(cid).state is S.UNKNOWN
    assert om.needs_resolution(T0 + 1) == [Pending(cid, "unknown_outcome")]
    with pytest.raises(IllegalTransition, match="UNKNOWN -> SUBMITTED"):
        om.mark_submitted(cid, T0 + 2)  # never a blind resubmit
    events += om.apply(_with_cid(query, cid), T0 + 3)  # type: ignore[arg-type]
    order = om.order(cid)
    assert order.state is state
    assert order.venue_filled_qty == Decimal(filled)
    assert order.filled_qty == 0  # only trades make fills
    expected = [Pending(cid, "missing_fills")] if Decimal(filled) > 0 else []
    assert om.needs_resolution(T0 + 3) == expected
    _assert_replays(om, events)


def test_timeout_after_ack_is_stale() -> None:
    om, cid, _ = _submitted()
    om.apply(Ack(cid), T0)
    assert om.apply(Timeout(cid), T0 + 1) == []
    assert om.order(cid).state is S.ACKNOWLEDGED


def test_stale_query_does_not_move_back_and_fills_catch_up() -> None:
    om, cid, events = _submitted("1")
    events += om.apply(FillReport(cid, "t1", "0.5", "10"), T0)
    assert om.apply(QueryResult(cid, S.ACKNOWLEDGED, 0), T0 + 1) == []  # older than our fill
    events += om.apply(QueryResult(cid, S.FILLED, "1", "v"), T0 + 2)
    assert om.needs_resolution(T0 + 2) == [Pending(cid, "missing_fills")]
    events += om.apply(FillReport(cid, "t2", "0.5", "12", source="rest"), T0 + 3)
    assert om.needs_resolution(T0 + 3) == []
    assert om.order(cid).avg_price == Decimal("11")
    _assert_replays(om, events)


@pytest.mark.parametrize(
    "report",
    [
        FillReport("", "t1", "0", "1"),
        FillReport("", "t1", "-1", "1"),
        FillReport("", "t1", "1", "nan"),
        FillReport("", "", "1", "1"),
        QueryResult("", S.NEW, 0),
        QueryResult("", S.REJECTED, 1),
        QueryResult("", S.FILLED, "0.5"),
    ],
)
def test_broken_reports_are_refused(report: object) -> None:
    om, cid, _ = _submitted()
    before = om.snapshot()
    with pytest.raises(InvalidReportError):
        om.apply(_with_cid(report, cid), T0)  # type: ignore[arg-type]
    assert om.snapshot() == before


# -- client ids and intents ------------------------------------------------------------------


def test_client_ids_are_deterministic_valid_and_distinct() -> None:
    parts = [
        ("run-1", "BTC/USDT", T0, 0),
        ("run-1", "BTC/USDT", T0, 1),
        ("run-1", "ETH/USDT", T0, 0),
        ("run-1", "BTC/USDT", T0 + 1, 0),
        ("run-2", "BTC/USDT", T0, 0),
        ("run|1", "BTC/USDT", T0, 0),
        ("run", "1|BTC/USDT", T0, 0),  # no separator ambiguity
        ("très-long-run-id-" * 10, "BTC-PERP/USDT:USDT", 2**62, 10**9),
    ]
    ids = [client_order_id(*p) for p in parts]
    assert ids == [client_order_id(*p) for p in parts]
    assert len(set(ids)) == len(ids)
    for cid in ids:
        assert BINANCE_CLIENT_ID_RE.match(cid), cid
        assert COINBASE_CLIENT_ID_RE.match(cid), cid
    # The regexes do catch a bad id.
    assert not BINANCE_CLIENT_ID_RE.match("x" * 37)
    assert not BINANCE_CLIENT_ID_RE.match("a b")
    assert not COINBASE_CLIENT_ID_RE.match("run-1-btc-0")


def test_resubmitting_the_same_intent_is_idempotent() -> None:
    om = OrderManager()
    first = om.create(_intent(), T0)
    assert om.create(_intent(), T0 + 99) == []
    assert len(om.orders()) == 1
    assert first[0]["stream"] == client_order_id("run-1", "BTC/USDT", T0 - 3_600_000, 0)
    with pytest.raises(IntentConflictError):
        om.create(_intent(qty="2"), T0)  # same id, different intent


@pytest.mark.parametrize(
    "kwargs",
    [
        {"qty": Decimal(0)},
        {"qty": Decimal(-1)},
        {"side": "long"},
        {"order_type": "stop"},
        {"order_type": "limit"},
        {"limit_price": Decimal(1)},
        {"run_id": ""},
        {"seq": -1},
    ],
)
def test_broken_intents_are_refused(kwargs: dict) -> None:
    base = {
        "run_id": "r",
        "symbol": "BTC/USDT",
        "side": "buy",
        "qty": Decimal(1),
        "decision_ts_ms": T0,
    }
    with pytest.raises(InvalidIntentError):
        Intent(**{**base, **kwargs})


def test_limit_intent_keeps_its_price() -> None:
    om = OrderManager()
    intent = Intent("r", "ETH/USDT", "sell", "0.1", T0, order_type="limit", limit_price=2500.5)  # type: ignore[arg-type]
    cid = om.create(intent, T0)[0]["stream"]
    assert om.order(cid).limit_price == Decimal("2500.5")
    assert om.order(cid).qty == Decimal("0.1")


# -- replay ----------------------------------------------------------------------------------


def test_replay_refuses_a_broken_log() -> None:
    om, cid, events = _submitted()
    events += om.apply(FillReport(cid, "t1", "1", "1"), T0)
    late_submit = [events[0], events[2], events[1]]  # fill before submit
    with pytest.raises(IllegalTransition, match="NEW -> FILLED on 'order_fill'"):
        OrderManager.replay(late_submit)
    again = {**events[-1], "payload": {**events[-1]["payload"], "to": None}}
    with pytest.raises(ReplayError, match="repeats trade"):
        OrderManager.replay([*events, again])
    with pytest.raises(UnknownOrderError):
        OrderManager.replay(events[1:])
    tampered = json.loads(json.dumps(events))
    tampered[0]["payload"]["seq"] = 7  # the id no longer matches the intent
    with pytest.raises(ReplayError, match="holds the intent of"):
        OrderManager.replay(tampered)
    bad_kind = [events[0], {**events[1], "kind": "order_teleported"}]
    with pytest.raises(ReplayError, match="unknown event kind"):
        OrderManager.replay(bad_kind)
    missing = [events[0], events[1], {**events[2], "payload": {"to": "FILLED"}}]
    with pytest.raises(ReplayError, match="malformed"):
        OrderManager.replay(missing)


def test_replay_skips_other_kinds_and_reads_event_objects() -> None:
    class Stored:
        def __init__(self, event: dict) -> None:
            self.kind, self.stream, self.payload, self.ts_ms = (
                event["kind"],
                event["stream"],
                event["payload"],
                event["ts_ms"],
            )

    om, _, events = _submitted()
    log = [Stored({"kind": "runner_started", "stream": "runner", "payload": {}, "ts_ms": 0})]
    log += [Stored(e) for e in events]
    assert OrderManager.replay(log, grace_ms=GRACE).snapshot() == om.snapshot()


# -- property: any order of (duplicated) reports ---------------------------------------------

_LOT = Decimal("0.1")


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]], list[tuple[str, int]]]:
    qty_lots = draw(st.integers(1, 10))
    fills = draw(st.lists(st.tuples(st.integers(1, 4), st.integers(90, 110)), max_size=6))
    others = draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    ["ack", "cancel", "expire", "reject", "timeout", "not_found", "query"]
                ),
                st.integers(0, 12),
            ),
            max_size=6,
        )
    )
    reports: list[tuple[str, int]] = [("fill", i) for i in range(len(fills))] + others
    # Duplicates (the same fill from ws and REST), then any order.
    reports += draw(st.lists(st.sampled_from(reports), max_size=4)) if reports else []
    reports = draw(st.permutations(reports))
    return qty_lots, fills, reports


def _check_consistent(om: OrderManager) -> None:
    for o in om.orders():
        eff = o.effective_filled_qty
        assert o.filled_qty == sum((f.qty for f in om.fills(o.client_id)), Decimal(0))
        if o.state in (S.NEW, S.SUBMITTED, S.UNKNOWN, S.ACKNOWLEDGED):
            assert eff == 0
        elif o.state is S.PARTIALLY_FILLED:
            assert 0 < eff < o.qty
        elif o.state is S.FILLED:
            assert eff >= o.qty
        elif o.state is S.REJECTED and eff > 0:
            assert om.halted
        assert o.overfilled == (eff > o.qty)
        if o.overfilled:
            assert om.halted


@settings(max_examples=300, deadline=None)
@given(_scenarios())
def test_any_report_order_gives_consistent_quantities_and_replays_exactly(
    scenario: tuple[int, list[tuple[int, int]], list[tuple[str, int]]],
) -> None:
    qty_lots, fills, reports = scenario
    om, cid, events = _submitted(str(qty_lots * _LOT))
    now = T0
    for kind, arg in reports:
        now += 1_000
        if kind == "fill":
            lots, price = fills[arg]
            report: object = FillReport(cid, f"t{arg}", lots * _LOT, price, source="ws")
        elif kind == "query":
            status = [S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED][arg % 4]
            lots = qty_lots if status is S.FILLED else min(arg, qty_lots)
            report = QueryResult(cid, status, lots * _LOT)
        else:
            report = {
                "ack": Ack(cid, f"v{arg}"),
                "cancel": Cancelled(cid),
                "expire": Expired(cid),
                "reject": Rejected(cid),
                "timeout": Timeout(cid),
                "not_found": NotFound(cid),
            }[kind]
        before = om.snapshot()
        try:
            events += om.apply(report, now)  # type: ignore[arg-type]
        except IllegalTransition:
            assert om.snapshot() == before  # refused: nothing changed
        _check_consistent(om)

    order = om.order(cid)
    distinct = sum((lots * _LOT for lots, _ in fills), Decimal(0))
    assert order.filled_qty == distinct  # every distinct fill once, duplicates ignored
    assert om.position("BTC/USDT") == distinct
    assert (distinct > order.qty) <= order.overfilled
    if order.overfilled:
        assert any(a.kind == "overfill" for a in om.anomalies)
    _assert_replays(om, events)
