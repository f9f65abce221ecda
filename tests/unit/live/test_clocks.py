"""The clocks a run lives on, with injected clocks: the venue clock's rate (a simulator's market
clock at 3600× is followed between measurements, a real venue's jitter is not taken for a
rate), the runner's ``run_clock`` record, and the API's ages on that clock."""

from __future__ import annotations

from live.api._staleness import Staleness
from live.events import Event
from live.runner._clock import ClockWatch, LoopStalls
from live.venues._clock import VenueClock

WALL = 1_800_000_000_000
MARKET = 1_610_000_000_000
HOUR = 3_600_000


class Local:
    def __init__(self, t: int = WALL) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


def test_a_real_venue_clock_keeps_our_rate_despite_jitter() -> None:
    local = Local()
    clock = VenueClock(local, check_s=60)
    clock.measured(local.t - 40, local.t + 40, local.t + 250)  # 250 ms ahead, 80 ms round trip
    assert clock.now() == local.t + 250 and not clock.due
    local.t += 60_000
    assert clock.due
    clock.measured(local.t - 400, local.t + 400, local.t + 1_250)  # a slow answer: 1 s off
    assert clock.rate == 1.0 and not clock.accelerated
    assert clock.skew_ms == 1_250 and clock.now() == local.t + 1_250


def test_an_accelerated_market_clock_is_followed_between_measurements() -> None:
    local = Local()
    clock = VenueClock(local, check_s=60)
    clock.measured(local.t, local.t + 2, MARKET)
    local.t += 250
    clock.measured(local.t, local.t + 2, MARKET + 250 * 3600)
    assert clock.accelerated and abs(clock.rate - 3600) < 1
    # Measured again sooner while the base is short (after twice the base), not check_s.
    local.t += 400
    assert not clock.due
    local.t += 600  # a wall second after the measurement: an hour later on the market
    assert clock.due
    assert abs(clock.now() - (MARKET + 1_250 * 3600)) < 60_000
    previous = clock.now()
    local.t += 1
    clock.measured(local.t, local.t, previous - 10_000)  # behind what was already answered
    assert clock.now() >= previous  # the clock never goes back


def test_the_rate_is_taken_over_the_longest_base_not_the_last_interval() -> None:
    """A re-read a second after the previous one, answered 400 ms late (a busy machine), put
    the rate 20 % off when taken over that second alone; the clock then ran hours off the
    market's before the next re-read. Over the minute of reads before it, the error is tiny."""
    local = Local()
    clock = VenueClock(local, check_s=60)
    for t in (0, 30_000, 60_000):
        local.t = WALL + t
        clock.measured(local.t, local.t + 2, MARKET + t * 3600)
    local.t = WALL + 61_000
    clock.measured(local.t, local.t + 400, MARKET + 61_000 * 3600)  # answered at once, seen late
    assert abs(clock.rate - 3600) < 0.01 * 3600, clock.rate
    local.t += 60_400  # the next minute on the rate measured: off by seconds, not hours
    assert abs(clock.now() - (MARKET + 121_400 * 3600)) < 2 * HOUR


def test_a_held_up_loop_is_noticed_by_its_late_wake_ups() -> None:
    mono = [100.0]
    stalls = LoopStalls(monotonic=lambda: mono[0])
    stalls.note(due=101.0, woke=101.01)  # scheduling jitter
    stalls.note(due=102.0, woke=119.0)  # 17 s compiling a first decision
    mono[0] = 120.0
    assert stalls.within(30.0) == 17.0
    assert stalls.within(10.0) == 9.0  # only the part since then
    assert stalls.within(0.5) == 0.0


def test_the_run_clock_record_says_which_clock_and_how_fast() -> None:
    mono, wall, venue = [0.0], [WALL / 1000], [MARKET]
    watch = ClockWatch(lambda: venue[0], wall=lambda: wall[0], monotonic=lambda: mono[0])
    watch.sample(realtime=True)
    assert watch.record() is None  # one reading says nothing of the rate
    for _ in range(3):
        mono[0] += 1
        wall[0] += 1
        venue[0] += HOUR
        watch.sample(realtime=True)
    record = watch.record()
    assert record is not None and record["clock"] == "market"
    assert record["rate"] == 3600 and record["venue_ms"] == venue[0]
    assert watch.faster and watch.record() is None  # nothing new
    mono[0] += 61
    wall[0] += 61
    venue[0] += 61 * HOUR
    watch.sample(realtime=True)
    assert watch.record() is not None  # a faster clock is anchored again every minute

    real = ClockWatch(lambda: int(wall[0] * 1000), wall=lambda: wall[0], monotonic=lambda: mono[0])
    for _ in range(3):
        real.sample(realtime=True)
        mono[0] += 1
        wall[0] += 1
    assert real.record() == {"clock": "wall", "rate": 1.0, "wall_ms": int(wall[0] * 1000),
                             "venue_ms": int(wall[0] * 1000)}  # fmt: skip
    replay = ClockWatch(lambda: MARKET, wall=lambda: wall[0], monotonic=lambda: mono[0])
    replay.sample(realtime=False)
    assert (replay.record() or {}).get("clock") == "replay"


def _event(seq: int, kind: str, payload: dict, ts: int) -> Event:  # type: ignore[type-arg]
    return Event(seq, ts, kind, "runner", payload, "0" * 64, "0" * 64)


def test_ages_are_taken_on_the_run_clock_and_stale_after_two_bars() -> None:
    wall = [WALL / 1000]
    ages = Staleness(2.0, wall=lambda: wall[0])
    ages.observe(_event(1, "run_started", {"timeframe": "1h", "feed": "binance"}, MARKET))
    clock = {"clock": "market", "rate": 3600.0, "wall_ms": WALL, "venue_ms": MARKET}
    ages.observe(_event(2, "run_clock", clock, MARKET))
    ages.observe(_event(3, "bar_closed", {"ts": MARKET - HOUR}, MARKET))  # closed at MARKET
    now = ages.now()
    assert now.clock == "market" and now.last_bar_age_s == 0 and not now.stale
    wall[0] += 1.5  # 1.5 h of market time
    assert ages.now().last_bar_age_s == 5400 and not ages.now().stale
    wall[0] += 1.0
    late = ages.now()
    assert late.stale and late.stale_after_s == 7200 and late.last_bar_age_s == 9000
    assert late.reason == "stale_data: last bar closed 2.5 h ago on the market clock (limit 2.0 h)"
    assert (late.hold() or {})["rule"] == "stale_data"
    ages.observe(_event(4, "bar_closed", {"ts": MARKET + HOUR}, MARKET + 2 * HOUR))
    assert not ages.now().stale


def test_a_replay_is_never_stale_and_an_old_log_is_read_on_the_wall_clock() -> None:
    wall = [WALL / 1000]
    replay = Staleness(wall=lambda: wall[0])
    replay.observe(_event(1, "run_started", {"timeframe": "1h", "feed": "replay"}, MARKET))
    assert replay.now().clock == "replay" and not replay.now().stale
    old = Staleness(wall=lambda: wall[0])
    old.observe(_event(1, "run_started", {"timeframe": "1h", "feed": "binance"}, WALL - 3 * HOUR))
    assert old.now().clock is None and old.now().stale and old.now().last_bar_age_s == 10_800
    old.observe(_event(2, "bar_closed", {"equity": 1.0}, WALL))  # malformed: skipped
    assert old.now().last_bar_age_s == 10_800
