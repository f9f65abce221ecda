"""L2 book rebuild throughput: the numba builder against a plain-Python builder, same run.

Run: ``.venv/bin/python benchmarks/analysis_book.py [--repeat 5]``

On every real depth capture of the shared data folder (snapshot + Binance depth diffs):

* **grekko** — ``replay_nb``: update-id sequencing, every level update, and after each event
  the top of book, top-10 depth, slopes, order-flow imbalance and spoofing-candidate
  tracking (what ``rebuild_book`` runs, without the pandas conversion);
* **grekko (top only)** — the same kernel with ``depth_k = 1`` and no candidates;
* **python** — the reference: a dict per side with the same sequencing, the best price
  recomputed with ``max``/``min`` only when the best level empties, nothing else.

Prints diff rows per second (one row = one price-level update) and the ratio, and checks
that both builders give the same best bid/ask after every event.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from grekko_research.analysis import book as B
from grekko_research.analysis.book_nb import BookParams, replay_nb
from grekko_research.analysis.captures import OrderBookCapture, find_captures, read_capture
from grekko_research.paths import shared_data_dir

SHARED = shared_data_dir() or Path(__file__).resolve().parents[2] / "shared" / "data"


def python_builder(cap: OrderBookCapture) -> list[tuple[int, float, float]]:
    """Replay with dicts; return (last update id, best bid, best ask) after each applied event."""
    s, d = cap.snapshots, cap.diffs
    books: list[dict[float, float]] = [{}, {}]
    for side, px, q in zip(
        s.side[: s.start[1]], s.price[: s.start[1]], s.qty[: s.start[1]], strict=True
    ):
        if q > 0:
            books[side][px] = q
    best = [max(books[0]), min(books[1])]
    snap_id = int(s.last_update_id[0])
    last_u = -1
    out = []
    first_ids, last_ids, prev_ids = (
        d.first_update_id.tolist(),
        d.last_update_id.tolist(),
        d.prev_last_update_id.tolist(),
    )
    sides, prices, qtys = d.side.tolist(), d.price.tolist(), d.qty.tolist()
    n = len(last_ids)
    start = 0
    while start < n:
        u = last_ids[start]
        stop = start
        while stop < n and last_ids[stop] == u:
            stop += 1
        first, pu = first_ids[start], prev_ids[start]
        if last_u < 0:
            ok = u > snap_id or (pu >= 0 and u == snap_id)
        else:
            ok = (pu == last_u) if pu >= 0 else (first == last_u + 1)
            if not ok:
                raise RuntimeError("gap: the reference does not resync")
        if ok:
            for i in range(start, stop):
                side, px, q = sides[i], prices[i], qtys[i]
                book = books[side]
                if q == 0.0:
                    if book.pop(px, None) is not None and px == best[side]:
                        best[side] = (max if side == 0 else min)(book)
                else:
                    book[px] = q
                    if (side == 0 and px > best[0]) or (side == 1 and px < best[1]):
                        best[side] = px
            last_u = u
            out.append((u, best[0], best[1]))
        start = stop
    return out


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Best wall time of ``repeat`` calls, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    names = find_captures(SHARED)
    if not names:
        raise SystemExit(f"no depth captures in {SHARED / 'orderbook'}")
    print(
        f"{'capture':<44} {'rows':>8} {'grekko M/s':>11} {'top-only M/s':>13} {'python M/s':>11} {'ratio':>7}  agree"
    )
    for name in names:
        cap = read_capture(SHARED, name)
        s, d = cap.snapshots, cap.diffs
        tick, lo, slv, dlv = B._levels(s, d, None)
        first = s.qty[s.start[0] : s.start[1]]
        min_qty = float(np.quantile(first[first > 0], 0.995))
        common = {
            "level_lo": lo,
            "n_levels": int(max(slv.max(), dlv.max())) + 1,
            "page_capacity": B._pages(s, d, slv, dlv),
            "tick_size": tick,
            "spoof_max_life_ns": 60_000_000_000,
            "spoof_pulled_frac": 0.9,
        }
        full = BookParams(
            **common,
            block_capacity=int((d.qty >= min_qty).sum() + (s.qty >= min_qty).sum()),
            depth_k=10,
            spoof_min_qty=min_qty,
        )
        top = BookParams(**common, block_capacity=1, depth_k=1, spoof_min_qty=np.inf)
        dc, sc = B.diff_columns(d, dlv), B.snapshot_columns(s, slv)
        events, _, _ = replay_nb(dc, sc, full, 65536)  # compile, and the comparison
        replay_nb(dc, sc, top, 16)
        t_full = timed(lambda: replay_nb(dc, sc, full, 65536), args.repeat)  # noqa: B023
        t_top = timed(lambda: replay_nb(dc, sc, top, 16), args.repeat)  # noqa: B023
        t_py = timed(lambda: python_builder(cap), max(1, args.repeat // 2))  # noqa: B023
        ref = python_builder(cap)
        # the kernel reports events received before the snapshot arrived as unsynced (the book
        # was not knowable then) though it applies them: compare every event either applied
        by_id = {u: (b, k) for u, b, k in ref}
        applied = events[events["status"] == 0]
        unsynced = int((events["status"] == 3).sum())
        agree = len(applied) + unsynced >= len(ref) and all(
            a["last_id"] in by_id
            and abs(by_id[a["last_id"]][0] - a["bid_px"]) < tick / 2
            and abs(by_id[a["last_id"]][1] - a["ask_px"]) < tick / 2
            for a in applied
        )
        n = len(d)
        print(
            f"{name[:44]:<44} {n:>8} {n / t_full / 1e6:>11.2f} {n / t_top / 1e6:>13.2f} "
            f"{n / t_py / 1e6:>11.2f} {t_py / t_full:>6.1f}x  {'yes' if agree else 'NO'}"
        )


if __name__ == "__main__":
    main()
